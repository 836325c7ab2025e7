"""The side information of one frame, coded part by part (all parts exact except ``lowres``).

| part      | content                                   | coding                              |
| --------- | ----------------------------------------- | ----------------------------------- |
| ``map``   | segmenter label map (H, W)                | lossless (:mod:`.maps`)             |
| ``classes`` | label names, when no shared vocabulary  | text (:mod:`.text`), "\\n"-joined    |
| ``mask``  | key-region mask (H, W) bool               | lossless (:mod:`.maps`)             |
| ``caption`` | caption text                            | text (:mod:`.text`)                 |
| ``lowres``| SPIC low-resolution image                 | WebP/JPEG (:mod:`.lowres`), lossy   |

Each part is its own byte string, so a part can be left out of a frame when
:class:`~shared.sideinfo.reuse.ReuseSender` says it has not changed.

:func:`pack_parts` joins a frame's parts into one byte string, so that they travel as one LDPC message
(one CRC): each message pads to whole LDPC blocks, so three parts of ~70 bytes take three 128-byte
blocks alone and two together. Layout: per part, ``id (1 byte, its index in PARTS) | length (uint32 LE) |
bytes``, in any order, each id at most once; :func:`unpack_parts` checks every field against the data.
"""
from __future__ import annotations

import struct

import numpy as np

from shared.roles import Segmentation
from shared.sideinfo.lowres import LowResConfig, decode_lowres, encode_lowres
from shared.sideinfo.maps import decode_map, encode_map
from shared.sideinfo.text import decode_text, encode_text

PARTS = ("map", "classes", "mask", "caption", "lowres")
_ENTRY = struct.Struct("<BI")  # part id, length


class BundleError(ValueError):
    """Packed side information that does not parse (a forged or corrupted message)."""


def pack_parts(parts: dict[str, bytes]) -> bytes:
    """Part name -> bytes (names from :data:`PARTS`) -> one byte string."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"no side-information part(s) {sorted(unknown)}; known: {', '.join(PARTS)}")
    return b"".join(_ENTRY.pack(PARTS.index(name), len(data)) + data for name, data in parts.items())


def unpack_parts(data: bytes) -> dict[str, bytes]:
    """Inverse of :func:`pack_parts`; raises :class:`BundleError` on anything it would not make."""
    out: dict[str, bytes] = {}
    at = 0
    while at < len(data):
        if at + _ENTRY.size > len(data):
            raise BundleError(f"truncated entry header at byte {at}")
        part, length = _ENTRY.unpack_from(data, at)
        at += _ENTRY.size
        if part >= len(PARTS) or PARTS[part] in out:
            raise BundleError(f"part id {part} unknown or repeated")
        if at + length > len(data):
            raise BundleError(f"part {PARTS[part]} claims {length} bytes, {len(data) - at} left")
        out[PARTS[part]] = data[at : at + length]
        at += length
    return out


def encode_parts(frame: np.ndarray, segmentation: Segmentation | None = None, key_mask: np.ndarray | None = None,
                 caption: str | None = None, lowres: LowResConfig | None = None) -> dict[str, bytes]:
    """Code whichever parts are given; returns part name -> bytes, in :data:`PARTS` order."""
    out: dict[str, bytes] = {}
    if segmentation is not None:
        out["map"] = encode_map(segmentation.labels)
        if segmentation.vocabulary is None:
            out["classes"] = encode_text("\n".join(segmentation.class_names))
    if key_mask is not None:
        out["mask"] = encode_map(key_mask.astype(bool))
    if caption is not None:
        out["caption"] = encode_text(caption)
    if lowres is not None:
        out["lowres"] = encode_lowres(frame, lowres)
    return out


def decode_parts(parts: dict[str, bytes], height: int, width: int) -> dict[str, object]:
    """Inverse of :func:`encode_parts` for the parts present.

    Returns ``map`` (H, W) uint8/uint16, ``classes`` tuple[str], ``mask`` (H, W) bool,
    ``caption`` str and ``lowres`` (height, width, 3) uint8 (upsampled).
    """
    out: dict[str, object] = {}
    if "map" in parts:
        out["map"] = decode_map(parts["map"])
    if "classes" in parts:
        out["classes"] = tuple(decode_text(parts["classes"]).split("\n"))
    if "mask" in parts:
        out["mask"] = decode_map(parts["mask"])
    if "caption" in parts:
        out["caption"] = decode_text(parts["caption"])
    if "lowres" in parts:
        out["lowres"] = decode_lowres(parts["lowres"], height, width)
    return out
