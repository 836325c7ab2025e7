"""The measurement tap, transmitter -> receiver: the original frames, so the
receiver can report quality (PSNR) of what it shows against what was sent.

It is not part of the communication system (it bypasses the channel and is
not counted in the rate); the demo and benchmarks turn it on with --reference.
Messages are ``[msgpack {stream_id, seq, height, width}, raw RGB bytes]``.
"""
from __future__ import annotations

from collections import OrderedDict

import msgpack
import numpy as np

MAX_KEPT = 64  # originals waiting for their reconstruction; older ones are forgotten


def pack(stream_id: str, seq: int, frame: np.ndarray) -> list[bytes | memoryview]:
    meta = {"stream_id": stream_id, "seq": seq, "height": frame.shape[0], "width": frame.shape[1]}
    return [msgpack.packb(meta), memoryview(np.ascontiguousarray(frame)).cast("B")]


class ReferenceStore:
    """The last ``MAX_KEPT`` originals, by (stream_id, seq)."""

    def __init__(self) -> None:
        self._frames: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def add(self, parts: list[bytes]) -> bool:
        """Store one tap message; False (and nothing stored) if it is malformed."""
        if len(parts) != 2 or len(parts[0]) > 256:
            return False
        try:
            meta = msgpack.unpackb(parts[0], raw=False)
            key = (str(meta["stream_id"]), int(meta["seq"]))
            shape = (int(meta["height"]), int(meta["width"]), 3)
        except (ValueError, KeyError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return False
        if len(parts[1]) != shape[0] * shape[1] * 3:
            return False
        self._frames[key] = np.frombuffer(parts[1], np.uint8).reshape(shape)  # (H, W, 3)
        while len(self._frames) > MAX_KEPT:
            self._frames.popitem(last=False)
        return True

    def pop(self, stream_id: str, seq: int) -> np.ndarray | None:
        return self._frames.pop((stream_id, seq), None)
