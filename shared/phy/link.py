"""The digital PHY chain: bytes -> CRC -> 5G LDPC -> QAM -> symbols, and back.

A transport block is ``length (4 bytes) | data | CRC-32 (4 bytes)``, split into
LDPC code blocks of ``k`` bits (the last one zero-padded). The receiver
equalises, soft-demaps, decodes every block and checks the CRC; a failed CRC
loses the whole transport block, which is what makes the cliff.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.phy import ldpc, qam

TB_OVERHEAD_BYTES = 8  # 4-byte length + 4-byte CRC-32


class LinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    modulation: str = "16qam"  # 4 bits/symbol: a common 5G MCS at 10-15 dB
    code_rate: float = Field(default=0.5, ge=0.2, le=0.95)  # threshold near 7 dB on AWGN with 16-QAM; 5G NR spans [1/5, 0.95]
    ldpc_k: int = Field(default=4096, ge=64, le=ldpc.MAX_K)  # long blocks: a sharp cliff, fast decoding
    ldpc_iters: int = Field(default=20, ge=1, le=100)  # BP iterations; Sionna's default

    @model_validator(mode="after")
    def _check(self) -> "LinkConfig":
        self.n  # raises ValueError for an unknown modulation or a code outside 5G's range
        return self

    @property
    def bps(self) -> int:
        return qam.bits_per_symbol(self.modulation)

    @property
    def n(self) -> int:
        return ldpc.codeword_length(self.ldpc_k, self.code_rate, self.bps)

    def symbols_per_block(self) -> int:
        return self.n // self.bps

    def n_blocks(self, n_bytes: int) -> int:
        """Code blocks needed for a transport block carrying ``n_bytes`` of data."""
        return -(-(n_bytes + TB_OVERHEAD_BYTES) * 8 // self.ldpc_k)

    def n_symbols(self, n_bytes: int) -> int:
        return self.n_blocks(n_bytes) * self.symbols_per_block()

    def capacity_bytes(self, n_symbols: int) -> int:
        """The most data bytes that fit in a budget of ``n_symbols`` (may be <= 0)."""
        blocks = n_symbols // self.symbols_per_block()
        return blocks * self.ldpc_k // 8 - TB_OVERHEAD_BYTES


def _crc(data: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(data))


def transmit(data: bytes, cfg: LinkConfig) -> np.ndarray:
    """Data bytes -> complex64 symbols, shape (cfg.n_symbols(len(data)),)."""
    block = struct.pack("<I", len(data)) + data
    block += _crc(block)
    bits = np.unpackbits(np.frombuffer(block, np.uint8))  # (8 * len(block),)
    n_blocks = cfg.n_blocks(len(data))
    info = np.zeros(n_blocks * cfg.ldpc_k, np.uint8)
    info[: bits.size] = bits
    code = ldpc.encode(info.reshape(n_blocks, cfg.ldpc_k), cfg.ldpc_k, cfg.n, cfg.bps)  # (B, n)
    return qam.modulate(code.reshape(-1), cfg.bps)


def receive(x_hat: np.ndarray, noise_var: np.ndarray, cfg: LinkConfig) -> bytes | None:
    """Equalised symbols and their noise variances -> the data, or None when the CRC fails."""
    spb = cfg.symbols_per_block()
    if x_hat.size == 0 or x_hat.size % spb:
        return None
    llr = qam.demodulate(x_hat, noise_var, cfg.bps).reshape(-1, cfg.n)  # (B, n)
    info = ldpc.decode(llr, cfg.ldpc_k, cfg.n, cfg.bps, cfg.ldpc_iters)  # (B, k)
    raw = np.packbits(info.reshape(-1)).tobytes()
    (length,) = struct.unpack_from("<I", raw)
    end = 4 + length
    if end + 4 > len(raw) or _crc(raw[:end]) != raw[end : end + 4]:
        return None
    return raw[4:end]
