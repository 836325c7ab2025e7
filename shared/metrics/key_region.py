"""Fidelity where it matters: PSNR inside and outside the key region of the original.

The key region is what ``keyregion`` and ``full`` transmitters protect: YuNet's faces and the
persons (ESPNetv2-VOC's) they touch, else the salient region (``key_regions=yunet``, hub weights), widened to
whole latent cells (8 x 8 pixels) as the transmitters send it. Every scheme is scored against the
same mask of the original, so ``psnr_key`` compares ``keyregion`` with ``lrisc`` or ``deepjscc``
on equal terms. Where YuNet's file is not here the metrics are unavailable, with the reason; a
frame whose mask is empty (or everything) has no value for the missing side (NaN, left out of
the means).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from shared.metrics.segmentation import _frames, _segmenter
from shared.metrics.unavailable import MetricUnavailable

KEY_SELECTOR = "yunet"  # the TAEF2 keyregion transmitter's default
CELL = 8  # the latent grid's cell: what the key mask is widened to


@lru_cache(maxsize=1)
def _selector():
    from shared.hub import WeightsNotFound
    from shared.registry.table import load_model

    try:
        return load_model(KEY_SELECTOR, role="key_regions")
    except WeightsNotFound as error:
        raise MetricUnavailable(str(error)) from None


@lru_cache(maxsize=64)
def _mask(frame_bytes: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """The (H, W) bool key mask of one original, widened to whole cells; kept for the next scheme and SNR."""
    from shared.sideinfo.maps import block_any, upsample

    frame = np.frombuffer(frame_bytes, np.uint8).reshape(shape).copy()
    return upsample(block_any(_selector().select(frame, _segmenter().segment(frame)), CELL), CELL, *shape[:2])


def key_mask(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 original -> the (H, W) bool key mask these metrics score against (whole latent cells)."""
    _selector(), _segmenter()  # unavailable here: raise with the reason
    return _mask(np.ascontiguousarray(frame).tobytes(), frame.shape)


def masked_psnr(x: np.ndarray, y: np.ndarray, where: np.ndarray) -> float:
    """PSNR (dB, 8-bit) of two (H, W, 3) frames over the pixels where ``where`` (H, W) is true; NaN where none is."""
    if not where.any():
        return float("nan")
    mse = float(((x.astype(np.float64) - y.astype(np.float64)) ** 2)[where].mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def _key_psnr(x: torch.Tensor, y: torch.Tensor, inside: bool) -> torch.Tensor:
    _selector(), _segmenter()  # unavailable here: raise before any frame is converted
    out = []
    for a, b in zip(_frames(x), _frames(y)):
        mask = _mask(a.tobytes(), a.shape)
        out.append(masked_psnr(a, b, mask if inside else ~mask))
    return torch.tensor(out, dtype=torch.float64)


def psnr_key(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) originals and reconstructions in [0, 1] -> (B,) PSNR (dB) inside the original's key mask."""
    return _key_psnr(x, y, inside=True)


def psnr_rest(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B,) PSNR (dB) outside the original's key mask."""
    return _key_psnr(x, y, inside=False)


def reset() -> None:
    """Forget the loaded selector and its masks (a process that changes SEMCOM_HUB_DIR: the tests)."""
    _selector.cache_clear()
    _mask.cache_clear()
