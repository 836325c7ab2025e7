"""Rate measures: channel bandwidth ratio for analog (JSCC) links and bits per pixel for digital ones.

Arguments may be Python numbers or tensors of per-image counts (B,); the result has the same form.
"""

from __future__ import annotations

import torch


def _check_size(height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")


def cbr(n_complex_symbols: float | torch.Tensor, height: int, width: int) -> float | torch.Tensor:
    """Channel bandwidth ratio: complex channel symbols / (H * W * 3) source values (as in DeepJSCC)."""
    _check_size(height, width)
    return n_complex_symbols / (height * width * 3)


def bpp(n_bits: float | torch.Tensor, height: int, width: int) -> float | torch.Tensor:
    """Bits per pixel: payload bits / (H * W)."""
    _check_size(height, width)
    return n_bits / (height * width)
