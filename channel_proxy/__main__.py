"""``semcom proxy`` / ``python -m channel_proxy``."""
from __future__ import annotations

from shared.cli import CliParser, UsageError, exit_now, run_cli
from shared.cli_options import add_channel_args, add_endpoint_args, channel_from_args, endpoints_from_args
from shared.service_main import add_service_args, limits_from_args, run_service


def build_parser() -> CliParser:
    p = CliParser(prog="semcom proxy", description="Apply noise, fading, erasure, delay and air time to the frames from the transmitter.")
    p.add_argument("--exit-on-eos", action="store_true", help="exit after forwarding the first end-of-stream")
    p.add_argument("--eos-streams", type=int, default=1, metavar="N",
                   help="with --exit-on-eos: exit once N streams have ended (several transmitters; default: %(default)s)")
    add_service_args(p)
    add_channel_args(p)
    add_endpoint_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)

    def body() -> int:
        channel = channel_from_args(ns)
        if ns.eos_streams < 1:
            raise UsageError("--eos-streams must be >= 1")
        endpoints = endpoints_from_args(ns)
        from channel_proxy.service import ProxyService
        from shared.transport import StopFlag

        limits = limits_from_args(ns)
        run_service("proxy", ns, lambda security: ProxyService(
            channel, endpoints, StopFlag(), hwm=ns.hwm, limits=limits, exit_on_eos=ns.exit_on_eos, eos_streams=ns.eos_streams,
            latency_every_s=ns.latency_every, latency_window_s=ns.latency_window, security=security))
        return 0

    return run_cli("semcom proxy", body)


if __name__ == "__main__":
    exit_now(main())
