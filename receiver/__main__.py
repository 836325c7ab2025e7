"""``semcom receiver`` / ``python -m receiver``."""
from __future__ import annotations

from pathlib import Path

from shared.cli import CliParser, UsageError, exit_now, run_cli
from shared.cli_options import add_endpoint_args, add_ray_args, endpoints_from_args, host_port, ray_config
from shared.service_main import add_service_args, limits_from_args, run_service


def build_parser() -> CliParser:
    p = CliParser(prog="semcom receiver", description="Receive channel symbols from the proxy, equalise, decode and reconstruct frames.")
    p.add_argument("--out", type=Path, help="write every shown frame here as PNG")
    p.add_argument("--exit-on-eos", action="store_true", help="exit at the first end of stream")
    p.add_argument("--idle-timeout", type=float, default=0.0, help="exit after this many seconds without a message; 0 = never (default: %(default)s)")
    p.add_argument("--reference", action="store_true", help="read the transmitter's originals from its measurement tap and report PSNR")
    p.add_argument("--viewer", metavar="HOST:PORT", default=None,
                   help="serve the live viewer here (stream, per-link latency, controls, /metrics), e.g. 127.0.0.1:8080; "
                        "bind 0.0.0.0 only on a trusted network: anyone who reaches it can switch the stream (default: off)")
    p.add_argument("--record", type=Path, metavar="FILE.mp4", help="write the reconstruction to this video file")
    p.add_argument("--record-side-by-side", action="store_true", help="... as original | reconstruction (with --reference)")
    p.add_argument("--record-fps", type=float, default=10.0, help="the recording's frame rate (default: %(default)s)")
    p.add_argument("--eos-streams", type=int, default=1, metavar="N",
                   help="with --exit-on-eos: exit once N streams have ended (several transmitters; default: %(default)s)")
    add_ray_args(p)
    add_service_args(p)
    add_endpoint_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)

    def body() -> int:
        endpoints = endpoints_from_args(ns)
        if ns.idle_timeout < 0:
            raise UsageError("--idle-timeout must be >= 0")
        from receiver.recorder import VideoRecorder
        from receiver.service import ReceiverService, ReceiverSettings
        from shared.transport import StopFlag

        if not 0 < ns.record_fps <= 240:
            raise UsageError("--record-fps must be within (0, 240]")
        if ns.record is not None:
            VideoRecorder.check_path(ns.record)
        if ns.eos_streams < 1:
            raise UsageError("--eos-streams must be >= 1")
        settings = ReceiverSettings(out_dir=ns.out, exit_on_eos=ns.exit_on_eos, idle_timeout_s=ns.idle_timeout,
                                    use_reference=ns.reference, hwm=ns.hwm, latency_every_s=ns.latency_every,
                                    latency_window_s=ns.latency_window,
                                    viewer=host_port(ns.viewer, "--viewer") if ns.viewer else None,
                                    record=ns.record, record_side_by_side=ns.record_side_by_side, record_fps=ns.record_fps,
                                    eos_streams=ns.eos_streams, ray=ray_config(ns))
        limits = limits_from_args(ns)
        run_service("receiver", ns, lambda security: ReceiverService(endpoints, settings, StopFlag(), limits, security))
        return 0

    return run_cli("semcom receiver", body)


if __name__ == "__main__":
    exit_now(main())
