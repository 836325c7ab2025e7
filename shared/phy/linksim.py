"""Link-level simulation against theory: uncoded BER and coded BLER.

These run the project's own chain (QAM -> channel simulator -> equalisation ->
soft demapping -> LDPC), so the tests and the physics benchmark check exactly
what the services use.
"""
from __future__ import annotations

import math

import numpy as np

from shared.channel.simulator import ChannelSimulator, apply_channel
from shared.config import ChannelConfig
from shared.phy import ldpc, qam
from shared.phy.equalize import equalize
from shared.phy.link import LinkConfig


def qfunc(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def qpsk_ber_awgn(snr_db: float) -> float:
    """Gray QPSK on AWGN: Pb = Q(sqrt(SNR)), SNR = Es/N0 per complex symbol."""
    return qfunc(math.sqrt(10 ** (snr_db / 10)))


def qpsk_ber_rayleigh(snr_db: float) -> float:
    """Gray QPSK on Rayleigh fading with coherent detection: Pb = (1 - sqrt(g / (1 + g))) / 2, g = SNR/2."""
    g = 10 ** (snr_db / 10) / 2
    return 0.5 * (1 - math.sqrt(g / (1 + g)))


def _through_channel(x: np.ndarray, model: str, snr_db: float, seed: int, block_len: int):
    cfg = ChannelConfig(model=model, snr_db=snr_db, seed=seed, block_len=block_len)
    sim = ChannelSimulator(cfg)
    real = sim.realize(0, x.size)
    (y,) = apply_channel([x], real)
    return equalize(y, real.state(model))


def uncoded_ber(modulation: str, model: str, snr_db: float, n_bits: int, seed: int = 0) -> float:
    """Bit error rate of hard decisions; fading is drawn per symbol (block_len = 1), so
    ``n_bits`` samples the fading distribution, as the closed forms assume."""
    bps = qam.bits_per_symbol(modulation)
    n_bits -= n_bits % bps
    bits = np.random.default_rng([seed, 1]).integers(0, 2, n_bits, dtype=np.uint8)  # (n_bits,)
    x_hat, noise_var = _through_channel(qam.modulate(bits, bps), model, snr_db, seed, block_len=1)
    decided = (qam.demodulate(x_hat, noise_var, bps) > 0).astype(np.uint8)  # (n_bits,)
    return float(np.mean(decided != bits))


def coded_bler(link: LinkConfig, model: str, snr_db: float, n_blocks: int, seed: int = 0) -> float:
    """Block error rate of the LDPC code: each code block sees its own fade (block_len = one codeword)."""
    k, n, bps = link.ldpc_k, link.n, link.bps
    info = np.random.default_rng([seed, 2]).integers(0, 2, (n_blocks, k), dtype=np.uint8)  # (B, k)
    x = qam.modulate(ldpc.encode(info, k, n, bps).reshape(-1), bps)  # (B * n / bps,)
    x_hat, noise_var = _through_channel(x, model, snr_db, seed, block_len=link.symbols_per_block())
    llr = qam.demodulate(x_hat, noise_var, bps).reshape(n_blocks, n)  # (B, n)
    decoded = ldpc.decode(llr, k, n, bps, link.ldpc_iters)  # (B, k)
    return float(np.mean(np.any(decoded != info, axis=1)))


def bler_threshold_db(link: LinkConfig, lo: float = -5.0, hi: float = 30.0, n_blocks: int = 64,
                      iterations: int = 7, seed: int = 0) -> float:
    """The AWGN SNR (dB) where the code's BLER crosses 50%, by bisection."""
    for i in range(iterations):
        mid = (lo + hi) / 2
        if coded_bler(link, "awgn", mid, n_blocks, seed + i) > 0.5:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
