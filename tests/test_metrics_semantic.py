"""Semantic agreement (EfficientNet-Lite0 ImageNet predictions) and MiniLM caption similarity."""

import pytest
import skimage.data
import torch
import torch.nn.functional as F

from shared.metrics import SemanticAgreement, caption_similarity, semantic_agreement, to_tensor_batch
from shared.metrics.semantic import imagenet_top5


def photo(name: str, size: int = 224) -> torch.Tensor:
    """A scikit-image sample photo resized to (1, 3, size, size) in [0, 1]."""
    image = to_tensor_batch(getattr(skimage.data, name)())
    return F.interpolate(image, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def test_agreement_identical_unrelated_and_mildly_degraded():
    cat, coffee = photo("chelsea"), photo("coffee")
    slightly_noisy_cat = (cat + 0.01 * torch.randn(cat.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    result = semantic_agreement(torch.cat([cat, cat, cat]), torch.cat([cat, coffee, slightly_noisy_cat]))
    assert isinstance(result, SemanticAgreement)
    assert result.top1.shape == (3,) and result.top5.shape == (3,)
    assert result.top1.tolist() == [1.0, 0.0, 1.0]
    assert result.top5[0].item() == 1.0
    assert result.top5[1].item() == 0.0  # cat classes vs coffee classes: nothing shared
    assert result.top5[2].item() >= 0.6


def test_top5_overlap_counts_shared_classes():
    images = torch.cat([photo("chelsea"), photo("coffee"), photo("astronaut")])
    top5 = imagenet_top5(images)
    assert top5.shape == (3, 5) and top5.dtype == torch.int64
    # Pair every image with every other and check the overlap against set arithmetic.
    x = images[[0, 0, 1, 2]]
    y = images[[1, 2, 2, 0]]
    result = semantic_agreement(x, y)
    sets = [set(row) for row in top5.tolist()]
    expected = [len(sets[i] & sets[j]) / 5 for i, j in [(0, 1), (0, 2), (1, 2), (2, 0)]]
    assert result.top5.tolist() == pytest.approx(expected)


def test_caption_similarity_ranks_paraphrases_above_unrelated():
    a = ["a cat lying on a sofa", "a cup of espresso on a saucer", "a cat lying on a sofa"]
    b = ["a kitten resting on a couch", "a rocket launching into the sky", "a cat lying on a sofa"]
    similarity = caption_similarity(a, b)
    assert similarity.shape == (3,)
    assert similarity[2].item() == pytest.approx(1.0, abs=1e-4)
    assert similarity[0].item() > 0.5 > similarity[1].item()
    assert similarity[0].item() > similarity[1].item() + 0.3


def test_caption_similarity_rejects_bad_input():
    with pytest.raises(ValueError):
        caption_similarity(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        caption_similarity([], [])
