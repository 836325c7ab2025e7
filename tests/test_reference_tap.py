"""The measurement tap (transmitter -> receiver originals, for PSNR) loses nothing to ZeroMQ's slow joiner:
a PUB drops what it publishes before a subscription has arrived, so the first frame waits for one."""
import logging
import threading
import time

import zmq

from shared.pipeline import FrameEncoder
from shared.protocol import Limits
from shared.reference import ReferenceStore, pack
from shared.transport import StopFlag
from tests.conftest import SMALL_DIGITAL
from transmitter import service as tx_service
from transmitter.service import TransmitterService, TransmitterSettings


def _transmitter(endpoints, small_frame) -> TransmitterService:
    return TransmitterService(iter([small_frame]), FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                              TransmitterSettings(frames=1, wait_ready_s=0, send_reference=True),
                              StopFlag(install_signals=False), Limits())


def test_the_first_original_waits_for_a_late_subscriber_and_reaches_it(endpoints, small_frame):
    tx = _transmitter(endpoints, small_frame)
    ctx, late = zmq.Context.instance(), {}

    def subscribe_late() -> None:
        time.sleep(0.4)  # the receiver's SUB connects well after the transmitter bound its tap
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(f"tcp://127.0.0.1:{endpoints.reference_port}")
        late["sub"] = sub

    thread = threading.Thread(target=subscribe_late)
    try:
        t0 = time.monotonic()
        thread.start()
        tx._await_reference_subscriber()
        waited = time.monotonic() - t0
        thread.join()  # the socket moves to this thread after a full barrier, as ZeroMQ allows
        assert 0.4 <= waited < tx_service.REFERENCE_JOIN_S
        tx.ref.send_multipart(pack("cam", 0, small_frame))  # what _send_frame does for frame 0
        assert late["sub"].poll(2000), "the first original was lost to the slow joiner"
        store = ReferenceStore()
        assert store.add(late["sub"].recv_multipart()) and (store.pop("cam", 0) == small_frame).all()
    finally:
        thread.join()
        if "sub" in late:
            late["sub"].close()
        tx.stop.set()
        tx.close()


def test_with_no_subscriber_the_stream_starts_anyway_and_says_why(endpoints, small_frame, monkeypatch, caplog):
    monkeypatch.setattr(tx_service, "REFERENCE_JOIN_S", 0.3)
    tx = _transmitter(endpoints, small_frame)
    try:
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING):
            tx._await_reference_subscriber()
        assert 0.3 <= time.monotonic() - t0 < 1.5
        assert "no receiver subscribed to the reference tap" in caplog.text
    finally:
        tx.stop.set()
        tx.close()
