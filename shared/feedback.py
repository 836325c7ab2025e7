"""The feedback link, receiver -> transmitter: probe answers and per-frame acks.

One msgpack map per message, validated like every header; the transmitter
uses it to know the path is up and (for rate policies) the SNR the receiver saw.
"""
from __future__ import annotations

from typing import Literal

import msgpack
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.protocol import ProtocolError

MAX_FEEDBACK_BYTES = 1024  # a feedback message is a handful of numbers


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["probe_ack", "ack"]
    stream_id: str = "default"
    seq: int
    ok: bool = True  # the frame decoded (for acks)
    snr_db: float | None = None  # the channel SNR the frame saw, from its CSI


def pack(fb: Feedback) -> bytes:
    return msgpack.packb(fb.model_dump(mode="json"), use_bin_type=True)


def unpack(raw: bytes) -> Feedback:
    if len(raw) > MAX_FEEDBACK_BYTES:
        raise ProtocolError("oversized", f"feedback of {len(raw)} bytes")
    try:
        return Feedback.model_validate(msgpack.unpackb(raw, raw=False))
    except (ValueError, ValidationError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        raise ProtocolError("malformed_feedback", "feedback message does not parse") from None
