"""Embedded latent codec: a small convolutional autoencoder trained by the project.

256x256x3 -> 8x32x32 (f = 8, like the SD VAE's spatial factor), so a 256x256
frame becomes 8,192 real latent values, 1/24 of its 196,608 pixel values.
Trained by :mod:`shared.training.latent`; weights and model card live in
``shared/weights/latent_conv_ae.*``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from shared.cli import UsageError
from shared.nets.blocks import ResBlock
from shared.roles import LatentCodec


class WeightsFileMissing(UsageError):
    """An embedded weights file that is not where the registry says (one line, exit 2)."""


@dataclass(frozen=True)
class ConvAEConfig:
    """Architecture of :class:`ConvAutoencoder`."""

    channels: tuple[int, ...] = (24, 48, 96)  # one stage per 2x down; ~0.5 s/step (batch 8, 96x96) on 1 CPU thread
    latent_channels: int = 8  # 8x32x32 per 256x256 frame: ~1/24 of the pixel values
    res_blocks: int = 1  # residual blocks per stage: depth for texture at little cost

    @property
    def downsample(self) -> int:
        return 2 ** len(self.channels)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ConvAEConfig":
        return cls(channels=tuple(d["channels"]), latent_channels=int(d["latent_channels"]), res_blocks=int(d["res_blocks"]))


class ConvAutoencoder(nn.Module):
    """Encoder: (B, 3, H, W) -> (B, C_lat, H/f, W/f); decoder: the mirror image.

    Down-sampling uses stride-2 4x4 convolutions; up-sampling uses nearest
    neighbour followed by a 3x3 convolution (no checkerboard artefacts).
    """

    def __init__(self, config: ConvAEConfig = ConvAEConfig()):
        super().__init__()
        self.config = config
        enc: list[nn.Module] = []
        c_in = 3
        for c in config.channels:
            enc += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.GELU()]
            enc += [ResBlock(c) for _ in range(config.res_blocks)]
            c_in = c
        enc += [nn.Conv2d(c_in, config.latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv2d(config.latent_channels, c_in, 3, padding=1), nn.GELU()]
        for c in reversed(config.channels):
            dec += [ResBlock(c_in) for _ in range(config.res_blocks)]
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c, 3, padding=1), nn.GELU()]
            c_in = c
        dec += [nn.Conv2d(c_in, 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> (reconstruction (B, 3, H, W) unclamped, latent (B, C, H/f, W/f))."""
        z = self.encoder(x * 2.0 - 1.0)
        return self.decoder(z) * 0.5 + 0.5, z


def save_conv_ae(net: ConvAutoencoder, path: Path, latent_std: torch.Tensor) -> None:
    """Weights + architecture + per-channel latent std (C,) as safetensors, the format :meth:`EmbeddedLatentCodec.load` reads."""
    import json

    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, path, metadata={"config": json.dumps(net.config.to_dict()),
                                     "latent_std": json.dumps([round(float(s), 5) for s in latent_std])})
    path.chmod(0o644)


class EmbeddedLatentCodec(LatentCodec):
    """:class:`LatentCodec` around a trained :class:`ConvAutoencoder`."""

    def __init__(self, net: ConvAutoencoder):
        self.net = net.eval()
        self.downsample = net.config.downsample
        self.latent_channels = net.config.latent_channels

    @classmethod
    def load(cls, name: str, config: ConvAEConfig | None, source: str | None) -> "EmbeddedLatentCodec":
        """Load a safetensors file whose metadata holds the architecture (``config``)."""
        import json
        from pathlib import Path

        from safetensors import safe_open
        from safetensors.torch import load_file

        if source is None or not Path(source).is_file():
            raise WeightsFileMissing(
                f"model '{name}' needs its embedded weights file {source}, which is missing; reinstall semcom, "
                f"or train and export it (its model card, the .md beside it, gives the command)")
        with safe_open(source, framework="pt") as f:
            meta = f.metadata() or {}
        if config is None:
            if "config" not in meta:
                raise WeightsFileMissing(f"{source} has no 'config' metadata; export it with shared.training.latent --export")
            config = ConvAEConfig.from_dict(json.loads(meta["config"]))
        codec = cls.from_state_dict(config, load_file(source))
        if "latent_std" in meta:
            codec.latent_std = torch.tensor(json.loads(meta["latent_std"]))  # (C,)
        return codec

    @classmethod
    def from_state_dict(cls, config: ConvAEConfig, state: dict[str, torch.Tensor]) -> "EmbeddedLatentCodec":
        net = ConvAutoencoder(config)
        net.load_state_dict(state)
        return cls(net)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @torch.no_grad()
    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.encoder(x * 2.0 - 1.0)  # (B, C, H/f, W/f)

    @torch.no_grad()
    def decode_tensor(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net.decoder(z) * 0.5 + 0.5).clamp(0, 1)  # (B, 3, h*f, w*f)
