"""Lossy still-image coding that fits a byte budget (OpenCV JPEG or WebP).

The largest quality that fits wins; when even a low quality does not fit, the
image is first downscaled (the receiver scales it back up to the frame size).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CODECS = {"jpeg": (".jpg", cv2.IMWRITE_JPEG_QUALITY), "webp": (".webp", cv2.IMWRITE_WEBP_QUALITY)}
SCALES = (1.0, 0.5, 0.25, 0.125)  # tried in order; each halves the pixels per side
MIN_QUALITY = 10  # below this, a smaller image at higher quality looks better


@dataclass(frozen=True)
class FittedImage:
    data: bytes
    quality: int
    scale: float


def encode_image(rgb: np.ndarray, codec: str, quality: int) -> bytes:
    ext, flag = CODECS[codec]
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [flag, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {codec}")
    return buf.tobytes()


def decode_image(data: bytes, height: int, width: int) -> np.ndarray | None:
    """Bytes -> (height, width, 3) uint8 RGB, resized if coded smaller; None if undecodable."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    if bgr.shape[:2] != (height, width):
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _best_quality(rgb: np.ndarray, codec: str, budget: int, lo: int) -> tuple[int, bytes] | None:
    """Binary search for the highest quality in [lo, 95] whose size fits ``budget`` bytes."""
    best = None
    hi = 95
    while lo <= hi:
        mid = (lo + hi) // 2
        data = encode_image(rgb, codec, mid)
        if len(data) <= budget:
            best, lo = (mid, data), mid + 1
        else:
            hi = mid - 1
    return best


def fit_image(rgb: np.ndarray, codec: str, budget_bytes: int) -> FittedImage:
    """Code ``rgb`` (H, W, 3) uint8 into at most ``budget_bytes``; ValueError if nothing fits."""
    if codec not in CODECS:
        raise ValueError(f"unknown image codec {codec!r}; choose one of {', '.join(CODECS)}")
    h, w = rgb.shape[:2]
    for i, scale in enumerate(SCALES):
        last = i == len(SCALES) - 1
        img = rgb if scale == 1.0 else cv2.resize(
            rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        found = _best_quality(img, codec, budget_bytes, 1 if last else MIN_QUALITY)
        if found is not None:
            return FittedImage(data=found[1], quality=found[0], scale=scale)
    raise ValueError(f"no {codec} coding of a {w}x{h} frame fits {budget_bytes} bytes")
