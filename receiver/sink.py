"""Where the receiver writes the frames it shows: PNG files inside ``--out``, never outside it, and
never over another run's frames.

A stream's files are ``<name>_<seq>.png``; its name is its stream id, or, when an earlier run
already left frames of that id in the folder, the id with the first free run suffix (``.2``, ``.3``,
...), said once in the log. Stream ids are restricted by the protocol to a safe alphabet; the path is
also resolved and checked against the folder, as a second line of defence.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger("receiver")
MAX_RUN_SUFFIX = 10_000  # a folder holding more runs of one stream id is refused rather than scanned forever
MAX_STREAMS = 1024  # stream names remembered (one per stream id seen by this process)


class UnsafePath(ValueError):
    pass


class FrameSink:
    def __init__(self, out_dir: Path):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.root = out_dir.resolve()
        self._root = str(self.root)  # frame paths are built as str: see path()
        self._names: dict[str, str] = {}  # stream id -> its file-name stem in this run

    def _name(self, stream_id: str) -> str:
        if stream_id in self._names:
            return self._names[stream_id]
        if len(self._names) >= MAX_STREAMS:
            raise UnsafePath(f"more than {MAX_STREAMS} streams written by this receiver")
        name = stream_id
        for run in range(2, MAX_RUN_SUFFIX):
            if not any(self.root.glob(f"{name}_*.png")):
                break
            name = f"{stream_id}.{run}"
        else:
            raise UnsafePath(f"{MAX_RUN_SUFFIX} runs of stream {stream_id!r} already in {self.root}")
        if name != stream_id:
            log.info("%s already holds frames of stream %r: this run writes %s_*.png", self.root, stream_id, name)
        self._names[stream_id] = name
        return name

    def path(self, stream_id: str, seq: int) -> str:
        """The file of frame ``seq`` of ``stream_id``, as a str, not a Path: pathlib (3.11) interns every
        part of a path it parses, and a new file name per frame interned and dropped again costs a slot
        of the interpreter's table of interned strings each frame (a 1-2 MiB step of heap every
        ~20,000 frames, when the table is rebuilt)."""
        path = os.path.realpath(os.path.join(self._root, f"{self._name(stream_id)}_{seq:06d}.png"))
        if os.path.dirname(path) != self._root:
            raise UnsafePath(f"stream id {stream_id!r} would write outside {self.root}")
        return path

    def write(self, stream_id: str, seq: int, rgb: np.ndarray) -> str:
        path = self.path(stream_id, seq)
        if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise UnsafePath(f"could not write {path}")
        return path
