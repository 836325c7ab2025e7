"""Embedded captioner: a structured text prompt built from real measurements.

Not a learned captioner (none is installable offline). The text joins three
measured facts about the frame:

* **what**: the top ImageNet-1k labels of the real, pretrained EfficientNet-Lite0
  (``shared.nets.efficientnet_lite0``), with a hedge when confidence is low;
* **colours**: the dominant named colours and their shares;
* **layout**: the dominant colour of the top, middle and bottom thirds.

Example: ``"a photo of a military uniform or suit; colours: black 41%, navy 18%,
light blue 12%; top light blue, middle skin tone, bottom black"``.
The format is regular, so it compresses well and a text-conditioned generator
can be prompted with it directly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

from shared.extractors.colours import dominant_colours
from shared.roles import Captioner, check_frame

CLASS_FILE = Path(__file__).resolve().parents[1] / "weights" / "imagenet1k_classes.json"


@cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names, in label order (see ``shared/weights/imagenet1k_classes.md``)."""
    return tuple(json.loads(CLASS_FILE.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class StructuredCaptionConfig:
    top_k: int = 2  # two labels: the best guess and one alternative
    min_prob: float = 0.08  # a second label below this probability is noise, so it is left out
    sure_prob: float = 0.5  # below this, the first label is hedged with "possibly"
    colours: int = 3  # three dominant colours describe most scenes
    input_size: int = 224  # EfficientNet-Lite0 was trained at 224x224


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


class StructuredCaptioner(Captioner):
    """frame -> "a photo of <labels>; colours: ...; top ..., middle ..., bottom ..."."""

    def __init__(self, config: StructuredCaptionConfig = StructuredCaptionConfig(), classifier: torch.nn.Module | None = None):
        self.config = config
        self._classifier = classifier

    @property
    def classifier(self) -> torch.nn.Module:
        if self._classifier is None:
            from shared.nets.efficientnet_lite0 import load_efficientnet_lite0

            self._classifier = load_efficientnet_lite0("cpu")
        return self._classifier

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.classifier.parameters())

    @torch.no_grad()
    def labels(self, frame: np.ndarray) -> list[tuple[str, float]]:
        """Top-k ImageNet labels and probabilities of a (H, W, 3) uint8 frame."""
        from shared.nets.efficientnet_lite0 import classifier_view

        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
        x = classifier_view(x, self.config.input_size)  # (1, 3, 224, 224)
        prob = self.classifier(x).softmax(-1)[0]  # (1000,)
        p, idx = prob.topk(self.config.top_k)
        names = imagenet_classes()
        return [(names[int(i)], float(v)) for v, i in zip(p, idx)]

    def caption(self, frame: np.ndarray) -> str:
        check_frame(frame)
        cfg = self.config
        labels = self.labels(frame)
        first, p0 = labels[0]
        what = f"{article(first)} {first}"
        others = [name for name, p in labels[1:] if p >= cfg.min_prob]
        if others:
            what += " or " + " or ".join(others)
        hedge = "" if p0 >= cfg.sure_prob else "possibly "
        colours = ", ".join(f"{name} {100 * share:.0f}%" for name, share in dominant_colours(frame, cfg.colours))
        h = frame.shape[0]
        thirds = [frame[i * h // 3 : (i + 1) * h // 3] for i in range(3)]
        layout = ", ".join(f"{where} {dominant_colours(part, 1)[0][0]}" for where, part in zip(("top", "middle", "bottom"), thirds))
        return f"a photo of {hedge}{what}; colours: {colours}; {layout}"
