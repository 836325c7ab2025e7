"""Additive white Gaussian noise and the dB conversions around it.

As in Sionna, the channel takes the noise variance ``n0`` per complex symbol;
SNR in dB is converted outside (``snr_db_to_n0``). For unit-power symbols
SNR = 1/n0.
"""
from __future__ import annotations

import numpy as np

from shared.channel.fading import complex_normal


def snr_db_to_n0(snr_db: float) -> float:
    """Noise variance per complex symbol for unit-power symbols at ``snr_db``."""
    return float(10.0 ** (-snr_db / 10.0))


def add_noise(x: np.ndarray, n0: float, rng: np.random.Generator) -> np.ndarray:
    """y = x + n, n ~ CN(0, n0) i.i.d.; ``x`` is 1-D complex, result complex64 of the same shape."""
    if n0 < 0:
        raise ValueError(f"noise variance must be >= 0, got {n0}")
    return (x + complex_normal(rng, x.size, n0)).astype(np.complex64)
