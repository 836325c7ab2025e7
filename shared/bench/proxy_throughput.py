"""Complex symbols per second through the channel proxy, beside its obvious bound:
the same messages over a plain ZeroMQ PUSH -> PULL on loopback TCP, with no
channel and no codec.

Both runs use the project's socket policy (:func:`shared.transport.make_socket`:
high-water mark, kernel buffers) and the same feed-and-drain loop in this
process. The only difference is what sits in between: nothing, or a real
``python -m channel_proxy`` process that validates every header, draws the
frame's channel and applies y = h x + n. Messages are encoded before the clock
starts, so no codec time is counted.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq

from shared import protocol
from shared.cli_options import forward
from shared.config import TransportConfig
from shared.launcher import ServiceProcesses, free_ports
from shared.protocol import PROTOCOL_VERSION, Header, Kind, Limits
from shared.security import LinkSecurity, make_keys, stop_authenticators
from shared.transport import endpoint, make_socket

POLL_MS = 50  # the feed-and-drain loop looks at its deadline this often when nothing moves
START_TIMEOUT_S = 60.0  # the proxy process imports numpy and pydantic before it binds
STALL_TIMEOUT_S = 30.0  # no message back for this long: the run has failed
WARMUP_MESSAGES = 8  # connect, first allocations and the proxy's first draws, outside the clock


@dataclass
class Transfer:
    """``messages`` messages of ``symbols`` complex symbols (``bytes`` on the wire) in ``seconds``."""

    messages: int
    symbols: int
    bytes: int
    seconds: float

    def summary(self) -> dict:
        return {
            "messages": self.messages,
            "seconds": self.seconds,
            "symbols_per_s": self.symbols / self.seconds,
            "megabytes_per_s": self.bytes / self.seconds / 1e6,
            "messages_per_s": self.messages / self.seconds,
        }


def frame_messages(header: Header, symbols: list[np.ndarray], first_seq: int, n: int) -> list[list]:
    """``n`` wire messages of one encoded frame, sequence numbers ``first_seq`` onwards
    (the channel draws per sequence number); the payload buffers are shared, not copied."""
    return [protocol.encode(header.model_copy(update={"seq": seq}), symbols) for seq in range(first_seq, first_seq + n)]


def _message_bytes(message: list) -> int:
    return sum(len(part) for part in message)


def pump(push: zmq.Socket, pull: zmq.Socket, messages: list[list], stall_s: float = STALL_TIMEOUT_S) -> float:
    """Send every message on ``push`` while draining as many from ``pull``, in one loop;
    -> seconds from the first send to the last receive. Raises TimeoutError when the
    flow stalls for ``stall_s``."""
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    poller.register(push, zmq.POLLOUT)
    n, sent, got = len(messages), 0, 0
    t0 = time.perf_counter()
    t_last = t0
    while got < n:
        events = dict(poller.poll(POLL_MS))
        if events.get(pull, 0) & zmq.POLLIN:
            pull.recv_multipart(copy=False)
            got += 1
            t_last = time.perf_counter()
        if sent < n and events.get(push, 0) & zmq.POLLOUT:
            push.send_multipart(messages[sent], flags=zmq.NOBLOCK, copy=False)
            sent += 1
            if sent == n:
                poller.modify(push, 0)
        if not events and time.perf_counter() - t_last > stall_s:
            raise TimeoutError(f"{got} of {n} messages came back, then nothing for {stall_s:.0f} s")
    return t_last - t0


def _timed(push: zmq.Socket, pull: zmq.Socket, header: Header, symbols: list[np.ndarray], n: int) -> Transfer:
    """Warm the path up, then time ``n`` messages through it."""
    pump(push, pull, frame_messages(header, symbols, 0, WARMUP_MESSAGES), stall_s=START_TIMEOUT_S)
    messages = frame_messages(header, symbols, WARMUP_MESSAGES, n)
    seconds = pump(push, pull, messages)
    return Transfer(n, n * header.n_symbols, sum(_message_bytes(m) for m in messages), seconds)


def _sockets(ctx: zmq.Context, push_to: str, pull_from: str, keys: Path, *, pull_binds: bool) -> tuple[zmq.Socket, zmq.Socket]:
    """The PUSH as the transmitter, the PULL as the receiver (connecting to a proxy) or as the proxy's
    input (binding: the bound) - CURVE both ways, so the bound pays for the same encryption."""
    hwm, limits = TransportConfig().hwm, Limits()
    if pull_binds:
        pull = make_socket(ctx, zmq.PULL, hwm=hwm, limits=limits, bind=pull_from,
                           security=LinkSecurity.from_options("proxy", keys, False), link="proxy_in")
    else:
        pull = make_socket(ctx, zmq.PULL, hwm=hwm, limits=limits, connect=pull_from,
                           security=LinkSecurity.from_options("receiver", keys, False), link="proxy_out")
    push = make_socket(ctx, zmq.PUSH, hwm=hwm, limits=limits, connect=push_to,
                       security=LinkSecurity.from_options("transmitter", keys, False), link="proxy_in")
    return push, pull


def plain_zmq(header: Header, symbols: list[np.ndarray], n: int) -> Transfer:
    """The bound: the same messages PUSH -> PULL over loopback TCP (CURVE, as every link), nothing in between."""
    ctx = zmq.Context.instance()
    address = endpoint("127.0.0.1", free_ports(1)[0])
    with tempfile.TemporaryDirectory(prefix="semcom-bench-keys-") as tmp:
        keys = Path(tmp) / "keys"
        make_keys(keys)
        push, pull = _sockets(ctx, address, address, keys, pull_binds=True)
        try:
            return _timed(push, pull, header, symbols, n)
        finally:
            push.close(0)
            pull.close(0)
            stop_authenticators()


def through_proxy(header: Header, symbols: list[np.ndarray], n: int, ns: argparse.Namespace,
                  channel_group: argparse._ArgumentGroup, *, verbose: bool = False) -> tuple[Transfer, dict]:
    """The same messages through a real proxy process with the user's channel (erasure
    forced to 0, so that every message comes back); -> (transfer, the proxy's stats)."""
    lossless = argparse.Namespace(**{**vars(ns), "erasure": 0.0})
    ctx = zmq.Context.instance()
    with ServiceProcesses(verbose=verbose) as services:
        services.start("proxy", ["--exit-on-eos", *forward(channel_group, lossless)])
        ep = services.endpoints
        push, pull = _sockets(ctx, endpoint(ep.proxy_host, ep.proxy_in_port),
                              endpoint(ep.proxy_host, ep.proxy_out_port), services.keys, pull_binds=False)
        try:
            transfer = _timed(push, pull, header, symbols, n)
            eos = Header(version=PROTOCOL_VERSION, kind=Kind.EOS, seq=WARMUP_MESSAGES + n)
            pump(push, pull, [[protocol.header_bytes(eos)]])
        finally:
            push.close(0)
            pull.close(0)
        services.wait(("proxy",), STALL_TIMEOUT_S)
        return transfer, services.stats("proxy")


def measure(header: Header, symbols: list[np.ndarray], n: int, ns: argparse.Namespace,
            channel_group: argparse._ArgumentGroup, *, verbose: bool = False) -> dict:
    """Both transfers of ``n`` messages of one encoded frame, and their ratio."""
    bound = plain_zmq(header, symbols, n)
    proxied, proxy_stats = through_proxy(header, symbols, n, ns, channel_group, verbose=verbose)
    return {
        "device": "cpu",  # the channel is numpy code: there is no GPU path to time
        "symbols_per_message": header.n_symbols,
        "bytes_per_message": _message_bytes(frame_messages(header, symbols, 0, 1)[0]),
        "proxy": proxied.summary(),
        "zmq_bound": bound.summary(),
        "proxy_over_bound": proxied.symbols / proxied.seconds / (bound.symbols / bound.seconds),
        "proxy_counters": proxy_stats.get("counters", {}),
        "channel": proxy_stats.get("channel", {}),
    }


def format_throughput(result: dict) -> str:
    p, b = result["proxy"], result["zmq_bound"]
    return "\n".join([
        f"{'path':<28}{'Msym/s':>9}{'MB/s':>9}{'msg/s':>9}",
        f"{'proxy (channel applied)':<28}{p['symbols_per_s'] / 1e6:>9.2f}{p['megabytes_per_s']:>9.1f}{p['messages_per_s']:>9.0f}",
        f"{'plain ZeroMQ (the bound)':<28}{b['symbols_per_s'] / 1e6:>9.2f}{b['megabytes_per_s']:>9.1f}{b['messages_per_s']:>9.0f}",
        f"proxy / bound = {result['proxy_over_bound']:.2f}   ({result['symbols_per_message']} symbols, "
        f"{result['bytes_per_message']} bytes a message, {p['messages']} messages)",
    ])
