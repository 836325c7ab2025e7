"""``semcom demo``: transmitter, channel proxy and receiver as three OS processes
on 127.0.0.1, one stream end to end, then a report of frames, per-link latency,
quality and rate.

Every option is validated here, before any process starts; the services get
exactly the user's options (see :func:`shared.cli_options.forward`).
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared.cli import CliParser, UsageError, run_cli
from shared.cli_options import (
    add_channel_args,
    add_scheme_args,
    channel_from_args,
    forward,
    scheme_from_args,
)
from shared.telemetry import format_link_table


def build_parser() -> CliParser:
    p = CliParser(prog="semcom demo", description=__doc__.split("\n\n")[0])
    src = p.add_argument_group("source")
    src.add_argument("--source", default="builtin", help="builtin | video:PATH | folder:PATH | webcam:N (default: %(default)s)")
    src.add_argument("--frames", type=int, default=12, help="frames to stream (default: %(default)s)")
    src.add_argument("--size", type=int, default=256, help="frame size, pixels a side (default: %(default)s)")
    src.add_argument("--fps", type=float, default=0.0, help="0 = flow-controlled, no drops; >0 = live pacing, drop when full (default: %(default)s)")
    src.add_argument("--window", type=int, default=1, help="frames in flight; 1 = stop-and-wait: each link measured without queueing (default: %(default)s)")
    scheme = add_scheme_args(p)
    channel = add_channel_args(p)
    p.add_argument("--out", type=Path, help="write the received frames here as PNG")
    p.add_argument("--report", type=Path, help="write the report (JSON) here")
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (default: %(default)s)")
    p.add_argument("--verbose", action="store_true", help="show the services' INFO logs")
    p.add_argument("--list-schemes", action="store_true", help="list the registered schemes and exit")
    p.set_defaults(_groups={"scheme": scheme, "channel": channel})
    return p


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


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 5
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def build_report(tx: dict, proxy: dict, rx: dict, scheme: str, params: dict) -> dict:
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
        "services": {"transmitter": txc, "proxy": pxc, "receiver": rxc},
    }


def format_report(report: dict) -> str:
    f, q, r = report["frames"], report["quality"], report["rate"]
    psnr = f"{q['psnr_db']:.2f} dB" if q.get("psnr_db") is not None else "n/a"
    cbr = f"{r['cbr']:.4f}" if r.get("cbr") else "n/a"
    bpp = f"{r['source_bpp']:.3f}" if r.get("source_bpp") is not None else "n/a"
    ch = report["channel"]
    lines = [
        f"scheme {report['scheme']}  channel {ch.get('model')} @ {ch.get('snr_db')} dB ({ch.get('snr_schedule')})",
        "frames  " + "  ".join(f"{k} {v}" for k, v in f.items()),
        f"quality PSNR {psnr}   rate {r.get('symbols_per_frame', 0):.0f} symbols/frame, CBR {cbr}, {bpp} bpp",
        "",
        format_link_table(report["links"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)

    def body() -> int:
        if ns.list_schemes:
            from shared.schemes.base import SCHEMES, scheme_names

            for name in scheme_names():
                print(f"{name:<12} {SCHEMES[name].help}")
            return 0
        if ns.frames < 1 or ns.fps < 0 or ns.window < 0 or not 16 <= ns.size <= 4096:
            raise UsageError("--frames must be >= 1, --fps and --window >= 0 and --size within [16, 4096]")
        scheme, params = scheme_from_args(ns)
        channel_from_args(ns)
        from shared.sources import SourceError, open_source

        try:
            open_source(ns.source, ns.size)
        except SourceError as exc:
            raise UsageError(str(exc)) from None
        return run_demo(ns, scheme, params)

    return run_cli("semcom demo", body)


def run_demo(ns, scheme: str, params: dict) -> int:
    p_in, p_out, p_fb, p_ref = free_ports(4)
    net = ["--proxy-in-port", str(p_in), "--proxy-out-port", str(p_out),
           "--feedback-port", str(p_fb), "--reference-port", str(p_ref)]
    level = ["--log-level", "INFO" if ns.verbose else "WARNING"]
    with tempfile.TemporaryDirectory(prefix="semcom-demo-") as tmp:
        stats = {name: Path(tmp) / f"{name}.json" for name in ("transmitter", "proxy", "receiver")}
        commands = {
            "receiver": ["receiver", "--exit-on-eos", "--reference", "--idle-timeout", str(ns.timeout)]
            + (["--out", str(ns.out)] if ns.out else []),
            "proxy": ["channel_proxy", "--exit-on-eos"] + forward(ns._groups["channel"], ns),
            "transmitter": ["transmitter", "--reference", "--source", ns.source, "--frames", str(ns.frames),
                            "--size", str(ns.size), "--fps", str(ns.fps), "--window", str(ns.window)] + forward(ns._groups["scheme"], ns),
        }
        procs: dict[str, subprocess.Popen] = {}
        print(f"semcom demo: {ns.frames} frames of {ns.source} at {ns.size}x{ns.size}, scheme {scheme}, "
              f"{ns.channel} @ {ns.snr_db} dB; three processes on 127.0.0.1 ...", file=sys.stderr)
        try:
            for name, cmd in commands.items():
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", *cmd, *net, *level, "--stats", str(stats[name])]
                )
            deadline = time.monotonic() + ns.timeout
            procs["transmitter"].wait(timeout=ns.timeout)
            for name in ("receiver", "proxy"):  # both exit once the end of stream reaches them
                procs[name].wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print("semcom demo: timed out; stopping the services", file=sys.stderr)
        except KeyboardInterrupt:
            print("semcom demo: interrupted; stopping the services", file=sys.stderr)
        finally:
            _stop(procs)
        codes = {name: proc.returncode for name, proc in procs.items()}
        report = build_report(*(_load(stats[n]) for n in ("transmitter", "proxy", "receiver")), scheme, params)
    report["exit_codes"] = codes
    print(format_report(report))
    if ns.report:
        ns.report.parent.mkdir(parents=True, exist_ok=True)
        ns.report.write_text(json.dumps(report, indent=2))
        print(f"report written to {ns.report}", file=sys.stderr)
    return 0 if all(c == 0 for c in codes.values()) else 1
