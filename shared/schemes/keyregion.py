"""``keyregion``: key-region latents (analog) + key mask (lossless) + caption of the rest (seed paper 001).

Transmit: the default key-region selector's mask (faces, else the salient region) on the latent
grid; the latent codec's values under it as analog symbols, repeated ``key_repeat`` x; the default
captioner's text for the frame with the key region blanked (not re-sent while unchanged).
Receive: the semantic generator samples the frame from the caption and the key latents, holding
the latent to the received key latents inside the mask at every DDIM step, so the key region stays
faithful and the rest is generated. Parts, coding and the receiver: :mod:`shared.schemes.semantic`.

On TAEF2 the default is ``background=jscc`` instead: the rest of the frame goes through lrisc's
TAEF2 JSCC at a low rate (``background_maps`` of 64) and the key cells are decoded from their
latents on top of it (:mod:`shared.schemes.jscc_background`); no caption, no thumbnail. Measured
better than the generated background on key PSNR, the rest and effnet_dist (README).
"""
from __future__ import annotations

from shared.schemes.semantic import KeyRegionParams, register_semantic

SPEC = register_semantic(
    "keyregion", KeyRegionParams,
    "key regions: key latents (analog) + key mask, the rest through lrisc's TAEF2 JSCC (background=jscc, the default on "
    "TAEF2) or generated from a caption and thumbnail by diffusion that keeps the key regions (background=generate)")
