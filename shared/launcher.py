"""The services as OS processes on 127.0.0.1: free ports, start, supervise, clean
stop, and one report merged from the statistics each service writes on exit.

``semcom demo`` and ``semcom bench`` both run the real transmitter, channel
proxy and receiver this way: each is ``python -m <package>`` with the same
loopback endpoints and its own ``--stats`` JSON file.

Supervision: a service that exits with an error stops the run at once, and its
one-line reason (the ``semcom <service>: error: ...`` line it printed) becomes
the run's. A service that crashed instead (killed by a signal, or gone without
its error line) is started again, up to ``restarts`` times each; the others
ride out the gap (:mod:`shared.liveness`), and the run's report lists each
restart. The services run in their own session, so Ctrl-C reaches only the
launcher, which stops them in order (the transmitter first: its end of stream
drains the proxy and the receiver, and every service writes its statistics);
on Linux each service also dies with the launcher, so nothing is orphaned even
when the launcher is killed.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

from shared.config import RAY_LOOPBACK, Endpoints
from shared.security import make_keys
from shared.spare import READY_LINE, SERVICE_MODULES

PIPELINE_ORDER = ("receiver", "proxy", "transmitter")  # start order: the stable middle before the source


def role(name: str) -> str:
    """A service name's role: ``transmitter.2`` (the third stream's transmitter) -> ``transmitter``."""
    return name.split(".", 1)[0]


def start_order(names) -> list[str]:
    """``names`` (roles, or roles with a stream suffix) in PIPELINE_ORDER, each role's instances in turn."""
    return sorted(names, key=lambda n: (PIPELINE_ORDER.index(role(n)), n))
STOP_GRACE_S = 5.0  # after the transmitter is told to stop, how long the services get to drain and write stats
FAILED_GRACE_S = 1.0  # after a failed start, the others get this long (one may be busy loading a model)
POLL_S = 0.1  # how often the supervisor looks at the processes
SPARE_AFTER_S = 5.0  # a spare starts this long after the services (or a restart): its imports would slow theirs on two cores
ERROR_LINE = re.compile(r"^semcom (?:transmitter|proxy|receiver): error: (?P<reason>.*)$")
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def free_endpoints() -> Endpoints:
    """Loopback endpoints on four ports that are free right now."""
    p_in, p_out, p_fb, p_ref = free_ports(4)
    return Endpoints(proxy_in_port=p_in, proxy_out_port=p_out, feedback_port=p_fb, reference_port=p_ref)


def endpoint_argv(ep: Endpoints) -> list[str]:
    """The command-line flags that point a service at ``ep`` (every service takes all four)."""
    return ["--proxy-in-port", str(ep.proxy_in_port), "--proxy-out-port", str(ep.proxy_out_port),
            "--feedback-port", str(ep.feedback_port), "--reference-port", str(ep.reference_port)]


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the launcher dies (Linux; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class _StderrForwarder(threading.Thread):
    """Copies a service's stderr to ours line by line, except its one-line fatal error, which it keeps
    (the launcher reports it once, as the run's reason); remembers the last lines for a crash."""

    def __init__(self, name: str, stream):
        super().__init__(name=f"stderr-{name}", daemon=True)
        self.stream, self.reason, self.tail = stream, None, deque(maxlen=20)
        self.ready = threading.Event()  # a spare said it is warm

    def run(self) -> None:
        for line in self.stream:
            line = line.rstrip("\n")
            if line == READY_LINE:
                self.ready.set()
                continue
            match = ERROR_LINE.match(line)
            if match:
                self.reason = match["reason"]
                continue
            self.tail.append(line)
            sys.stderr.write(line + "\n")  # one write: lines of the three services do not interleave
            sys.stderr.flush()


class ServiceProcesses:
    """Service processes that share one set of loopback endpoints; a context manager
    that stops whatever still runs (SIGINT, then a kill) and removes the stats files."""

    def __init__(self, *, verbose: bool = False):
        self.endpoints = free_endpoints()
        self.procs: dict[str, subprocess.Popen] = {}
        self.spare: tuple[subprocess.Popen, _StderrForwarder] | None = None  # a warm stand-in (shared.spare)
        self._stderr: dict[str, _StderrForwarder] = {}
        self._level = ["--log-level", "INFO" if verbose else "WARNING"]
        self._tmp = tempfile.TemporaryDirectory(prefix="semcom-services-")
        self.keys = Path(self._tmp.name) / "keys"
        make_keys(self.keys)  # ephemeral CURVE keys for this run: only these three processes can join its links

    def __enter__(self) -> ServiceProcesses:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._tmp.cleanup()

    def _stats_path(self, name: str) -> Path:
        return Path(self._tmp.name) / f"{name}.json"

    def _service_argv(self, name: str, argv: list[str]) -> list[str]:
        """Service ``name``'s full command line after ``python -m <module>``: ``argv`` plus what this run shares."""
        return [*endpoint_argv(self.endpoints), *self._level, "--keys", str(self.keys),
                "--stats", str(self._stats_path(name)), *argv]  # (last: a stream's own --reference-port wins)

    def _spawn(self, name: str, command: list[str], *, spare: bool = False) -> tuple[subprocess.Popen, _StderrForwarder]:
        proc = subprocess.Popen(
            [sys.executable, "-m", *command], stderr=subprocess.PIPE, stdin=subprocess.PIPE if spare else None,
            text=True, errors="replace", start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        forwarder = _StderrForwarder(name, proc.stderr)
        forwarder.start()
        return proc, forwarder

    def start(self, name: str, argv: list[str]) -> None:
        """Start service ``name`` (a key of SERVICE_MODULES) with ``argv`` plus the shared endpoints."""
        self.procs[name], self._stderr[name] = self._spawn(name, [SERVICE_MODULES[role(name)], *self._service_argv(name, argv)])

    def start_spare(self) -> None:
        """A warm spare (:mod:`shared.spare`): it imports what a service needs, then waits to become one."""
        self.spare = self._spawn("spare", ["shared.spare"], spare=True)

    def spare_alive(self) -> bool:
        return self.spare is not None and self.spare[0].poll() is None

    def spare_ready(self) -> bool:
        """A spare runs and has paid its imports: a restart now costs a tenth of a second."""
        return self.spare_alive() and self.spare[1].ready.is_set()

    def promote_spare(self, name: str, argv: list[str]) -> bool:
        """Put the spare in the place of service ``name``, which died; False if there is no live spare."""
        spare, self.spare = self.spare, None
        if spare is None or spare[0].poll() is not None:
            return False
        try:
            spare[0].stdin.write(json.dumps({"service": role(name), "argv": self._service_argv(name, argv)}) + "\n")
            spare[0].stdin.flush()
        except OSError:
            return False
        self.procs[name], self._stderr[name] = spare
        return True

    def wait(self, names: tuple[str, ...], timeout: float) -> None:
        """Wait for each of ``names`` in turn, all within ``timeout`` s; raises subprocess.TimeoutExpired."""
        deadline = time.monotonic() + timeout
        for name in names:
            self.procs[name].wait(timeout=max(1.0, deadline - time.monotonic()))

    def crashed(self, name: str) -> bool:
        """Service ``name`` has exited by a signal or without its one-line error: worth a restart
        (a usage or start-up error would only fail again)."""
        proc = self.procs[name]
        if proc.poll() in (None, 0):
            return False
        self._stderr[name].join(timeout=1.0)
        return proc.returncode < 0 or self._stderr[name].reason is None

    def failed(self) -> str | None:
        """The first service that has exited with an error, if any."""
        for name, proc in self.procs.items():
            if proc.poll() not in (None, 0):
                return name
        return None

    def reason(self, name: str) -> str:
        """Why service ``name`` stopped: its one-line error, or the last line it printed, or its exit code."""
        proc, err = self.procs[name], self._stderr[name]
        err.join(timeout=1.0)  # the pipe closes when the process has gone
        if err.reason:
            return err.reason
        code = proc.returncode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        return f"{err.tail[-1]} ({how})" if err.tail else how

    def stop(self, first: tuple[str, ...] = (), grace_s: float = STOP_GRACE_S) -> None:
        """SIGINT the services in ``first`` and give all STOP_GRACE_S to end by themselves (their
        end of stream drains the others); then SIGINT the rest, and kill what still runs after ``grace_s``.
        The spare, which never joined the stream, is killed first."""
        if self.spare is not None:
            self.spare[0].kill()
            self.spare[0].wait()
            self.spare = None
        deadline = time.monotonic() + STOP_GRACE_S
        for name in first:
            if self.procs.get(name) is not None and self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGINT)
        while first and time.monotonic() < deadline and any(p.poll() is None for p in self.procs.values()):
            time.sleep(POLL_S)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def exit_codes(self) -> dict[str, int | None]:
        return {name: proc.returncode for name, proc in self.procs.items()}

    def stats(self, name: str) -> dict:
        """What service ``name`` wrote with ``--stats`` ({} if it wrote nothing)."""
        path = self._stats_path(name)
        try:
            return json.loads(path.read_text()) if path.exists() else {}
        except ValueError:  # killed while writing
            return {}


@contextlib.contextmanager
def signals_as_stop(stop: threading.Event) -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) and SIGTERM (``kill``, ``docker stop``) set ``stop``, which the run checks
    between polls; a second one raises KeyboardInterrupt (no more waiting). A KeyboardInterrupt raised at any bytecode
    could land inside ``Popen.poll`` between its lock's acquire and its ``try`` and leave that lock held, and the
    launcher's later ``wait`` on that service would then hang for ever."""
    def interrupt(_signum, _frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class PipelineRun:
    """The outcome of one transmitter -> proxy -> receiver run."""

    stats: dict[str, dict]  # service name -> its --stats JSON
    exit_codes: dict[str, int | None]
    outcome: Literal["done", "timed_out", "interrupted", "failed"]
    failed: str | None = None  # the service that stopped the run with an error
    reason: str | None = None  # ... and its one-line reason
    restarts: list[dict] | None = None  # each crashed service started again: which, when, why


def run_pipeline(argv: dict[str, list[str]], *, prog: str, timeout: float | None, verbose: bool = False,
                 restarts: int = 0, standby: bool = False, stop: threading.Event | None = None) -> PipelineRun:
    """Run the three services (``argv``: name -> its own flags) until the transmitter's end
    of stream has passed the proxy and the receiver, a service fails, ``timeout`` s pass
    (None: no limit), or Ctrl-C / SIGTERM; then stop all. A crashed service is started again
    up to ``restarts`` times: by the warm spare if ``standby`` (one waits, ready to become any of them).
    ``stop`` set (from another thread: the Python API) ends the run as Ctrl-C does."""
    outcome, failed, restarted = "done", None, []
    stop = stop if stop is not None else threading.Event()
    with ServiceProcesses(verbose=verbose) as services, signals_as_stop(stop):
        try:
            order = start_order(argv)
            for name in order:
                services.start(name, argv[name])
            spare_due = time.monotonic() + SPARE_AFTER_S if standby and restarts else None
            deadline = None if timeout is None else time.monotonic() + timeout
            while any(services.procs[n].poll() is None for n in order):
                if stop.is_set():
                    raise KeyboardInterrupt  # raised here, between polls, never inside one
                if spare_due is not None and not services.spare_alive() and time.monotonic() >= spare_due:
                    services.start_spare()
                failed = services.failed()
                used = sum(r["service"] == failed for r in restarted) if failed else 0
                if failed and services.crashed(failed) and used < restarts:
                    why = services.reason(failed)
                    print(f"{prog}: the {failed} crashed ({why}); starting it again", file=sys.stderr)
                    warm = services.spare_ready()
                    spare = services.promote_spare(failed, argv[failed])
                    if not spare:
                        services.start(failed, argv[failed])
                    restarted.append({"service": failed, "at": time.time(), "reason": why, "spare": spare, "spare_was_warm": warm})
                    if spare_due is not None:
                        spare_due = time.monotonic() + SPARE_AFTER_S  # the next one's stand-in, once this one streams
                    failed = None
                    continue
                if failed:
                    outcome = "failed"
                    break
                if deadline is not None and time.monotonic() > deadline:
                    outcome = "timed_out"
                    print(f"{prog}: timed out after {timeout:.0f} s; stopping the services", file=sys.stderr)
                    break
                time.sleep(POLL_S)
            else:
                failed = services.failed()
                outcome = "failed" if failed else "done"
        except KeyboardInterrupt:
            outcome = "interrupted"
            print(f"{prog}: stopping the stream ...", file=sys.stderr)
        try:
            services.stop(first=tuple(n for n in argv if role(n) == "transmitter") if outcome == "interrupted" else (),
                          grace_s=FAILED_GRACE_S if outcome == "failed" else STOP_GRACE_S)
        except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
            for proc in services.procs.values():
                proc.kill()
        reason = services.reason(failed) if failed else None
        return PipelineRun({name: services.stats(name) for name in argv}, services.exit_codes(), outcome,
                           failed, reason, restarted)


@contextlib.contextmanager
def local_ray_head(num_cpus: int = 2, timeout: float = 60.0) -> Iterator[str]:
    """A Ray head on 127.0.0.1 (``ray start --head --block``) for a test or a benchmark; -> its address.
    Stopped, with every process of its cluster, on exit."""
    port = free_ports(1)[0]
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--port", str(port),
                             "--num-cpus", str(num_cpus), "--include-dashboard=false", "--disable-usage-stats"],
                            env={**os.environ, **RAY_LOOPBACK}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while head.poll() is None and time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the Ray head did not start: {head.stderr.read()[-2000:] if head.poll() is not None else 'timed out'}")
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)  # --block: the head stops its cluster as it goes
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def sustained_fps(received: int, hops: dict[str, dict[str, float]]) -> dict:
    """Frames per second from the receiver's hop span.

    ``fps``: received / (last decode - first send), start-up of the pipe included;
    ``fps_steady``: (received - 1) / (last decode - first decode), the rate once full.
    """
    out: dict = {"fps": None, "fps_steady": None, "wall_s": None}
    if received and "tx_sent" in hops and "rx_decoded" in hops:
        wall = hops["rx_decoded"]["last"] - hops["tx_sent"]["first"]
        out["wall_s"] = wall
        out["fps"] = received / wall if wall > 0 else None
        steady = hops["rx_decoded"]["last"] - hops["rx_decoded"]["first"]
        out["fps_steady"] = (received - 1) / steady if received > 1 and steady > 0 else None
    return out


def _drops(counters: dict, *names: str) -> dict[str, int]:
    """The counters named ``names`` or starting with ``dropped.`` / ``frames_dropped.``, non-zero only."""
    return {k: v for k, v in counters.items() if v and (k in names or k.startswith(("dropped.", "frames_dropped.")))}


def merged_transmitters(stats: list[dict]) -> dict:
    """Several transmitters' statistics as one (``semcom demo --streams N``): counters summed, outages listed."""
    if len(stats) == 1:
        return stats[0]
    counters: Counter = Counter()
    for s in stats:
        counters.update(s.get("counters", {}))
    bits = [s["source_bits_per_frame"] for s in stats if "source_bits_per_frame" in s]
    return {"counters": dict(counters), "frames_dropped": sum(s.get("frames_dropped", 0) for s in stats),
            "source_bits_per_frame": sum(bits) / len(bits) if bits else 0.0,
            "outages": [o for s in stats for o in s.get("outages", [])]}


def build_report(tx: dict, proxy: dict, rx: dict, scheme: str, params: dict) -> dict:
    """One report from the three services' statistics: frames, links, quality, rate, channel."""
    txc, pxc, rxc = tx.get("counters", {}), proxy.get("counters", {}), rx.get("counters", {})
    rate = dict(rx.get("rate", {}))
    h, w = rate.get("height", 0), rate.get("width", 0)
    rate["source_bpp"] = tx.get("source_bits_per_frame", 0.0) / (h * w) if h else None
    received = rxc.get("frames_received", 0)
    return {
        "scheme": scheme,
        "scheme_params": params,
        "frames": {
            "sent": txc.get("frames_sent", 0),
            "received": received,
            "dropped": tx.get("frames_dropped", 0),
            "erased": pxc.get("frames_erased", 0),
            "decode_failed": rxc.get("frames_decode_failed", 0),
        },
        # where frames and messages were lost: the transmitter's slot (stale: a newer frame came first; full: the
        # socket would not take it), the air (erased), and bad messages each service dropped
        "drops_by_hop": {"transmitter": _drops(txc, "encode_failed", "ack_timeouts"),
                         "proxy": _drops(pxc, "frames_erased"), "receiver": _drops(rxc, "frames_decode_failed")},
        "throughput": sustained_fps(received, rx.get("hops", {})),
        "links": rx.get("links", {}),
        "quality": rx.get("quality", {}),
        "rate": rate,
        "channel": proxy.get("channel", {}),
        "trace": rx.get("trace", []),  # per frame: seq, channel SNR, symbols spent, decoded, PSNR, each link's ms
        "services": {"transmitter": txc, "proxy": pxc, "receiver": rxc},
        "outages": tx.get("outages", []),  # each time the transmitter lost the path: how long, frames lost
        "controls": rx.get("controls", []),  # what came of each control request (the viewer's switches), in order
    }
