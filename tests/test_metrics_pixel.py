"""PSNR, SSIM and MS-SSIM against scikit-image and an independent numpy MS-SSIM, on real photos."""

import numpy as np
import pytest
import skimage.data
import torch
from scipy.ndimage import gaussian_filter
from skimage.filters import gaussian
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from shared.metrics import ms_ssim, psnr_db, ssim, to_tensor_batch
from shared.metrics.pixel import PSNR_CAP_DB

PHOTOS = ("astronaut", "chelsea", "coffee")


def photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as float64 (H, W, 3) in [0, 1]."""
    return getattr(skimage.data, name)().astype(np.float64) / 255.0


def distort(image: np.ndarray, kind: str, strength: float, seed: int = 0) -> np.ndarray:
    if kind == "noise":
        noise = np.random.default_rng(seed).normal(0.0, strength, image.shape)
        return np.clip(image + noise, 0.0, 1.0)
    return gaussian(image, sigma=strength, channel_axis=-1)


def as_batch(*images: np.ndarray) -> torch.Tensor:
    """float64 (H, W, 3) arrays -> float32 (B, 3, H, W)."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=-1)


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("kind, strength", [("noise", 0.05), ("noise", 0.2), ("blur", 1.0), ("blur", 3.0)])
def test_ssim_matches_skimage(name, kind, strength):
    a = photo(name)
    b = distort(a, kind, strength)
    ours = ssim(as_batch(a), as_batch(b))
    assert ours.shape == (1,)
    assert abs(ours.item() - skimage_ssim(a, b)) < 1e-3


def test_ssim_is_per_image_in_a_batch():
    a = photo("astronaut")[:256, :256]
    b1, b2 = distort(a, "noise", 0.1), distort(a, "blur", 2.0)
    batch = ssim(as_batch(a, a), as_batch(b1, b2))
    assert batch.shape == (2,)
    assert batch[0].item() == pytest.approx(skimage_ssim(a, b1), abs=1e-3)
    assert batch[1].item() == pytest.approx(skimage_ssim(a, b2), abs=1e-3)
    assert ssim(as_batch(a), as_batch(a)).item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", PHOTOS)
def test_psnr_matches_skimage(name):
    a = photo(name)
    b = distort(a, "noise", 0.1)
    ours = psnr_db(as_batch(a), as_batch(b))
    assert ours.item() == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-3)


def test_psnr_data_range_and_cap():
    a = as_batch(photo("coffee")[:64, :64])
    b = (a + 0.01).clamp(0, 1)
    assert psnr_db(a * 255, b * 255, data_range=255.0).item() == pytest.approx(psnr_db(a, b).item(), abs=1e-3)
    same = psnr_db(torch.cat([a, a]), torch.cat([a, b]))
    assert same[0].item() == PSNR_CAP_DB
    assert same[1].item() < 45.0


def reference_ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Straightforward float64 MS-SSIM: scipy Gaussian filter (11 taps), valid region, 2x2 block means."""
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    per_channel = []
    for ch in range(3):
        x, y = a[..., ch], b[..., ch]
        value = 1.0
        for scale, weight in enumerate(weights):
            blur = lambda img: gaussian_filter(img, sigma=1.5, truncate=3.5)[5:-5, 5:-5]
            mx, my = blur(x), blur(y)
            vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
            cs = (2 * cxy + c2) / (vx + vy + c2)
            if scale == len(weights) - 1:
                value *= max(np.mean((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1) * cs), 0.0) ** weight
            else:
                value *= max(np.mean(cs), 0.0) ** weight
                h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
                x = x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
                y = y[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        per_channel.append(value)
    return float(np.mean(per_channel))


@pytest.mark.parametrize("name, kind, strength", [("astronaut", "noise", 0.1), ("chelsea", "blur", 2.0),
                                                  ("coffee", "noise", 0.3)])
def test_ms_ssim_matches_numpy_reference(name, kind, strength):
    a = photo(name)
    b = distort(a, kind, strength)
    assert ms_ssim(as_batch(a), as_batch(b)).item() == pytest.approx(reference_ms_ssim(a, b), abs=1e-3)


def test_ms_ssim_identity_and_monotone_in_noise():
    a = photo("astronaut")[128:384, 128:384]  # 256x256
    noisy = [distort(a, "noise", sigma, seed=1) for sigma in (0.02, 0.05, 0.1, 0.2, 0.4)]
    values = ms_ssim(as_batch(a, *[a] * 5), as_batch(a, *noisy))
    assert values.shape == (6,)
    assert values[0].item() == pytest.approx(1.0, abs=1e-6)
    assert torch.all(values[1:] < values[:-1]), values
    assert values[-1].item() > 0.0


def test_ms_ssim_rejects_images_too_small_for_five_scales():
    a = as_batch(photo("astronaut")[:175, :300])
    with pytest.raises(ValueError, match="at least 176x176"):
        ms_ssim(a, a)
    b = as_batch(photo("astronaut")[:176, :176])
    assert ms_ssim(b, b).item() == pytest.approx(1.0, abs=1e-6)


def test_mismatched_inputs_raise_value_error():
    a = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError):
        ssim(a, torch.rand(2, 3, 32, 31))
    with pytest.raises(ValueError):
        psnr_db(a[0], a[0])
    with pytest.raises(ValueError):
        ssim(a, (a * 255).to(torch.uint8))


def test_to_tensor_batch_conventions():
    image = skimage.data.chelsea()  # uint8 (300, 451, 3)
    one = to_tensor_batch(image)
    assert one.shape == (1, 3, 300, 451) and one.dtype == torch.float32
    assert one.max().item() <= 1.0 and one[0, :, 10, 20].mul(255).round().tolist() == image[10, 20].tolist()
    assert to_tensor_batch([image, image]).shape == (2, 3, 300, 451)
    assert to_tensor_batch(one) is not None and torch.equal(to_tensor_batch(one), one)
    with pytest.raises(ValueError):
        to_tensor_batch(image.astype(np.float32))
    with pytest.raises(ValueError):
        to_tensor_batch(image[..., :2])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here")
def test_gpu_matches_cpu():
    a = as_batch(photo("coffee")[:256, :256])
    b = as_batch(distort(photo("coffee")[:256, :256], "noise", 0.1))
    for metric in (psnr_db, ssim, ms_ssim):
        on_gpu = metric(a.cuda(), b.cuda())
        assert on_gpu.device.type == "cuda"
        assert on_gpu.cpu().item() == pytest.approx(metric(a, b).item(), abs=1e-4)
