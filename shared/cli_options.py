"""Command-line option groups shared by the services and the demo.

Each ``add_*`` function declares one group and returns it; the matching
``*_from_args`` turns parsed options into a validated config, raising
:class:`~shared.cli.UsageError` with a one-line reason. ``forward`` turns a
group's parsed values back into argv, so the demo hands exactly the user's
options to the services it starts.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import ValidationError

from shared.cli import UsageError
from shared.config import ChannelConfig, Endpoints, RayDecodeConfig
from shared.control import nest_params
from shared.protocol import first_error


def add_channel_args(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    d = ChannelConfig()
    g = parser.add_argument_group("channel")
    g.add_argument("--channel", choices=["awgn", "rayleigh", "rician"], default=d.model, help="fading model (default: %(default)s)")
    g.add_argument("--snr-db", type=float, default=d.snr_db, help="SNR per complex symbol, dB (default: %(default)s)")
    g.add_argument("--snr-schedule", default=d.snr_schedule, metavar="SPEC",
                   help="const | list:0,5,10 | trace:PATH | gm:MEAN,STD,RHO (Gauss-Markov walk) (default: %(default)s)")
    g.add_argument("--rician-k", type=float, default=d.rician_k, help="Rician K factor, linear (default: %(default)s)")
    g.add_argument("--block-len", type=int, default=d.block_len, help="symbols per coherence block; 0 = one per frame (default: %(default)s)")
    g.add_argument("--csi-error", type=float, default=d.csi_error_var, help="variance of the receiver's CSI error; 0 = perfect (default: %(default)s)")
    g.add_argument("--erasure", type=float, default=d.erasure, help="probability of losing a whole frame (default: %(default)s)")
    g.add_argument("--delay-ms", type=float, default=d.delay_ms, help="one-way propagation delay (default: %(default)s)")
    g.add_argument("--jitter-ms", type=float, default=d.jitter_ms, help="uniform +-jitter around the delay (default: %(default)s)")
    g.add_argument("--symbol-rate", type=float, default=d.symbol_rate, help="complex symbols/s on air; 0 = unlimited (default: %(default)s)")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of every channel draw (default: %(default)s)")
    return g


def channel_from_args(ns: argparse.Namespace) -> ChannelConfig:
    from shared.channel.snr import SnrSchedule

    try:
        cfg = ChannelConfig(
            model=ns.channel, snr_db=ns.snr_db, snr_schedule=ns.snr_schedule, rician_k=ns.rician_k,
            block_len=ns.block_len, csi_error_var=ns.csi_error, erasure=ns.erasure, delay_ms=ns.delay_ms,
            jitter_ms=ns.jitter_ms, symbol_rate=ns.symbol_rate, seed=ns.seed,
        )
        SnrSchedule(cfg.snr_schedule, cfg.snr_db, cfg.seed)
    except ValidationError as exc:
        raise UsageError(f"channel: {first_error(exc)}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return cfg


def add_scheme_args(parser: argparse.ArgumentParser, default: str = "lrisc") -> argparse._ArgumentGroup:
    g = parser.add_argument_group("scheme")
    g.add_argument("--scheme", default=default, help="transmission scheme (default: %(default)s); see 'semcom demo --list-schemes'")
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="scheme parameter, repeatable; dotted keys nest, e.g. --param link.modulation=qpsk --param cbr=0.05")
    return g


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def scheme_from_args(ns: argparse.Namespace) -> tuple[str, dict]:
    """-> (scheme name, validated params as a JSON-able dict)."""
    from shared.schemes.base import get_scheme

    try:
        spec = get_scheme(ns.scheme)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    flat: dict = {}
    for item in ns.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r}: expected KEY=VALUE")
        flat[key] = _parse_value(value)
    try:
        nested = nest_params(flat)
    except ValueError as exc:  # a dotted key under a value
        raise UsageError(f"scheme {spec.name}: {exc}") from None
    try:
        return spec.name, spec.params.model_validate(nested).model_dump(mode="json")
    except ValidationError as exc:
        raise UsageError(f"scheme {spec.name}: {first_error(exc)}") from None


def port_list(text: str) -> list[int]:
    """``5558,5560`` -> [5558, 5560] (ranges are checked with the rest of the endpoints)."""
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ports separated by commas, got {text!r}") from None


def add_endpoint_args(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    d = Endpoints()
    g = parser.add_argument_group("network")
    g.add_argument("--bind", default=d.bind_host, help="address this service binds to (default: %(default)s; 0.0.0.0 in containers)")
    g.add_argument("--proxy-host", default=d.proxy_host, help="host of the channel proxy (default: %(default)s)")
    g.add_argument("--tx-host", default=d.transmitter_host, help="host of the transmitter (default: %(default)s)")
    g.add_argument("--rx-host", default=d.receiver_host, help="host of the receiver (default: %(default)s)")
    g.add_argument("--proxy-in-port", type=int, default=d.proxy_in_port, help="tx -> proxy (default: %(default)s)")
    g.add_argument("--proxy-out-port", type=int, default=d.proxy_out_port, help="proxy -> rx (default: %(default)s)")
    g.add_argument("--feedback-port", type=int, default=d.feedback_port, help="rx -> tx feedback (default: %(default)s)")
    g.add_argument("--reference-port", type=int, default=d.reference_port,
                   help="tx -> rx originals, for measuring quality only (default: %(default)s)")
    g.add_argument("--extra-reference-ports", type=port_list, default=[], metavar="PORT,PORT",
                   help="the receiver also reads these transmitters' originals (several streams on one receiver)")
    g.add_argument("--hwm", type=int, default=2, help="ZeroMQ high-water mark, messages (default: %(default)s)")
    return g


def endpoints_from_args(ns: argparse.Namespace) -> Endpoints:
    try:
        return Endpoints(
            bind_host=ns.bind, proxy_host=ns.proxy_host, transmitter_host=ns.tx_host, receiver_host=ns.rx_host,
            proxy_in_port=ns.proxy_in_port, proxy_out_port=ns.proxy_out_port,
            feedback_port=ns.feedback_port, reference_port=ns.reference_port, extra_reference_ports=ns.extra_reference_ports,
        )
    except ValidationError as exc:
        raise UsageError(f"network: {first_error(exc)}") from None


def add_ray_args(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """``--ray ADDRESS`` and the Ray Serve decoder's settings (the receiver's; the demo forwards them)."""
    d = RayDecodeConfig()
    g = parser.add_argument_group("scale-out (Ray Serve)", "decode on Ray Serve replicas; this process stays the network edge "
                             "(validates, equalises, keeps each stream's frames in order)")
    g.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="the Ray cluster: 'auto' (one started with 'ray start' on this machine), 'local' (start one in "
                        "this process), or HOST:PORT of its head (default: decode in this process)")
    g.add_argument("--ray-replicas", type=int, default=d.replicas, metavar="N", help="decoder replicas (default: %(default)s)")
    g.add_argument("--ray-max-replicas", type=int, default=d.max_replicas, metavar="N",
                   help="autoscale from --ray-replicas up to N with load (default: fixed)")
    g.add_argument("--ray-max-batch", type=int, default=d.max_batch, metavar="N",
                   help="frames a replica decodes together, across streams (default: %(default)s)")
    g.add_argument("--ray-batch-wait-ms", type=float, default=d.batch_wait_ms, metavar="MS",
                   help="how long a replica waits to fill a batch (default: %(default)s)")
    g.add_argument("--ray-cpus", type=float, default=d.cpus, help="CPUs each replica reserves (default: %(default)s)")
    g.add_argument("--ray-gpus", type=float, default=d.gpus,
                   help="GPUs each replica reserves; -1: one where the cluster has GPUs, else none (default: %(default)s)")
    return g


def ray_config(ns) -> RayDecodeConfig | None:
    """The --ray* flags, checked (one line on a bad value), or None without --ray."""
    if ns.ray is None:
        return None
    try:
        return RayDecodeConfig(address=ns.ray, replicas=ns.ray_replicas, max_replicas=ns.ray_max_replicas,
                               max_batch=ns.ray_max_batch, batch_wait_ms=ns.ray_batch_wait_ms, cpus=ns.ray_cpus,
                               gpus=ns.ray_gpus, threads=getattr(ns, "threads", 1))
    except ValidationError as exc:
        raise UsageError(f"--ray: {first_error(exc)}") from None


def forward(group: argparse._ArgumentGroup, ns: argparse.Namespace) -> list[str]:
    """The argv that reproduces ``group``'s parsed values (defaults left out)."""
    argv: list[str] = []
    for action in group._group_actions:
        value = getattr(ns, action.dest)
        if value == action.default:
            continue
        flag = action.option_strings[-1]
        for item in value if isinstance(value, list) else [value]:
            argv += [flag, str(item)]
    return argv


def host_port(text: str, flag: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) -> (host, port); port 0 picks a free one. UsageError otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{flag} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)
