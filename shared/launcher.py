"""The services as OS processes on 127.0.0.1: free ports, start, wait, clean stop,
and one report merged from the statistics each service writes on exit.

``semcom demo`` and ``semcom bench`` both run the real transmitter, channel
proxy and receiver this way: each is ``python -m <package>`` with the same
loopback endpoints and its own ``--stats`` JSON file.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shared.config import Endpoints

SERVICE_MODULES = {"receiver": "receiver", "proxy": "channel_proxy", "transmitter": "transmitter"}
PIPELINE_ORDER = ("receiver", "proxy", "transmitter")  # start order: the stable middle before the source
STOP_GRACE_S = 5.0  # after SIGINT, how long the services get to write their stats before a kill


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


class ServiceProcesses:
    """Service processes that share one set of loopback endpoints; a context manager
    that stops whatever still runs (SIGINT, then a kill) and removes the stats files."""

    def __init__(self, *, verbose: bool = False):
        self.endpoints = free_endpoints()
        self.procs: dict[str, subprocess.Popen] = {}
        self._level = ["--log-level", "INFO" if verbose else "WARNING"]
        self._tmp = tempfile.TemporaryDirectory(prefix="semcom-services-")

    def __enter__(self) -> ServiceProcesses:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._tmp.cleanup()

    def _stats_path(self, name: str) -> Path:
        return Path(self._tmp.name) / f"{name}.json"

    def start(self, name: str, argv: list[str]) -> None:
        """Start service ``name`` (a key of SERVICE_MODULES) with ``argv`` plus the shared endpoints."""
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", SERVICE_MODULES[name], *argv, *endpoint_argv(self.endpoints), *self._level,
             "--stats", str(self._stats_path(name))]
        )

    def wait(self, names: tuple[str, ...], timeout: float) -> None:
        """Wait for each of ``names`` in turn, all within ``timeout`` s; raises subprocess.TimeoutExpired."""
        deadline = time.monotonic() + timeout
        for name in names:
            self.procs[name].wait(timeout=max(1.0, deadline - time.monotonic()))

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
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
        return json.loads(path.read_text()) if path.exists() else {}


@dataclass
class PipelineRun:
    """The outcome of one transmitter -> proxy -> receiver run."""

    stats: dict[str, dict]  # service name -> its --stats JSON
    exit_codes: dict[str, int | None]
    outcome: Literal["done", "timed_out", "interrupted"]


def run_pipeline(argv: dict[str, list[str]], *, prog: str, timeout: float, verbose: bool = False) -> PipelineRun:
    """Run the three services (``argv``: name -> its own flags) until the transmitter's end
    of stream has passed the proxy and the receiver, or ``timeout`` s, or Ctrl-C; then stop all."""
    outcome = "done"
    with ServiceProcesses(verbose=verbose) as services:
        try:
            for name in PIPELINE_ORDER:
                services.start(name, argv[name])
            # the transmitter ends first; proxy and receiver exit once its end of stream reaches them
            services.wait(("transmitter", "receiver", "proxy"), timeout)
        except subprocess.TimeoutExpired:
            outcome = "timed_out"
            print(f"{prog}: timed out; stopping the services", file=sys.stderr)
        except KeyboardInterrupt:
            outcome = "interrupted"
            print(f"{prog}: interrupted; stopping the services", file=sys.stderr)
        finally:
            services.stop()
        return PipelineRun({name: services.stats(name) for name in PIPELINE_ORDER}, services.exit_codes(), outcome)


def build_report(tx: dict, proxy: dict, rx: dict, scheme: str, params: dict) -> dict:
    """One report from the three services' statistics: frames, links, quality, rate, channel."""
    txc, pxc, rxc = tx.get("counters", {}), proxy.get("counters", {}), rx.get("counters", {})
    rate = dict(rx.get("rate", {}))
    h, w = rate.get("height", 0), rate.get("width", 0)
    rate["source_bpp"] = tx.get("source_bits_per_frame", 0.0) / (h * w) if h else None
    return {
        "scheme": scheme,
        "scheme_params": params,
        "frames": {
            "sent": txc.get("frames_sent", 0),
            "received": rxc.get("frames_received", 0),
            "dropped": txc.get("frames_dropped", 0),
            "erased": pxc.get("frames_erased", 0),
            "decode_failed": rxc.get("frames_decode_failed", 0),
        },
        "links": rx.get("links", {}),
        "quality": rx.get("quality", {}),
        "rate": rate,
        "channel": proxy.get("channel", {}),
        "trace": rx.get("trace", []),  # per frame: seq, channel SNR, symbols spent, decoded, PSNR
        "services": {"transmitter": txc, "proxy": pxc, "receiver": rxc},
    }
