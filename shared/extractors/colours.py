"""Naming colours and positions in plain words, for region descriptors and captions.

Colours are matched in CIELAB (perceptually uniform) against a small palette of
common English colour names; positions are named on a 3x3 grid.
"""
from __future__ import annotations

from functools import cache

import numpy as np
from skimage.color import rgb2lab

# name -> sRGB; a palette of everyday words, dense enough to tell photos apart.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "dark grey": (70, 70, 70),
    "grey": (128, 128, 128),
    "light grey": (190, 190, 190),
    "white": (245, 245, 245),
    "red": (200, 30, 30),
    "dark red": (120, 20, 25),
    "pink": (235, 150, 170),
    "orange": (240, 140, 30),
    "brown": (120, 75, 40),
    "beige": (215, 195, 160),
    "yellow": (235, 215, 40),
    "olive": (120, 120, 40),
    "green": (50, 150, 50),
    "dark green": (25, 75, 35),
    "teal": (30, 120, 120),
    "light blue": (140, 190, 230),
    "blue": (40, 80, 200),
    "navy": (20, 30, 90),
    "purple": (110, 50, 140),
    "skin tone": (225, 180, 150),
}
_NAMES = tuple(PALETTE)
_LAB = rgb2lab(np.array([PALETTE[n] for n in _NAMES], np.uint8)[None])[0]  # (P, 3)


def colour_names(rgb: np.ndarray) -> list[str]:
    """Nearest palette name for each colour.

    Args:
        rgb: (N, 3) colours, uint8 or float in [0, 255].
    Returns:
        N names.
    """
    lab = rgb2lab(np.clip(np.asarray(rgb, np.float64), 0, 255).astype(np.uint8)[None])[0]  # (N, 3)
    d = ((lab[:, None, :] - _LAB[None, :, :]) ** 2).sum(-1)  # (N, P)
    return [_NAMES[i] for i in d.argmin(1)]


def position_name(cy: float, cx: float) -> str:
    """Name a position given as fractions of the height and width (0..1) on a 3x3 grid."""
    row = ("top", "middle", "bottom")[min(2, int(cy * 3))]
    col = ("left", "centre", "right")[min(2, int(cx * 3))]
    if row == "middle" and col == "centre":
        return "centre"
    return f"{row} {col}" if row != "middle" else f"middle {col}"


@cache
def _name_lut() -> np.ndarray:
    """(32, 32, 32) palette index of every RGB colour quantised to 5 bits a channel."""
    levels = np.arange(32) * 8 + 4
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)  # (32768, 3)
    lab = rgb2lab(grid.astype(np.uint8)[None])[0]
    d = ((lab[:, None, :] - _LAB[None, :, :]) ** 2).sum(-1)  # (32768, P)
    return d.argmin(1).astype(np.uint8).reshape(32, 32, 32)


def dominant_colours(frame: np.ndarray, k: int = 3, max_pixels: int = 4096) -> list[tuple[str, float]]:
    """The ``k`` most frequent colour names of a (H, W, 3) uint8 frame, with their area fractions."""
    step = max(1, int(np.sqrt(frame.shape[0] * frame.shape[1] / max_pixels)))
    q = frame[::step, ::step].reshape(-1, 3) >> 3  # (N, 3) 5-bit colours
    idx = _name_lut()[q[:, 0], q[:, 1], q[:, 2]]  # (N,)
    counts = np.bincount(idx, minlength=len(_NAMES))
    order = np.argsort(-counts, kind="stable")[:k]
    return [(_NAMES[i], float(counts[i] / len(idx))) for i in order if counts[i] > 0]
