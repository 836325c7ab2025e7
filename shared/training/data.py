"""Where the trainers' images come from: ``--data folder:PATH``, ``video:PATH`` or ``corpus:PATH``.

A folder gives every photo in it (JPEG/PNG, at least 96 px a side) and every
``video_stride``-th frame of every video in it; a video gives every
``video_stride``-th frame; a corpus (``../shared/corpus``: ``photos/`` and ``videos/``)
gives its training split only (:mod:`shared.corpus`), never a validation file.
A plain PATH means whichever of the three it is. ``--media PATH`` is kept as an alias of ``--data``.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from shared.cli import UsageError
from shared.corpus import PHOTO_SUFFIXES, VIDEO_SUFFIXES, corpus_photos, corpus_videos, is_corpus

DEFAULT_DATA = "folder:../shared/media"  # the project's real photos and vtest.avi, beside the checkout
MIN_SIDE = 96  # smaller photos cannot give a training crop


@dataclass(frozen=True)
class DataSource:
    kind: Literal["folder", "video", "corpus"]
    path: Path

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}"


def parse_data_source(text: str) -> DataSource:
    """``folder:PATH``, ``video:PATH``, ``corpus:PATH`` or a plain PATH -> :class:`DataSource`; UsageError if it is not there."""
    kind, sep, rest = text.partition(":")
    if sep and kind in ("folder", "video", "corpus"):
        path = Path(rest)
    else:
        path = Path(text)
        kind = "video" if path.suffix.lower() in VIDEO_SUFFIXES else "corpus" if is_corpus(path) else "folder"
    if kind in ("folder", "corpus") and not path.is_dir():
        raise UsageError(f"training {kind} not found: {path}")
    if kind == "corpus" and not is_corpus(path):
        raise UsageError(f"{path} is not a corpus (it has neither photos/ nor videos/); use folder:{path}")
    if kind == "video" and not path.is_file():
        raise UsageError(f"training video not found: {path}")
    return DataSource(kind, path)  # type: ignore[arg-type]


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", "--media", dest="data", default=DEFAULT_DATA, metavar="folder:PATH|video:PATH|corpus:PATH",
                        help="training images: a folder of photos and videos, one video, or a corpus's training split "
                             "(default: %(default)s)")
    parser.add_argument("--video-stride", type=int, default=5, help="use every Nth video frame (default: %(default)s)")


def add_run_args(parser: argparse.ArgumentParser, minutes: float, ckpt_every: int = 250, note: bool = True) -> None:
    """The options every trainer shares: time budget, checkpoint and log cadence, threads, export."""
    parser.add_argument("--minutes", type=float, default=minutes, help="wall-clock budget of this run (default: %(default)s)")
    parser.add_argument("--ckpt-every", type=int, default=ckpt_every, help="steps between checkpoints and validations")
    parser.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--export", action="store_true", help="export the latest checkpoint to shared/weights and stop")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[1] / "weights",
                        help="where --export writes (default: shared/weights)")
    if note:
        parser.add_argument("--note", default="", help="with --export: a History paragraph for the model card")


def video_frames(path: Path, stride: int) -> list[np.ndarray]:
    """Every ``stride``-th frame of a video as (H, W, 3) uint8 RGB."""
    frames, cap, i = [], cv2.VideoCapture(str(path)), 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if i % stride == 0:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        i += 1
    cap.release()
    return frames


def load_corpus(source: DataSource, video_stride: int) -> list[np.ndarray]:
    """The source's photos and video frames as (H, W, 3) uint8 RGB arrays."""
    images: list[np.ndarray] = []
    if source.kind == "corpus":
        paths = corpus_photos(source.path, "train") + corpus_videos(source.path, "train")
    else:
        paths = sorted(source.path.iterdir()) if source.kind == "folder" else [source.path]
    for path in paths:
        if path.suffix.lower() in PHOTO_SUFFIXES:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is not None and min(bgr.shape[:2]) >= MIN_SIDE:
                images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            images += video_frames(path, video_stride)
    if not images:
        raise UsageError(f"no training images found in {source}")
    return images
