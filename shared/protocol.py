"""The versioned wire format: one multipart ZeroMQ message per frame.

A message is ``[header, payload_0, payload_1, ..., csi]``:

* ``header`` is msgpack, validated by pydantic (:class:`Header`). It is the
  control channel: assumed error-free, but its bytes are counted in the rate.
* each payload is raw little-endian complex64 channel symbols, described by
  ``header.payloads[i]``.
* ``csi`` (only once the proxy has set ``header.channel``): the receiver's
  estimate of each coherence block's gain, raw complex64, ``channel.n_blocks``
  of them. It is binary, not in the header, because fast fading (one block a
  symbol) makes it as long as the payloads.

No pickle anywhere. Every size and count is bounded by :class:`Limits`, and
:func:`decode` raises :class:`ProtocolError` (with a short machine-readable
``reason``) for anything malformed, so a service can drop it, count it and
serve the next message.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Literal

import msgpack
import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

PROTOCOL_VERSION = 3  # 2: the CSI in its own binary part; 3: control messages (shared.control)
SYMBOL_DTYPE = np.dtype("<c8")  # little-endian complex64, 8 bytes a symbol


class ProtocolError(ValueError):
    """A message that breaks the wire format; ``reason`` names the rule."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class Limits(BaseModel):
    """Size limits checked on every message before anything is allocated."""

    model_config = ConfigDict(frozen=True)

    max_header_bytes: int = 64 * 1024  # a header is metadata: 64 KiB is generous
    max_payloads: int = 32  # the richest scheme sends ~6 parts
    max_symbols_per_payload: int = 1 << 22  # 4 Mi symbols = 32 MiB: a 1080p frame at CBR 1/2
    max_message_bytes: int = 64 * 1024 * 1024  # hard cap on one whole message
    max_frame_pixels: int = 2560 * 1440  # a frame's area sets the decoder's work: 1440p (~3.7 MP) is the default ceiling


class Kind(str, Enum):
    FRAME = "frame"  # one coded frame: goes through the channel
    PROBE = "probe"  # end-to-end readiness check: control channel, never faded
    EOS = "eos"  # end of stream: control channel
    HEARTBEAT = "heartbeat"  # the transmitter is alive and the path through the proxy works (shared.liveness)
    CONTROL = "control"  # a change of scheme or channel from the next frame on, and how it went (shared.control)


class PayloadDescriptor(BaseModel):
    """What one payload frame holds."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity anywhere in a header

    name: str = Field(min_length=1, max_length=64)
    role: Literal["analog", "digital"]
    n_symbols: StrictInt = Field(ge=0)  # strict: a bool or a float is not a count
    dtype: Literal["complex64"] = "complex64"


class ChannelState(BaseModel):
    """What the proxy did to a frame, as the receiver is allowed to know it.

    :attr:`csi` holds the receiver's *estimate* of the gain of each coherence
    block, one per ``block_len`` symbols counted over the concatenation of all
    payloads; it travels as the message's last part, not in the header.
    ``n0`` is the noise variance per complex symbol (SNR = 1/n0 for unit-power
    symbols).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity anywhere in a header

    model: Literal["awgn", "rayleigh", "rician"]
    snr_db: float
    n0: float = Field(gt=0)
    block_len: StrictInt = Field(ge=1)
    n_blocks: StrictInt = Field(ge=1)
    _csi: np.ndarray | None = PrivateAttr(default=None)

    @classmethod
    def with_csi(cls, csi: np.ndarray, **fields) -> "ChannelState":
        state = cls(n_blocks=int(np.size(csi)), **fields)
        state._csi = np.ascontiguousarray(csi, dtype=SYMBOL_DTYPE).reshape(-1)  # (n_blocks,)
        return state

    @property
    def csi(self) -> np.ndarray:
        """(n_blocks,) complex64 gain estimates."""
        if self._csi is None:
            raise ValueError("channel state without its CSI part")
        return self._csi


def first_error(exc: ValidationError) -> str:
    """A validation error in one line: where, and what is wrong."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


MAX_PARAMS = 8  # a control request sets a few parameters; the scheme's defaults fill the rest
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr  # a parameter value, as the page and --param give them


class ChannelUpdate(BaseModel):
    """A new channel for the proxy; unset fields keep their value. An SNR replaces any SNR schedule."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: Literal["awgn", "rayleigh", "rician"] | None = None
    snr_db: StrictFloat | StrictInt | None = None

    @model_validator(mode="after")
    def _in_channel_range(self) -> ChannelUpdate:
        if self.snr_db is not None:
            from shared.config import ChannelConfig  # (config imports this module)

            ChannelConfig(snr_db=self.snr_db)  # the proxy's own bounds, one place
        return self


class ControlRequest(BaseModel):
    """What a viewer asks for: any of a scheme, parameters (dotted keys nest, as with --param) and a channel."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: StrictInt = Field(ge=0, lt=2**31)  # names the request in its record
    scheme: StrictStr | None = Field(default=None, min_length=1, max_length=64)
    params: dict[str, Scalar] | None = Field(default=None, max_length=MAX_PARAMS)
    channel: ChannelUpdate | None = None

    @model_validator(mode="after")
    def _asks_for_something(self) -> ControlRequest:
        if self.scheme is None and not self.params and self.channel is None:
            raise ValueError("nothing to change: give a scheme, parameters or a channel")
        for key, value in (self.params or {}).items():
            if not 0 < len(key) <= 64 or (isinstance(value, str) and len(value) > 64):
                raise ValueError(f"parameter {key[:64]!r}: keys and text values are 1-64 characters")
        return self

    @property
    def changes_scheme(self) -> bool:
        return self.scheme is not None or bool(self.params)


class ControlRecord(ControlRequest):
    """What the transmitter did with a request: travels in band, transmitter -> proxy -> receiver."""

    applied: StrictBool
    reason: str | None = Field(default=None, max_length=600)  # why not, in one line


# a stream id names files at the receiver: letters, digits, '_', '-', '.', not starting with '.'
STREAM_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$"


MAX_HOPS = 16  # a frame passes 9 named events; a peer may not make every service copy thousands


class Header(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity anywhere in a header

    version: StrictInt  # strict ints throughout: True is not version 1, 3.0 is not frame 3
    kind: Kind
    stream_id: str = Field(default="default", pattern=STREAM_ID_PATTERN)
    seq: StrictInt = Field(ge=0, lt=2**63)
    scheme: str = Field(default="", max_length=64)
    scheme_params: dict[str, Any] = Field(default_factory=dict)
    height: StrictInt = Field(default=0, ge=0, le=8192)
    width: StrictInt = Field(default=0, ge=0, le=8192)
    payloads: list[PayloadDescriptor] = Field(default_factory=list)
    hops: dict[str, float] = Field(default_factory=dict, max_length=MAX_HOPS)  # event -> wall-clock seconds
    channel: ChannelState | None = None
    control: ControlRecord | None = None  # only in a control message

    @property
    def n_symbols(self) -> int:
        return sum(p.n_symbols for p in self.payloads)


def header_bytes(header: Header) -> bytes:
    return msgpack.packb(header.model_dump(mode="json"), use_bin_type=True)


def encode(header: Header, payloads: list[np.ndarray]) -> list[bytes | memoryview]:
    """Serialise a message to ZeroMQ frames; payload buffers are not copied."""
    if len(payloads) != len(header.payloads):
        raise ValueError(f"{len(payloads)} payloads for {len(header.payloads)} descriptors")
    frames: list[bytes | memoryview] = [header_bytes(header)]
    for desc, sym in zip(header.payloads, payloads):
        arr = np.ascontiguousarray(sym, dtype=SYMBOL_DTYPE).reshape(-1)
        if arr.size != desc.n_symbols:
            raise ValueError(f"payload {desc.name!r}: {arr.size} symbols, descriptor says {desc.n_symbols}")
        frames.append(memoryview(arr).cast("B"))
    if header.channel is not None:
        frames.append(memoryview(header.channel.csi).cast("B"))
    return frames


def _holds_binary(obj) -> bool:
    """Whether a decoded header holds bytes anywhere (walked without recursion: msgpack nests 1024 deep)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, (bytes, bytearray)):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


MAX_KEPT_KEYS = 4096  # map keys kept alive (see _keep_keys): a header has ~30; a peer inventing keys pins at most this many
MAX_KEPT_KEY_CHARS = 64  # ... each this short at most (the protocol's own keys are names): 4096 x 64 characters in all


_kept_keys: set[str] = set()


def _keep_keys(obj) -> None:
    """Hold one reference to every map key of a decoded header (bounded by MAX_KEPT_KEYS).

    msgpack interns map keys. CPython drops an interned string from its table of interned strings
    when the last reference goes, but the slot stays used until the table is next resized; so a key
    nothing else in the process holds (in the proxy: a scheme parameter's name such as ``cbr``) costs
    a slot every message, and every ~20,000 messages the table is rebuilt at twice its size: a
    one-time step of 1-2 MiB of heap in a soak. Kept alive, each key is interned once."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if len(_kept_keys) < MAX_KEPT_KEYS:
                _kept_keys.update(k for k in item if isinstance(k, str) and len(k) <= MAX_KEPT_KEY_CHARS)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def decode_header(frame: bytes | memoryview, limits: Limits) -> Header:
    raw = bytes(frame)
    if len(raw) > limits.max_header_bytes:
        raise ProtocolError("oversized", f"header of {len(raw)} bytes > {limits.max_header_bytes}")
    try:
        obj = msgpack.unpackb(raw, raw=False, max_bin_len=0, max_ext_len=0, strict_map_key=True)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as exc:
        raise ProtocolError("malformed_header", f"not msgpack ({exc.__class__.__name__})") from None
    if not isinstance(obj, dict):
        raise ProtocolError("malformed_header", "header is not a map")
    if _holds_binary(obj):  # max_bin_len=0 still admits an empty bin
        raise ProtocolError("malformed_header", "the header holds a binary value")
    _keep_keys(obj)
    version = obj.get("version")
    if version != PROTOCOL_VERSION:
        raise ProtocolError("wrong_version", f"version {version!r}, this build speaks {PROTOCOL_VERSION}")
    try:
        header = Header.model_validate(obj)
    except ValidationError as exc:
        raise ProtocolError("malformed_header", first_error(exc)) from None
    if header.kind != Kind.FRAME and (header.payloads or header.channel is not None):
        raise ProtocolError("malformed_header", f"a {header.kind.value} message carries no payloads and no channel state")
    if (header.kind == Kind.CONTROL) != (header.control is not None):
        raise ProtocolError("malformed_header", "a control record belongs in a control message, and only there")
    if header.height * header.width > limits.max_frame_pixels:
        raise ProtocolError("oversized", f"a {header.width}x{header.height} frame is over {limits.max_frame_pixels} pixels")
    if len(header.payloads) > limits.max_payloads:
        raise ProtocolError("oversized", f"{len(header.payloads)} payloads > {limits.max_payloads}")
    for desc in header.payloads:
        if desc.n_symbols > limits.max_symbols_per_payload:
            raise ProtocolError("oversized", f"payload {desc.name!r} of {desc.n_symbols} symbols")
    return header


def decode(frames: list[bytes | memoryview], limits: Limits) -> tuple[Header, list[np.ndarray]]:
    """Parse and validate one multipart message.

    Returns the header and one read-only complex64 array per payload (views on
    the received buffers). Raises :class:`ProtocolError` on any violation.
    """
    if not frames:
        raise ProtocolError("malformed_header", "empty message")
    total = sum(len(f) for f in frames)
    if total > limits.max_message_bytes:
        raise ProtocolError("oversized", f"message of {total} bytes > {limits.max_message_bytes}")
    header = decode_header(frames[0], limits)
    body = frames[1:]
    expected_parts = len(header.payloads) + (header.channel is not None)  # + the CSI part once the proxy set it
    if len(body) != expected_parts:
        raise ProtocolError(
            "payload_count", f"{len(body)} parts after the header for {len(header.payloads)} payloads"
                             + (" and the CSI" if header.channel is not None else "")
        )
    payloads = []
    for desc, frame in zip(header.payloads, body):
        expected = desc.n_symbols * SYMBOL_DTYPE.itemsize
        if len(frame) != expected:
            raise ProtocolError(
                "payload_length", f"payload {desc.name!r} has {len(frame)} bytes, descriptor says {expected}"
            )
        sym = np.frombuffer(frame, dtype=SYMBOL_DTYPE)
        if not np.isfinite(sym).all():
            raise ProtocolError("non_finite", f"payload {desc.name!r} holds NaN or Inf symbols")
        payloads.append(sym)
    if header.channel is not None:
        header.channel._csi = _csi_part(body[-1], header.channel)
    return header, payloads


def _csi_part(frame: bytes | memoryview, channel: ChannelState) -> np.ndarray:
    if len(frame) != channel.n_blocks * SYMBOL_DTYPE.itemsize:
        raise ProtocolError("payload_length", f"CSI part of {len(frame)} bytes for {channel.n_blocks} blocks")
    csi = np.frombuffer(frame, dtype=SYMBOL_DTYPE)  # (n_blocks,)
    if not np.isfinite(csi).all():
        raise ProtocolError("non_finite", "the CSI holds NaN or Inf")
    return csi
