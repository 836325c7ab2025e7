"""LRISC's latent JSCC: a normalised latent <-> complex channel symbols, SNR-adaptive, variable length.

The latent codec (``latent-conv-ae``: 8x32x32 per 256x256 frame) gives ``z``;
divided by its per-channel standard deviation it is ``z_n`` (unit scale). This
codec maps ``z_n`` to ``C`` feature maps at half its resolution and back:

    encoder: z_n (B, 8, h, w) -> conv -> [down stage] -> res + AF -> (B, C, h/2, w/2)
    decoder: (B, C, h/2, w/2) -> conv + AF -> res + AF -> [up stage] -> res -> (B, 8, h, w) = z_hat

with the ADJSCC AF modules of :mod:`shared.nets.jscc` (one model for every
SNR). A 256x256 frame gives 16x16xC reals = ``C * 128`` complex symbols, the
same layout and CBR as the DeepJSCC baseline (C = 32: 4,096 symbols, 1/48),
so the two are compared at exactly equal channel uses.

Adaptive length: the maps are importance-ordered (training drops a random
suffix), any prefix of :attr:`LatentJSCCConfig.rates` maps is a valid code,
and a rate policy picks the prefix per frame from the SNR the receiver feeds
back. The receiver reads the length from the payload's symbol count.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from shared.nets.blocks import ResBlock
from shared.nets.jscc import AFModule, Stage
from shared.nets.weights_file import WEIGHTS_DIR, read_configured

DOWNSAMPLE = 2  # latent grid -> symbol grid; with the latent codec's 8: 16x per image side


@dataclass(frozen=True)
class LatentJSCCConfig:
    """Architecture of :class:`LatentJSCC`."""

    latent_channels: int = 8  # the latent codec's channels (latent-conv-ae: 8)
    width: int = 128  # feature width at the symbol grid; ~1.1 M params, cheap next to the diffusion UNet
    maps: int = 32  # C: 32x16x16 per 256x256 = 4,096 symbols, CBR 1/48, as deepjscc
    rates: tuple[int, ...] = (8, 16, 24, 32)  # sendable prefixes: CBR 1/192, 1/96, 1/64, 1/48
    af_hidden: int = 32  # AF MLP width, as deepjscc
    rate_input: bool = False  # decoder also gets the length map (share of maps sent per cell): blocks of different lengths

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "LatentJSCCConfig":
        return cls(**{**d, "rates": tuple(int(r) for r in d["rates"])})


class ResAF(nn.Module):
    """Residual block then AF gates: (B, C, H, W), snr (B, 1) -> (B, C, H, W)."""

    def __init__(self, c: int, hidden: int):
        super().__init__()
        self.res, self.af = ResBlock(c), AFModule(c, hidden)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        return self.af(self.res(x), snr_db)


class LatentJSCC(nn.Module):
    """``encode``: z_n (B, L, h, w) -> (B, C, h/2, w/2);  ``decode``: the mirror, both SNR-conditioned."""

    def __init__(self, config: LatentJSCCConfig = LatentJSCCConfig()):
        super().__init__()
        self.config = config
        c, w, hid = config.latent_channels, config.width, config.af_hidden
        self.enc_in = nn.Sequential(nn.Conv2d(c, w, 3, padding=1), nn.GELU())
        self.enc_down = Stage(w, w, hid, up=False)
        self.enc_mid = ResAF(w, hid)
        self.enc_out = nn.Conv2d(w, config.maps, 3, padding=1)
        self.dec_in = nn.Sequential(nn.Conv2d(config.maps + int(config.rate_input), w, 3, padding=1), nn.GELU())
        self.dec_in_af = AFModule(w, hid)
        self.dec_mid = ResAF(w, hid)
        self.dec_up = Stage(w, w, hid, up=True)
        self.dec_out = nn.Sequential(ResBlock(w), nn.Conv2d(w, c, 3, padding=1))

    def encode(self, z_n: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """(B, L, h, w) normalised latent, snr (B, 1) dB -> (B, C, h/2, w/2), not yet power-normalised."""
        h = self.enc_down(self.enc_in(z_n), snr_db)  # (B, W, h/2, w/2)
        return self.enc_out(self.enc_mid(h, snr_db))

    def decode(self, s: torch.Tensor, snr_db: torch.Tensor, rate: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, h/2, w/2) received maps (unsent ones zero), snr (B, 1) dB -> z_hat (B, L, h, w), normalised.

        ``rate`` (B, 1, h/2, w/2): the share of the C maps sent at each cell, for a ``rate_input`` model
        (None: all sent, or the same prefix everywhere, as the per-frame length was).
        """
        if self.config.rate_input:
            s = torch.cat([s, torch.ones_like(s[:, :1]) if rate is None else rate], dim=1)  # (B, C + 1, h/2, w/2)
        h = self.dec_in_af(self.dec_in(s), snr_db)  # (B, W, h/2, w/2)
        h = self.dec_up(self.dec_mid(h, snr_db), snr_db)  # (B, W, h, w)
        return self.dec_out(h)


def load_latent_jscc_file(path: Path) -> LatentJSCC:
    """A :class:`LatentJSCC` from a file written by :func:`~shared.nets.weights_file.save_configured`, in eval mode."""
    config, state = read_configured(path, "latent JSCC", "semcom train lrisc --stage jscc")
    net = LatentJSCC(LatentJSCCConfig.from_dict(config))
    net.load_state_dict(state)
    return net.eval()


@lru_cache(maxsize=4)
def load_latent_jscc(name: str) -> LatentJSCC:
    """``shared/weights/<name>.safetensors``, loaded once per process."""
    return load_latent_jscc_file(WEIGHTS_DIR / f"{name}.safetensors")


@lru_cache(maxsize=4)
def latent_normalisation(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The (mean, std) per latent channel, each (1, L, 1, 1), that ``shared/weights/<name>`` was trained with
    (a hub codec's JSCC carries them in its metadata; z_n = (z - mean) / std)."""
    import json

    from safetensors import safe_open

    with safe_open(str(WEIGHTS_DIR / f"{name}.safetensors"), framework="pt") as f:
        meta = f.metadata() or {}
    if "latent_std" not in meta:
        raise ValueError(f"{name} carries no latent normalisation")
    mean = torch.tensor(json.loads(meta.get("latent_mean", "[]")) or [0.0] * len(json.loads(meta["latent_std"])))
    return mean.view(1, -1, 1, 1), torch.tensor(json.loads(meta["latent_std"])).view(1, -1, 1, 1)
