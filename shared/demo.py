"""``semcom demo``: transmitter, channel proxy and receiver as three OS processes
on 127.0.0.1, one stream end to end, then a report of frames, per-link latency,
quality and rate.

Every option is validated here, before any process starts; the services get
exactly the user's options (see :func:`shared.cli_options.forward`). A service
that fails at start-up ends the demo at once with its one-line reason. With
``--frames 0`` (the default for a webcam) the stream runs until Ctrl-C or
SIGTERM; then every service stops cleanly and the report is still written.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

from shared.cli import CliParser, UsageError, run_cli
from shared.cli_options import (
    add_channel_args,
    add_ray_args,
    add_scheme_args,
    channel_from_args,
    forward,
    host_port,
    ray_config,
    scheme_from_args,
)
from shared.launcher import PipelineRun, build_report, free_ports, merged_transmitters, run_pipeline
from shared.protocol import Limits
from shared.telemetry import format_link_table


def build_parser() -> CliParser:
    p = CliParser(prog="semcom demo", description=__doc__.split("\n\n")[0])
    src = p.add_argument_group("source")
    src.add_argument("--source", default="builtin", help="builtin | video:PATH | folder:PATH | webcam:N (default: %(default)s)")
    src.add_argument("--frames", type=int, default=None,
                     help="source frames to stream; 0 = until Ctrl-C or SIGTERM (default: 0 for webcam:, else 12)")
    src.add_argument("--size", type=int, default=256, help="frame size, pixels a side (default: %(default)s)")
    src.add_argument("--fps", type=float, default=0.0,
                     help="0 = flow-controlled, no drops; >0 = live: capture at this rate, the newest frame wins (default: %(default)s)")
    src.add_argument("--window", type=int, default=None,
                     help="frames in flight; 1 = stop-and-wait: each link measured without queueing "
                          "(default: 2 with --fps > 0: encode and decode overlap, no hop queues more than one; else 1)")
    scheme = add_scheme_args(p)
    channel = add_channel_args(p)
    p.add_argument("--out", type=Path, help="write the received frames here as PNG")
    p.add_argument("--report", type=Path, help="write the report (JSON) here")
    p.add_argument("--timeout", type=float, default=None,
                   help="give up after this many seconds; 0 = never (default: 600, or never with --frames 0)")
    p.add_argument("--latency-every", type=float, default=10.0, metavar="S",
                   help="the receiver logs per-link latency (p50/p95 over the last S s) every S s; 0 = never (default: %(default)s)")
    p.add_argument("--restarts", type=int, default=3,
                   help="start a crashed service again this many times (each); 0 = a crash stops the demo (default: %(default)s)")
    p.add_argument("--standby", action=argparse.BooleanOptionalAction, default=True,
                   help="keep one warm spare process (its imports paid, ~430 MB) that takes a crashed service's place "
                        "in ~0.1 s; --no-standby: a restart is a fresh start, 3-6 s of imports on two cores "
                        "(default: on when --restarts > 0)")
    p.add_argument("--viewer", default=DEFAULT_VIEWER, metavar="HOST:PORT|off",
                   help="the receiver's live viewer (stream, per-link latency, controls, /metrics); another free port "
                        "if the default one is taken; off = none (default: %(default)s)")
    p.add_argument("--record", type=Path, metavar="FILE.mp4", help="write the reconstruction to this video file")
    p.add_argument("--record-side-by-side", action="store_true", help="... as original | reconstruction")
    p.add_argument("--streams", type=int, default=1, metavar="N",
                   help="N transmitters (stream ids stream-0 ... stream-N-1), each with the same source and scheme, "
                        "through the one proxy into the one receiver; the report has each stream's frames and latency "
                        "(default: %(default)s)")
    ray = add_ray_args(p)
    p.add_argument("--verbose", action="store_true", help="show the services' INFO logs")
    p.add_argument("--list-schemes", action="store_true", help="list the registered schemes and exit")
    p.set_defaults(_groups={"scheme": scheme, "channel": channel, "ray": ray})
    return p


DEFAULT_VIEWER = "127.0.0.1:8080"  # localhost: the viewer controls the stream
MAX_STREAMS = 64  # transmitter processes one demo starts (each ~300 MB)


def viewer_address(text: str) -> tuple[str, int] | None:
    """Where the demo's viewer listens: ``text`` as HOST:PORT, None for ``off``; the default port, if it
    is taken (another demo runs), becomes a free one."""
    if text == "off":
        return None
    host, port = host_port(text, "--viewer")
    if text == DEFAULT_VIEWER:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                port = free_ports(1)[0]
    return host, port


def format_report(report: dict) -> str:
    f, q, r = report["frames"], report["quality"], report["rate"]
    psnr = f"{q['psnr_db']:.2f} dB" if q.get("psnr_db") is not None else "n/a"
    cbr = f"{r['cbr']:.4f}" if r.get("cbr") else "n/a"
    bpp = f"{r['source_bpp']:.3f}" if r.get("source_bpp") is not None else "n/a"
    ch = report["channel"]
    t = report.get("throughput", {})
    shown = f"{t['fps_steady']:.2f} fps shown" if t.get("fps_steady") else "fps n/a"
    drops = [f"{hop}: " + ", ".join(f"{k} {v}" for k, v in d.items()) for hop, d in report.get("drops_by_hop", {}).items() if d]
    lines = [
        f"scheme {report['scheme']}  channel {ch.get('model')} @ {ch.get('snr_db')} dB ({ch.get('snr_schedule')})",
        "frames  " + "  ".join(f"{k} {v}" for k, v in f.items()) + f"   ({shown})",
        f"quality PSNR {psnr}   rate {r.get('symbols_per_frame', 0):.0f} symbols/frame, CBR {cbr}, {bpp} bpp",
    ]
    if drops:
        lines.append("drops   " + "; ".join(drops) + "  (ack_timeouts: frames presumed lost, their credit returned)"
                     if any("ack_timeouts" in d for d in drops) else "drops   " + "; ".join(drops))
    for r in report.get("restarts", []):
        lines.append(f"restart the {r['service']} crashed ({r['reason']}) and was started again")
    for o in report.get("outages", []):
        lines.append(f"outage  {o['duration_s']:.1f} s without an answer from the receiver: {o['frames_lost']} frames lost"
                     + (f", {o['frames_skipped']} not sent" if o["frames_skipped"] else ""))
    for c in report.get("controls", []):
        asked = ", ".join(f"{k} {v}" for k, v in (("scheme", c.get("scheme")), ("params", c.get("params")),
                                                   ("channel", {k: v for k, v in (c.get("channel") or {}).items() if v is not None}))
                          if v)
        lines.append(f"control request {c['id']} ({asked}): " + (f"applied from frame {c['before_seq']}" if c["applied"]
                                                                  else f"not applied: {c['reason']}"))
    for sid, st in sorted(report.get("streams", {}).items()):
        e2e = st.get("end_to_end", {})
        lines.append(f"stream  {sid}: sent {st['sent']}  received {st['received']}  decoded {st['decoded']}  lost {st['lost']}"
                     f"  {'in order' if st['in_order'] else 'OUT OF ORDER'}"
                     + (f"  end-to-end p50 {e2e['p50_ms']:.1f} / p95 {e2e['p95_ms']:.1f} ms" if e2e else ""))
    lines += format_rate_by_snr(report.get("trace", []))
    lines += ["", format_link_table(report["links"])]
    return "\n".join(lines)


def format_rate_by_snr(trace: list[dict]) -> list[str]:
    """With an adaptive rate (several lengths in one run): frames, SNR range and PSNR per length."""
    by_len: dict[int, list[dict]] = {}
    for t in trace:
        by_len.setdefault(t["symbols"], []).append(t)
    if len(by_len) < 2:
        return []
    lines = ["adaptive rate: symbols/frame <- channel SNR"]
    for n, ts in sorted(by_len.items()):
        snrs = [t["snr_db"] for t in ts if t["snr_db"] is not None]
        psnrs = [t["psnr_db"] for t in ts if t["psnr_db"] is not None]
        snr = f"SNR {min(snrs):.1f} .. {max(snrs):.1f} dB" if snrs else "SNR n/a"
        q = f"PSNR {sum(psnrs) / len(psnrs):.2f} dB" if psnrs else ""
        lines.append(f"  {n:>6} symbols  {len(ts):>4} frames  {snr}  {q}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)

    def body() -> int:
        if ns.list_schemes:
            import textwrap

            from shared.schemes.base import SCHEMES, param_defaults, scheme_names

            for name in scheme_names():
                print(f"{name:<12} {SCHEMES[name].help}")
                print(textwrap.fill(" ".join(param_defaults(SCHEMES[name].params)), width=100,
                                    initial_indent=" " * 13 + "--param ", subsequent_indent=" " * 21))
            return 0
        scheme, params = checked_options(ns)
        return run_demo(ns, scheme, params)

    return run_cli("semcom demo", body)


def service_argv(ns) -> dict[str, list[str]]:
    """Each service's command line for a demo run of the parsed options ``ns``."""
    quiet = ["--latency-every", str(ns.latency_every if ns.verbose else 0)]  # the receiver's line has every link
    limit = []  # a --size over the default frame limit raises every service's limit with it
    if ns.size * ns.size > Limits().max_frame_pixels:
        limit = ["--max-pixels", str(ns.size * ns.size)]
    streams = [] if ns.streams == 1 else [f"stream-{i}" for i in range(ns.streams)]
    taps = free_ports(len(streams))  # each further transmitter's reference tap (the first uses the shared port)
    transmitter = [*limit, "--reference", "--source", ns.source, "--frames", str(ns.frames), "--size", str(ns.size),
                   "--fps", str(ns.fps), "--window", str(ns.window), *quiet] + forward(ns._groups["scheme"], ns)
    transmitters = {"transmitter": transmitter} if not streams else {
        "transmitter" if i == 0 else f"transmitter.{i}":
            [*transmitter, "--stream-id", sid] + (["--reference-port", str(taps[i])] if i else [])
        for i, sid in enumerate(streams)}
    many = ["--eos-streams", str(ns.streams), "--extra-reference-ports", ",".join(map(str, taps[1:]))] if streams else []
    return {
        "receiver": [*limit, "--exit-on-eos", "--reference", "--latency-every", str(ns.latency_every),
                     "--latency-window", str(ns.latency_every or 10), *many, *forward(ns._groups["ray"], ns)]
                    + (["--out", str(ns.out)] if ns.out else [])
                    + (["--viewer", f"{ns.viewer[0]}:{ns.viewer[1]}"] if ns.viewer else [])
                    + (["--record", str(ns.record), "--record-fps", str(ns.fps or 10)] if ns.record else [])
                    + (["--record-side-by-side"] if ns.record_side_by_side else []),
        "proxy": [*limit, "--exit-on-eos", "--eos-streams", str(ns.streams), *quiet] + forward(ns._groups["channel"], ns),
        **transmitters,
    }


def checked_options(ns) -> tuple[str, dict]:
    """Fill the defaults that depend on other options and check them all; -> (scheme, its params).
    UsageError (one line) for anything a run would refuse."""
    if ns.frames is None:
        ns.frames = 0 if ns.source.startswith("webcam") else 12
    if ns.window is None:
        from transmitter.service import LIVE_WINDOW

        ns.window = LIVE_WINDOW if ns.fps > 0 else 1  # flow-controlled: stop-and-wait, each link without queueing
    if ns.timeout is None:
        ns.timeout = 0.0 if ns.frames == 0 else 600.0
    if min(ns.frames, ns.fps, ns.window, ns.timeout, ns.latency_every, ns.restarts) < 0 or not 16 <= ns.size <= 4096:
        raise UsageError("--frames, --fps, --window, --timeout, --latency-every and --restarts must be >= 0 "
                         "and --size within [16, 4096]")
    if not 1 <= ns.streams <= MAX_STREAMS:
        raise UsageError(f"--streams must be within [1, {MAX_STREAMS}]")
    ray_config(ns)
    scheme, params = scheme_from_args(ns)
    channel_from_args(ns)
    ns.viewer = viewer_address(ns.viewer)
    if ns.record is not None:
        from receiver.recorder import VideoRecorder

        VideoRecorder.check_path(ns.record)
    from shared.sources import SourceError, open_source

    try:
        open_source(ns.source, ns.size)
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    return scheme, params


def run_and_report(ns, scheme: str, params: dict, stop=None) -> tuple[PipelineRun, dict]:
    """Run the three services for the options ``ns`` (until done, Ctrl-C, or ``stop`` is set); -> the run and its report."""
    run = run_pipeline(service_argv(ns), prog="semcom demo", timeout=ns.timeout or None, verbose=ns.verbose,
                       restarts=ns.restarts, standby=ns.standby, stop=stop)
    transmitters = [run.stats[n] for n in run.stats if n.startswith("transmitter")]
    report = build_report(merged_transmitters(transmitters), run.stats["proxy"], run.stats["receiver"], scheme, params)
    if ns.streams > 1:
        report["streams"] = run.stats["receiver"].get("streams", {})
    report["receiver_decoding"] = run.stats["receiver"].get("decoding", {})  # in process, or which Ray replicas, mean batch
    report["exit_codes"], report["outcome"], report["restarts"] = run.exit_codes, run.outcome, run.restarts
    if run.failed:
        report["error"] = {"service": run.failed, "reason": run.reason}
    return run, report


def run_demo(ns, scheme: str, params: dict) -> int:
    what = f"{ns.frames} frames" if ns.frames else "frames until Ctrl-C"
    print(f"semcom demo: {what} of {ns.source} at {ns.size}x{ns.size}, scheme {scheme}, "
          f"{ns.channel} @ {ns.snr_db} dB; {ns.streams + 2 if ns.streams > 1 else 'three'} processes on 127.0.0.1"
          + (f", decoding on Ray Serve ({ns.ray})" if ns.ray else "") + " ...", file=sys.stderr)
    if ns.viewer:
        print(f"semcom demo: viewer at http://{ns.viewer[0]}:{ns.viewer[1]}/ (metrics at /metrics)", file=sys.stderr)
    run, report = run_and_report(ns, scheme, params)
    if ns.report:
        ns.report.parent.mkdir(parents=True, exist_ok=True)
        ns.report.write_text(json.dumps(report, indent=2))
    if run.failed and not report["frames"]["received"]:
        print(f"semcom demo: error: the {run.failed} stopped: {run.reason}", file=sys.stderr)
        return 2 if run.exit_codes.get(run.failed) == 2 else 1
    print(format_report(report))
    if ns.report:
        print(f"report written to {ns.report}", file=sys.stderr)
    if run.failed:
        print(f"semcom demo: error: the {run.failed} stopped: {run.reason}", file=sys.stderr)
        return 1
    return 0 if run.outcome in ("done", "interrupted") else 1
