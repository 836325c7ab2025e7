"""ADJSCC-style SNR-adaptive deep JSCC: pixels <-> complex channel symbols.

A convolutional encoder maps an image to ``C`` feature maps at 1/16 of its
size; their real values, paired, are the complex channel symbols. The decoder
maps (noisy) symbols back to pixels. After every convolutional stage of both
sides an *AF module* (Xu et al., ADJSCC 2021) rescales the channels:

    gates = sigmoid(MLP([global_mean_pool(features) || snr_db]))   # (B, C)
    features = features * gates                                    # (B, C, H, W)

so one model serves every SNR. A 256x256 frame gives 16x16xC real values,
``C * 128`` complex symbols: CBR = C / 1536 (C = 32: 4,096 symbols, CBR 1/48).

Rate: the channels are importance-ordered by training with random truncation
(only the first ``k`` of ``C`` feature maps are sent, the rest are zero at the
decoder), so a prefix of the symbol sequence is a valid lower-rate code. The
supported ``k`` are :attr:`JSCCConfig.rates`.

Symbol layout: the first ``k`` feature maps, flattened channel-major
``(k, H/16, W/16)``, consecutive real pairs -> one complex symbol. Power is
normalised per frame to E|x|^2 = 1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from shared.nets.blocks import ResBlock
from shared.nets.weights_file import WEIGHTS_DIR, read_configured, save_configured

DOWNSAMPLE = 16  # four stride-2 stages
SNR_RANGE_DB = (0.0, 20.0)  # the AF modules' input range: the training range


@dataclass(frozen=True)
class JSCCConfig:
    """Architecture of :class:`DeepJSCC`."""

    channels: tuple[int, ...] = (24, 48, 96, 96)  # one stride-2 stage each: 16x down; 1.2 M params (< 5 MB), ~0.5 s/step (batch 8, 96x96) on 1 CPU thread
    latent_channels: int = 32  # C: 32x16x16 per 256x256 = 4,096 complex symbols, CBR 1/48
    rates: tuple[int, ...] = (8, 16, 24, 32)  # sendable channel counts k: CBR 1/192, 1/96, 1/64, 1/48
    af_hidden: int = 32  # AF MLP width: ADJSCC uses a small bottleneck

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "JSCCConfig":
        return cls(channels=tuple(d["channels"]), latent_channels=int(d["latent_channels"]),
                   rates=tuple(int(r) for r in d["rates"]), af_hidden=int(d["af_hidden"]))


def cbr_of(k: int) -> float:
    """Channel uses per pixel-channel when ``k`` feature maps are sent: k*(H/16)*(W/16)/2 / (3*H*W)."""
    return k / (2 * 3 * DOWNSAMPLE * DOWNSAMPLE)


def maps_for_cbr(cbr: float, rates: tuple[int, ...], scheme: str) -> int:
    """The sendable map count whose CBR is within 2% of ``cbr``; ValueError listing the options otherwise."""
    k = min(rates, key=lambda r: abs(cbr_of(r) - cbr))
    if abs(cbr_of(k) - cbr) > 0.02 * cbr_of(k):
        options = ", ".join(f"1/{1 / cbr_of(r):.0f} ({cbr_of(r):.5f})" for r in rates)
        raise ValueError(f"{scheme} supports cbr {options}")
    return k


def snr_from_noise_var(noise_var: torch.Tensor) -> torch.Tensor:
    """(B, N) per-symbol noise variances (unit signal power) -> (B, 1) SNR in dB for the AF modules.

    SNR = 10 log10(mean(1 / noise_var)), the average received SNR; it equals
    -10 log10(noise_var) when all are equal (AWGN, or one fade per frame), and
    is not dominated by one deep-faded block when there are several. Clipped
    to :data:`SNR_RANGE_DB`, the range the model was trained on.
    """
    snr = 10 * torch.log10(torch.clamp(noise_var, min=1e-10).reciprocal().mean(dim=1, keepdim=True))  # (B, 1)
    return snr.clamp(*SNR_RANGE_DB)


class AFModule(nn.Module):
    """Attention-feature module: (B, C, H, W), snr (B, 1) dB -> (B, C, H, W) channel-gated."""

    def __init__(self, c: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(c + 1, hidden), nn.ReLU(), nn.Linear(hidden, c), nn.Sigmoid())
        nn.init.constant_(self.mlp[2].bias, 2.0)  # gates start near 0.9: ten stacked gates do not shrink the signal

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        ctx = torch.cat([x.mean(dim=(2, 3)), snr_db / SNR_RANGE_DB[1]], dim=1)  # (B, C + 1)
        return x * self.mlp(ctx)[:, :, None, None]  # (B, C, H, W)


class Stage(nn.Module):
    """Down: 4x4 stride-2 conv -> GELU -> residual block -> AF.  Up: residual block -> 2x nearest -> 3x3 conv -> GELU -> AF."""

    def __init__(self, c_in: int, c_out: int, hidden: int, up: bool):
        super().__init__()
        if up:
            self.body = nn.Sequential(ResBlock(c_in), nn.Upsample(scale_factor=2, mode="nearest"),
                                      nn.Conv2d(c_in, c_out, 3, padding=1), nn.GELU())
        else:
            self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GELU(), ResBlock(c_out))
        self.af = AFModule(c_out, hidden)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        return self.af(self.body(x), snr_db)


class DeepJSCC(nn.Module):
    """Encoder (B, 3, H, W) in [0, 1] -> (B, C, H/16, W/16); decoder the mirror, both SNR-conditioned.

    Convolutions as in the embedded latent codec (stride-2 4x4 down, nearest + 3x3 up,
    GELU, one residual block per stage), no checkerboard artefacts; an AF module
    closes every stage.
    """

    def __init__(self, config: JSCCConfig = JSCCConfig()):
        super().__init__()
        self.config = config
        ch = config.channels
        ins = (3,) + ch[:-1]
        self.enc = nn.ModuleList(Stage(i, o, config.af_hidden, up=False) for i, o in zip(ins, ch))
        self.enc_out = nn.Conv2d(ch[-1], config.latent_channels, 3, padding=1)
        self.dec_in = nn.Sequential(nn.Conv2d(config.latent_channels, ch[-1], 3, padding=1), nn.GELU())
        self.dec_in_af = AFModule(ch[-1], config.af_hidden)
        outs = tuple(reversed(ch[:-1])) + (ch[0],)
        self.dec = nn.ModuleList(Stage(i, o, config.af_hidden, up=True) for i, o in zip(reversed(ch), outs))
        self.dec_out = nn.Conv2d(ch[0], 3, 3, padding=1)

    def encode(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1], snr (B, 1) dB -> features (B, C, H/16, W/16), not yet power-normalised."""
        h = x * 2 - 1
        for stage in self.enc:
            h = stage(h, snr_db)  # (B, c, H/2^i, W/2^i)
        return self.enc_out(h)

    def decode(self, z: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) received features, snr (B, 1) dB -> (B, 3, 16h, 16w), about [0, 1], unclamped (clamp to show)."""
        h = self.dec_in_af(self.dec_in(z), snr_db)  # (B, c, h, w)
        for stage in self.dec:
            h = stage(h, snr_db)  # (B, c, 2h, 2w) each
        return self.dec_out(h) * 0.5 + 0.5


def to_symbols(z: torch.Tensor, k: int) -> torch.Tensor:
    """(B, C, h, w) features -> (B, k*h*w/2) complex symbols of the first ``k`` maps, E|x|^2 = 1 per frame."""
    b = z.shape[0]
    pairs = z[:, :k].reshape(b, -1, 2)  # (B, k*h*w/2, 2)
    x = torch.complex(pairs[..., 0], pairs[..., 1])  # (B, N)
    power = x.abs().pow(2).mean(dim=1, keepdim=True)  # (B, 1)
    return x / torch.sqrt(power + 1e-12)


def from_symbols(x: torch.Tensor, c: int, h: int, w: int) -> torch.Tensor:
    """(B, k*h*w/2) complex -> (B, c, h, w) features; maps k..c-1 that were not sent are zero."""
    b = x.shape[0]
    k = 2 * x.shape[1] // (h * w)
    z = torch.stack([x.real, x.imag], dim=-1).reshape(b, k, h, w)  # (B, k, h, w)
    if k < c:
        z = torch.cat([z, z.new_zeros(b, c - k, h, w)], dim=1)  # (B, c, h, w)
    return z


def mmse_scale(x_hat: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    """ZF-equalised symbols -> linear MMSE estimates: x_hat / (1 + noise_var) (unit signal power), shapes (B, N)."""
    return x_hat / (1 + noise_var)


def save_jscc(net: DeepJSCC, path: Path, metadata: dict[str, str]) -> None:
    """Write weights + architecture (``config`` metadata) as safetensors, world-readable."""
    save_configured(net, path, metadata)


def load_jscc_file(path: Path) -> DeepJSCC:
    """Build a :class:`DeepJSCC` from a safetensors file written by :func:`save_jscc`, in eval mode."""
    config, state = read_configured(path, "DeepJSCC", "semcom train jscc")
    net = DeepJSCC(JSCCConfig.from_dict(config))
    net.load_state_dict(state)
    return net.eval()


@lru_cache(maxsize=4)
def load_jscc(name: str) -> DeepJSCC:
    """``shared/weights/<name>.safetensors``, loaded once per process."""
    return load_jscc_file(WEIGHTS_DIR / f"{name}.safetensors")


def psnr_db(mse: float) -> float:
    """PSNR for images in [0, 1]."""
    return 10 * math.log10(1 / max(mse, 1e-10))
