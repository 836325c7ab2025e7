"""Nothing a peer sends chooses a file path: stream ids are a safe alphabet, the receiver writes only
inside --out and never over another run's frames; a NaN SNR in feedback is refused."""
from pathlib import Path

import msgpack
import numpy as np
import pytest

from receiver.service import ReceiverService, ReceiverSettings
from receiver.sink import FrameSink, UnsafePath
from shared import feedback
from shared.pipeline import FrameEncoder
from shared.protocol import Limits, ProtocolError, decode
from shared.transport import StopFlag
from tests.conftest import SMALL_DIGITAL, faded_frame
from tests.fuzz_messages import as_zmq_frames

HOSTILE_IDS = ["../../x", "/abs/dir/x", "a\x00b", ".hidden", "a/b", "", "x" * 65, "é"]


@pytest.mark.parametrize("stream_id", HOSTILE_IDS)
def test_hostile_stream_ids_are_refused_by_the_protocol(small_frame, stream_id):
    with pytest.raises(ProtocolError) as err:
        decode(faded_frame(small_frame, stream_id), Limits())
    assert err.value.reason == "malformed_header"


def test_receiver_writes_nothing_outside_out_and_serves_the_next(tmp_path, endpoints, small_frame):
    out = tmp_path / "out"
    rx = ReceiverService(endpoints, ReceiverSettings(out_dir=out), StopFlag(install_signals=False))
    try:
        for sid in HOSTILE_IDS:
            assert rx.handle(as_zmq_frames(faded_frame(small_frame, sid)))
        assert rx.handle(as_zmq_frames(faded_frame(small_frame, "cam1")))
    finally:
        rx.close()
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert written == ["out/cam1_000000.png"]
    assert rx.counters["dropped.malformed_header"] == len(HOSTILE_IDS)


def test_a_second_run_does_not_overwrite_the_first(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    first = FrameSink(tmp_path).write("cam1", 0, rgb)
    second = FrameSink(tmp_path).write("cam1", 0, rgb)  # a restarted receiver, the same stream id
    third = FrameSink(tmp_path).write("cam1", 0, rgb)
    assert [Path(p).name for p in (first, second, third)] == ["cam1_000000.png", "cam1.2_000000.png", "cam1.3_000000.png"]
    sink = FrameSink(tmp_path)
    with pytest.raises(UnsafePath):
        sink.path("../x", 0)  # the sink's own check, behind the protocol's


def test_nan_snr_in_feedback_is_refused():
    raw = msgpack.packb({"type": "ack", "stream_id": "cam1", "seq": 0, "snr_db": float("nan")})
    with pytest.raises(ProtocolError):
        feedback.unpack(raw)
    raw = msgpack.packb({"type": "ack", "stream_id": "../x", "seq": 0})
    with pytest.raises(ProtocolError):
        feedback.unpack(raw)


def test_control_messages_with_payloads_are_refused():
    """A probe or end of stream carrying a payload descriptor used to crash the proxy on re-encoding."""
    from shared.protocol import PROTOCOL_VERSION

    head = {"version": PROTOCOL_VERSION, "kind": "probe", "stream_id": "cam1", "seq": 0,
            "payloads": [{"name": "image", "role": "digital", "n_symbols": 1}]}
    with pytest.raises(ProtocolError) as err:
        decode([msgpack.packb(head), np.zeros(1, np.complex64).tobytes()], Limits())
    assert err.value.reason == "malformed_header"


def test_a_huge_block_len_costs_no_memory(small_frame):
    """block_len 10**13 in a frame's CSI used to allocate per block length (MemoryError at the receiver)."""
    frames = faded_frame(small_frame, "cam1")
    head = msgpack.unpackb(frames[0])
    head["channel"]["block_len"] = 10**13
    header, payloads = decode([msgpack.packb(head), *frames[1:]], Limits())
    from shared.pipeline import FrameDecoder

    frame = FrameDecoder().decode(header, payloads)  # one block covers the frame: decodes normally
    assert frame.shape == (64, 64, 3)


def test_a_frame_without_its_payload_is_dropped_not_a_crash(small_frame):
    """A digital frame with no payloads used to raise KeyError('image') out of the receiver's loop."""
    from shared.pipeline import FrameDecoder

    frames = faded_frame(small_frame, "cam1")
    decoder = FrameDecoder()
    header, payloads = decode(frames, Limits())
    decoder.decode(header, payloads)  # the stream's decoder is now cached
    head = msgpack.unpackb(frames[0])
    head["payloads"] = []
    header, payloads = decode([msgpack.packb(head), frames[-1]], Limits())  # the header and the CSI part only
    with pytest.raises(ProtocolError) as err:
        decoder.decode(header, payloads)
    assert err.value.reason == "payload_count"


def test_invented_hop_names_do_not_grow_the_statistics():
    """2.25 M distinct hop names from a peer used to cost 425 MiB; only the known hops are kept."""
    from shared.telemetry import HOP_NAMES, LinkStats

    stats = LinkStats()
    for i in range(5000):
        stats.add({"tx_capture": 1.0, "rx_decoded": 1.1, f"evil_{i}": 2.0})
    assert set(stats.hop_span()) <= HOP_NAMES and len(stats.first) == 2
    assert stats.summary()["end_to_end"]["n"] == 5000


def test_the_proxy_delay_line_is_capped_in_bytes(monkeypatch, endpoints, small_frame):
    """The line was capped in frames only: 256 large frames could hold gigabytes."""
    import time

    import zmq

    import channel_proxy.service as proxy_module
    from channel_proxy.service import ProxyService
    from shared.config import ChannelConfig
    from shared.protocol import encode
    from shared.transport import make_socket
    from tests.conftest import ServiceThread

    monkeypatch.setattr(proxy_module, "MAX_IN_FLIGHT_BYTES", 10_000)  # less than one 3,072-symbol frame
    proxy = ProxyService(ChannelConfig(snr_db=30, delay_ms=3000), endpoints, StopFlag(install_signals=False))
    runner = ServiceThread(proxy)
    push = make_socket(zmq.Context.instance(), zmq.PUSH, hwm=10, limits=Limits(),
                       connect=f"tcp://127.0.0.1:{endpoints.proxy_in_port}")
    try:
        for seq in range(5):
            header, symbols, _ = FrameEncoder("digital", SMALL_DIGITAL, stream_id="cam1").encode(small_frame, seq)
            push.send_multipart(encode(header, symbols))
        time.sleep(1.0)  # every frame is held 3 s: the line fills as far as the cap lets it
        held = len(proxy.line)
    finally:
        push.close(0)
        runner.stop()
    assert held == 1  # the first frame passes the cap; the proxy then stops reading until it leaves


INTERN_PROBE = """
import sys, tempfile
from pathlib import Path
import msgpack
from receiver.sink import FrameSink
from shared.protocol import PROTOCOL_VERSION, Limits, decode_header

def anon_kib():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("RssAnon:"))

sink, limits = FrameSink(Path(sys.argv[1])), Limits()
raw = msgpack.packb({"version": PROTOCOL_VERSION, "kind": "probe", "seq": 0, "scheme": "deepjscc",
                     "scheme_params": {"".join(["zq", "_param"]): 1.0}})  # a key nothing else in the process holds
for i in range(2000):  # warm-up
    sink.path("default", i), decode_header(raw, limits)
base = anon_kib()
for i in range(2000, 22000):
    sink.path("default", i), decode_header(raw, limits)
print(anon_kib() - base)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssAnon from /proc")
def test_frame_paths_and_header_keys_do_not_step_the_heap(tmp_path):
    """The soak's one-time steps of the receiver's and the proxy's heap: every frame's file name (pathlib
    interns path parts) and a header key nothing else held (msgpack interns map keys) took a slot of the
    interpreter's interned-string table, rebuilt at twice its size every ~20,000 frames (+1-2 MiB)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", INTERN_PROBE, str(tmp_path)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout) < 400, f"RssAnon grew {out.stdout.strip()} KiB over 20,000 frames"
