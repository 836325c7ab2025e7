"""Semantic preservation as SPIC measures it: the reconstruction re-segmented by a real segmenter,
scored by mean IoU against the segmentation of the original (the map a spic transmitter sends).

``miou_voc`` uses ESPNetv2-VOC (``espnetv2-voc``, hub weights): where those are not on this machine
the metric is unavailable, with the reason, never replaced by another segmenter.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from shared.metrics.unavailable import MetricUnavailable

MIOU_SEGMENTER = "espnetv2-voc"  # the real segmenter here; the same one a spic transmitter uses with segmenter=espnetv2-voc


def mean_iou(reference: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over the classes present in either (H, W) label map of |ref ∩ pred| / |ref ∪ pred|."""
    classes = np.union1d(np.unique(reference), np.unique(predicted))
    ious = [np.logical_and(reference == c, predicted == c).sum() / np.logical_or(reference == c, predicted == c).sum()
            for c in classes]
    return float(np.mean(ious))


@lru_cache(maxsize=1)
def _segmenter():
    from shared.hub import WeightsNotFound
    from shared.registry.table import load_model

    try:
        return load_model(MIOU_SEGMENTER, role="segmenter")
    except WeightsNotFound as error:
        raise MetricUnavailable(str(error)) from None


def _frames(images: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) in [0, 1] -> B frames (H, W, 3) uint8."""
    return list((images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())


@lru_cache(maxsize=64)
def _labels(frame_bytes: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """ESPNetv2-VOC's (H, W) map of one frame, kept for the originals an eval scores again at every SNR and scheme."""
    return _segmenter().segment(np.frombuffer(frame_bytes, np.uint8).reshape(shape).copy()).labels  # writable for torch


def reset() -> None:
    """Forget the loaded segmenter and the maps it made (for a process that changes SEMCOM_HUB_DIR: the tests)."""
    _segmenter.cache_clear()
    _labels.cache_clear()


def miou_voc(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) originals and reconstructions in [0, 1] -> (B,) mIoU of ESPNetv2-VOC's maps of the two."""
    _segmenter()  # unavailable here: raise before any frame is converted
    maps = [(_labels(a.tobytes(), a.shape), _segmenter().segment(b).labels) for a, b in zip(_frames(x), _frames(y))]
    return torch.tensor([mean_iou(ref, got) for ref, got in maps])
