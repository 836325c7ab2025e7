"""A lossless code for small binary masks (key-cell grids): each row XORed with the one above, then the run
lengths of the result in Elias-gamma code.

Why: a key mask is a few blobs on a 32 x 32 grid. The general map codecs (WebP lossless, LZMA) spend 43-106 bytes
on the corpus's validation masks, most of it container and model overhead; after the row XOR a blob is two
short runs per edge row, and the gamma code spends 2 log2(n) + 1 bits on a run of n, so the same masks take
9-60 bytes (measured on 24 corpus photos with YuNet's key regions).

Layout: bit 0 is the first value of the XORed mask (row-major); then each run's length, gamma-coded, until the
runs cover ``height * width`` cells; zero bits pad the last byte.
"""
from __future__ import annotations

import numpy as np


class RunsDecodeError(ValueError):
    """Bytes that are not a run-coded mask of the expected size."""


def _gamma(n: int) -> str:
    """Elias gamma code of n >= 1: floor(log2 n) zeros, then n in binary."""
    binary = bin(n)[2:]
    return "0" * (len(binary) - 1) + binary


def encode_runs(mask: np.ndarray) -> bytes:
    """(h, w) bool -> bytes (the layout above)."""
    xored = np.vstack([mask[:1], mask[1:] ^ mask[:-1]]).reshape(-1)  # (h * w,) bool
    edges = np.flatnonzero(np.diff(xored.astype(np.int8))) + 1  # where a new run starts
    runs = np.diff(np.concatenate([[0], edges, [xored.size]]))  # (n_runs,) each >= 1
    bits = str(int(xored[0])) + "".join(_gamma(int(r)) for r in runs)
    bits += "0" * (-len(bits) % 8)
    return np.packbits(np.frombuffer(bits.encode(), np.uint8) - ord("0")).tobytes()


def decode_runs(data: bytes, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`encode_runs` -> (height, width) bool; RunsDecodeError where the runs do not fit the size."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    if bits.size == 0:
        raise RunsDecodeError("an empty run-coded mask")
    total, at = height * width, 1
    runs: list[int] = []  # at most one per bit read, so bounded by the message, not by the size it claims
    covered = 0
    while covered < total:
        zeros = 0
        while at + zeros < bits.size and not bits[at + zeros]:
            zeros += 1
        if at + 2 * zeros + 1 > bits.size:
            raise RunsDecodeError(f"run-coded mask ends after {covered} of {total} cells")
        run = int("".join(map(str, bits[at + zeros : at + 2 * zeros + 1])), 2)
        at += 2 * zeros + 1
        if covered + run > total:
            raise RunsDecodeError(f"a run of {run} passes the mask's {total} cells")
        runs.append(run)
        covered += run
    if bits[at:].any() or bits.size - at >= 8:
        raise RunsDecodeError("bytes left over after the run-coded mask")
    values = (np.arange(len(runs)) + int(bits[0])) % 2 == 1  # (n_runs,) the runs alternate from bit 0's value
    out = np.repeat(values, runs)  # (h * w,)
    xored = out.reshape(height, width)
    return np.logical_xor.accumulate(xored, axis=0)  # undo the row XOR
