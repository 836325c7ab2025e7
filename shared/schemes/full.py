"""``full``: segmentation map + key-region latents + caption, the design card's complete semantic scheme.

The union of ``spic``'s map and ``keyregion``'s key latents, mask and caption (no low-res image):
the semantic generator is conditioned on all three and holds the key regions to their received
latents. Parts, coding and the receiver: :mod:`shared.schemes.semantic`.
"""
from __future__ import annotations

from shared.schemes.semantic import KeyLatentParams, register_semantic

SPEC = register_semantic(
    "full", KeyLatentParams,
    "full: segmentation map + key latents (analog) + caption, then diffusion conditioned on all three")
