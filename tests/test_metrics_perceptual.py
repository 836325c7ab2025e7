"""EfficientNet-Lite0 (weights, classification, features) and the perceptual distances built on it."""

import sys

import pytest
import skimage.data
import torch
import torch.nn.functional as F
from skimage.filters import gaussian

from shared.metrics import MetricUnavailable, effnet_dist, lpips_alex, to_tensor_batch
from shared.metrics import perceptual
from shared.nets.efficientnet_lite0 import (STAGE_CHANNELS, STAGE_STRIDES, EfficientNetLite0,
                                              classifier_view, load_efficientnet_lite0,
                                              pretrained_state_dict)

CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def photo(name: str, size: int = 256) -> torch.Tensor:
    """A scikit-image sample photo resized to (1, 3, size, size) in [0, 1]."""
    image = to_tensor_batch(getattr(skimage.data, name)())
    return F.interpolate(image, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def blurred(image: torch.Tensor, sigma: float) -> torch.Tensor:
    array = gaussian(image[0].permute(1, 2, 0).numpy(), sigma=sigma, channel_axis=-1)
    return torch.from_numpy(array).permute(2, 0, 1)[None].float()  # (1, 3, H, W)


def noisy(image: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
    return (image + sigma * noise).clamp(0, 1)


def test_weights_load_strictly_with_every_key():
    weights = pretrained_state_dict()
    model = EfficientNetLite0()
    assert set(model.state_dict()) == set(weights)
    result = model.load_state_dict(weights, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert load_efficientnet_lite0() is load_efficientnet_lite0("cpu")  # one load per device


def probabilities(image: torch.Tensor) -> torch.Tensor:
    """ImageNet class probabilities (1000,) of a (1, 3, H, W) photo."""
    with torch.no_grad():
        logits = load_efficientnet_lite0()(classifier_view(image))
    assert logits.shape == (1, 1000)
    return logits.softmax(dim=1)[0]


def test_classifies_real_photos():
    cat = probabilities(to_tensor_batch(skimage.data.chelsea()))
    coffee = probabilities(to_tensor_batch(skimage.data.coffee()))
    cat_top5, coffee_top5 = set(cat.topk(5).indices.tolist()), set(coffee.topk(5).indices.tolist())
    assert cat.argmax().item() in CAT_CLASSES and len(cat_top5 & CAT_CLASSES) == 3, cat_top5
    assert coffee.argmax().item() == 967 and 968 in coffee_top5, coffee_top5  # espresso, cup
    # A mis-built network that still ranks classes roughly right is rarely this confident.
    assert cat[list(CAT_CLASSES)].sum().item() > 0.7
    assert coffee[967].item() > 0.8


def test_forward_features_shapes_for_odd_sizes():
    with torch.no_grad():
        features = load_efficientnet_lite0().forward_features(torch.rand(2, 3, 100, 130))
    assert len(features) == 7
    for feature, channels, stride in zip(features, STAGE_CHANNELS, STAGE_STRIDES):
        assert feature.shape == (2, channels, -(-100 // stride), -(-130 // stride))


def test_effnet_dist_zero_for_identical_and_batch_consistent():
    a, b = photo("astronaut"), photo("coffee")
    pair = effnet_dist(torch.cat([a, b]), torch.cat([a, blurred(b, 2.0)]))
    assert pair.shape == (2,)
    assert pair[0].item() == 0.0
    assert pair[1].item() == pytest.approx(effnet_dist(b, blurred(b, 2.0)).item(), rel=1e-4)
    assert effnet_dist(blurred(b, 2.0), b).item() == pytest.approx(pair[1].item(), rel=1e-4)


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_effnet_dist_monotone_in_blur(name):
    image = photo(name)
    sigmas = (0.5, 1.0, 2.0, 4.0)
    distorted = torch.cat([blurred(image, s) for s in sigmas])
    values = effnet_dist(image.expand(len(sigmas), -1, -1, -1), distorted)
    assert torch.all(values[1:] > values[:-1]), values
    assert values[0].item() > 0.0


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_effnet_dist_monotone_in_noise(name):
    image = photo(name)
    sigmas = (0.02, 0.05, 0.1, 0.2)
    distorted = torch.cat([noisy(image, s) for s in sigmas])
    values = effnet_dist(image.expand(len(sigmas), -1, -1, -1), distorted)
    assert torch.all(values[1:] > values[:-1]), values


def test_effnet_dist_needs_rgb():
    with pytest.raises(ValueError, match="RGB"):
        effnet_dist(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))


def test_lpips_alex_is_unavailable_not_faked_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` raise ImportError
    perceptual._lpips_alex_on.cache_clear()
    x = photo("chelsea", 64)
    with pytest.raises(MetricUnavailable, match="lpips"):
        lpips_alex(x, x)
    perceptual._lpips_alex_on.cache_clear()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here")
def test_effnet_dist_on_gpu_matches_cpu():
    a = photo("astronaut")
    b = blurred(a, 2.0)
    on_gpu = effnet_dist(a.cuda(), b.cuda())
    assert on_gpu.device.type == "cuda"
    assert on_gpu.cpu().item() == pytest.approx(effnet_dist(a, b).item(), rel=1e-3)


def test_effnet_first_loaded_under_inference_mode_still_backpropagates():
    """The cached classifier serves metrics (inference mode) and the lrisc perceptual loss (autograd)."""
    from shared.nets.efficientnet_lite0 import _load_on

    _load_on.cache_clear()
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        effnet_dist(x, x)
    y = torch.rand(1, 3, 64, 64, requires_grad=True)
    effnet_dist(y, x).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
