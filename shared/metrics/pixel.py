"""Pixel-fidelity metrics: PSNR, SSIM and MS-SSIM, per image, on any device.

Inputs are float tensors (B, C, H, W) in [0, data_range] (C = 3 for RGB); outputs are (B,).
SSIM follows Wang et al. 2004 as scikit-image computes it with `gaussian_weights=True, sigma=1.5,
use_sample_covariance=False`: an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, the
SSIM map taken only where the window fits inside the image, averaged, then averaged over channels.
MS-SSIM follows Wang, Simoncelli & Bovik 2003 with the standard five scale weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from shared.metrics.image_tensor import check_image_pair

PSNR_CAP_DB = 100.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW, _SIGMA, _K1, _K2 = 11, 1.5, 0.01, 0.03


def psnr_db(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, (B, C, H, W) x2 -> (B,).

    Capped at PSNR_CAP_DB (100 dB): identical images give exactly 100.0 rather than +inf, so that
    averages over a dataset stay finite. Anything above ~60 dB is lossless for 8-bit images anyway.
    """
    check_image_pair(x, y)
    mse = (x.float() - y.float()).pow(2).mean(dim=(1, 2, 3))  # (B,)
    floor = data_range ** 2 * 10.0 ** (-PSNR_CAP_DB / 10.0)
    return 10.0 * torch.log10(data_range ** 2 / mse.clamp_min(floor))


def _gaussian_window(device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian taps, shape (11,)."""
    offsets = torch.arange(_WINDOW, dtype=torch.float32, device=device) - (_WINDOW - 1) / 2
    taps = torch.exp(-offsets.pow(2) / (2 * _SIGMA ** 2))
    return taps / taps.sum()


def _blur_valid(images: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter without padding: (N, C, H, W) -> (N, C, H - 10, W - 10)."""
    channels = images.shape[1]
    rows = taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1)  # (C, 1, 1, 11)
    cols = taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1)  # (C, 1, 11, 1)
    return F.conv2d(F.conv2d(images, rows, groups=channels), cols, groups=channels)


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term per image and channel, both (B, C)."""
    if min(x.shape[-2:]) < _WINDOW:
        raise ValueError(f"SSIM needs images of at least {_WINDOW}x{_WINDOW} pixels, got {tuple(x.shape[-2:])}")
    taps = _gaussian_window(x.device)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    batch = x.shape[0]
    # One filtering pass over the five moment images: stacked along the batch axis.
    moments = _blur_valid(torch.cat([x, y, x * x, y * y, x * y]), taps)  # (5B, C, H-10, W-10)
    mu_x, mu_y, xx, yy, xy = moments.split(batch)
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1) * cs_map
    return ssim_map.mean(dim=(2, 3)), cs_map.mean(dim=(2, 3))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image, (B, C, H, W) x2 -> (B,), mean over channels. H, W >= 11."""
    check_image_pair(x, y)
    ssim_bc, _ = _ssim_and_cs(x.float(), y.float(), data_range)
    return ssim_bc.mean(dim=1)


def ms_ssim_min_size() -> int:
    """Smallest H and W for MS-SSIM: the coarsest of the 5 scales (1/16) must still hold an 11x11 window."""
    return _WINDOW * 2 ** (len(MS_SSIM_WEIGHTS) - 1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Multi-scale SSIM per image, (B, C, H, W) x2 -> (B,), with H, W >= 176.

    Per channel: prod_{s<5} cs_s^w_s * ssim_5^w_5, scales made by 2x2 average pooling (an odd last
    row/column is dropped). Negative cs/ssim terms are clipped to 0 before the fractional powers
    (as in pytorch-msssim), so the value lies in [0, 1]. The result is averaged over channels.
    """
    check_image_pair(x, y)
    if min(x.shape[-2:]) < ms_ssim_min_size():
        raise ValueError(f"MS-SSIM needs images of at least {ms_ssim_min_size()}x{ms_ssim_min_size()} pixels "
                         f"(5 scales, 11x11 window at 1/16 size), got {tuple(x.shape[-2:])}")
    x, y = x.float(), y.float()
    weights = torch.tensor(MS_SSIM_WEIGHTS, device=x.device)
    factors = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        ssim_bc, cs_bc = _ssim_and_cs(x, y, data_range)
        last = scale == len(MS_SSIM_WEIGHTS) - 1
        factors.append((ssim_bc if last else cs_bc).clamp_min(0.0) ** weights[scale])
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return torch.stack(factors).prod(dim=0).mean(dim=1)  # (5, B, C) -> (B,)
