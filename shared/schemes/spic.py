"""``spic``: segmentation map + low-res image over the digital PHY, then conditional diffusion (SPIC, seed paper 002).

Transmit: the default segmenter's label map (lossless, not re-sent while unchanged) and the frame
downscaled ``lowres_factor`` x (WebP), each through CRC + 5G LDPC + QAM.
Receive: the map and the low-res image condition the semantic generator (classifier-free guidance
``guidance``), which ``steps`` DDIM steps sample; on TAEF2 (``codec=taef2``) it starts from the
low-res image's latent noised to ``strength`` and reads the map's VOC classes, on the embedded codec
it reads the map's region boundaries. A lost map only drops its condition, a lost low-res image
loses the frame. Parts, coding and the receiver: :mod:`shared.schemes.semantic`.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from shared.generators.semantic_taef2 import SPIC_FACTOR
from shared.schemes.semantic import SemanticParams, register_semantic
from shared.sideinfo.lowres import LowResConfig


class SpicParams(SemanticParams):
    lowres_factor: int = Field(default=8, ge=2, le=32)  # embedded: 256x256 -> 32x32, the factor its generator was trained on
    lowres_quality: int = Field(default=75, ge=1, le=100)  # WebP quality, as in training
    strength: float = Field(default=0.02, gt=0, le=1)  # embedded: one step from the low-res image's latent at t = 19: measured best

    @model_validator(mode="after")
    def _trained_factor(self) -> "SpicParams":
        if self.codec == "taef2" and self.lowres_factor != SPIC_FACTOR:
            raise ValueError(f"lowres_factor={self.lowres_factor}: codec=taef2's generator was trained on {SPIC_FACTOR}")
        return self

    @classmethod
    def taef2_defaults(cls) -> dict:
        """On TAEF2: the 1/4-side low-res image its generator was trained on, at WebP quality 80 (0.17 bpp with the map,
        below digital's 0.18 at CBR 1/32), the VOC map, and one step from noise (strength 1: effnet_dist 0.427 against
        0.454 at 0.5 on eight corpus training photos at 20 dB; README)."""
        return {"lowres_factor": SPIC_FACTOR, "lowres_quality": 80, "segmenter": "espnetv2-voc", "strength": 1.0}

    def lowres(self) -> LowResConfig:
        return LowResConfig(factor=self.lowres_factor, quality=self.lowres_quality)


SPEC = register_semantic(
    "spic", SpicParams,
    "SPIC: segmentation map (lossless) + low-res image over the digital PHY, then diffusion conditioned on both")
