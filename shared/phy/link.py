"""The digital PHY chain: bytes -> CRC -> 5G LDPC -> QAM -> symbols, and back.

A transport block is ``length (4 bytes) | data | CRC-32 (4 bytes)``, split into
LDPC code blocks of ``k`` bits (the last one zero-padded). The receiver
equalises, soft-demaps, decodes every block and checks the CRC; a failed CRC
loses the whole transport block, which is what makes the cliff.

With ``fit`` the last code block is fitted to what is left of the transport
block instead, its ``k`` those bits rounded up to :data:`FIT_STEP_BITS` (as 5G
NR sizes code blocks to their transport block), so a 60-byte message costs its
own length rather than a whole ``ldpc_k`` block. Each fitted ``k`` gives its own
symbol count, below a full block's, so the receiver reads ``k`` off the count.
"""
from __future__ import annotations

import struct
import zlib
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.phy import ldpc, qam

TB_OVERHEAD_BYTES = 8  # 4-byte length + 4-byte CRC-32
# a fitted block's k steps by 4 bytes: at most 31 bits of padding, and every k (hence every symbol count) distinct
FIT_STEP_BITS = 32


class LinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    modulation: str = "16qam"  # 4 bits/symbol: a common 5G MCS at 10-15 dB
    code_rate: float = Field(default=0.5, ge=0.2, le=0.95)  # threshold near 7 dB on AWGN with 16-QAM; 5G NR spans [1/5, 0.95]
    ldpc_k: int = Field(default=4096, ge=64, le=ldpc.MAX_K)  # long blocks: a sharp cliff, fast decoding
    ldpc_iters: int = Field(default=20, ge=1, le=100)  # BP iterations; Sionna's default
    # off: every message pads to whole ldpc_k blocks (the digital baseline's fixed frame); on: a message's last block is
    # fitted to what is left (the semantic schemes' side information: tens of bytes)
    fit: bool = False

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
        """Symbols of one full ``ldpc_k`` code block."""
        return self.n // self.bps

    def code_blocks(self, n_bytes: int) -> tuple[int, int]:
        """(full ldpc_k code blocks, k of the fitted last block or 0) for a transport block carrying ``n_bytes``."""
        bits = (n_bytes + TB_OVERHEAD_BYTES) * 8
        if not self.fit:
            return -(-bits // self.ldpc_k), 0
        full, rest = divmod(bits, self.ldpc_k)
        return full, -(-rest // FIT_STEP_BITS) * FIT_STEP_BITS

    def n_blocks(self, n_bytes: int) -> int:
        """Code blocks needed for a transport block carrying ``n_bytes`` of data."""
        full, last = self.code_blocks(n_bytes)
        return full + bool(last)

    def n_symbols(self, n_bytes: int) -> int:
        full, last = self.code_blocks(n_bytes)
        return full * self.symbols_per_block() + (fitted_symbols(last, self) if last else 0)

    def capacity_bytes(self, n_symbols: int) -> int:
        """The most data bytes that fit in a budget of ``n_symbols`` (may be <= 0)."""
        blocks, left = divmod(n_symbols, self.symbols_per_block())
        last = max((k for s, k in fitted_blocks(self).items() if s <= left), default=0) if self.fit else 0
        return (blocks * self.ldpc_k + last) // 8 - TB_OVERHEAD_BYTES


def fitted_symbols(k: int, cfg: LinkConfig) -> int:
    """Symbols of a fitted code block of ``k`` info bits."""
    return ldpc.codeword_length(k, cfg.code_rate, cfg.bps) // cfg.bps


@lru_cache(maxsize=8)
def fitted_blocks(cfg: LinkConfig) -> dict[int, int]:
    """``fit``: symbol count -> k of each fitted block shorter than ``ldpc_k`` (one count per k, each below a full
    block's, so a frame's count splits one way only into full blocks and a fitted last one)."""
    return {fitted_symbols(k, cfg): k for k in range(FIT_STEP_BITS, cfg.ldpc_k, FIT_STEP_BITS)}


def _crc(data: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(data))


def transmit(data: bytes, cfg: LinkConfig) -> np.ndarray:
    """Data bytes -> complex64 symbols, shape (cfg.n_symbols(len(data)),)."""
    block = struct.pack("<I", len(data)) + data
    block += _crc(block)
    bits = np.unpackbits(np.frombuffer(block, np.uint8))  # (8 * len(block),)
    full, last = cfg.code_blocks(len(data))
    info = np.zeros(full * cfg.ldpc_k + last, np.uint8)
    info[: bits.size] = bits
    head = full * cfg.ldpc_k
    code = [ldpc.encode(info[:head].reshape(full, cfg.ldpc_k), cfg.ldpc_k, cfg.n, cfg.bps).reshape(-1)] if full else []
    if last:
        code.append(ldpc.encode(info[None, head:], last, ldpc.codeword_length(last, cfg.code_rate, cfg.bps), cfg.bps)[0])
    return qam.modulate(np.concatenate(code), cfg.bps)


def receive(x_hat: np.ndarray, noise_var: np.ndarray, cfg: LinkConfig) -> bytes | None:
    """Equalised symbols and their noise variances -> the data, or None when the CRC fails (or the symbol count
    is no transport block's)."""
    full, left = divmod(x_hat.size, cfg.symbols_per_block())
    last = fitted_blocks(cfg).get(left, 0) if cfg.fit else 0
    if x_hat.size == 0 or left and not last:
        return None
    llr = qam.demodulate(x_hat, noise_var, cfg.bps)  # (bps * N,)
    head = full * cfg.n
    info = [ldpc.decode(llr[:head].reshape(full, cfg.n), cfg.ldpc_k, cfg.n, cfg.bps, cfg.ldpc_iters).reshape(-1)] if full else []
    if last:
        n = ldpc.codeword_length(last, cfg.code_rate, cfg.bps)
        info.append(ldpc.decode(llr[None, head:], last, n, cfg.bps, cfg.ldpc_iters)[0])
    raw = np.packbits(np.concatenate(info)).tobytes()
    (length,) = struct.unpack_from("<I", raw)
    end = 4 + length
    if end + 4 > len(raw) or _crc(raw[:end]) != raw[end : end + 4]:
        return None
    return raw[4:end]
