"""compute_all over the METRICS registry, and the rate measures."""

import sys

import pytest
import skimage.data
import torch
import torch.nn.functional as F

from shared.metrics import METRICS, OPTIONAL_METRICS, bpp, cbr, compute_all, perceptual, to_tensor_batch


def photo(name: str, size: int) -> torch.Tensor:
    image = to_tensor_batch(getattr(skimage.data, name)())
    return F.interpolate(image, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def test_compute_all_returns_every_available_metric_and_records_the_rest(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)
    perceptual._lpips_alex_on.cache_clear()
    x = torch.cat([photo("chelsea", 192), photo("coffee", 192)])
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    results = compute_all(x, y)
    assert set(results) | set(results.unavailable) == set(METRICS) - set(OPTIONAL_METRICS)  # optional ones only when named
    assert "lpips_alex" in results.unavailable and "lpips_alex" not in results
    for name in ("psnr_db", "ssim", "ms_ssim", "effnet_dist", "semantic_top1", "semantic_top5"):
        assert results[name].shape == (2,), name
    assert torch.all((results["psnr_db"] > 20) & (results["psnr_db"] < 35))
    assert torch.all(results["effnet_dist"] > 0)
    identical = compute_all(x, x, names=["psnr_db", "ssim", "semantic_top5"])
    assert set(identical) == {"psnr_db", "ssim", "semantic_top5"}
    assert identical["semantic_top5"].tolist() == [1.0, 1.0]
    perceptual._lpips_alex_on.cache_clear()


def test_compute_all_skips_ms_ssim_on_small_images_and_rejects_unknown_names():
    x = photo("astronaut", 64)
    results = compute_all(x, x, names=["ssim", "ms_ssim"])
    assert "ms_ssim" in results.unavailable and results["ssim"].item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="unknown"):
        compute_all(x, x, names=["lpips_vgg"])


def test_rate_measures():
    assert cbr(256 * 256 * 3 / 16, 256, 256) == pytest.approx(1 / 16)
    assert bpp(8 * 1000, 100, 80) == pytest.approx(1.0)
    per_image = cbr(torch.tensor([1536.0, 3072.0]), 32, 32)
    assert per_image.tolist() == pytest.approx([0.5, 1.0])
    with pytest.raises(ValueError):
        bpp(10, 0, 10)
