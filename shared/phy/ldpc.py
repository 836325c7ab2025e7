"""5G NR LDPC codes through Sionna (real encoding, belief-propagation decoding)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

MAX_K = 8448  # the largest 5G base-graph-1 code block


@lru_cache(maxsize=64)
def _encoder(k: int, n: int, bps: int):
    from sionna.phy.fec.ldpc import LDPC5GEncoder  # heavy import, paid once

    return LDPC5GEncoder(k, n, num_bits_per_symbol=bps)


@lru_cache(maxsize=64)
def _decoder(k: int, n: int, bps: int, num_iter: int):
    from sionna.phy.fec.ldpc import LDPC5GDecoder

    return LDPC5GDecoder(_encoder(k, n, bps), num_iter=num_iter, hard_out=True)


def base_graph(k: int, rate: float) -> int:
    """The 5G NR base graph (TS 38.212 5.3.2, as Sionna selects it) for ``k`` info bits at ``rate``."""
    return 2 if k <= 292 or (k <= 3824 and rate <= 0.67) or rate <= 0.25 else 1


def check_code(k: int, n: int) -> None:
    """Raise ValueError with a one-line reason unless (k, n) is a 5G NR LDPC code Sionna can build."""
    rate = k / n
    if not 1 / 5 <= rate <= 0.95:
        raise ValueError(f"code rate {rate:.3f} outside 5G NR's [1/5, 0.95]")
    bg = base_graph(k, rate)
    if bg == 1 and rate < 1 / 3:
        raise ValueError(f"code rate {rate:.3f} with ldpc_k={k} is not a 5G NR LDPC code: base graph 1 (k > 3824) "
                         "needs a rate of at least 1/3; lower ldpc_k to 3824 or less for rates down to 1/5")
    if bg == 2 and k > 3840:
        raise ValueError(f"ldpc_k={k} at code rate {rate:.3f} needs base graph 2, which takes k <= 3840")


def codeword_length(k: int, code_rate: float, bps: int) -> int:
    """n for a rate-``code_rate`` code of ``k`` info bits, rounded up to whole symbols."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"LDPC k={k} outside [1, {MAX_K}]")
    n = int(np.ceil(k / code_rate))
    n += (-n) % bps
    check_code(k, n)
    return n


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
