"""Bad messages are dropped with a counter, and the proxy and receiver serve the next good frame."""

import msgpack
import numpy as np
import zmq

from channel_proxy.service import ProxyService
from receiver.service import ReceiverService, ReceiverSettings
from shared import protocol
from shared.config import ChannelConfig
from shared.pipeline import ChannelStage, FrameEncoder
from shared.protocol import PROTOCOL_VERSION, Limits
from shared.transport import StopFlag
from tests.conftest import SMALL_DIGITAL, ServiceThread, wait_for

LIMITS = Limits(max_message_bytes=100_000)  # small, so an oversized message is cheap to build


def bad_messages(good: list[bytes]) -> dict[str, list[bytes]]:
    head = msgpack.unpackb(good[0])
    big = {**head, "payloads": [{"name": "image", "role": "digital", "n_symbols": 8000}] * 2}
    return {
        "malformed_header": [b"\x00not msgpack\xff"] + good[1:],
        "wrong_version": [msgpack.packb({**head, "version": PROTOCOL_VERSION + 1})] + good[1:],
        "payload_length": [good[0], good[1][: len(good[1]) // 2], *good[2:]],  # truncated payload (CSI kept)
        "payload_count": [good[0]],
        "non_finite": [good[0], np.full(len(good[1]) // 8, np.nan, np.complex64).tobytes(), *good[2:]],
        "oversized": [msgpack.packb(big), b"\0" * 64_000, b"\0" * 64_000],
    }


def extra_bad(good: list[bytes]) -> list[list[bytes]]:
    """Also a payload longer than its descriptor (counted as payload_length)."""
    return [[good[0], good[1] + b"\0" * 16, *good[2:]]]


def good_frame(small_frame, seq: int, faded: bool) -> list[bytes]:
    header, symbols, _ = FrameEncoder("digital", SMALL_DIGITAL).encode(small_frame, seq)
    if faded:
        header, symbols, _ = ChannelStage(ChannelConfig(snr_db=30)).process(header, symbols)
    return [bytes(f) for f in protocol.encode(header, symbols)]


def test_proxy_drops_bad_messages_and_forwards_good_ones(endpoints, small_frame):
    svc = ProxyService(ChannelConfig(snr_db=30), endpoints, StopFlag(install_signals=False), limits=LIMITS)
    runner = ServiceThread(svc)
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{endpoints.proxy_in_port}")
    pull = ctx.socket(zmq.PULL)
    pull.connect(f"tcp://127.0.0.1:{endpoints.proxy_out_port}")
    pull.setsockopt(zmq.RCVTIMEO, 20_000)
    good = good_frame(small_frame, 0, faded=False)
    bads = bad_messages(good)
    try:
        for bad in list(bads.values()) + extra_bad(good):
            push.send_multipart(bad)
            push.send_multipart(good)
        n_good = len(bads) + 1
        for _ in range(n_good):
            header, payloads = protocol.decode(pull.recv_multipart(), LIMITS)
            assert header.channel is not None and header.channel.snr_db == 30
            assert "proxy_recv" in header.hops and "proxy_sent" in header.hops
    finally:
        stats = runner.stop()
        push.close(0)
        pull.close(0)
    c = stats["counters"]
    assert c["frames_out"] == n_good
    for reason in bads:
        assert c[f"dropped.{reason}"] >= 1, reason
    assert c["dropped.payload_length"] == 2


def test_receiver_drops_bad_messages_and_decodes_good_ones(endpoints, small_frame):
    svc = ReceiverService(endpoints, ReceiverSettings(), StopFlag(install_signals=False), limits=LIMITS)
    runner = ServiceThread(svc)
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)  # stands in for the proxy's output
    push.bind(f"tcp://127.0.0.1:{endpoints.proxy_out_port}")
    good = good_frame(small_frame, 0, faded=True)
    bads = bad_messages(good)
    unknown = msgpack.unpackb(good[0])
    bads_extra = [[msgpack.packb({**unknown, "scheme": "nope"})] + good[1:]]
    try:
        for bad in list(bads.values()) + bads_extra:
            push.send_multipart(bad)
            push.send_multipart(good)
        n_good = len(bads) + len(bads_extra)
        assert wait_for(lambda: svc.counters["frames_received"] >= n_good)
    finally:
        stats = runner.stop()
        push.close(0)
    c = stats["counters"]
    assert c["frames_received"] == n_good and c.get("frames_decode_failed", 0) == 0
    for reason in bads:
        assert c[f"dropped.{reason}"] >= 1, reason
    assert c["dropped.unknown_scheme"] == 1
