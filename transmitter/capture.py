"""A live source read on its own thread at a fixed rate, into a latest-frame slot.

A camera does not wait for the network: frames come at ``fps`` whatever the
pipeline does. The slot holds one frame; a newer capture replaces one not yet
taken (counted as dropped), so the transmitter always sends the newest frame
and a slow receiver never builds a backlog.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from shared.telemetry import Counters


@dataclass(frozen=True)
class Captured:
    index: int  # position in the source (0, 1, ...), counting dropped frames too
    at: float | None  # wall clock when it was grabbed; None: read on demand, it waited for nothing
    frame: np.ndarray  # (H, W, 3) uint8


class LiveCapture:
    """Reads ``frames`` every ``1 / fps`` s (at most ``limit`` frames; 0 = until the source ends)."""

    def __init__(self, frames: Iterator[np.ndarray], fps: float, counters: Counters, limit: int = 0,
                 first: np.ndarray | None = None):
        self.frames, self.period, self.counters, self.limit, self.first = frames, 1.0 / fps, counters, limit, first
        self._slot: Captured | None = None
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self.ended = False  # the source is exhausted (or the limit reached, or stop()) and the slot is empty
        self._done = False
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> LiveCapture:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=2.0)

    def _put(self, item: Captured) -> None:
        with self._cond:
            if self._slot is not None:
                self.counters["frames_dropped.stale"] += 1  # never sent: a newer frame came first
            self._slot = item
            self._cond.notify_all()

    def _run(self) -> None:
        due, index = time.monotonic(), 0
        source = iter(self.frames)
        try:
            while not self._stopping.is_set() and not (self.limit and index >= self.limit):
                frame = self.first if index == 0 and self.first is not None else next(source, None)
                if frame is None:
                    break
                self._put(Captured(index, time.time(), frame))
                index += 1
                due += self.period
                late = time.monotonic() - due
                if late > self.period:  # a slow source (or a paused process): resume the rhythm from now, no burst
                    due = time.monotonic()
                self._stopping.wait(max(0.0, due - time.monotonic()))
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def take(self, timeout: float) -> Captured | None:
        """The newest frame not yet taken, waiting up to ``timeout`` s; None if none came (see ``ended``)."""
        with self._cond:
            if self._slot is None and not self._done:
                self._cond.wait(timeout)
            item, self._slot = self._slot, None
            self.ended = self._done and item is None
            return item
