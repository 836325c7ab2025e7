"""Live streaming: the newest frame wins, sequence numbers stay contiguous across drops, pacing
holds, the ack timeout follows the measured round trip, and latency is reported as it runs."""
import logging
import time

import numpy as np
import pytest
import sionna.phy.fec.ldpc  # noqa: F401  (imported once here: the services below run as threads of one process)

from channel_proxy.service import ProxyService
from receiver.service import ReceiverService, ReceiverSettings
from shared import feedback
from shared.config import ChannelConfig
from shared.launcher import sustained_fps
from shared.pipeline import FrameDecoder, FrameEncoder
from shared.telemetry import Counters, RollingLatency
from shared.transport import StopFlag
from tests.conftest import SMALL_DIGITAL, ServiceThread
from transmitter.capture import LiveCapture
from transmitter.service import ACK_TIMEOUT_FACTOR, TransmitterService, TransmitterSettings

DECODE_S = 0.2  # the slow receiver's decode time: 5 frames a second at most


def test_capture_keeps_only_the_newest_frame_and_holds_its_pace():
    counters = Counters()
    frames = (np.full((4, 4, 3), i, np.uint8) for i in range(1000))
    t0 = time.monotonic()
    cap = LiveCapture(frames, fps=50, counters=counters, limit=20).start()
    time.sleep(0.15)  # ~7 frames captured, none taken
    newest = cap.take(timeout=1.0)
    assert newest is not None and newest.index >= 5
    assert counters["frames_dropped.stale"] == newest.index  # every older one was replaced, and counted
    last = newest
    while not cap.ended:
        last = cap.take(timeout=1.0) or last
    elapsed = time.monotonic() - t0
    assert last.index == 19  # the limit, and the last frame is not lost
    assert 19 / 50 * 0.9 < elapsed < 19 / 50 + 1.0  # paced at 50 fps, not read as fast as possible
    cap.stop()


def test_rolling_latency_line_covers_only_the_window(caplog):
    now = [0.0]
    roll = RollingLatency(logging.getLogger("test.latency"), every_s=5, window_s=10, clock=lambda: now[0])
    for i in range(20):  # 2 frames a second for 10 s; rx_decode 100 ms then 300 ms
        now[0] = i * 0.5
        ms = 0.1 if i < 10 else 0.3
        roll.add({"rx_start": 1.0, "rx_decoded": 1.0 + ms, "tx_capture": 0.5})
    now[0] = 15.0  # the window keeps t >= 5 s: the last 10 frames, all at 300 ms
    p50, p95 = roll.summary()["rx_decode"]
    assert p50 == pytest.approx(300.0)
    with caplog.at_level(logging.INFO, logger="test.latency"):
        roll.tick()
        now[0] = 30.0  # nothing in the window: an idle service stays quiet
        roll.tick()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "rx_decode 300/300" in lines[0] and "(1.0/s)" in lines[0]


def test_refusal_reason_is_one_bounded_line():
    fb = feedback.refusal("s", 0, "model 'x' is missing\n  install it\t" + "é" * 2000)
    raw = feedback.pack(fb)
    assert len(raw) <= feedback.MAX_FEEDBACK_BYTES
    back = feedback.unpack(raw)
    assert back.type == "refused" and "\n" not in back.reason and back.reason.endswith("...")


def test_ack_timeout_follows_the_slowest_recent_round_trip(endpoints, small_frame):
    tx = TransmitterService([small_frame], FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                            TransmitterSettings(window=1, first_ack_timeout_s=7.0), StopFlag(install_signals=False))
    try:
        assert tx._ack_timeout() == 7.0  # nothing measured yet: the first frame may pay for lazy set-up
        tx._rtts.extend([0.4, 3.0, 0.5])  # a slow scheme: 3 s a frame is slow, not lost
        assert tx._ack_timeout() == pytest.approx(ACK_TIMEOUT_FACTOR * 3.0)
        tx.settled = 4  # acked or given up to seq 4
        assert tx.in_flight(7) == 2  # 5 and 6 still hold a credit
    finally:
        tx.close()


@pytest.fixture
def slow_decoder(monkeypatch):
    real = FrameDecoder.reconstruct  # (the receiver equalises, then reconstructs: the decoder's part)

    def slow(self, header, received):
        time.sleep(DECODE_S)
        return real(self, header, received)

    monkeypatch.setattr(FrameDecoder, "reconstruct", slow)


def test_live_stream_newest_frame_wins_without_a_backlog(endpoints, small_frame, slow_decoder):
    """A source at 20 fps into a receiver that decodes 5 a second: frames are dropped at the source,
    never queued; every frame sent arrives, in order, with contiguous sequence numbers; the stream
    lasts as long as the source (pacing holds under drops) and the receiver is kept busy."""
    n, fps = 60, 20.0
    stop = StopFlag(install_signals=False)
    rx = ReceiverService(endpoints, ReceiverSettings(exit_on_eos=True, latency_every_s=0), stop)
    proxy = ProxyService(ChannelConfig(snr_db=30), endpoints, StopFlag(install_signals=False), exit_on_eos=True)
    rx_run, proxy_run = ServiceThread(rx), ServiceThread(proxy)
    settings = TransmitterSettings(frames=n, fps=fps, window=2, wait_ready_s=10, latency_every_s=0)
    tx = TransmitterService((small_frame for _ in range(n)), FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                            settings, StopFlag(install_signals=False))
    try:
        tx_stats = tx.run()
        rx_run.thread.join(10)
        proxy_run.thread.join(10)
    finally:
        tx.close()
        rx_stats, _ = rx_run.stop(), proxy_run.stop()
    c = tx_stats["counters"]
    sent = c["frames_sent"]
    assert sent + tx_stats["frames_dropped"] + c.get("encode_failed", 0) == n
    assert c["frames_dropped.stale"] > n / 3  # 20 fps offered, ~5 fps served
    seqs = [t["seq"] for t in rx_stats["trace"]]
    assert seqs == list(range(sent))  # contiguous: drops at the source take no sequence number
    captured = rx_stats["hops"]["tx_capture"]
    span = captured["last"] - captured["first"]  # first frame to the last, which always goes
    assert (n - 1) / fps * 0.9 < span < (n - 1) / fps + 1.0  # paced: 60 frames at 20 fps last ~3 s though most are dropped
    shown = sustained_fps(sent, rx_stats["hops"])["fps_steady"]
    links = rx_stats["links"]
    assert shown * links["rx_decode"]["p50_ms"] / 1000 > 0.7, links  # the receiver is kept busy: its sustainable rate is shown
    service = links["tx_encode"]["p50_ms"] + links["rx_decode"]["p50_ms"] + links["channel"]["p50_ms"]
    brief = {k: (round(v["p50_ms"]), round(v["p95_ms"])) for k, v in links.items()}
    # at most one frame waits for the decoder, so a frame takes under ~2 service times (a backlog would grow
    # to seconds: 60 frames x 0.2 s); the margin is for a busy CI machine
    assert links["end_to_end"]["p95_ms"] < 2.5 * service + 100, brief
    assert links["rx_queue"]["p95_ms"] < 1.5 * links["rx_decode"]["p95_ms"], brief
    assert links["tx_queue"]["p50_ms"] < 1000 / fps, brief  # the frame taken is at most one capture period old
    assert "ack_timeouts" not in c  # a slow receiver is not a lost frame
