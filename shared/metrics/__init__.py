"""Image-quality metrics on batches: float tensors (B, 3, H, W) in [0, 1] -> per-image tensors (B,).

`METRICS` names every image-pair metric; `compute_all` runs those that can run here and records
the rest as unavailable, with the reason, instead of substituting anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from shared.metrics.image_tensor import check_image_pair, to_tensor_batch
from shared.metrics.key_region import psnr_key, psnr_rest
from shared.metrics.perceptual import effnet_dist, lpips_alex
from shared.metrics.pixel import ms_ssim, ms_ssim_min_size, psnr_db, ssim
from shared.metrics.rate import bpp, cbr
from shared.metrics.segmentation import miou_voc
from shared.metrics.semantic import SemanticAgreement, caption_similarity, semantic_agreement, semantic_top1, semantic_top5
from shared.metrics.unavailable import MetricUnavailable

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

METRICS: dict[str, Metric] = {
    "psnr_db": psnr_db,
    "ssim": ssim,
    "ms_ssim": ms_ssim,
    "effnet_dist": effnet_dist,
    "semantic_top1": semantic_top1,
    "semantic_top5": semantic_top5,
    "lpips_alex": lpips_alex,
    "miou_voc": miou_voc,
    "psnr_key": psnr_key,
    "psnr_rest": psnr_rest,
}

# Metrics computed only when named (semcom eval --metric NAME): each costs a hub model's forward pass per image.
OPTIONAL_METRICS = ("miou_voc", "psnr_key", "psnr_rest")
DEFAULT_METRICS = tuple(m for m in METRICS if m not in OPTIONAL_METRICS)  # what compute_all runs when not told

# Metrics that need a minimum image side; smaller images record them as unavailable.
_MIN_SIDE = {"ms_ssim": ms_ssim_min_size()}


class MetricResults(dict):
    """dict name -> per-image tensor (B,) of the metrics computed, plus `.unavailable`:
    dict name -> reason, for the metrics that could not run on this machine or image size."""

    def __init__(self):
        super().__init__()
        self.unavailable: dict[str, str] = {}


@torch.no_grad()
def compute_all(x: torch.Tensor, y: torch.Tensor, names: Iterable[str] | None = None) -> MetricResults:
    """Every metric in METRICS but the optional ones (or just `names`) on a pair of batches (B, 3, H, W) in [0, 1]."""
    check_image_pair(x, y)
    selected = list(DEFAULT_METRICS if names is None else names)
    unknown = [name for name in selected if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    results = MetricResults()
    for name in selected:
        min_side = _MIN_SIDE.get(name, 0)
        if min(x.shape[-2:]) < min_side:
            results.unavailable[name] = f"needs images of at least {min_side}x{min_side}"
            continue
        try:
            results[name] = METRICS[name](x, y)
        except MetricUnavailable as error:
            results.unavailable[name] = str(error)
    return results


__all__ = [
    "DEFAULT_METRICS", "METRICS", "OPTIONAL_METRICS", "Metric", "MetricResults", "MetricUnavailable", "SemanticAgreement", "bpp",
    "caption_similarity", "cbr", "check_image_pair", "compute_all", "effnet_dist", "lpips_alex", "miou_voc",
    "ms_ssim", "psnr_db", "semantic_agreement", "semantic_top1", "semantic_top5", "ssim",
    "to_tensor_batch",
]
