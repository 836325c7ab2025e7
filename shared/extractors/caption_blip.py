"""Hub captioner: BLIP (``BlipForConditionalGeneration``) from transformers.

Loaded offline with ``from_pretrained`` from a local directory or the Hugging
Face cache; the directory must also hold the processor (tokenizer + image
processor), as ``Salesforce/blip-image-captioning-base`` does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from shared.hub import resolve
from shared.roles import Captioner, check_frame


@dataclass(frozen=True)
class BlipConfig:
    max_new_tokens: int = 30  # BLIP captions are ~10 words; 30 tokens never cuts one short
    num_beams: int = 3  # small beam: better captions than greedy at ~2x the time
    prompt: str = ""  # e.g. "a photograph of" for conditional captioning; empty = unconditional


class BlipCaptioner(Captioner):
    """frame -> BLIP caption (beam search)."""

    def __init__(self, model: torch.nn.Module, processor, config: BlipConfig = BlipConfig()):
        self.model = model.eval()
        self.processor = processor
        self.config = config

    @classmethod
    def load(cls, name: str, config: BlipConfig, source: str | None):
        if source is None:
            raise ValueError(f"model '{name}' needs a hub id or a local directory as its source")
        return cls.from_pretrained(name, source, config)

    @classmethod
    def from_pretrained(cls, name: str, source: str, config: BlipConfig = BlipConfig()) -> "BlipCaptioner":
        """Load model and processor from a local directory or a cached hub id; raises WeightsNotFound otherwise."""
        from transformers import BlipForConditionalGeneration, BlipProcessor

        path = resolve(name, source)
        return cls(BlipForConditionalGeneration.from_pretrained(path), BlipProcessor.from_pretrained(path), config)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @torch.no_grad()
    def caption(self, frame: np.ndarray) -> str:
        check_frame(frame)
        text = self.config.prompt or None
        inputs = self.processor(images=frame, text=text, return_tensors="pt")
        out = self.model.generate(**inputs, max_new_tokens=self.config.max_new_tokens, num_beams=self.config.num_beams)
        return self.processor.decode(out[0], skip_special_tokens=True).strip()
