"""The feedback link, receiver -> transmitter: probe answers, refusals, per-frame acks, heartbeats and control requests.

One msgpack map per message, validated like every header; the transmitter
uses it to know the path is up (or why the receiver will not serve its stream),
to reopen its window of frames in flight, and (for rate policies) the SNR the
receiver saw.
"""
from __future__ import annotations

from typing import Literal

import msgpack
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

from shared.protocol import STREAM_ID_PATTERN, ControlRequest, ProtocolError

MAX_FEEDBACK_BYTES = 4096  # a handful of numbers and one short reason, or a control request of a few parameters
MAX_REASON_BYTES = 600  # one line of explanation (UTF-8), well inside MAX_FEEDBACK_BYTES


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a NaN SNR must not reach a rate policy

    type: Literal["probe_ack", "refused", "ack", "heartbeat", "control"]  # heartbeat: seq = newest transmitter heartbeat heard
    stream_id: str = Field(default="default", pattern=STREAM_ID_PATTERN)  # as in the header
    seq: StrictInt = Field(ge=-1, lt=2**63)  # strict: True is not frame 1; -1 = before any frame
    ok: StrictBool = True  # the frame decoded (for acks)
    snr_db: float | None = None  # the channel SNR the frame saw, from its CSI
    decode_ms: float | None = Field(default=None, ge=0, le=3.6e6)  # the receiver's work on this frame (for pacing)
    reason: str | None = Field(default=None, max_length=MAX_REASON_BYTES)  # why a probe was refused
    control: ControlRequest | None = None  # what a viewer asks of the stream (shared.control)

    @model_validator(mode="after")
    def _control_only_in_control(self) -> Feedback:
        if (self.type == "control") != (self.control is not None):
            raise ValueError("a control request belongs in a control message, and only there")
        return self


def one_line(reason: str) -> str:
    """A reason as one line of at most MAX_REASON_BYTES (UTF-8)."""
    line = " ".join(reason.split())
    raw = line.encode()
    if len(raw) > MAX_REASON_BYTES:
        line = raw[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."
    return line


def refusal(stream_id: str, seq: int, reason: str) -> Feedback:
    """The answer to a probe for a stream this receiver cannot serve, with the reason cut to one line."""
    return Feedback(type="refused", stream_id=stream_id, seq=seq, reason=one_line(reason))


def pack(fb: Feedback) -> bytes:
    return msgpack.packb(fb.model_dump(mode="json"), use_bin_type=True)


def unpack(raw: bytes) -> Feedback:
    if len(raw) > MAX_FEEDBACK_BYTES:
        raise ProtocolError("oversized", f"feedback of {len(raw)} bytes")
    try:
        return Feedback.model_validate(msgpack.unpackb(raw, raw=False))
    except (ValueError, ValidationError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        raise ProtocolError("malformed_feedback", "feedback message does not parse") from None
