"""SPIC's low-resolution image: the frame downscaled f times, then JPEG or WebP.

The coded bytes are the still-image file itself (its header carries the small
size); the receiver upsamples to the frame size it knows from the message
header. Coding goes through :mod:`shared.sideinfo.image_fit`, the one place that
calls the OpenCV image codecs.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shared.roles import check_frame
from shared.sideinfo.image_fit import CODECS, decode_image, encode_image


@dataclass(frozen=True)
class LowResConfig:
    factor: int = 8  # 256x256 -> 32x32: colours and layout only, as SPIC's conditioning image
    codec: str = "webp"  # WebP's header is ~30 B against JPEG's ~600 B, which dominates at 32x32
    quality: int = 75  # the usual web default; the receiver's generator restores detail anyway


def downscale(frame: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, 3) -> (ceil(H/f), ceil(W/f), 3), area-averaged."""
    h, w = frame.shape[:2]
    return cv2.resize(frame, (max(1, -(-w // factor)), max(1, -(-h // factor))), interpolation=cv2.INTER_AREA)


def encode_lowres(frame: np.ndarray, config: LowResConfig = LowResConfig()) -> bytes:
    """Downscale a (H, W, 3) uint8 frame and code it; returns the image file bytes."""
    check_frame(frame)
    if config.codec not in CODECS:
        raise ValueError(f"unknown low-res codec {config.codec!r}; choose one of {', '.join(CODECS)}")
    if config.factor < 1:
        raise ValueError(f"low-res factor must be >= 1, got {config.factor}")
    return encode_image(downscale(frame, config.factor), config.codec, config.quality)


def decode_lowres(data: bytes, height: int, width: int) -> np.ndarray:
    """Coded bytes -> the low-res image upsampled (bicubic) to (height, width, 3) uint8.

    Raises:
        ValueError: the bytes are not a decodable image.
    """
    img = decode_image(data, height, width)
    if img is None:
        raise ValueError("corrupt low-resolution image")
    return img
