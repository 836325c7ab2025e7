"""Zero-forcing equalisation with the CSI the receiver was given."""
from __future__ import annotations

import numpy as np

from shared.channel.simulator import expand_blocks
from shared.protocol import ChannelState

MIN_GAIN_POWER = 1e-12  # a deep fade: keep the division finite; the noise variance says "unreliable"


def equalize(y: np.ndarray, state: ChannelState) -> tuple[np.ndarray, np.ndarray]:
    """x_hat = y / h_hat per symbol, with the effective noise variance n0 / |h_hat|^2.

    ``y``: (N,) complex received symbols (all payloads concatenated).
    Returns ``(x_hat, noise_var)``, both (N,): complex64 and float32.
    """
    h = expand_blocks(state.csi.astype(np.complex128), state.block_len, y.size)  # (N,)
    if h.size != y.size:
        raise ValueError(f"CSI covers {h.size} symbols, frame has {y.size}")
    power = np.maximum(np.abs(h) ** 2, MIN_GAIN_POWER)  # (N,)
    with np.errstate(over="ignore", invalid="ignore"):  # a forged huge symbol over a deep fade: beyond complex64
        x_hat = (y * np.conj(h) / power).astype(np.complex64)
        noise_var = (state.n0 / power).astype(np.float32)
    lost = ~(np.isfinite(x_hat) & np.isfinite(noise_var))  # (N,)
    if lost.any():  # such a symbol carries nothing: an erasure (zero, with the largest noise variance)
        x_hat[lost] = 0
        noise_var[lost] = np.finfo(np.float32).max
    return x_hat, noise_var
