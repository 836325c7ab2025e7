import msgpack
import numpy as np
import pytest

from shared import protocol
from shared.protocol import PROTOCOL_VERSION, Header, Kind, Limits, PayloadDescriptor, ProtocolError

LIMITS = Limits()


def make_header(n: int) -> Header:
    return Header(version=PROTOCOL_VERSION, kind=Kind.FRAME, seq=3, scheme="digital", height=8, width=8,
                  payloads=[PayloadDescriptor(name="image", role="digital", n_symbols=n)])


def make(n=16):
    sym = (np.arange(n) + 1j * np.arange(n)).astype(np.complex64)
    return make_header(n), sym


def test_round_trip_preserves_header_and_symbols():
    header, sym = make()
    frames = protocol.encode(header, [sym])
    got_header, (got,) = protocol.decode([bytes(f) for f in frames], LIMITS)
    assert got_header == header
    np.testing.assert_array_equal(got, sym)
    assert got.dtype == np.dtype("<c8")


def test_payloads_are_little_endian_complex64_bytes():
    header, sym = make(2)
    raw = bytes(protocol.encode(header, [sym])[1])
    assert raw == sym.astype("<c8").tobytes() and len(raw) == 16


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda f: [b"\xc1\xff garbage"] + f[1:], "malformed_header"),
        (lambda f: [msgpack.packb([1, 2, 3])] + f[1:], "malformed_header"),
        (lambda f: [msgpack.packb({**msgpack.unpackb(f[0]), "version": 99})] + f[1:], "wrong_version"),
        (lambda f: [msgpack.packb({**msgpack.unpackb(f[0]), "seq": -1})] + f[1:], "malformed_header"),
        (lambda f: [f[0], f[1][:-5]], "payload_length"),  # truncated
        (lambda f: [f[0], f[1] + b"\0" * 8], "payload_length"),  # longer than its descriptor
        (lambda f: [f[0]], "payload_count"),
        (lambda f: [f[0], np.full(16, np.nan, np.complex64).tobytes()], "non_finite"),
        (lambda f: [f[0], np.full(16, np.inf, np.complex64).tobytes()], "non_finite"),
        (lambda f: [], "malformed_header"),
    ],
)
def test_bad_messages_raise_protocol_error_with_reason(mutate, reason):
    header, sym = make()
    frames = [bytes(f) for f in protocol.encode(header, [sym])]
    with pytest.raises(ProtocolError) as err:
        protocol.decode(mutate(frames), LIMITS)
    assert err.value.reason == reason


def test_oversized_messages_are_refused_before_parsing():
    small = Limits(max_message_bytes=1000, max_symbols_per_payload=100)
    header, sym = make(200)
    frames = [bytes(f) for f in protocol.encode(header, [sym])]
    with pytest.raises(ProtocolError) as err:
        protocol.decode(frames, small)
    assert err.value.reason == "oversized"
    # a header that claims a huge payload is refused even when the message is small
    with pytest.raises(ProtocolError) as err:
        protocol.decode([protocol.header_bytes(make_header(10**9))], LIMITS)
    assert err.value.reason == "oversized"


def test_header_rejects_unknown_fields():
    header, sym = make()
    obj = msgpack.unpackb(protocol.header_bytes(header))
    obj["pickle"] = "no"
    with pytest.raises(ProtocolError):
        protocol.decode([msgpack.packb(obj), sym.tobytes()], LIMITS)
