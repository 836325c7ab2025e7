"""5G NR LDPC codes through Sionna (real encoding, belief-propagation decoding)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

MAX_K = 8448  # the largest 5G base-graph-1 code block


@lru_cache(maxsize=16)
def _encoder(k: int, n: int, bps: int):
    from sionna.phy.fec.ldpc import LDPC5GEncoder  # heavy import, paid once

    return LDPC5GEncoder(k, n, num_bits_per_symbol=bps)


@lru_cache(maxsize=16)
def _decoder(k: int, n: int, bps: int, num_iter: int):
    from sionna.phy.fec.ldpc import LDPC5GDecoder

    return LDPC5GDecoder(_encoder(k, n, bps), num_iter=num_iter, hard_out=True)


def codeword_length(k: int, code_rate: float, bps: int) -> int:
    """n for a rate-``code_rate`` code of ``k`` info bits, rounded up to whole symbols."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"LDPC k={k} outside [1, {MAX_K}]")
    if not 0.1 <= code_rate <= 0.95:
        raise ValueError(f"code rate {code_rate} outside [0.1, 0.95]")
    n = int(np.ceil(k / code_rate))
    return n + (-n) % bps


def encode(info: np.ndarray, k: int, n: int, bps: int) -> np.ndarray:
    """info bits (B, k) of 0/1 -> codeword bits (B, n) uint8."""
    with torch.no_grad():
        c = _encoder(k, n, bps)(torch.from_numpy(info.astype(np.float32)))  # (B, n)
    return c.numpy().astype(np.uint8)


def decode(llr: np.ndarray, k: int, n: int, bps: int, num_iter: int) -> np.ndarray:
    """LLRs (B, n) -> hard info bits (B, k) uint8, after ``num_iter`` BP iterations."""
    with torch.no_grad():
        bits = _decoder(k, n, bps, num_iter)(torch.from_numpy(np.ascontiguousarray(llr, np.float32)))  # (B, k)
    return bits.numpy().astype(np.uint8)
