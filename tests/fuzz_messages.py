"""Hypothesis strategies for hostile messages: valid messages of every kind and scheme, then mutated
(header fields replaced, removed, added or nested; parts cut, stretched, dropped, added or filled
with NaN; raw bytes flipped), and the checks that a service survives each one.

Used by ``tests/test_fuzz.py`` (a bounded run in CI) and ``benchmarks/fuzz_services.py`` (10,000
examples a service). A check fails only if the service raises out of its message handler.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

import msgpack
import numpy as np
from hypothesis import strategies as st

from shared import feedback, protocol
from shared.config import ChannelConfig
from shared.pipeline import ChannelStage, FrameEncoder
from shared.protocol import PROTOCOL_VERSION, ChannelUpdate, ControlRecord, ControlRequest, Header, Kind

SCHEME_PARAMS = {  # small, fast settings per scheme, at 32x32
    "digital": {"cbr": 0.25, "link": {"modulation": "qpsk", "code_rate": 0.5, "ldpc_k": 256}},
    "deepjscc": {}, "lrisc": {}, "spic": {}, "keyregion": {}, "full": {},
}
HEADER_FIELDS = ["version", "kind", "stream_id", "seq", "scheme", "scheme_params", "height", "width", "payloads",
                 "hops", "channel", "control"]
RECORD = ControlRecord(id=1, scheme="deepjscc", params={"cbr": 1 / 96}, channel=ChannelUpdate(model="rayleigh", snr_db=3),
                       applied=True)  # a control record as the transmitter sends it

# any value msgpack can carry, nested a little: what a forger can put anywhere
leaves = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1)  # what msgpack can encode
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=80) | st.binary(max_size=64)
          | st.sampled_from([0, 1, -1, 2**63, 2**31, 8192, 8193, 65536, "frame", "probe", "eos", "heartbeat",
                             "control", "awgn", "digital", "analog", "complex64", "../../x", "a\x00b"]))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                           max_size=4), max_leaves=8)


@functools.lru_cache(maxsize=None)
def valid_message(scheme: str, kind: str, faded: bool) -> tuple[bytes, ...]:
    """One valid message (as bytes parts): a frame of ``scheme`` (faded: as the proxy sends it on,
    with its CSI part), or a control message naming ``scheme``."""
    frame = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    enc = FrameEncoder(scheme, SCHEME_PARAMS[scheme], stream_id="fuzz")
    if kind != "frame":
        head = Header(version=PROTOCOL_VERSION, kind=Kind(kind), seq=1, stream_id="fuzz", scheme=scheme,
                      scheme_params=enc.params.model_dump(mode="json"), hops={"tx_sent": 1.0},
                      control=RECORD if kind == "control" else None)
        return (protocol.header_bytes(head),)
    header, symbols, _ = enc.encode(frame, 3)
    if faded:
        header, symbols, _ = ChannelStage(ChannelConfig(model="rayleigh", snr_db=15, block_len=16)).process(header, symbols)
    return tuple(bytes(p) for p in protocol.encode(header, symbols))


def _set_path(obj, path: list, value):
    """``obj`` with the item at ``path`` (keys / list indices) replaced by ``value`` (deleted if value is _DELETE)."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(obj, dict) and key in obj:
        out = dict(obj)
        if rest or value is not _DELETE:
            out[key] = _set_path(obj[key], rest, value)
        else:
            del out[key]
        return out
    if isinstance(obj, list) and isinstance(key, int) and 0 <= key < len(obj):
        out = list(obj)
        out[key] = _set_path(obj[key], rest, value) if (rest or value is not _DELETE) else None
        return out
    return obj


_DELETE = object()


def _paths(obj, prefix=()) -> list[tuple]:
    """Every key path into a decoded header (maps and lists), the header's own fields first."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:4]):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw, schemes: list[str], faded: bool) -> list[bytes]:
    """A valid message of a drawn scheme and kind, then one to three mutations."""
    scheme = draw(st.sampled_from(schemes))
    kind = draw(st.sampled_from(["frame", "frame", "frame", "probe", "eos", "heartbeat", "control"]))
    parts = list(valid_message(scheme, kind, faded))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "kind", "part", "bytes"]))
        head = msgpack.unpackb(parts[0])
        if op in ("replace", "delete"):
            path = list(draw(st.sampled_from(_paths(head))))
            head = _set_path(head, path, _DELETE if op == "delete" else draw(values))
            parts[0] = msgpack.packb(head)
        elif op == "add":
            head[draw(st.sampled_from(HEADER_FIELDS + ["extra", "csi"]))] = draw(values)
            parts[0] = msgpack.packb(head)
        elif op == "kind":
            head["kind"] = draw(st.sampled_from(["frame", "probe", "eos", "heartbeat", "control"]))
            parts[0] = msgpack.packb(head)
        elif op == "part":
            parts = _mutate_parts(draw, parts)
        else:  # flip a few raw bytes of the header: the last mutation, the header may no longer parse
            raw = bytearray(parts[0])
            for _ in range(draw(st.integers(1, 4))):
                raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
            parts[0] = bytes(raw)
            break
    return parts


def _mutate_parts(draw, parts: list[bytes]) -> list[bytes]:
    if len(parts) == 1:
        return parts + [draw(st.binary(max_size=64))]
    i = draw(st.integers(1, len(parts) - 1))
    how = draw(st.sampled_from(["cut", "stretch", "drop", "add", "nan", "random"]))
    p = parts[i]
    if how == "cut":
        parts[i] = p[: draw(st.integers(0, max(0, len(p) - 1)))]
    elif how == "stretch":
        parts[i] = p + b"\0" * draw(st.integers(1, 64))
    elif how == "drop":
        del parts[i]
    elif how == "add":
        parts.insert(i, draw(st.binary(max_size=64)))
    elif how == "nan":
        parts[i] = np.full(len(p) // 8, draw(st.sampled_from([np.nan, np.inf, -np.inf])), np.complex64).tobytes()
    else:
        parts[i] = draw(st.binary(min_size=len(p), max_size=len(p)))
    return parts


def feedback_messages() -> st.SearchStrategy[bytes]:
    """Feedback as a forger could send it: valid ones mutated, maps of anything, or raw bytes."""
    valid = [feedback.pack(fb) for fb in (
        feedback.Feedback(type="ack", stream_id="fuzz", seq=0, snr_db=5.0, decode_ms=10.0),
        feedback.Feedback(type="probe_ack", stream_id="fuzz", seq=0),
        feedback.refusal("fuzz", 0, "no model"), feedback.Feedback(type="heartbeat", seq=3),
        feedback.Feedback(type="control", stream_id="fuzz", seq=-1, control=ControlRequest(**RECORD.model_dump(
            exclude={"applied", "reason"}))))]
    mutated_map = st.builds(lambda raw, key, value: msgpack.packb({**msgpack.unpackb(raw), key: value}),
                            st.sampled_from(valid), st.sampled_from(["type", "stream_id", "seq", "ok", "snr_db",
                                                                      "decode_ms", "reason", "control", "extra"]), values)
    return mutated_map | st.sampled_from(valid) | st.binary(max_size=256) | values.map(msgpack.packb)


def as_zmq_frames(parts: list[bytes]) -> list:
    return [SimpleNamespace(buffer=memoryview(p)) for p in parts]


class FakeFeedbackSocket:
    """Stands in for the transmitter's SUB socket: hands it the given messages, then nothing."""

    def __init__(self, messages: list[bytes]):
        self.messages = list(messages)

    def poll(self, *_args) -> bool:
        return bool(self.messages)

    def recv(self) -> bytes:
        return self.messages.pop(0)

    def close(self, *_args, **_kw) -> None:
        pass


PARAM_NAMES = ["cbr", "snr_db", "weights", "codec", "link.modulation", "link.code_rate", "link.ldpc_k", "link.ldpc_iters",
               "steps", "link", "x.y.z"]


def control_requests() -> st.SearchStrategy[ControlRequest]:
    """Control requests that pass the message schema, as a forger on the feedback link could send them:
    real and unknown schemes, real parameter names with any value, any channel in range."""
    scalars = (st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=20) | st.sampled_from([1 / 96, 1 / 48, 0.25, 0.5, 0.2, 4, 1024, "qpsk", "16qam", "webp"]))
    return st.fixed_dictionaries(dict(
        id=st.integers(0, 2**31 - 1),
        scheme=st.none() | st.sampled_from(["digital", "deepjscc", "nope", "lrisc"]),
        params=st.none() | st.dictionaries(st.sampled_from(PARAM_NAMES), scalars, max_size=3),
        channel=st.none() | st.builds(ChannelUpdate, model=st.none() | st.sampled_from(["awgn", "rayleigh", "rician"]),
                                      snr_db=st.none() | st.floats(-30, 60)),
    )).filter(lambda r: r["scheme"] is not None or r["params"] or r["channel"] is not None).map(lambda r: ControlRequest(**r))
