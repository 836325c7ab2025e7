"""The conditions of the semantic generator, one network for the ``spic``, ``keyregion`` and ``full`` schemes.

The spatial ones live on the latent grid (1/8 of the frame side, the latent codec's
factor), so they concatenate to the noisy latent at the UNet's input
(:mod:`shared.generators.diffusion`):

* ``lowres`` (3 channels): SPIC's coded low-resolution image, resampled to the latent
  grid, in [-1, 1]: colours and layout.
* ``edges`` (16 channels): the segmentation map's region boundaries at half the frame
  resolution, space-to-depth by 4 onto the latent grid (a 4x4 patch of boundary bits
  per latent cell): where the edges go, to 2-pixel precision, whatever the labels mean.
  Boundaries rather than one-hot labels: the embedded segmenter's labels are
  colour/position regions with no fixed vocabulary, and boundaries mean the same for
  any segmenter (SegFormer's classes included).
* ``key`` (9 channels): the received key-region latents (normalised, zero outside the
  key mask) and the key mask itself, on the latent grid.

and one vector condition, added to the timestep embedding:

* ``caption`` (384): the all-MiniLM-L6-v2 embedding of the caption (of the non-key region).

Each scheme uses a subset (:data:`SCHEME_CONDITIONS`); the generator is trained on those
subsets, with extra per-condition dropout, so it also copes with a lost part.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from shared.generators.diffusion import Conditions, DenoiserConfig

LATENT_FACTOR = 8  # the latent codec's spatial factor: frame side / latent side
EDGE_FACTOR = 2  # boundaries at half the frame resolution
EDGE_CHANNELS = (LATENT_FACTOR // EDGE_FACTOR) ** 2  # 16: a 4x4 patch per latent cell
CAPTION_DIMS = 384  # all-MiniLM-L6-v2's embedding width
SEMANTIC_DENOISER = DenoiserConfig(
    spatial=(("lowres", 3), ("edges", EDGE_CHANNELS), ("key", 9)),  # SPIC's two maps, the key latents + mask
    vector=(("caption", CAPTION_DIMS),),  # the caption; digital parts arrive exactly, so no SNR condition
)
SCHEME_CONDITIONS = {  # which conditions each scheme's receiver has
    "spic": ("lowres", "edges"),
    "keyregion": ("key", "caption"),
    "full": ("edges", "key", "caption"),
}


def latent_grid(height: int, width: int) -> tuple[int, int]:
    """The latent grid of a frame padded to whole latent cells."""
    return -(-height // LATENT_FACTOR), -(-width // LATENT_FACTOR)


def boundaries(labels: np.ndarray) -> np.ndarray:
    """(H, W) integer label map -> (H, W) bool, True where a pixel's right or lower neighbour differs."""
    b = np.zeros(labels.shape, bool)
    b[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    b[:-1, :] |= labels[1:, :] != labels[:-1, :]
    return b


def edge_condition(labels: np.ndarray) -> torch.Tensor:
    """(H, W) label map -> (1, 16, h, w) boundary bits on the latent grid (frame padded with no edges)."""
    gh, gw = latent_grid(*labels.shape)
    b = np.zeros((gh * LATENT_FACTOR, gw * LATENT_FACTOR), np.float32)
    b[: labels.shape[0], : labels.shape[1]] = boundaries(labels)
    half = F.max_pool2d(torch.from_numpy(b)[None, None], EDGE_FACTOR)  # (1, 1, 4h, 4w)
    return F.pixel_unshuffle(half, LATENT_FACTOR // EDGE_FACTOR)  # (1, 16, h, w)


def lowres_condition(lowres: np.ndarray, height: int, width: int) -> torch.Tensor:
    """A decoded low-res image (any size, uint8 RGB) -> (1, 3, h, w) on the latent grid of a height x width frame, in [-1, 1]."""
    gh, gw = latent_grid(height, width)
    small = cv2.resize(lowres, (gw, gh), interpolation=cv2.INTER_AREA if lowres.shape[0] > gh else cv2.INTER_CUBIC)
    return torch.from_numpy(small).permute(2, 0, 1)[None].float() / 127.5 - 1.0  # (1, 3, h, w)


def non_key(frame: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The frame (H, W, 3) with its key region (H, W) bool filled with the mean colour of the rest:
    what the caption of the non-key region describes."""
    if not key.any() or key.all():
        return frame
    out = frame.copy()
    out[key] = frame[~key].mean(axis=0).astype(np.uint8)
    return out


def key_condition(z_key: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Key latents (B, L, h, w) and key mask (B, 1, h, w) in {0, 1} -> (B, L + 1, h, w), latents zero outside the mask."""
    return torch.cat([z_key * mask, mask], dim=1)


def caption_condition(captions: list[str], device: str = "cpu") -> torch.Tensor:
    """N captions -> (N, 384) unit-norm sentence embeddings."""
    from shared.metrics.sentence_encoder import embed_sentences

    return embed_sentences(captions, device).float()


def semantic_conditions(**parts: torch.Tensor | None) -> Conditions:
    """Conditions from whichever of lowres / edges / key / caption are given (None or absent = dropped)."""
    names = {n for n, _ in SEMANTIC_DENOISER.spatial} | {n for n, _ in SEMANTIC_DENOISER.vector}
    unknown = set(parts) - names
    if unknown:
        raise ValueError(f"unknown condition(s) {sorted(unknown)}; the generator knows {sorted(names)}")
    return Conditions(spatial={k: v for k, v in parts.items() if v is not None and k != "caption"},
                      vector={"caption": parts["caption"]} if parts.get("caption") is not None else {})
