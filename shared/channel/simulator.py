"""The channel of one stream: draw a realisation per frame, then apply it.

Generating the channel (:meth:`ChannelSimulator.realize`) is kept apart from
applying it (:func:`apply_channel`), as in Sionna. Every draw comes from a
generator seeded by ``(seed, seq)``, so frame ``seq`` sees the same channel in
every run, whatever happened to the frames before it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.channel.awgn import add_noise, snr_db_to_n0
from shared.channel.fading import draw_gains, estimate_csi
from shared.channel.snr import SnrSchedule
from shared.config import ChannelConfig
from shared.protocol import ChannelState


@dataclass(frozen=True)
class Realization:
    """Everything random about one frame's trip through the channel."""

    snr_db: float
    n0: float
    block_len: int
    gains: np.ndarray  # (n_blocks,) complex, the true h
    csi: np.ndarray  # (n_blocks,) complex, the receiver's estimate of h
    erased: bool
    delay_s: float  # propagation delay plus jitter; air time is added by the proxy's link scheduler
    noise_rng: np.random.Generator

    def state(self, model: str) -> ChannelState:
        """The part of the realisation that the receiver is told (the header's CSI)."""
        return ChannelState.with_csi(self.csi, model=model, snr_db=self.snr_db, n0=self.n0, block_len=self.block_len)


class ChannelSimulator:
    def __init__(self, config: ChannelConfig):
        self.config = config
        self.snr = SnrSchedule(config.snr_schedule, config.snr_db, config.seed)

    def realize(self, seq: int, n_symbols: int) -> Realization:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, seq])
        snr_db = self.snr(seq)
        block_len = cfg.block_len if cfg.block_len > 0 else max(n_symbols, 1)
        n_blocks = max(1, -(-n_symbols // block_len))  # ceil
        gains = draw_gains(cfg.model, n_blocks, rng, cfg.rician_k)
        csi = estimate_csi(gains, cfg.csi_error_var, rng)
        erased = bool(rng.random() < cfg.erasure)
        jitter = rng.uniform(-cfg.jitter_ms, cfg.jitter_ms) if cfg.jitter_ms > 0 else 0.0
        delay_s = max(0.0, cfg.delay_ms + jitter) / 1000.0
        return Realization(
            snr_db=snr_db,
            n0=snr_db_to_n0(snr_db),
            block_len=block_len,
            gains=gains,
            csi=csi,
            erased=erased,
            delay_s=delay_s,
            noise_rng=rng,
        )

    def airtime_s(self, n_symbols: int) -> float:
        """Seconds that ``n_symbols`` occupy the link at the configured symbol rate."""
        return n_symbols / self.config.symbol_rate if self.config.symbol_rate > 0 else 0.0


def expand_blocks(per_block: np.ndarray, block_len: int, n_symbols: int) -> np.ndarray:
    """Repeat one value per coherence block to one per symbol: (n_blocks,) -> (n_symbols,).
    Memory is O(n_symbols) whatever ``block_len`` says; ValueError if the blocks do not cover the frame."""
    block = np.arange(n_symbols) // block_len  # (n_symbols,) the block each symbol falls in
    if block.size and block[-1] >= per_block.size:
        raise ValueError(f"CSI for {per_block.size} blocks of {block_len} symbols; the frame has {n_symbols}")
    return per_block[block]


def apply_channel(payloads: list[np.ndarray], real: Realization) -> list[np.ndarray]:
    """y = h x + n on the concatenation of all payloads, split back per payload.

    Coherence blocks run across payload boundaries: the frame is one burst on air.
    """
    sizes = [p.size for p in payloads]
    x = np.concatenate(payloads) if payloads else np.zeros(0, np.complex64)  # (N,)
    h = expand_blocks(real.gains, real.block_len, x.size)  # (N,)
    y = add_noise(h * x, real.n0, real.noise_rng)  # (N,)
    return np.split(y, np.cumsum(sizes)[:-1]) if sizes else []
