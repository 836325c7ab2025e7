"""One message sets bounded work and bounded memory: strict types, a frame-area limit, few hops,
fixed-size statistics, a per-stream cache that does not grow with invented stream ids, and
acks for frames never sent are ignored. Each case here was a hole found by an attacker's script."""
import msgpack
import numpy as np
import pytest

from receiver.service import TRACE_FRAMES, ReceiverService, ReceiverSettings
from shared.config import ChannelConfig
from shared.protocol import MAX_HOPS, Limits, ProtocolError, decode
from shared.telemetry import LatencyHistogram, LinkStats
from shared.transport import StopFlag
from tests.conftest import faded_frame
from tests.fuzz_messages import as_zmq_frames


def _with(frames: list[bytes], **fields) -> list[bytes]:
    return [msgpack.packb({**msgpack.unpackb(frames[0]), **fields}), *frames[1:]]


@pytest.mark.parametrize("field,value", [("version", True), ("seq", 3.0), ("seq", True), ("height", 64.0),
                                         ("seq", 2**63)])
def test_header_integers_are_strict(small_frame, field, value):
    """``True == 1`` in Python: a bool was accepted as version 1, a float as a frame number."""
    frames = _with(faded_frame(small_frame), **{field: value})
    with pytest.raises(ProtocolError) as err:
        decode(frames, Limits())
    assert err.value.reason in ("malformed_header", "wrong_version")


def test_feedback_integers_are_strict():
    from shared import feedback

    for bad in ({"seq": True}, {"seq": 1.0}, {"seq": 0, "ok": 1}):
        with pytest.raises(ProtocolError):
            feedback.unpack(msgpack.packb({"type": "ack", "stream_id": "cam1", **bad}))


def test_a_frame_larger_than_the_pixel_limit_is_dropped_before_any_work(small_frame):
    """One small header claiming a 2048x2048 deepjscc frame cost 8.2 s and 1.67 GB of decoding."""
    frames = _with(faded_frame(small_frame), height=2048, width=2048)
    with pytest.raises(ProtocolError) as err:
        decode(frames, Limits())
    assert err.value.reason == "oversized" and "pixels" in str(err.value)
    decode(frames, Limits(max_frame_pixels=2048 * 2048))  # with the limit raised by configuration, it parses


def test_the_transmitter_refuses_frames_over_its_pixel_limit(endpoints, small_frame):
    from shared.cli import UsageError
    from shared.pipeline import FrameEncoder
    from tests.conftest import SMALL_DIGITAL
    from transmitter.service import TransmitterService, TransmitterSettings

    svc = TransmitterService(iter([small_frame]), FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                             TransmitterSettings(frames=1, wait_ready_s=0), StopFlag(install_signals=False),
                             Limits(max_frame_pixels=32 * 32))
    try:
        with pytest.raises(UsageError, match="max-pixels"):
            svc.run()
    finally:
        svc.stop.set()
        svc.close()


def test_a_header_with_many_hops_is_refused(small_frame):
    frames = faded_frame(small_frame)
    hops = {f"h{i}": 1.0 for i in range(MAX_HOPS + 1)}
    with pytest.raises(ProtocolError):
        decode(_with(frames, hops=hops), Limits())


def test_scheme_parameters_are_not_coerced_at_the_receiver(small_frame):
    """The transmitter dumps canonical types; a string or bool where a number belongs is a forgery."""
    from shared.pipeline import FrameDecoder

    frames = faded_frame(small_frame)
    head = msgpack.unpackb(frames[0])
    head["scheme_params"]["cbr"] = "0.25"
    header, payloads = decode([msgpack.packb(head), *frames[1:]], Limits())
    with pytest.raises(ProtocolError) as err:
        FrameDecoder().decode(header, payloads)
    assert err.value.reason == "bad_params"


def test_fast_fading_csi_travels_outside_the_header(small_frame):
    """``--block-len 1``: a gain per symbol made the CSI longer than the 64 KiB header cap, and every
    256x256 deepjscc frame was dropped. The CSI is its own binary part now; the header stays small."""
    from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
    from shared.protocol import encode

    frame = np.tile(small_frame, (4, 4, 1))  # 256x256
    header, symbols, _ = FrameEncoder("deepjscc").encode(frame, 0)
    header, faded, real = ChannelStage(ChannelConfig(model="rayleigh", snr_db=20, block_len=1)).process(header, symbols)
    assert header.channel.n_blocks == header.n_symbols == 4096  # one gain a symbol: 78 KB as msgpack pairs
    wire = [bytes(f) for f in encode(header, faded)]
    assert len(wire[0]) < 2048 < Limits().max_header_bytes
    parsed, payloads = decode(wire, Limits())
    np.testing.assert_array_equal(parsed.channel.csi, real.csi.astype(np.complex64))
    out = FrameDecoder().decode(parsed, payloads)
    assert out.shape == (256, 256, 3)


def test_a_csi_part_of_the_wrong_length_or_not_finite_is_dropped(small_frame):
    frames = faded_frame(small_frame)
    for bad_csi, reason in ((frames[-1][:-8], "payload_length"),
                            (np.full(len(frames[-1]) // 8, np.nan, np.complex64).tobytes(), "non_finite")):
        with pytest.raises(ProtocolError) as err:
            decode([*frames[:-1], bad_csi], Limits())
        assert err.value.reason == reason


def test_latency_histogram_matches_exact_percentiles_in_constant_memory():
    """The per-link statistics were deques of 100,000 samples: a soak grew by kilobytes a frame."""
    rng = np.random.default_rng(0)
    values = rng.lognormal(3.0, 1.0, 20_000)  # ms
    hist = LatencyHistogram()
    size = hist.counts.nbytes
    for v in values:
        hist.add(float(v))
    assert hist.counts.nbytes == size and hist.n == values.size
    for q in (50, 95, 99):
        assert hist.percentile(q) == pytest.approx(np.percentile(values, q), rel=0.011)
    assert hist.max == values.max() and hist.total / hist.n == pytest.approx(values.mean())
    stats = LinkStats()
    stats.add({"tx_capture": 1.0, "rx_decoded": 1.25})
    assert stats.summary()["end_to_end"]["p50_ms"] == pytest.approx(250, rel=0.01)


def test_invented_stream_ids_do_not_grow_the_receivers_memory(endpoints, small_frame):
    """Each stream id kept its last good frame forever; now as many as the decoders (LRU)."""
    rx = ReceiverService(endpoints, ReceiverSettings(), StopFlag(install_signals=False))
    try:
        for i in range(3 * rx.decoder.max_streams):
            rx.handle(as_zmq_frames(faded_frame(small_frame, f"cam{i}")))
        assert rx.counters["frames_received"] == 3 * rx.decoder.max_streams
        assert len(rx.last_good) == rx.decoder.max_streams and f"cam{3 * rx.decoder.max_streams - 1}" in rx.last_good
        assert rx.trace.maxlen == TRACE_FRAMES
        assert rx.stats()["rate"]["symbols_per_frame"] > 0
    finally:
        rx.stop.set()
        rx.close()


def test_an_ack_for_a_frame_never_sent_is_ignored(endpoints, small_frame):
    """A forged ack with seq 2**63 - 1 settled every future frame: the window never closed again."""
    import time

    import zmq

    from shared import feedback
    from shared.pipeline import FrameEncoder
    from tests.conftest import SMALL_DIGITAL
    from transmitter.service import TransmitterService, TransmitterSettings

    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.bind(f"tcp://127.0.0.1:{endpoints.feedback_port}")
    tx = TransmitterService(iter([small_frame]), FrameEncoder("digital", SMALL_DIGITAL, stream_id="default"), endpoints,
                            TransmitterSettings(window=1, wait_ready_s=0), StopFlag(install_signals=False))
    try:
        time.sleep(0.3)  # the SUB connects
        tx.next_seq = 5
        for seq in (2**63 - 1, 5, 4):
            pub.send(feedback.pack(feedback.Feedback(type="ack", stream_id="default", seq=seq)))
        deadline = time.monotonic() + 5
        while tx.last_acked < 4 and time.monotonic() < deadline:
            tx.fb.poll(50)
            tx._drain_feedback()
        assert tx.last_acked == 4 and tx.settled == 4
        assert tx.counters["feedback_dropped.unsent_seq"] == 2
    finally:
        tx.stop.set()
        tx.close()
        pub.close(0)


def test_a_forged_code_rate_the_ldpc_library_rejects_is_refused_not_a_crash(small_frame):
    """``link.code_rate`` below 1/5 passed validation and made Sionna raise out of the receiver's loop."""
    from shared.pipeline import FrameDecoder

    frames = faded_frame(small_frame)
    head = msgpack.unpackb(frames[0])
    head["scheme_params"]["link"]["code_rate"] = 0.1
    header, payloads = decode([msgpack.packb(head), *frames[1:]], Limits())
    with pytest.raises(ProtocolError) as err:
        FrameDecoder().decode(header, payloads)
    assert err.value.reason == "bad_params"


def test_binary_values_in_the_header_are_refused(small_frame):
    """An empty msgpack bin in the scheme parameters crashed a scheme; the header holds no binary at all."""
    frames = faded_frame(small_frame)
    head = msgpack.unpackb(frames[0])
    head["scheme_params"]["codec"] = b""
    with pytest.raises(ProtocolError) as err:
        decode([msgpack.packb(head, use_bin_type=True), *frames[1:]], Limits())
    assert err.value.reason == "malformed_header"


def test_a_stream_that_delivers_nothing_fails_instead_of_exiting_0(endpoints, small_frame):
    """``--block-len 1`` deepjscc once lost every frame while the transmitter exited 0."""
    import sionna.phy.fec.ldpc  # noqa: F401  (imported here once: the threads below would import it at the same time)

    from channel_proxy.service import ProxyService
    from shared.cli import StartupFailure
    from shared.pipeline import FrameEncoder
    from tests.conftest import SMALL_DIGITAL, ServiceThread
    from transmitter.service import TransmitterService, TransmitterSettings

    proxy = ProxyService(ChannelConfig(erasure=1.0), endpoints, StopFlag(install_signals=False))  # every frame lost on air
    rx = ReceiverService(endpoints, ReceiverSettings(), StopFlag(install_signals=False))
    runners = [ServiceThread(proxy), ServiceThread(rx)]
    tx = TransmitterService(iter([small_frame] * 3), FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                            TransmitterSettings(window=1, wait_ready_s=20, first_ack_timeout_s=1.0),
                            StopFlag(install_signals=False))
    try:
        with pytest.raises(StartupFailure, match="acknowledged none of the 3 frames"):
            tx.run()
    finally:
        tx.stop.set()
        tx.close()
        for r in runners:
            r.stop()
    assert proxy.counters["frames_erased"] == 3


def test_fuzz_findings_of_the_benchmark_are_dropped_not_raised(small_frame):
    """benchmarks/fuzz_services.py (10,000 examples) found these two: a list as lrisc's codec made its
    defaults lookup raise TypeError, and an infinite hop time overflowed the latency histogram."""
    from shared.pipeline import FrameDecoder
    from tests.fuzz_messages import valid_message

    frames = list(valid_message("lrisc", "frame", True))
    head = msgpack.unpackb(frames[0])
    head["scheme_params"]["codec"] = ["taef2"]
    header, payloads = decode([msgpack.packb(head), *frames[1:]], Limits())
    with pytest.raises(ProtocolError) as err:
        FrameDecoder().decode(header, payloads)
    assert err.value.reason == "bad_params"
    for hops in ({"tx_capture": float("inf")}, {"rx_start": float("nan")}):
        with pytest.raises(ProtocolError):
            decode(_with(faded_frame(small_frame), hops=hops), Limits())
    hist = LatencyHistogram()
    hist.add(float("inf"))
    assert hist.n == 0


def test_a_symbol_beyond_complex64_after_equalisation_is_an_erasure():
    from shared.phy.equalize import equalize
    from shared.protocol import ChannelState

    state = ChannelState.with_csi(np.array([1e-7 + 0j], np.complex64), model="rayleigh", snr_db=10, n0=0.1, block_len=2)
    y = np.array([3e38 + 0j, 1 + 0j], np.complex64)
    with np.errstate(all="raise"):  # no warning escapes either
        x_hat, noise_var = equalize(y, state)
    assert x_hat[0] == 0 and noise_var[0] == np.finfo(np.float32).max
    assert np.isfinite(x_hat[1]) and np.isfinite(noise_var).all()


def test_the_frame_trace_keeps_the_last_frames_as_the_report_shows_them():
    from shared.telemetry import FrameTrace

    trace = FrameTrace(3)
    for seq in range(5):
        trace.append(seq, 10.0 if seq % 2 else None, 64, seq != 3, None, {"tx_capture": 1.0, "rx_decoded": 1.0 + seq / 1000})
    rows = trace.rows()
    assert [r["seq"] for r in rows] == [2, 3, 4] and len(trace) == 3
    assert rows[1] == {"seq": 3, "snr_db": 10.0, "symbols": 64, "ok": False, "psnr_db": None, "links_ms": {"end_to_end": 3.0}}
    assert rows[0]["snr_db"] is None
