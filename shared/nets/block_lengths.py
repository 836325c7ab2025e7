"""Content-adaptive length: a prefix of the importance-ordered JSCC maps per block, laid out as channel symbols.

The symbol grid (1/16 of the image side) is cut into blocks of ``block`` x ``block`` cells (edge
blocks are smaller). Block ``b`` sends its first ``k_b`` maps; the length map ``k`` (one entry per
block, each one of the model's rates) is side information the receiver gets exactly. Layout:
blocks in row-major order; inside a block its ``(k_b, rows, cols)`` values channel-major; consecutive
real pairs are one complex symbol; power is normalised over the frame to E|x|^2 = 1. With one
length everywhere this is still a valid code, and the length follows from the symbol count.
"""
from __future__ import annotations

import numpy as np
import torch


def block_slices(h: int, w: int, block: int) -> list[tuple[slice, slice]]:
    """The (rows, cols) slices of each block of an h x w grid, row-major."""
    return [(slice(r, min(r + block, h)), slice(c, min(c + block, w))) for r in range(0, h, block) for c in range(0, w, block)]


def grid_blocks(h: int, w: int, block: int) -> tuple[int, int]:
    """(block rows, block cols) of an h x w grid."""
    return -(-h // block), -(-w // block)


def n_values(maps: np.ndarray, h: int, w: int, block: int) -> int:
    """Real values a length map sends: sum over blocks of k_b x cells_b."""
    flat = maps.reshape(-1)
    return int(sum(int(k) * (rs.stop - rs.start) * (cs.stop - cs.start)
                   for k, (rs, cs) in zip(flat, block_slices(h, w, block))))


def to_block_symbols(s: torch.Tensor, maps: np.ndarray, block: int) -> torch.Tensor:
    """(M, h, w) encoder maps + (hb, wb) lengths -> (N,) complex unit-power symbols in the layout above."""
    _, h, w = s.shape
    parts = [s[: int(k), rs, cs].reshape(-1) for k, (rs, cs) in zip(maps.reshape(-1), block_slices(h, w, block))]
    reals = torch.cat(parts)  # (2N,)
    x = torch.complex(reals[0::2], reals[1::2])  # (N,)
    return x / torch.sqrt(x.abs().pow(2).mean() + 1e-12)


def from_block_symbols(x: torch.Tensor, maps: np.ndarray, m: int, h: int, w: int, block: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) received symbols -> ((M, h, w) maps with unsent ones zero, (1, h, w) share of maps sent per cell).

    Raises:
        ValueError: the symbol count is not what the length map says.
    """
    need = n_values(maps, h, w, block)
    if 2 * x.numel() != need:
        raise ValueError(f"{x.numel()} symbols, the length map says {need // 2}")
    reals = torch.stack([x.real, x.imag], dim=-1).reshape(-1)  # (2N,)
    s = torch.zeros(m, h, w)
    rate = torch.zeros(1, h, w)
    at = 0
    for k, (rs, cs) in zip(maps.reshape(-1), block_slices(h, w, block)):
        k = int(k)
        n = k * (rs.stop - rs.start) * (cs.stop - cs.start)
        s[:k, rs, cs] = reals[at : at + n].reshape(k, rs.stop - rs.start, cs.stop - cs.start)
        rate[:, rs, cs] = k / m
        at += n
    return s, rate


def pack_lengths(maps: np.ndarray, rates: tuple[int, ...]) -> bytes:
    """Length map -> bytes: 3 bits per block (an index into ``rates``, at most 8 of them)."""
    index = np.array([rates.index(int(k)) for k in maps.reshape(-1)], np.uint8)
    bits = np.unpackbits(index[:, None], axis=1)[:, 5:]  # (n, 3)
    return np.packbits(bits.reshape(-1)).tobytes()


def unpack_lengths(data: bytes, shape: tuple[int, int], rates: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`pack_lengths`; ValueError for a map that does not fit ``shape`` or names no rate."""
    n = shape[0] * shape[1]
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    if bits.size < 3 * n or bits.size >= 3 * n + 8:
        raise ValueError(f"a length map of {len(data)} bytes does not fit {shape[0]}x{shape[1]} blocks")
    index = np.packbits(np.pad(bits[: 3 * n].reshape(n, 3), ((0, 0), (5, 0))), axis=1).reshape(-1)
    if int(index.max(initial=0)) >= len(rates):
        raise ValueError("a length map entry names no supported rate")
    return np.array(rates, np.int64)[index].reshape(shape)
