"""Perceptual distances: an offline EfficientNet-Lite0 feature distance, and real LPIPS where it exists.

`effnet_dist` is LPIPS-like but is NOT LPIPS: it has no learned per-channel weights (every channel
counts equally) and uses an ImageNet EfficientNet-Lite0, not AlexNet/VGG, so its values are not
comparable with published LPIPS numbers. Report it under its own name. `lpips_alex` is the real
metric and raises MetricUnavailable where the `lpips` package or its AlexNet weights are missing.
"""

from __future__ import annotations

import functools

import torch

from shared.metrics.image_tensor import check_rgb_pair
from shared.metrics.unavailable import MetricUnavailable
from shared.nets.efficientnet_lite0 import load_efficientnet_lite0

# Stage outputs used: strides 2, 4, 8, 16 and 32 (16, 24, 40, 80 and 192 channels).
EFFNET_DIST_STAGES = (0, 1, 2, 3, 5)
_EPS = 1e-10


def _unit_channels(features: torch.Tensor) -> torch.Tensor:
    """Scale each spatial position's channel vector to unit L2 norm, (N, C, h, w) -> same shape."""
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + _EPS)


def effnet_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite0 feature distance per image, (B, 3, H, W) x2 in [0, 1] -> (B,), >= 0.

    For each stage in EFFNET_DIST_STAGES: unit-normalise the activations along channels, take the
    squared difference, average over positions and sum over channels (a value in [0, 4]); the
    result is the mean over stages. Exactly 0 for identical images; images are used at their own
    resolution (at least 32x32 is sensible). Gradients flow to x and y; the network is frozen.
    """
    check_rgb_pair(x, y)
    model = load_efficientnet_lite0(x.device)
    batch = x.shape[0]
    stages = model.forward_features(torch.cat([x, y]).float())  # each (2B, C_s, h_s, w_s)
    per_stage = []
    for index in EFFNET_DIST_STAGES:
        fx, fy = _unit_channels(stages[index]).split(batch)
        per_stage.append((fx - fy).pow(2).mean(dim=(2, 3)).sum(dim=1))  # (B,)
    return torch.stack(per_stage).mean(dim=0)


@functools.cache
def _lpips_alex_on(device: torch.device):
    """The LPIPS(AlexNet) module on `device`, or MetricUnavailable (not cached: retried next call)."""
    try:
        import lpips
    except ImportError as error:
        raise MetricUnavailable("lpips_alex: the `lpips` package (and torchvision) is not installed") from error
    try:
        model = lpips.LPIPS(net="alex", verbose=False)
    # torchvision missing or unusable (ImportError / RuntimeError from its C++ ops), or the AlexNet
    # weights not downloadable (URLError is an OSError).
    except (ImportError, OSError, RuntimeError) as error:
        raise MetricUnavailable(f"lpips_alex: cannot build LPIPS(net='alex'): {error}") from error
    model.requires_grad_(False)
    return model.eval().to(device)


def lpips_alex(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Real LPIPS v0.1 with AlexNet (Zhang et al. 2018), (B, 3, H, W) x2 in [0, 1] -> (B,).

    Raises MetricUnavailable where the `lpips` package, torchvision or the weights are missing.
    """
    check_rgb_pair(x, y)
    model = _lpips_alex_on(x.device)
    return model(x.float(), y.float(), normalize=True).reshape(x.shape[0])  # (B, 1, 1, 1) -> (B,)
