"""Semantic agreement between an original and its reconstruction.

- `semantic_agreement`: do EfficientNet-Lite0's ImageNet predictions agree (top-1 and top-5)?
- `caption_similarity`: cosine similarity of MiniLM sentence embeddings of two captions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from shared.metrics.image_tensor import check_rgb_pair
from shared.metrics.sentence_encoder import embed_sentences
from shared.nets.efficientnet_lite0 import classifier_view, load_efficientnet_lite0


@dataclass(frozen=True)
class SemanticAgreement:
    """Per-image agreement of ImageNet predictions, each a float tensor (B,).

    top1: 1.0 where the top-1 classes match, else 0.0.
    top5: |top5(x) ∩ top5(y)| / 5, in {0, 0.2, ..., 1}.
    """

    top1: torch.Tensor
    top5: torch.Tensor


@torch.no_grad()
def imagenet_top5(images: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite0 top-5 ImageNet class indices, (B, 3, H, W) in [0, 1] -> int64 (B, 5), best first."""
    model = load_efficientnet_lite0(images.device)
    return model(classifier_view(images.float())).topk(5, dim=1).indices


def semantic_agreement(x: torch.Tensor, y: torch.Tensor) -> SemanticAgreement:
    """Top-1 and top-5 agreement of the classifier on x and on y, (B, 3, H, W) x2 -> SemanticAgreement."""
    check_rgb_pair(x, y)
    top5 = imagenet_top5(torch.cat([x, y]))  # (2B, 5)
    top5_x, top5_y = top5.split(x.shape[0])
    same_top1 = (top5_x[:, 0] == top5_y[:, 0]).float()
    shared = (top5_x[:, :, None] == top5_y[:, None, :]).any(dim=2).sum(dim=1)  # (B,) classes in both
    return SemanticAgreement(top1=same_top1, top5=shared.float() / 5.0)


def semantic_top1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`semantic_agreement(x, y).top1`, (B,), for metric registries."""
    return semantic_agreement(x, y).top1


def semantic_top5(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`semantic_agreement(x, y).top5`, (B,), for metric registries."""
    return semantic_agreement(x, y).top5


def caption_similarity(a: list[str], b: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
    """Cosine similarity of all-MiniLM-L6-v2 embeddings of a[i] and b[i]: two lists of N -> (N,) in [-1, 1]."""
    if not all(isinstance(text, str) for text in [*a, *b]):
        raise ValueError("captions must be strings")
    if len(a) != len(b) or not a:
        raise ValueError(f"expected two non-empty caption lists of one length, got {len(a)} and {len(b)}")
    embeddings = embed_sentences(list(a) + list(b), device)  # (2N, 384), unit norm
    emb_a, emb_b = embeddings.split(len(a))
    return (emb_a * emb_b).sum(dim=1)
