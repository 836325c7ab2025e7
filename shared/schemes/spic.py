"""``spic``: segmentation map + low-res image over the digital PHY, then conditional diffusion (SPIC, seed paper 002).

Transmit: the default segmenter's label map (lossless, not re-sent while unchanged) and the frame
downscaled ``lowres_factor`` x (WebP), each through CRC + 5G LDPC + QAM.
Receive: the map's region boundaries and the low-res image condition the semantic generator
(classifier-free guidance ``guidance``), which ``steps`` DDIM steps sample; a lost map only drops
the edge condition, a lost low-res image loses the frame. Parts, coding and the receiver:
:mod:`shared.schemes.semantic`.
"""
from __future__ import annotations

from pydantic import Field

from shared.schemes.semantic import SemanticParams, register_semantic


class SpicParams(SemanticParams):
    lowres_factor: int = Field(default=8, ge=2, le=32)  # 256x256 -> 32x32, the factor the generator was trained on
    lowres_quality: int = Field(default=75, ge=1, le=100)  # WebP quality, as in training
    strength: float = Field(default=0.02, gt=0, le=1)  # one step from the low-res image's latent at t = 19: measured best


SPEC = register_semantic(
    "spic", SpicParams,
    "SPIC: segmentation map (lossless) + low-res image over the digital PHY, then diffusion conditioned on both")
