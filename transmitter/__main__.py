"""``semcom transmitter`` / ``python -m transmitter``."""
from __future__ import annotations

from shared.cli import CliParser, UsageError, exit_now, run_cli
from shared.cli_options import add_endpoint_args, add_scheme_args, endpoints_from_args, scheme_from_args
from shared.service_main import add_service_args, limits_from_args, run_service
from shared.sources import SourceError, open_source


def build_parser() -> CliParser:
    p = CliParser(prog="semcom transmitter", description="Read frames, extract and encode them, send channel symbols to the proxy.")
    p.add_argument("--source", default="builtin", help="builtin | video:PATH | folder:PATH | webcam:N (default: %(default)s)")
    p.add_argument("--frames", type=int, default=0, help="source frames to stream; 0 = until the source ends or Ctrl-C / SIGTERM (default: %(default)s)")
    p.add_argument("--size", type=int, default=256, help="frames are centre-cropped and resized to SIZE x SIZE (default: %(default)s)")
    p.add_argument("--fps", type=float, default=0.0, help="0 = as fast as the pipeline accepts, no drops; >0 = live: capture at this rate, the newest frame wins (default: %(default)s)")
    p.add_argument("--window", type=int, default=None,
                   help="frames in flight before waiting for the receiver's ack; 1 = stop-and-wait, 0 = no cap "
                        "(default: 2 with --fps > 0, so the newest frame wins and no hop queues more than one; else 0)")
    p.add_argument("--stream-id", default="default",
                   help="names this stream in every header; 'hostname': this machine's name (a container's: distinct "
                        "per replica of `docker compose --scale`) (default: %(default)s)")
    p.add_argument("--wait-ready", type=float, default=30.0, help="seconds to wait for the receiver's answer; a refusal ends the stream at once with its reason; 0 = do not wait (default: %(default)s)")
    p.add_argument("--reference", action="store_true", help="also send the originals on the measurement tap (for PSNR at the receiver)")
    add_service_args(p)
    add_scheme_args(p)
    add_endpoint_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)

    def body() -> int:
        if ns.window is None:
            from transmitter.service import LIVE_WINDOW

            ns.window = LIVE_WINDOW if ns.fps > 0 else 0
        import re

        from shared.protocol import STREAM_ID_PATTERN

        if ns.stream_id == "hostname":
            import socket

            ns.stream_id = socket.gethostname()[:64]
        if not re.fullmatch(STREAM_ID_PATTERN, ns.stream_id):
            raise UsageError(f"--stream-id {ns.stream_id!r}: use 1-64 of A-Z a-z 0-9 _ - . (not starting with '.')")
        if ns.frames < 0 or ns.fps < 0 or ns.window < 0 or not 16 <= ns.size <= 4096:
            raise UsageError("--frames, --fps and --window must be >= 0 and --size within [16, 4096]")
        scheme, params = scheme_from_args(ns)
        endpoints = endpoints_from_args(ns)
        try:
            source = open_source(ns.source, ns.size)
        except SourceError as exc:
            raise UsageError(str(exc)) from None
        from shared.pipeline import FrameEncoder
        from shared.transport import StopFlag
        from transmitter.service import TransmitterService, TransmitterSettings

        settings = TransmitterSettings(frames=ns.frames, fps=ns.fps, wait_ready_s=ns.wait_ready,
                                       send_reference=ns.reference, hwm=ns.hwm, window=ns.window,
                                       latency_every_s=ns.latency_every, latency_window_s=ns.latency_window)
        limits = limits_from_args(ns)
        run_service("transmitter", ns, lambda security: TransmitterService(
            iter(source), FrameEncoder(scheme, params, ns.stream_id), endpoints, settings, StopFlag(), limits, security))
        return 0

    return run_cli("semcom transmitter", body)


if __name__ == "__main__":
    exit_now(main())
