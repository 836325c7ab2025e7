"""Classification against the truth: EfficientNet-Lite0's top-1 / top-5 on a reconstruction, scored against
the true ImageNet class of an image named after its synset (``n01440764_tench.jpg``, the corpus's
``imagenet-sample`` photos). ``semantic_top1`` asks whether the reconstruction keeps the class the
classifier saw in the original; this asks whether it keeps the class the image really shows.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache

import torch

from shared.metrics.semantic import imagenet_top5
from shared.nets.weights_file import WEIGHTS_DIR

SYNSET = re.compile(r"(?<![0-9a-z])(n\d{8})(?![0-9])")  # a WordNet id inside a file name


@lru_cache(maxsize=1)
def _synsets() -> dict[str, int]:
    return {w: i for i, w in enumerate(json.loads((WEIGHTS_DIR / "imagenet1k_synsets.json").read_text()))}


def true_class(image_name: str) -> int | None:
    """The ImageNet-1k label of an image named after its synset, or None (not an ImageNet-named image)."""
    m = SYNSET.search(image_name)
    return _synsets().get(m.group(1)) if m else None


def true_label_hits(images: torch.Tensor, label: int) -> tuple[float, float]:
    """(1, 3, H, W) in [0, 1] and its true label -> (top-1 correct, top-5 correct), each 0.0 or 1.0."""
    top5 = imagenet_top5(images)[0]  # (5,)
    return float(top5[0] == label), float((top5 == label).any())
