"""Reuse across video frames: side information that has not changed is not re-sent.

How "changed" is decided, per part, always against the *last sent* value (not
the previous frame, so slow drift still triggers a resend):

* **label map / key mask**: the fraction of pixels whose label differs, after
  matching labels between the two maps (each new label is mapped to the old
  label it overlaps most), so a mere renumbering of regions is not a change.
  Changed when the fraction exceeds ``map_threshold``.
* **caption**: the Jaccard similarity of the two captions' word sets, numbers
  left out (the structured captioner's percentages jitter from frame to
  frame). Changed when it falls below ``text_threshold``.
* **frame gate** (:meth:`ReuseSender.frame_changed`): the mean absolute difference
  of 32x32 grey thumbnails. Below ``frame_threshold`` the extractors need not
  even run: the last maps and caption are reused as they are.

Every ``refresh_every`` frames a part is re-sent anyway, so a receiver that
joined late or lost a frame recovers. The receiver (:class:`ReuseReceiver`)
keeps the last value of each part and returns it when a frame omits it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True)
class ReuseConfig:
    map_threshold: float = 0.02  # >2% of pixels relabelled is a visible change of layout
    text_threshold: float = 0.75  # word-set Jaccard below 0.75: the caption says something new
    frame_threshold: float = 2.0  # grey levels of mean thumbnail change: sensor noise is ~0.5-1
    refresh_every: int = 30  # frames; 3 s at 10 fps bounds how long a lost part stays lost


def map_change(old: np.ndarray, new: np.ndarray) -> float:
    """Fraction of pixels of ``new`` whose label differs from ``old`` after label matching.

    Both maps are (H, W) integer or bool arrays; a shape change counts as 1.0.
    """
    if old.shape != new.shape:
        return 1.0
    a = old.astype(np.int64).ravel()
    b = new.astype(np.int64).ravel()
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    overlap = np.bincount(b * na + a, minlength=na * nb).reshape(nb, na)  # (new label, old label) counts
    return 1.0 - overlap.max(axis=1).sum() / a.size


_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def text_similarity(old: str, new: str) -> float:
    """Jaccard similarity of the lower-cased word sets, digits ignored (1.0 for two empty texts)."""
    wa, wb = set(_WORD.findall(old.lower())), set(_WORD.findall(new.lower()))
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (32, 32) float32 grey thumbnail."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


@dataclass
class ReuseSender:
    """Transmit side: decides, per part, whether this frame must carry it."""

    config: ReuseConfig = field(default_factory=ReuseConfig)
    _sent: dict[str, object] = field(default_factory=dict)
    _age: dict[str, int] = field(default_factory=dict)
    _thumb: np.ndarray | None = None

    def frame_changed(self, frame: np.ndarray) -> bool:
        """True when the frame differs from the last one that was analysed (then remember it)."""
        t = thumbnail(frame)
        if self._thumb is not None and float(np.abs(t - self._thumb).mean()) < self.config.frame_threshold:
            return False
        self._thumb = t
        return True

    def changed(self, name: str, value: np.ndarray | str) -> bool:
        """Compare ``value`` with the last sent value of part ``name``."""
        if name not in self._sent:
            return True
        old = self._sent[name]
        if isinstance(value, str):
            return text_similarity(str(old), value) < self.config.text_threshold
        return map_change(old, value) > self.config.map_threshold  # type: ignore[arg-type]

    def should_send(self, name: str, value: np.ndarray | str) -> bool:
        """Decide for one part; when it is to be sent, it becomes the new reference."""
        age = self._age.get(name, 0) + 1
        if self.changed(name, value) or age >= self.config.refresh_every:
            self._sent[name] = value.copy() if isinstance(value, np.ndarray) else value
            self._age[name] = 0
            return True
        self._age[name] = age
        return False

    def last_sent(self, name: str) -> np.ndarray | str | None:
        """The receiver's current copy of part ``name`` (what it will use if this frame omits it)."""
        return self._sent.get(name)  # type: ignore[return-value]


@dataclass
class ReuseReceiver:
    """Receive side: holds the last value of each part."""

    _held: dict[str, object] = field(default_factory=dict)

    def update(self, name: str, value: np.ndarray | str | None) -> np.ndarray | str | None:
        """Store ``value`` when the frame carried the part; return the value to use (None if never received)."""
        if value is not None:
            self._held[name] = value
        return self._held.get(name)  # type: ignore[return-value]
