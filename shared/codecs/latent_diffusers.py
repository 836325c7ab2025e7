"""Hub latent codecs: the Stable Diffusion VAE (``AutoencoderKL``) and TAESD (``AutoencoderTiny``).

Both map images in [-1, 1] to latents; the latent returned here is already
multiplied by the VAE's ``scaling_factor`` (unit variance, as diffusion models
see it), and :meth:`decode_tensor` divides it back. ``AutoencoderKL`` uses the
posterior mode (deterministic).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from shared.hub import resolve
from shared.roles import LatentCodec


@dataclass(frozen=True)
class DiffusersVaeConfig:
    kind: str = "kl"  # "kl" = AutoencoderKL (SD VAE), "tiny" = AutoencoderTiny (TAESD, ~100x faster)


class DiffusersLatentCodec(LatentCodec):
    """:class:`LatentCodec` around a diffusers ``AutoencoderKL`` or ``AutoencoderTiny``."""

    def __init__(self, vae: torch.nn.Module):
        self.vae = vae.eval()
        self.scaling = float(getattr(vae.config, "scaling_factor", 1.0))
        self.latent_channels = int(vae.config.latent_channels)
        self.downsample = self._measure_downsample()

    @classmethod
    def load(cls, name: str, config: DiffusersVaeConfig, source: str | None):
        if source is None:
            raise ValueError(f"model '{name}' needs a hub id or a local directory as its source")
        return cls.from_pretrained(name, source, config)

    @classmethod
    def from_pretrained(cls, name: str, source: str, config: DiffusersVaeConfig = DiffusersVaeConfig()) -> "DiffusersLatentCodec":
        """Load from a local directory or a cached hub id; raises WeightsNotFound otherwise."""
        from diffusers import AutoencoderKL, AutoencoderTiny

        kinds = {"kl": AutoencoderKL, "tiny": AutoencoderTiny}
        if config.kind not in kinds:
            raise ValueError(f"unknown VAE kind {config.kind!r}; expected one of {sorted(kinds)}")
        path = resolve(name, source)
        sub = path / "vae" if (path / "vae" / "config.json").is_file() else path  # a full SD pipeline dir works too
        return cls(kinds[config.kind].from_pretrained(sub))

    def _encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> unscaled latent (B, C, H/f, W/f); KL posterior mode."""
        out = self.vae.encode(x)
        return out.latents if hasattr(out, "latents") else out.latent_dist.mode()

    @torch.no_grad()
    def _measure_downsample(self) -> int:
        """Spatial factor f, measured on a 64x64 probe (robust to any block configuration)."""
        return 64 // self._encode_raw(torch.zeros(1, 3, 64, 64)).shape[-1]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.vae.parameters())

    @torch.no_grad()
    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode_raw(x * 2.0 - 1.0) * self.scaling  # (B, C, H/f, W/f)

    @torch.no_grad()
    def decode_tensor(self, z: torch.Tensor) -> torch.Tensor:
        y = self.vae.decode(z / self.scaling).sample  # (B, 3, H, W) in ~[-1, 1]
        return ((y + 1.0) * 0.5).clamp(0, 1)
