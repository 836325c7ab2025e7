"""``semcom proxy`` / ``python -m channel_proxy``."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from shared.cli import CliParser, UsageError, run_cli
from shared.cli_options import add_channel_args, add_endpoint_args, channel_from_args, endpoints_from_args


def build_parser() -> CliParser:
    p = CliParser(prog="semcom proxy", description="Apply noise, fading, erasure, delay and air time to the frames from the transmitter.")
    p.add_argument("--exit-on-eos", action="store_true", help="exit after forwarding the first end-of-stream")
    p.add_argument("--stats", type=Path, help="write this service's statistics (JSON) here on exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    add_channel_args(p)
    add_endpoint_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)

    def body() -> int:
        channel = channel_from_args(ns)
        endpoints = endpoints_from_args(ns)
        logging.basicConfig(level=ns.log_level, format="%(asctime)s proxy %(levelname)s %(message)s")
        from channel_proxy.service import ProxyService
        from shared.transport import StopFlag

        try:
            service = ProxyService(channel, endpoints, StopFlag(), hwm=ns.hwm, exit_on_eos=ns.exit_on_eos)
        except OSError as exc:
            raise UsageError(str(exc)) from None
        logging.getLogger("proxy").info("channel %s", channel.model_dump())
        try:
            stats = service.run()
        finally:
            service.close()
        if ns.stats:
            ns.stats.write_text(json.dumps(stats, indent=2))
        logging.getLogger("proxy").info("done: %s", stats["counters"])
        return 0

    return run_cli("semcom proxy", body)


if __name__ == "__main__":
    sys.exit(main())
