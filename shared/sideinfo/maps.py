"""Lossless coding of label maps and key masks, with exact round trips.

A coded map is ``header (7 bytes) | payload``::

    byte 0     codec: 0 = PNG (OpenCV, level 9), 1 = WebP lossless (OpenCV), 2 = LZMA2 raw,
               3 = row-XOR run lengths (bool masks only: :mod:`shared.sideinfo.mask_runs`)
    byte 1     block factor f: the map is a nearest-neighbour upsampling of a map f times smaller
    bytes 2-5  height, width (uint16, little-endian) of the full map
    byte 6     bytes per label (1 = uint8, 2 = uint16)

Two things make maps small:

* **block factor**: when the map is exactly a nearest-neighbour ``f``-times
  upsampling (segmenters that work on a coarse grid produce such maps), only the
  coarse map is coded; :func:`decode_map` upsamples it back, bit for bit.
* **best of several codecs**: WebP lossless and LZMA2 are tried (PNG on request)
  and the smallest output wins (each is lossless; LZMA usually wins on
  few-label maps, WebP on some masks).

:func:`decode_map` always returns exactly the array that was encoded (values,
shape and dtype); the tests check this bit for bit.
"""
from __future__ import annotations

import lzma
import struct

import cv2
import numpy as np

from shared.sideinfo.mask_runs import RunsDecodeError, decode_runs, encode_runs

HEADER = struct.Struct("<BBHHB")  # codec, factor, height, width, bytes per label
PNG, WEBP, LZMA, RUNS = 0, 1, 2, 3
CODEC_NAMES = {PNG: "png", WEBP: "webp-lossless", LZMA: "lzma", RUNS: "runs"}
# best ratio; a 64 KiB window covers a 256x256 map and keeps encoding at ~7 ms (the default 64 MiB costs ~50 ms)
# lc=0, pb=0: label bytes carry no literal or alignment context worth modelling (~2% smaller)
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": 1 << 16, "lc": 0, "pb": 0}]
MAX_CELLS = 8192 * 8192  # the largest frame a header may declare: a coded map claiming more is refused before decoding
FACTORS = tuple(range(16, 1, -1))  # block factors tried, largest first (~1 ms for all at 256x256)


class MapDecodeError(ValueError):
    """Bytes that are not a coded map (bad header, codec or size)."""


def block_factor(labels: np.ndarray) -> int:
    """The largest f in :data:`FACTORS` such that ``labels`` is an exact f-times nearest upsampling, else 1."""
    h, w = labels.shape
    for f in FACTORS:
        if h < f or w < f:
            continue
        coarse = labels[::f, ::f]
        if np.array_equal(upsample(coarse, f, h, w), labels):
            return f
    return 1


def upsample(coarse: np.ndarray, f: int, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour f-times upsampling, cropped to (height, width)."""
    return np.repeat(np.repeat(coarse, f, axis=0), f, axis=1)[:height, :width]


def block_any(mask: np.ndarray, f: int) -> np.ndarray:
    """(H, W) bool -> (ceil(H/f), ceil(W/f)) bool: the f x f blocks that touch the mask."""
    h, w = mask.shape
    m = np.pad(mask, ((0, (-h) % f), (0, (-w) % f)))
    return m.reshape(m.shape[0] // f, f, m.shape[1] // f, f).any(axis=(1, 3))


def _encode_png(a: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError(f"OpenCV could not PNG-encode a {a.shape} {a.dtype} map")
    return buf.tobytes()


def _encode_webp(a: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".webp", a, [cv2.IMWRITE_WEBP_QUALITY, 101])  # quality > 100 selects lossless
    if not ok:
        raise ValueError(f"OpenCV could not WebP-encode a {a.shape} map")
    return buf.tobytes()


def _encode_lzma(a: np.ndarray) -> bytes:
    return lzma.compress(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes(),
                         format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)


# PNG never beat both on the project's maps and costs ~4 ms; still decodable. RUNS: for bool masks, where it won on
# every key mask measured (9-60 bytes against 34-106)
def _encode_runs(a: np.ndarray) -> bytes:
    return encode_runs(a.astype(bool))


DEFAULT_CODECS = (WEBP, LZMA, RUNS)


def encode_map(labels: np.ndarray, codecs: tuple[int, ...] = DEFAULT_CODECS) -> bytes:
    """Code a (H, W) uint8/uint16 label map (or a bool mask) losslessly; the smallest of ``codecs`` wins.

    Raises:
        ValueError: not a 2-D uint8, uint16 or bool array, or larger than 65535 a side.
    """
    if labels.ndim != 2 or labels.dtype not in (np.uint8, np.uint16, np.bool_):
        raise ValueError(f"expected a (H, W) uint8, uint16 or bool map, got {labels.shape} {labels.dtype}")
    h, w = labels.shape
    if not (0 < h <= 65535 and 0 < w <= 65535):
        raise ValueError(f"map size {h}x{w} outside 1..65535")
    is_bool = labels.dtype == np.bool_
    a = labels.astype(np.uint8) if is_bool else labels
    f = block_factor(a)
    coarse = np.ascontiguousarray(a[::f, ::f])
    nbytes = a.dtype.itemsize
    candidates = []
    for codec in codecs:
        if codec == WEBP and nbytes != 1 or codec == RUNS and not is_bool:
            continue  # WebP holds 8-bit channels only; the run code, two values only
        payload = {PNG: _encode_png, WEBP: _encode_webp, LZMA: _encode_lzma, RUNS: _encode_runs}[codec](coarse)
        candidates.append((len(payload), codec, payload))
    if not candidates:
        raise ValueError("no applicable codec for this map")
    _, codec, payload = min(candidates)
    kind = 0 if is_bool else nbytes  # 0 marks a bool mask (stored as uint8 0/1)
    return HEADER.pack(codec, f, h, w, kind) + payload


def decode_map(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_map`: the identical (H, W) array (uint8, uint16 or bool).

    Raises:
        MapDecodeError: the bytes are not a valid coded map.
    """
    if len(data) < HEADER.size:
        raise MapDecodeError(f"coded map too short ({len(data)} bytes)")
    codec, f, h, w, kind = HEADER.unpack_from(data)
    if codec not in CODEC_NAMES or f < 1 or kind not in (0, 1, 2):
        raise MapDecodeError(f"bad coded-map header (codec {codec}, factor {f}, kind {kind})")
    if h * w > MAX_CELLS:
        raise MapDecodeError(f"a {h}x{w} map is larger than any frame ({MAX_CELLS} pixels)")
    payload = data[HEADER.size:]
    ch, cw = -(-h // f), -(-w // f)
    dtype = np.dtype(np.uint16 if kind == 2 else np.uint8)
    if codec == RUNS:
        if kind != 0:
            raise MapDecodeError("a run-coded map must be a bool mask")
        try:
            coarse = decode_runs(payload, ch, cw).astype(np.uint8)
        except RunsDecodeError as exc:
            raise MapDecodeError(str(exc)) from None
    elif codec == LZMA:
        try:
            raw = lzma.decompress(payload, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
        except lzma.LZMAError as exc:
            raise MapDecodeError(f"corrupt LZMA map: {exc}") from None
        if len(raw) != ch * cw * dtype.itemsize:
            raise MapDecodeError(f"LZMA map holds {len(raw)} bytes, expected {ch * cw * dtype.itemsize}")
        coarse = np.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype).reshape(ch, cw)
    else:
        img = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise MapDecodeError(f"corrupt {CODEC_NAMES[codec]} map")
        coarse = img[..., 0] if img.ndim == 3 else img  # WebP decodes to 3 equal channels
        if coarse.shape != (ch, cw) or coarse.dtype != dtype:
            raise MapDecodeError(f"decoded map {coarse.shape} {coarse.dtype}, expected {(ch, cw)} {dtype}")
    full = upsample(coarse, f, h, w) if f > 1 else coarse
    return full.astype(bool) if kind == 0 else np.ascontiguousarray(full)


def describe(data: bytes) -> str:
    """One line for reports: codec, block factor and size."""
    codec, f, h, w, _ = HEADER.unpack_from(data)
    return f"{CODEC_NAMES.get(codec, '?')}, {h}x{w} coded at 1/{f}, {len(data)} B"
