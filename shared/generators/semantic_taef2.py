"""The semantic generator in TAEF2's latent space (32 x H/8 x W/8): its conditions, normalisation and weights.

The same :class:`~shared.generators.diffusion.ConditionalDenoiser` as the embedded semantic
generator, predicting the clean, normalised TAEF2 latent from (all on the latent grid):

* ``layout`` (32): the TAEF2 latent of a WebP-coded low-res image upsampled (bicubic) to the
  frame: ``spic``'s 1/4-side image (colours, layout, coarse texture) or ``keyregion``'s 1/32
  thumbnail (8 x 8 pixels for 256 x 256: where the sky and the ground are). Encoding the upsampled
  image puts it in the generator's own space, so the generator only adds what the image lacks.
* ``classes`` (21): the Pascal VOC label map (ESPNetv2-VOC) as the fraction of each class's
  pixels in every latent cell: SPIC's semantic condition, one-hot averaged over 8 x 8 pixels.
* ``key`` (33): the received key-region latents (normalised, zero outside the mask) + the mask.
* ``caption`` (384, vector): the MiniLM embedding of the structured caption.

Which scheme has which: :data:`SCHEME_CONDITIONS`. Trained by ``semcom train semantic-taef2``.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open

from shared.codecs.frames import as_frame, frame_tensor
from shared.codecs.taef2 import hub_codec
from shared.generators.diffusion import ConditionalDenoiser, Conditions, DenoiserConfig, load_denoiser_file
from shared.generators.semantic_conditions import CAPTION_DIMS, LATENT_FACTOR, latent_grid
from shared.nets.weights_file import WEIGHTS_DIR, JSCCWeightsMissing
from shared.sideinfo.image_fit import decode_image
from shared.sideinfo.lowres import LowResConfig, encode_lowres

LATENT_CHANNELS = 32  # TAEF2's
VOC_CLASSES = 21  # background + 20 Pascal VOC classes
GENERATOR = "semantic_taef2"  # shared/weights/<name>.safetensors
SPIC_FACTOR = 4  # spic's low-res image: 256 x 256 -> 64 x 64, ~1 kB of WebP (0.13 bpp): measured to carry texture
THUMB_FACTOR = 32  # keyregion's coarse layout: 256 x 256 -> 8 x 8, ~100 B
LAYOUT_QUALITY = 75  # WebP quality of both
SEMANTIC_TAEF2_DENOISER = DenoiserConfig(
    latent_channels=LATENT_CHANNELS,
    spatial=(("layout", LATENT_CHANNELS), ("classes", VOC_CLASSES), ("key", LATENT_CHANNELS + 1)),
    vector=(("caption", CAPTION_DIMS),),
    block_out_channels=(96, 192, 192),  # 32 -> 16 -> 8 cells for 256 x 256; wider than the embedded one: 32-channel latents
    attention_levels=(False, False, True),  # attention at 8 x 8 only: cheap on a CPU
    residual="layout",  # the prediction is the layout's latent plus what it lacks: spic starts where bicubic ends
)
SCHEME_CONDITIONS = {
    "spic": ("layout", "classes"),
    "keyregion": ("layout", "key", "caption"),
    "full": ("classes", "key", "caption"),
}
SCHEME_LAYOUT = {"spic": SPIC_FACTOR, "keyregion": THUMB_FACTOR}  # the low-res factor each scheme sends


def to_unit(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255


def layout_config(factor: int) -> LowResConfig:
    return LowResConfig(factor=factor, quality=LAYOUT_QUALITY)


def upsample_layout(coded: np.ndarray, height: int, width: int) -> np.ndarray:
    """A decoded low-res image -> (height, width, 3) uint8, bicubic."""
    return cv2.resize(coded, (width, height), interpolation=cv2.INTER_CUBIC)


def layout_image(rgb: np.ndarray, factor: int) -> np.ndarray:
    """What the receiver makes of a frame's coded low-res image: (H, W, 3) -> WebP at 1/factor -> upsampled (H, W, 3)."""
    h, w = rgb.shape[:2]
    data = encode_lowres(rgb, layout_config(factor))
    return upsample_layout(decode_image(data, -(-h // factor), -(-w // factor)), h, w)


def class_condition(labels: torch.Tensor) -> torch.Tensor:
    """(B, H, W) VOC label ids (H, W multiples of 8) -> (B, 21, H/8, W/8): each class's pixel fraction per latent cell."""
    one_hot = F.one_hot(labels.long().clamp(0, VOC_CLASSES - 1), VOC_CLASSES).permute(0, 3, 1, 2).float()  # (B, 21, H, W)
    return F.avg_pool2d(one_hot, LATENT_FACTOR)


def conditions(**parts: torch.Tensor | None) -> Conditions:
    """Conditions from whichever of layout / classes / key / caption are given (None = dropped)."""
    names = {n for n, _ in SEMANTIC_TAEF2_DENOISER.spatial} | {"caption"}
    unknown = set(parts) - names
    if unknown:
        raise ValueError(f"unknown condition(s) {sorted(unknown)}; the TAEF2 generator knows {sorted(names)}")
    return Conditions(spatial={k: v for k, v in parts.items() if v is not None and k != "caption"},
                      vector={"caption": parts["caption"]} if parts.get("caption") is not None else {})


class Normaliser(torch.nn.Module):
    """TAEF2 latents <-> the generator's unit-variance ones, per channel (the training cache's statistics)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.view(1, -1, 1, 1).float())  # (1, 32, 1, 1)
        self.register_buffer("std", std.view(1, -1, 1, 1).float())  # (1, 32, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.std

    def inverse(self, z_n: torch.Tensor) -> torch.Tensor:
        return z_n * self.std + self.mean


def normaliser_metadata(norm: Normaliser) -> dict[str, str]:
    return {"latent_mean": json.dumps(norm.mean.flatten().tolist()), "latent_std": json.dumps(norm.std.flatten().tolist())}


def generator_path(name: str = GENERATOR) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


@lru_cache(maxsize=2)
def load_normaliser(device: str = "cpu", name: str = GENERATOR) -> Normaliser:
    """The latent normalisation the generator ``name`` was trained with (its file's metadata only), on ``device``."""
    path = generator_path(name)
    if not path.is_file():
        raise JSCCWeightsMissing(f"the TAEF2 semantic generator {path} is missing; train and export it: "
                                 "semcom train semantic-cache, semcom train semantic-taef2, then --export")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "latent_mean" not in meta or "latent_std" not in meta:
        raise JSCCWeightsMissing(f"{path} has no latent normalisation; export it with semcom train semantic-taef2 --export")
    return Normaliser(torch.tensor(json.loads(meta["latent_mean"])), torch.tensor(json.loads(meta["latent_std"]))).to(device)


@lru_cache(maxsize=4)
def load_generator(device: str = "cpu", name: str = GENERATOR, lora: str = "") -> tuple[ConditionalDenoiser, Normaliser]:
    """``shared/weights/<name>.safetensors`` (with the scene adapter ``lora`` merged, :mod:`shared.nets.lora`):
    the denoiser and its latent normalisation, on ``device`` (fp16 on CUDA), built once per process."""
    from shared.nets.lora import apply_adapter, generator_targets

    norm = load_normaliser(device, name)
    model = load_denoiser_file(generator_path(name), "cpu")
    if lora:
        model = apply_adapter(model, name, lora, generator_targets(model))
    model = model.to(device).eval()
    return (model.half() if device.startswith("cuda") else model), norm


def encode(frame: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 frame -> its normalised TAEF2 latent (1, 32, ceil(H/8), ceil(W/8)) (edge-padded to whole cells)."""
    return load_normaliser(device).forward(hub_codec(device).encode_tensor(frame_tensor(frame, LATENT_FACTOR).to(device)))


def decode(z_n: torch.Tensor, height: int, width: int, device: str = "cpu") -> np.ndarray:
    """Normalised TAEF2 latent (1, 32, h, w) -> (height, width, 3) uint8 frame."""
    return as_frame(hub_codec(device).decode_tensor(load_normaliser(device).inverse(z_n.float().to(device))), height, width)


def padded_labels(labels: np.ndarray) -> torch.Tensor:
    """(H, W) label map -> (1, 8h, 8w) on whole latent cells (edge-replicated)."""
    gh, gw = latent_grid(*labels.shape)
    padded = np.pad(labels, ((0, gh * LATENT_FACTOR - labels.shape[0]), (0, gw * LATENT_FACTOR - labels.shape[1])), mode="edge")
    return torch.from_numpy(padded.astype(np.int64))[None]
