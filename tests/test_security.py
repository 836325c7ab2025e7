"""CURVE on every link: a peer without the right key cannot connect, inject, steal, forge an end of
stream or forge feedback; keys are made 0600 and checked; running without them takes --insecure."""
import os
import stat
import time

import pytest
import zmq

from channel_proxy.service import ProxyService
from receiver.service import ReceiverService, ReceiverSettings
from shared import feedback, protocol
from shared.cli import UsageError
from shared.config import ChannelConfig
from shared.pipeline import FrameEncoder
from shared.protocol import PROTOCOL_VERSION, Header, Kind
from shared.security import ROLES, LinkSecurity, make_keys, stop_authenticators
from shared.transport import StopFlag
from tests.conftest import SMALL_DIGITAL, ServiceThread
from transmitter.service import TransmitterService, TransmitterSettings

pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="libzmq without CURVE")
SETTLE_S = 1.0  # long enough for a CURVE handshake on loopback, many times over


@pytest.fixture
def keys(tmp_path):
    make_keys(tmp_path / "keys")
    yield tmp_path / "keys"
    stop_authenticators()


@pytest.fixture
def rogue_keys(tmp_path):
    """Valid CURVE keys, but not the ones the services were given."""
    make_keys(tmp_path / "rogue")
    return tmp_path / "rogue"


def secured(role, keys):
    return LinkSecurity.from_options(role, keys, insecure=False)


def test_keys_are_z85_pairs_and_secret_files_are_private(keys):
    for role in ROLES:
        assert stat.S_IMODE((keys / f"{role}.key_secret").stat().st_mode) == 0o600
        public, secret = zmq.auth.load_certificate(keys / f"{role}.key_secret")
        assert len(public) == len(secret) == 40  # z85 of 32 bytes
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    with pytest.raises(UsageError, match="--force"):
        make_keys(keys)


def test_a_secret_readable_by_others_or_missing_keys_are_refused(keys, tmp_path):
    os.chmod(keys / "proxy.key_secret", 0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        secured("proxy", keys)
    with pytest.raises(UsageError, match="semcom keys"):
        secured("proxy", tmp_path / "empty")
    with pytest.raises(UsageError, match="--insecure"):
        LinkSecurity.from_options("proxy", None, insecure=False)
    assert not LinkSecurity.from_options("proxy", None, insecure=True).secure


def _frame(small_frame, seq=0) -> list:
    header, symbols, _ = FrameEncoder("digital", SMALL_DIGITAL).encode(small_frame, seq)
    return protocol.encode(header, symbols)


def _client(kind, address, role=None, key_dir=None, link=""):
    """A socket connecting to ``address``: plain, or CURVE as ``role`` with ``key_dir``'s keys."""
    sock = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if role is not None:
        secured(role, key_dir).apply(sock, link)
    if kind == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(address)
    return sock


def test_the_proxy_admits_only_the_keyed_transmitter_and_receiver(keys, rogue_keys, endpoints, small_frame):
    proxy = ProxyService(ChannelConfig(snr_db=30), endpoints, StopFlag(install_signals=False),
                         security=secured("proxy", keys))
    runner = ServiceThread(proxy)
    p_in, p_out = f"tcp://127.0.0.1:{endpoints.proxy_in_port}", f"tcp://127.0.0.1:{endpoints.proxy_out_port}"
    receiver = _client(zmq.PULL, p_out, "receiver", keys, "proxy_out")
    thief_plain = _client(zmq.PULL, p_out)  # steal a share of the frames
    thief_keyed = _client(zmq.PULL, p_out, "receiver", rogue_keys, "proxy_out")  # with keys of its own
    injector_plain = _client(zmq.PUSH, p_in)
    injector_keyed = _client(zmq.PUSH, p_in, "transmitter", rogue_keys, "proxy_in")
    tx = _client(zmq.PUSH, p_in, "transmitter", keys, "proxy_in")
    try:
        time.sleep(SETTLE_S)
        eos = [protocol.header_bytes(Header(version=PROTOCOL_VERSION, kind=Kind.EOS, seq=99))]
        for injector in (injector_plain, injector_keyed):
            for msg in (_frame(small_frame, 50), eos):  # an injected frame, a forged end of stream
                try:
                    injector.send_multipart(msg, flags=zmq.NOBLOCK)
                except zmq.Again:  # not even queued: the handshake never completes, so there is no peer
                    pass
        for seq in range(6):
            tx.send_multipart(_frame(small_frame, seq))
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 6 and time.monotonic() < deadline:
            if receiver.poll(100):
                got.append(protocol.decode(receiver.recv_multipart(), protocol.Limits())[0])
        time.sleep(0.5)  # anything else would have arrived by now
        assert [h.seq for h in got] == list(range(6))  # all six, to the keyed receiver alone
        assert not receiver.poll(0)  # no injected frame, no forged end of stream
        assert not thief_plain.poll(0) and not thief_keyed.poll(0)
        assert proxy.counters["frames_in"] == 6
    finally:
        runner.stop()
        for s in (receiver, thief_plain, thief_keyed, injector_plain, injector_keyed, tx):
            s.close(0)


def test_feedback_cannot_be_forged_by_a_process_that_binds_the_port_first(keys, rogue_keys, endpoints):
    """The transmitter only hears a server holding the receiver's secret key: a process that binds the
    feedback port first (to drive the rate with a forged SNR) is never heard."""
    rogue = zmq.Context.instance().socket(zmq.PUB)
    rogue.setsockopt(zmq.LINGER, 0)
    secured("receiver", rogue_keys).apply(rogue, "feedback")  # a CURVE server, but with the wrong secret
    rogue.bind(f"tcp://127.0.0.1:{endpoints.feedback_port}")
    tx = TransmitterService(iter([]), FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                            TransmitterSettings(wait_ready_s=0), StopFlag(install_signals=False),
                            security=secured("transmitter", keys))
    try:
        tx.next_seq = 10
        for _ in range(20):
            rogue.send(feedback.pack(feedback.Feedback(type="ack", seq=3, snr_db=40.0)))
            time.sleep(0.05)
            tx._drain_feedback()
        assert tx.last_acked == -1 and tx.last_feedback is None
    finally:
        tx.stop.set()
        tx.close()
        rogue.close(0)


def test_the_receivers_feedback_is_heard_only_by_the_keyed_transmitter(keys, rogue_keys, endpoints):
    rx = ReceiverService(endpoints, ReceiverSettings(), StopFlag(install_signals=False), security=secured("receiver", keys))
    runner = ServiceThread(rx)  # sends heartbeats on the feedback link every second
    fb = f"tcp://127.0.0.1:{endpoints.feedback_port}"
    eavesdroppers = [_client(zmq.SUB, fb), _client(zmq.SUB, fb, "transmitter", rogue_keys, "feedback")]
    listener = _client(zmq.SUB, fb, "transmitter", keys, "feedback")
    try:
        assert listener.poll(5000)  # the keyed transmitter hears the receiver's heartbeat
        assert feedback.unpack(listener.recv()).type == "heartbeat"
        assert not any(e.poll(0) for e in eavesdroppers)
    finally:
        runner.stop()
        for s in (*eavesdroppers, listener):
            s.close(0)


def test_the_demo_runs_on_its_own_ephemeral_keys(tmp_path):
    """ServiceProcesses (demo, bench) makes a key set per run and gives it to every service."""
    from shared.launcher import ServiceProcesses

    with ServiceProcesses() as services:
        assert stat.S_IMODE((services.keys / "receiver.key_secret").stat().st_mode) == 0o600
        keys = services.keys
    assert not keys.exists()  # gone with the run


def test_an_authenticator_starts_right_after_the_last_one_stopped():
    """libzmq frees the ZAP endpoint asynchronously: back-to-back restarts in one context must not fail on it."""
    from shared import security

    ctx = zmq.Context()
    try:
        for _ in range(30):
            security._Admission(ctx).auth.stop()
    finally:
        ctx.term()
