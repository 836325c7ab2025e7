"""Hub latent codec: TAEF2, the tiny autoencoder of the FLUX.2 VAE latent space (madebyollin/taesd, MIT).

Our own implementation of the published architecture, loading the upstream files
``taef2_encoder.pth`` / ``taef2_decoder.pth`` (plain state dicts) after checking each against
the SHA-256 pinned in the registry, with ``torch.load(weights_only=True)``:

    encoder: conv(3->64), Block, 3 x [conv stride 2 (no bias), 3 Blocks], conv(64->32)
    decoder: 3 tanh(x / 3), conv(32->64), ReLU, 3 x [3 Blocks, nearest x2, conv (no bias)], Block, conv(64->3)

A Block is x -> relu(conv3(relu(conv2(relu(conv1(x))))) + x); in the deepest (1/8) stage
of both sides each Block first adds a pooled branch, x + (1x1 conv to 4C -> GroupNorm(4)
-> ReLU -> 1x1 conv back)(x). A 256x256 frame gives a 32x32x32 latent (32,768 real values,
1/6 of the pixel values); images in [0, 1], decoder output in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from shared.hub import resolve, verified
from shared.roles import LatentCodec

ENCODER_FILE = "taef2_encoder.pth"
DECODER_FILE = "taef2_decoder.pth"
WIDTH = 64  # channels of every hidden layer, upstream
LATENT_CHANNELS = 32  # FLUX.2's latent channels


@dataclass(frozen=True)
class Taef2Config:
    """The registry row's config: the pinned hashes and the upstream the files come from."""

    encoder_sha256: str
    decoder_sha256: str
    upstream: str  # base URL of the pinned commit: upstream + "/" + file name downloads a file
    width: int = WIDTH  # tests build tiny random weights of the same layout with a smaller width

    def files(self) -> dict[str, str]:
        """File name -> pinned SHA-256."""
        return {ENCODER_FILE: self.encoder_sha256, DECODER_FILE: self.decoder_sha256}


def conv(c_in: int, c_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, **kwargs)


class Block(nn.Module):
    """(B, C, H, W) -> (B, C, H, W): three 3x3 convs with a skip; ``pooled`` adds the 1x1 context branch first."""

    def __init__(self, c: int, pooled: bool = False):
        super().__init__()
        self.conv = nn.Sequential(conv(c, c), nn.ReLU(), conv(c, c), nn.ReLU(), conv(c, c))
        self.pool = nn.Sequential(nn.Conv2d(c, 4 * c, 1, bias=False), nn.GroupNorm(4, 4 * c), nn.ReLU(),
                                  nn.Conv2d(4 * c, c, 1, bias=False)) if pooled else None
        self.fuse = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + x)


class Clamp(nn.Module):
    """Soft clamp of the latent to (-3, 3): 3 tanh(x / 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


def taef2_encoder(width: int = WIDTH) -> nn.Sequential:
    """(B, 3, H, W) in [0, 1] -> (B, 32, H/8, W/8); module indices match the upstream state dict."""
    layers: list[nn.Module] = [conv(3, width), Block(width)]
    for stage in range(3):
        layers += [conv(width, width, stride=2, bias=False)] + [Block(width, pooled=stage == 2) for _ in range(3)]
    return nn.Sequential(*layers, conv(width, LATENT_CHANNELS))


def taef2_decoder(width: int = WIDTH) -> nn.Sequential:
    """(B, 32, h, w) -> (B, 3, 8h, 8w), about [0, 1]; module indices match the upstream state dict."""
    layers: list[nn.Module] = [Clamp(), conv(LATENT_CHANNELS, width), nn.ReLU()]
    for stage in range(3):
        layers += [Block(width, pooled=stage == 0) for _ in range(3)]
        layers += [nn.Upsample(scale_factor=2), conv(width, width, bias=False)]
    return nn.Sequential(*layers, Block(width), conv(width, 3))


class Taef2Net(nn.Module):
    """``encoder`` and ``decoder`` side by side, the shape the schemes' latent helpers expect."""

    def __init__(self, width: int = WIDTH):
        super().__init__()
        self.encoder = taef2_encoder(width)
        self.decoder = taef2_decoder(width)


class Taef2LatentCodec(LatentCodec):
    """:class:`LatentCodec` over TAEF2: f = 8, 32 latent channels."""

    downsample = 8
    latent_channels = LATENT_CHANNELS
    hub_marker = ENCODER_FILE  # the file that says a folder holds TAEF2

    def __init__(self, net: Taef2Net):
        self.net = net.eval().requires_grad_(False)
        self.latent_std = torch.ones(LATENT_CHANNELS)  # (C,) replaced by the measured std where the registry has it

    @classmethod
    def load(cls, name: str, config: Taef2Config, source: str | None) -> "Taef2LatentCodec":
        """``source``: a hub id (``madebyollin/taef2``) or a folder holding both files."""
        folder = resolve(name, source or "", marker=ENCODER_FILE)
        net = Taef2Net(config.width)
        paths = [verified(name, Path(folder) / file, digest) for file, digest in config.files().items()]  # both, before any load
        for part, path in zip((net.encoder, net.decoder), paths):
            part.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return cls(net)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @torch.no_grad()
    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.encoder(x)  # (B, 32, H/8, W/8)

    @torch.no_grad()
    def decode_tensor(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decoder(z).clamp(0, 1)  # (B, 3, 8h, 8w)


@lru_cache(maxsize=2)
def hub_codec(device: str) -> Taef2LatentCodec:
    """The registry's TAEF2 latent codec (pinned hashes checked), on ``device``, loaded once per process."""
    from shared.registry.table import load_model  # the table imports every backend: only when asked

    codec = load_model("taef2", role="latent_codec")
    codec.net.to(device)
    return codec
