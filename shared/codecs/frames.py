"""Frame -> latent -> frame: the helpers every scheme uses around a latent codec.

``frame_tensor`` pads a uint8 frame to whole grid cells; ``to_latent`` / ``to_frame``
run a registry latent codec's encoder / decoder on normalised latents (z / std).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from shared.nets.jscc import DOWNSAMPLE

LATENT_CODEC = "latent-conv-ae"  # the embedded latent codec the JSCCs and generators were trained on


def padded(n: int, multiple: int = DOWNSAMPLE) -> int:
    """``n`` rounded up to a multiple: frames are edge-padded to whole symbol-grid cells."""
    return -(-n // multiple) * multiple


def frame_tensor(frame: np.ndarray, multiple: int = DOWNSAMPLE) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H', W') float in [0, 1], edge-padded to multiples of ``multiple``."""
    h, w = frame.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    if (padded(h, multiple), padded(w, multiple)) != (h, w):
        x = F.pad(x, (0, padded(w, multiple) - w, 0, padded(h, multiple) - h), mode="replicate")  # (1, 3, H', W')
    return x


@lru_cache(maxsize=4)
def latent_codec(device: str, name: str = LATENT_CODEC):
    """A latent codec's network and per-channel latent std (1, L, 1, 1), on ``device``."""
    from shared.registry.table import load_model  # the table imports every backend: load it on first use

    codec = load_model(name, role="latent_codec")
    return codec.net.to(device).eval(), codec.latent_std.view(1, -1, 1, 1).to(device)


def to_latent(x: torch.Tensor, device: str, name: str = LATENT_CODEC) -> torch.Tensor:
    """(B, 3, H, W) pixels in [0, 1] -> normalised latent z_n (B, L, H/8, W/8) of codec ``name``."""
    ae, std = latent_codec(device, name)
    return ae.encoder(x.to(device) * 2 - 1) / std


def to_frame(z_n: torch.Tensor, height: int, width: int, device: str, name: str = LATENT_CODEC) -> np.ndarray:
    """Normalised latent (1, L, h, w) -> (height, width, 3) uint8 frame (cropped from the padded grid) by codec ``name``."""
    ae, std = latent_codec(device, name)
    return as_frame(ae.decoder(z_n.float().to(device) * std) * 0.5 + 0.5, height, width)


def as_frame(y: torch.Tensor, height: int, width: int) -> np.ndarray:
    """(1, 3, H', W') pixels, about [0, 1] -> (height, width, 3) uint8 frame, cropped from the padded grid."""
    y = y[0, :, :height, :width].clamp(0, 1)  # (3, H, W)
    return (y * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
