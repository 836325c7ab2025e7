"""The training corpus (``../shared/corpus``: ``photos/<set>/...`` and ``videos/<set>/...``) and its fixed split.

One photo or clip in :data:`VALIDATION_EVERY`, chosen by a hash of its path relative to the
corpus root, is held out for validation. The choice depends on nothing but the path, so it
is the same on every machine and in every run, and no trainer ever reads a held-out file:
``corpus:PATH`` in ``semcom train`` means the training split, in ``semcom eval --images``
the validation split.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov")
VALIDATION_EVERY = 48  # 1 in 48 held out: ~60 of the 2,908 photos, enough for SNR-averaged means at CPU eval cost

Split = Literal["train", "val"]


def is_validation(relative: str) -> bool:
    """True for the held-out files: the first 8 hex digits of SHA-1(relative path) are 0 mod VALIDATION_EVERY."""
    return int(hashlib.sha1(relative.encode("utf-8")).hexdigest()[:8], 16) % VALIDATION_EVERY == 0


def _files(root: Path, folder: str, suffixes: tuple[str, ...], split: Split) -> list[Path]:
    base = root / folder
    files = sorted(p for p in base.rglob("*") if p.is_file() and p.suffix.lower() in suffixes) if base.is_dir() else []
    return [p for p in files if is_validation(p.relative_to(root).as_posix()) == (split == "val")]


def corpus_photos(root: Path, split: Split) -> list[Path]:
    """The photos of ``split`` under ``root/photos``, in path order."""
    return _files(root, "photos", PHOTO_SUFFIXES, split)


def corpus_videos(root: Path, split: Split) -> list[Path]:
    """The clips of ``split`` under ``root/videos``, in path order."""
    return _files(root, "videos", VIDEO_SUFFIXES, split)


def is_corpus(root: Path) -> bool:
    """A folder laid out as a corpus: it has a ``photos/`` or ``videos/`` subfolder."""
    return (root / "photos").is_dir() or (root / "videos").is_dir()
