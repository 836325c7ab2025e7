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
"""
from __future__ import annotations

import numpy as np

from shared.roles import Segmentation
from shared.sideinfo.lowres import LowResConfig, decode_lowres, encode_lowres
from shared.sideinfo.maps import decode_map, encode_map
from shared.sideinfo.text import decode_text, encode_text

PARTS = ("map", "classes", "mask", "caption", "lowres")


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
