"""Gray-mapped QAM through Sionna: bits -> unit-power symbols -> LLRs."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

MODULATIONS = {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}  # name -> bits per symbol


def bits_per_symbol(modulation: str) -> int:
    try:
        return MODULATIONS[modulation]
    except KeyError:
        raise ValueError(f"unknown modulation {modulation!r}; choose one of {', '.join(MODULATIONS)}") from None


@lru_cache(maxsize=None)
def _blocks(bps: int):
    from sionna.phy.mapping import Demapper, Mapper  # heavy import, paid once

    kind = "pam" if bps == 1 else "qam"
    return Mapper(kind, bps), Demapper("app", kind, bps)


def modulate(bits: np.ndarray, bps: int) -> np.ndarray:
    """bits (N,) of 0/1, N a multiple of ``bps`` -> symbols (N / bps,) complex64, E|x|^2 = 1."""
    if bits.size % bps:
        raise ValueError(f"{bits.size} bits do not fill {bps}-bit symbols")
    mapper, _ = _blocks(bps)
    with torch.no_grad():
        x = mapper(torch.from_numpy(bits.astype(np.float32)).reshape(1, -1))  # (1, N/bps)
    return x.reshape(-1).numpy().astype(np.complex64)


def demodulate(x_hat: np.ndarray, noise_var: np.ndarray, bps: int) -> np.ndarray:
    """Soft demapping: equalised symbols (M,) and their noise variances (M,) -> LLRs (M * bps,).

    LLR > 0 means bit 1 is more likely (Sionna's convention, which its LDPC decoder shares).
    """
    _, demapper = _blocks(bps)
    with torch.no_grad():
        y = torch.from_numpy(np.ascontiguousarray(x_hat, np.complex64)).reshape(1, -1)  # (1, M)
        no = torch.from_numpy(np.ascontiguousarray(noise_var, np.float32)).reshape(1, -1)  # (1, M)
        llr = demapper(y, no)  # (1, M * bps)
    return llr.reshape(-1).numpy()
