"""Control of a running stream: requests are checked at every hop, a switch takes effect between two
frames on every hop, and a request that cannot be served changes nothing and says why."""
import itertools

import msgpack
import pytest
import sionna.phy.fec.ldpc  # noqa: F401  (imported once here: the services below run as threads of one process)

from channel_proxy.service import ProxyService
from receiver.service import ReceiverService, ReceiverSettings
from shared import feedback, protocol
from shared.config import ChannelConfig
from shared.control import apply_channel, parse_request, resolve_scheme
from shared.pipeline import FrameEncoder
from shared.protocol import PROTOCOL_VERSION, ChannelUpdate, ControlRecord, ControlRequest, Header, Kind, Limits, ProtocolError
from shared.transport import StopFlag
from tests.conftest import SMALL_DIGITAL, ServiceThread, wait_for
from transmitter.service import TransmitterService, TransmitterSettings

DEEPJSCC_CBR = 1 / 96  # one of the rates its embedded weights were trained for


@pytest.mark.parametrize("bad, words", [
    ({}, "nothing to change"),
    ({"scheme": "deepjscc", "extra": 1}, "extra"),
    ({"channel": {"snr_db": 99}}, "less than or equal to 60"),
    ({"channel": {"snr_db": float("nan")}}, "finite"),
    ({"channel": {"snr_db": "10"}}, "valid"),
    ({"channel": {"model": "mars"}}, "awgn"),
    ({"params": {f"p{i}": 1 for i in range(20)}}, "at most 8"),
    ({"params": {"cbr": [1, 2]}}, "valid"),
    ({"params": {"x" * 100: 1}}, "1-64 characters"),
    ({"scheme": True}, "valid string"),
])
def test_a_malformed_request_is_refused_in_one_line(bad, words):
    with pytest.raises(ValueError) as exc:
        parse_request({"id": 1, **bad})
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_the_same_scheme_keeps_its_parameters_and_another_starts_from_its_defaults():
    current = FrameEncoder("digital", SMALL_DIGITAL).params.model_dump(mode="json")
    name, params = resolve_scheme("digital", current, ControlRequest(id=1, params={"link.code_rate": 0.75}))
    assert name == "digital" and params["link"]["code_rate"] == 0.75 and params["cbr"] == SMALL_DIGITAL["cbr"]
    name, params = resolve_scheme("digital", current, ControlRequest(id=2, scheme="deepjscc"))
    assert name == "deepjscc" and params["cbr"] != SMALL_DIGITAL["cbr"]  # deepjscc's own default, not digital's
    with pytest.raises(ValueError, match="unknown scheme 'nope'"):
        resolve_scheme("digital", current, ControlRequest(id=3, scheme="nope"))
    with pytest.raises(ValueError, match="scheme digital: link.code_rate"):  # what LDPC cannot do, before it is tried
        resolve_scheme("digital", current, ControlRequest(id=4, params={"link.code_rate": 0.1}))
    with pytest.raises(ValueError, match="deepjscc supports cbr"):
        resolve_scheme("digital", current, ControlRequest(id=5, scheme="deepjscc", params={"cbr": 0.3}))


def test_a_set_snr_replaces_the_proxys_schedule():
    config = ChannelConfig(model="rayleigh", snr_schedule="gm:10,2,0.9", snr_db=10)
    after = apply_channel(config, ChannelUpdate(snr_db=3))
    assert (after.model, after.snr_db, after.snr_schedule) == ("rayleigh", 3.0, "const")
    assert apply_channel(config, ChannelUpdate(model="awgn")).snr_schedule == "gm:10,2,0.9"  # only what was asked


def test_a_control_record_travels_only_in_a_control_message():
    record = ControlRecord(id=1, channel=ChannelUpdate(snr_db=3), applied=True)
    good = Header(version=PROTOCOL_VERSION, kind=Kind.CONTROL, seq=0, control=record)
    assert protocol.decode([protocol.header_bytes(good)], Limits())[0].control == record
    for kind, control in ((Kind.CONTROL, None), (Kind.PROBE, record.model_dump(mode="json"))):
        raw = msgpack.packb({**good.model_dump(mode="json"), "kind": kind.value, "control": control})
        with pytest.raises(ProtocolError, match="control record"):
            protocol.decode([raw], Limits())
    with pytest.raises(ProtocolError):
        feedback.unpack(msgpack.packb({"type": "ack", "seq": 0, "control": {"id": 1, "scheme": "digital"}}))
    fb = feedback.Feedback(type="control", seq=-1, control=ControlRequest(id=1, scheme="deepjscc"))
    assert feedback.unpack(feedback.pack(fb)) == fb


def test_a_switch_takes_effect_between_two_frames_on_every_hop(endpoints, small_frame):
    """digital -> deepjscc and 10 -> 3 dB on a live stream: every frame after the record is the new
    scheme on the new channel, none before; a request the transmitter cannot serve changes nothing."""
    rx = ReceiverService(endpoints, ReceiverSettings(latency_every_s=0), StopFlag(install_signals=False))
    proxy = ProxyService(ChannelConfig(snr_db=10), endpoints, StopFlag(install_signals=False), latency_every_s=0)
    tx = TransmitterService((small_frame for _ in itertools.count()), FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                            TransmitterSettings(fps=10, window=2, wait_ready_s=20, latency_every_s=0),
                            StopFlag(install_signals=False))
    seen: list[tuple[int, str, float]] = []  # (seq, scheme, SNR) of every frame the receiver decoded
    handle = rx.handle

    def watch(frames, t_recv=None):
        keep_going = handle(frames, t_recv)
        last = rx._last_stream
        if last and (not seen or seen[-1][0] != last["seq"]):
            seen.append((last["seq"], last["scheme"], last["snr_db"]))
        return keep_going

    rx.handle = watch
    runs = [ServiceThread(s) for s in (rx, proxy, tx)]
    try:
        assert wait_for(lambda: len(seen) >= 3, 60)
        rx.request_control("default", ControlRequest(id=7, scheme="deepjscc", params={"cbr": DEEPJSCC_CBR},
                                                     channel=ChannelUpdate(snr_db=3)))
        assert wait_for(lambda: any(s[1] == "deepjscc" for s in seen[-1:]) and len(rx.controls) == 1, 60)
        record = rx.controls[0]
        assert record["id"] == 7 and record["applied"] and record["reason"] is None
        assert wait_for(lambda: len([s for s in seen if s[0] >= record["before_seq"]]) >= 3, 30)
        before = [s for s in seen if s[0] < record["before_seq"]]
        after = [s for s in seen if s[0] >= record["before_seq"]]
        assert before and {(s[1], s[2]) for s in before} == {("digital", 10.0)}
        assert {(s[1], s[2]) for s in after} == {("deepjscc", 3.0)}  # the scheme and the channel, both from that frame on
        assert proxy.stage.config.snr_db == 3.0

        # a rate deepjscc has no weights for: the viewer would have refused it; the transmitter does too
        rx.request_control("default", ControlRequest(id=8, params={"cbr": 0.3}))
        assert wait_for(lambda: len(rx.controls) == 2, 30)
        refused = rx.controls[1]
        assert refused["id"] == 8 and not refused["applied"] and "deepjscc supports cbr" in refused["reason"]
        n = len(seen)
        assert wait_for(lambda: len(seen) >= n + 3, 30)
        assert {s[1] for s in seen[n:]} == {"deepjscc"}  # the stream goes on as it was
        assert tx.counters["controls_applied"] == 1 and tx.counters["controls_refused"] == 1
        last = rx._last_stream  # what the viewer counts: sent from the seq, shown, and the difference
        assert last["sent"] == last["seq"] + 1 and 0 <= last["lost"] <= 2 and last["received"] == last["sent"] - last["lost"]
        assert rx.counters["controls_applied"] == 1 and rx.counters["controls_refused"] == 1
    finally:
        for run in reversed(runs):
            run.stop()


def test_control_requests_from_a_flood_keep_only_the_newest(endpoints, small_frame):
    tx = TransmitterService([small_frame], FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                            TransmitterSettings(wait_ready_s=0), StopFlag(install_signals=False))
    try:
        for i in range(100):
            tx._controls.append(ControlRequest(id=i, channel=ChannelUpdate(snr_db=5)))
        assert [c.id for c in tx._controls] == [96, 97, 98, 99]  # bounded: a peer cannot queue work without end
    finally:
        tx.close()
