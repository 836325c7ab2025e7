"""Caption coding: UTF-8, then raw DEFLATE with a preset dictionary.

Captions are ~100 bytes: too short for a general compressor to learn from
them alone. A *preset dictionary* of the phrases captions are made of (the
structured captioner's fixed words, colour names, common BLIP words) gives
DEFLATE that context up front; both ends hold the same dictionary, named by
the format byte. The smallest of raw UTF-8 and dictionary DEFLATE is sent::

    byte 0   format: 0 = raw UTF-8, 1 = DEFLATE with dictionary v1
    bytes 1- payload

Exact: :func:`decode_text` returns the identical string.
"""
from __future__ import annotations

import zlib

from shared.extractors.colours import PALETTE

RAW, DEFLATE_V1 = 0, 1

# Phrases, least likely first: DEFLATE references recent bytes more cheaply, so the
# most frequent phrases go at the end. Changing this list requires a new format byte.
_WORDS = [
    "a close up of", "in front of", "next to", "on top of", "sitting on", "standing in", "holding a",
    "wearing a", "with a", "a group of people", "a street", "a room", "a table", "a building",
    "a man", "a woman", "a person", "people walking", "a dog", "a cat", "a car",
    *[f"{name} " for name in PALETTE],
    "possibly ", " or ", "%, ", "; top ", ", middle ", ", bottom ", "; colours: ", "a photo of a ", "a photo of an ",
]
DICTIONARY_V1 = "".join(_WORDS).encode("utf-8")


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(level=9, wbits=-15, zdict=DICTIONARY_V1)  # raw DEFLATE: no zlib header or checksum
    return c.compress(data) + c.flush()


def encode_text(text: str) -> bytes:
    """Code a caption; the smaller of raw UTF-8 and dictionary DEFLATE wins."""
    raw = text.encode("utf-8")
    packed = _deflate(raw)
    return bytes([DEFLATE_V1]) + packed if len(packed) < len(raw) else bytes([RAW]) + raw


class TextDecodeError(ValueError):
    """Bytes that are not a coded caption."""


def decode_text(data: bytes) -> str:
    """Inverse of :func:`encode_text`.

    Raises:
        TextDecodeError: unknown format byte, corrupt DEFLATE data or invalid UTF-8.
    """
    if not data:
        raise TextDecodeError("empty coded caption")
    fmt, payload = data[0], data[1:]
    try:
        if fmt == RAW:
            return payload.decode("utf-8")
        if fmt == DEFLATE_V1:
            d = zlib.decompressobj(wbits=-15, zdict=DICTIONARY_V1)
            return (d.decompress(payload) + d.flush()).decode("utf-8")
    except (zlib.error, UnicodeDecodeError) as exc:
        raise TextDecodeError(f"corrupt coded caption: {exc}") from None
    raise TextDecodeError(f"unknown caption format byte {fmt}")
