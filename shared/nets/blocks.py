"""Convolutional building blocks shared by the embedded codec and the JSCC networks."""
from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    """x + conv(gelu(conv(x))), shape-preserving (B, C, H, W)."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.GELU(), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
