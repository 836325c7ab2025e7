"""Hub segmenter: SegFormer (``SegformerForSemanticSegmentation``) from transformers.

Real semantic classes (ADE20K's 150 or Cityscapes' 19, from the checkpoint's
``id2label``). Loaded offline with ``from_pretrained`` from a local directory
or the Hugging Face cache (:func:`shared.hub.resolve`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from shared.hub import resolve
from shared.roles import Segmentation, Segmenter, check_frame


@dataclass(frozen=True)
class SegformerConfig:
    input_size: int = 512  # the ADE20K checkpoints were fine-tuned at 512x512
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # ImageNet statistics, as SegformerImageProcessor
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)  # idem
    vocabulary: str = "ade20k"  # the label set the receiver knows by name, so class names are not sent


class SegformerSegmenter(Segmenter):
    """frame -> per-pixel argmax of SegFormer's logits, upsampled to the frame size."""

    def __init__(self, model: torch.nn.Module, config: SegformerConfig = SegformerConfig()):
        self.model = model.eval()
        self.config = config
        id2label = model.config.id2label
        self.class_names = tuple(str(id2label[i]) for i in range(len(id2label)))

    @classmethod
    def load(cls, name: str, config: SegformerConfig, source: str | None):
        if source is None:
            raise ValueError(f"model '{name}' needs a hub id or a local directory as its source")
        return cls.from_pretrained(name, source, config)

    @classmethod
    def from_pretrained(cls, name: str, source: str, config: SegformerConfig = SegformerConfig()) -> "SegformerSegmenter":
        """Load from a local directory or a cached hub id; raises WeightsNotFound otherwise."""
        from transformers import SegformerForSemanticSegmentation

        return cls(SegformerForSemanticSegmentation.from_pretrained(resolve(name, source)), config)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @torch.no_grad()
    def segment(self, frame: np.ndarray) -> Segmentation:
        check_frame(frame)
        h, w = frame.shape[:2]
        cfg = self.config
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
        x = F.interpolate(x, size=(cfg.input_size, cfg.input_size), mode="bilinear", antialias=True, align_corners=False)
        x = (x - torch.tensor(cfg.mean).view(1, 3, 1, 1)) / torch.tensor(cfg.std).view(1, 3, 1, 1)
        logits = self.model(pixel_values=x).logits  # (1, num_labels, S/4, S/4)
        logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)  # (1, L, H, W)
        dtype = np.uint8 if len(self.class_names) <= 256 else np.uint16
        labels = logits[0].argmax(0).numpy().astype(dtype)  # (H, W)
        return Segmentation(labels=labels, class_names=self.class_names, vocabulary=cfg.vocabulary)
