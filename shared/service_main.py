"""The life cycle every service's command shares: logging, start, run, close, stats."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Protocol

from shared.cli import UsageError
from shared.prometheus import ServiceCollector, serve_metrics, service_registry
from shared.protocol import Limits
from shared.security import LinkSecurity, stop_authenticators
from shared.transport import StopFlag


class Service(Protocol):
    stop: StopFlag  # set: close() drops what is unsent instead of flushing it
    metrics: ServiceCollector  # what --metrics-port serves

    def run(self) -> dict: ...

    def close(self) -> None: ...


def add_service_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stats", type=Path, help="write this service's statistics (JSON) here on exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--latency-every", type=float, default=10.0, metavar="S",
                        help="log a per-link latency line (p50/p95) every S seconds; 0 = never (default: %(default)s)")
    parser.add_argument("--latency-window", type=float, default=10.0, metavar="S",
                        help="... over the frames of the last S seconds (default: %(default)s)")
    parser.add_argument("--keys", type=Path, default=None, metavar="DIR",
                        help="CURVE keys (made by `semcom keys DIR`): this service's secret key and its peers' public "
                             "keys; only keyed peers may connect (default: $SEMCOM_KEYS)")
    parser.add_argument("--insecure", action="store_true",
                        help="run the links without authentication or encryption (any local process may connect)")
    parser.add_argument("--metrics-port", type=int, default=0, metavar="PORT",
                        help="serve Prometheus metrics at http://BIND:PORT/metrics (BIND: --bind); 0 = off "
                             "(default: %(default)s; the receiver's viewer serves /metrics too)")
    parser.add_argument("--max-pixels", type=int, default=Limits().max_frame_pixels, metavar="N",
                        help="largest frame (height x width) this service accepts: it bounds the work one message "
                             "can cause (default: %(default)s, 2560x1440)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for model and decoder maths (default: %(default)s: the three services "
                             "share small machines, and torch's thread pool collapses when oversubscribed)")


def limits_from_args(ns: argparse.Namespace) -> Limits:
    if not 16 * 16 <= ns.max_pixels <= 8192 * 8192:
        raise UsageError("--max-pixels must be within [256, 67108864] (16x16 to 8192x8192)")
    return Limits(max_frame_pixels=ns.max_pixels)


def run_service(name: str, ns: argparse.Namespace, factory: Callable[[LinkSecurity], Service]) -> dict:
    """Build the service with its link security (a port that cannot be bound is a usage error),
    run it until it stops, close its sockets, and write its statistics where ``--stats`` says."""
    logging.basicConfig(level=ns.log_level, format=f"%(asctime)s {name} %(levelname)s %(message)s")
    if ns.threads < 1:
        raise UsageError("--threads must be >= 1")
    if not 0 <= ns.metrics_port <= 65535:
        raise UsageError("--metrics-port must be within [0, 65535]")
    if ns.latency_every < 0 or ns.latency_window <= 0:
        raise UsageError("--latency-every must be >= 0 and --latency-window > 0")
    # the rolling latency lines show at --log-level WARNING too (the demo's): they are what a stream is watched by
    logging.getLogger(f"{name}.latency").setLevel(logging.ERROR if ns.log_level == "ERROR" else logging.INFO)
    os.environ["OMP_NUM_THREADS"] = str(ns.threads)  # read by torch when a scheme first imports it
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(ns.threads)
    security = LinkSecurity.from_options(name, ns.keys, ns.insecure)
    if not security.secure:
        logging.getLogger(name).warning("links are not authenticated (--insecure): any local process may connect")
    try:
        service = factory(security)
    except OSError as exc:
        stop_authenticators()
        raise UsageError(str(exc)) from None
    metrics_server = None
    if ns.metrics_port:
        try:
            metrics_server = serve_metrics(ns.bind, ns.metrics_port, service_registry(service.metrics))
        except OSError as exc:
            service.close()
            stop_authenticators()
            raise UsageError(f"--metrics-port {ns.metrics_port}: {exc.strerror or exc}") from None
        logging.getLogger(name).info("metrics at http://%s:%d/metrics", ns.bind, ns.metrics_port)
    try:
        stats = service.run()
    except UsageError as exc:  # a start-up failure (a refused stream, a budget too small): one line, and the stats say why
        service.stop.set()  # nothing queued is worth waiting for
        if ns.stats:
            ns.stats.write_text(json.dumps({"counters": {}, "error": str(exc)}, indent=2))
        raise
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
        service.close()
        stop_authenticators()  # its socket would hold the context open at exit
    if ns.stats:
        ns.stats.write_text(json.dumps(stats, indent=2))
    logging.getLogger(name).info("done: %s", stats["counters"])
    return stats

