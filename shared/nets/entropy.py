"""An entropy model over the normalised latent: a scale hyperprior (Balle et al. 2018), as NTSCC uses it.

    y = h_a(z_n)                      (B, N, h/4, w/4)  side latent, factorised zero-mean Gaussian prior
    (mu, sigma) = h_s(round(y))       (B, L, h, w) each: a Gaussian per latent value
    bits(z_i) = -log2 P(z_i | y),  P = Phi((z + q/2 - mu) / sigma) - Phi((z - q/2 - mu) / sigma)

with uniform noise in place of rounding while training. ``step`` (q) is the quantisation step at
which the information is measured, in units of the latent's standard deviation. The bits per
latent value say how much each region of a frame holds: LRISC / NTSCC give each block of the
symbol grid channel uses in proportion (:func:`allocate`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from shared.nets.block_lengths import block_slices
from shared.nets.weights_file import WEIGHTS_DIR, read_configured

LIKELIHOOD_FLOOR = 1e-9  # probabilities are clamped here: at most ~30 bits per value


@dataclass(frozen=True)
class EntropyConfig:
    latent_channels: int = 32  # TAEF2's
    hidden: int = 96  # h_a / h_s width: small next to the JSCC, trained in minutes on the latent cache
    side_channels: int = 32  # N: channels of the side latent y at 1/4 of the latent grid
    step: float = 0.5  # q in latent std units: coarse enough that flat regions cost ~0 bits

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EntropyConfig":
        return cls(**d)


def gaussian_bits(x: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, step: float) -> torch.Tensor:
    """-log2 of the probability mass of [x - step/2, x + step/2] under N(mu, sigma^2), elementwise."""
    normal = torch.distributions.Normal(mu, sigma.clamp(min=1e-3))
    p = normal.cdf(x + step / 2) - normal.cdf(x - step / 2)
    return -torch.log2(p.clamp(min=LIKELIHOOD_FLOOR))


class Hyperprior(nn.Module):
    """z_n (B, L, h, w), h and w multiples of 4 -> bits per latent value (B, L, h, w) and per side value."""

    def __init__(self, config: EntropyConfig = EntropyConfig()):
        super().__init__()
        self.config = config
        c, hid, n = config.latent_channels, config.hidden, config.side_channels
        self.h_a = nn.Sequential(nn.Conv2d(c, hid, 3, padding=1), nn.ReLU(), nn.Conv2d(hid, hid, 4, stride=2, padding=1),
                                 nn.ReLU(), nn.Conv2d(hid, n, 4, stride=2, padding=1))
        self.h_s = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(n, hid, 3, padding=1), nn.ReLU(),
                                 nn.Upsample(scale_factor=2), nn.Conv2d(hid, hid, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hid, 2 * c, 3, padding=1))
        self.side_log_scale = nn.Parameter(torch.zeros(n))  # the factorised prior of y: N(0, exp(s)^2) per channel

    def forward(self, z_n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (bits of z_n (B, L, h, w), bits of y (B, N, h/4, w/4)); noisy rounding in training, rounding otherwise."""
        q = self.config.step
        y = self.h_a(z_n)
        y_q = y + torch.empty_like(y).uniform_(-0.5, 0.5) if self.training else torch.round(y)
        side_sigma = self.side_log_scale.exp().view(1, -1, 1, 1).expand_as(y_q)
        side_bits = gaussian_bits(y_q, torch.zeros_like(y_q), side_sigma, 1.0)
        mu, log_sigma = self.h_s(y_q).chunk(2, dim=1)  # (B, L, h, w) each
        z_q = z_n + torch.empty_like(z_n).uniform_(-q / 2, q / 2) if self.training else mu + q * torch.round((z_n - mu) / q)
        return gaussian_bits(z_q, mu, log_sigma.exp(), q), side_bits


def block_bits(bits: torch.Tensor, latent_per_cell: int, block: int) -> np.ndarray:
    """(L, h, w) bits per latent value -> (hb, wb) bits per symbol-grid block (``latent_per_cell`` latent cells a side per grid cell)."""
    per_cell = torch.nn.functional.avg_pool2d(bits.sum(0, keepdim=True)[None], latent_per_cell)[0, 0] * latent_per_cell ** 2
    gh, gw = per_cell.shape
    rows, cols = -(-gh // block), -(-gw // block)
    out = np.zeros((rows, cols))
    for i, (rs, cs) in enumerate(block_slices(gh, gw, block)):
        out[i // cols, i % cols] = float(per_cell[rs, cs].sum())
    return out


def allocate(bits: np.ndarray, cells: np.ndarray, rates: tuple[int, ...], budget_values: int) -> np.ndarray:
    """Maps per block, content-adaptive: k_b = the smallest rate >= beta * bits_b / cells_b, beta the largest that fits.

    Args:
        bits: (hb, wb) information per block; cells: (hb, wb) symbol-grid cells per block.
        rates: the sendable prefixes, ascending; budget_values: at most this many real values in all.
    Returns:
        (hb, wb) int lengths with sum(k * cells) <= budget_values (all at the smallest rate if even that does not fit).
    """
    r = np.asarray(rates)
    density = bits / np.maximum(cells, 1)  # bits per cell

    def lengths(beta: float) -> np.ndarray:
        want = beta * density
        idx = np.searchsorted(r, want, side="left").clip(0, len(r) - 1)
        return r[idx]

    lo, hi = 0.0, 1.0
    while (lengths(hi) * cells).sum() <= budget_values and hi < 1e9:
        hi *= 2
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (lengths(mid) * cells).sum() <= budget_values else (lo, mid)
    return lengths(lo)


def entropy_loss(model: Hyperprior, z_n: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Mean bits per latent value (z and side), the rate to minimise."""
    z_bits, side_bits = model(z_n)
    total = (z_bits.sum() + side_bits.sum()) / z_n.numel()
    with torch.no_grad():
        terms = {"bits_z": float(z_bits.mean()), "bits_side": float(side_bits.sum() / z_n.numel()), "nats": float(total) * math.log(2)}
    return total, terms


@lru_cache(maxsize=2)
def load_entropy(name: str) -> Hyperprior:
    """``shared/weights/<name>.safetensors``, in eval mode, loaded once per process."""
    config, state = read_configured(WEIGHTS_DIR / f"{name}.safetensors", "entropy model", "semcom train lrisc-taef2 --stage entropy")
    model = Hyperprior(EntropyConfig.from_dict(config))
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)
