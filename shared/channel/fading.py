"""Flat block-fading gains: one complex gain per coherence block.

Shapes: every function returns ``(n_blocks,)`` complex128 gains with
E|h|^2 = 1, so the average received SNR equals the configured SNR.
"""
from __future__ import annotations

import numpy as np

MODELS = ("awgn", "rayleigh", "rician")


def complex_normal(rng: np.random.Generator, n: int, var: float = 1.0) -> np.ndarray:
    """``n`` draws of CN(0, var): independent real and imaginary parts of variance var/2."""
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.sqrt(var / 2.0)


def draw_gains(model: str, n_blocks: int, rng: np.random.Generator, rician_k: float = 3.0) -> np.ndarray:
    """Gains of ``n_blocks`` coherence blocks, shape ``(n_blocks,)``.

    * ``awgn``: h = 1.
    * ``rayleigh``: h ~ CN(0, 1).
    * ``rician``: h = sqrt(K/(K+1)) + sqrt(1/(K+1)) * CN(0, 1); a line-of-sight
      path of phase 0 plus scatter, K the power ratio of the two.
    """
    if model == "awgn":
        return np.ones(n_blocks, dtype=np.complex128)
    if model == "rayleigh":
        return complex_normal(rng, n_blocks)
    if model == "rician":
        if rician_k < 0:
            raise ValueError(f"Rician K must be >= 0, got {rician_k}")
        los = np.sqrt(rician_k / (rician_k + 1.0))
        return los + complex_normal(rng, n_blocks, 1.0 / (rician_k + 1.0))
    raise ValueError(f"unknown channel model {model!r}; choose one of {', '.join(MODELS)}")


def estimate_csi(gains: np.ndarray, error_var: float, rng: np.random.Generator) -> np.ndarray:
    """The receiver's estimate of ``gains``: h + e with e ~ CN(0, error_var) (0: perfect CSI)."""
    if error_var < 0:
        raise ValueError(f"CSI error variance must be >= 0, got {error_var}")
    if error_var == 0:
        return gains.copy()
    return gains + complex_normal(rng, gains.size, error_var)
