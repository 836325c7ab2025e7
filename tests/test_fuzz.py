"""Property-based fuzz (hypothesis): no message of any kind or scheme, however mutated, makes a
service raise out of its message handler. Bounded for CI (``SEMCOM_FUZZ_EXAMPLES`` a service,
derandomized); ``benchmarks/fuzz_services.py`` runs 10,000 a service with fresh randomness."""
import os

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings

from channel_proxy.service import ProxyService
from receiver.service import ReceiverService, ReceiverSettings
from shared import protocol
from shared.config import ChannelConfig
from shared.launcher import free_endpoints
from shared.pipeline import FrameEncoder
from shared.protocol import Limits
from shared.transport import StopFlag
from tests.fuzz_messages import FakeFeedbackSocket, as_zmq_frames, control_requests, feedback_messages, mutated
from transmitter.service import TransmitterService, TransmitterSettings

EXAMPLES = int(os.environ.get("SEMCOM_FUZZ_EXAMPLES", "150"))
CI_SCHEMES = ["digital", "deepjscc", "lrisc"]  # the fast decoders; the benchmark adds spic, keyregion, full
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def proxy():
    svc = ProxyService(ChannelConfig(model="rayleigh", snr_db=10, block_len=16), free_endpoints(),
                       StopFlag(install_signals=False))
    sink = zmq.Context.instance().socket(zmq.PULL)  # takes what the proxy sends on, so re-encoding is exercised
    sink.setsockopt(zmq.LINGER, 0)
    sink.connect(f"tcp://127.0.0.1:{svc.out.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(':', 1)[1]}")
    yield svc, sink
    svc.stop.set()
    svc.close()
    sink.close(0)


@pytest.fixture(scope="module")
def receiver():
    svc = ReceiverService(free_endpoints(), ReceiverSettings(), StopFlag(install_signals=False))
    yield svc
    svc.stop.set()
    svc.close()


@pytest.fixture(scope="module")
def small_frame_32():
    return (np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def transmitter():
    svc = TransmitterService(iter([]), FrameEncoder("lrisc", stream_id="fuzz"), free_endpoints(),
                             TransmitterSettings(window=2), StopFlag(install_signals=False))
    real_fb = svc.fb
    svc.next_seq = 5
    yield svc
    svc.fb = real_fb
    svc.stop.set()
    svc.close()


@FUZZ
@given(message=mutated(CI_SCHEMES, faded=False))
def test_the_proxy_survives_any_message(proxy, message):
    svc, sink = proxy
    svc.handle(as_zmq_frames(message))
    svc._release_due()  # re-encodes what it accepted (a control message with payloads used to crash here)
    while sink.poll(0):
        sink.recv_multipart()


@FUZZ
@given(message=mutated(CI_SCHEMES, faded=True))
def test_the_receiver_survives_any_message(receiver, message):
    assert receiver.handle(as_zmq_frames(message)) in (True, False)


@FUZZ
@given(raw=feedback_messages())
def test_the_transmitter_survives_any_feedback(transmitter, raw):
    transmitter.fb = FakeFeedbackSocket([raw])
    transmitter._drain_feedback()
    assert transmitter.last_acked < transmitter.next_seq  # nothing unsent is ever acknowledged


CONTROL_FUZZ = settings(FUZZ, max_examples=min(EXAMPLES, 40))  # each may build a scheme's encoder: fewer examples


@CONTROL_FUZZ
@given(request=control_requests())
def test_the_transmitter_survives_any_control_request(transmitter, small_frame_32, request):
    """A request that passed the schema (the viewer's checks skipped, as a forger would) is applied or
    refused with a reason; the transmitter never raises, and a refused one leaves its scheme as it was."""
    before = transmitter.encoder
    transmitter._last_frame = small_frame_32
    transmitter.settings.wait_ready_s = 0.05  # no receiver here: a scheme that builds is refused for no answer
    sent = []
    transmitter._send = lambda frames, **_: sent.append(frames) or True
    try:
        transmitter._apply_control(request, 5)
    finally:
        del transmitter._send  # the instance attribute: back to the method
    record = protocol.decode_header(sent[-1][0], Limits()).control
    assert record.id == request.id and (record.applied or record.reason)
    if not record.applied:
        assert transmitter.encoder is before
    transmitter.encoder = before
