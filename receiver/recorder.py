"""``--record out.mp4``: the reconstruction (or original | reconstruction) written to a real video file.

OpenCV's FFmpeg back end writes MPEG-4 Part 2 (``mp4v``) into the MP4 container, which every player
opens. The video's size is fixed by the first frame; a later frame of another size is resized to it.
Without a reference frame for a frame, side by side shows mid-grey where the original would be.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from shared.cli import UsageError

log = logging.getLogger("receiver.recorder")
FOURCC = "mp4v"  # in every OpenCV wheel's FFmpeg; H.264 encoders are not


class VideoRecorder:
    def __init__(self, path: Path, fps: float, side_by_side: bool = False):
        self.check_path(path)
        self.path, self.fps, self.side_by_side = path, fps, side_by_side
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None  # (width, height) of the video
        self.frames = 0

    @staticmethod
    def check_path(path: Path) -> None:
        """UsageError unless ``path`` names a video file in a directory that exists."""
        if path.suffix.lower() not in (".mp4", ".avi", ".mkv"):
            raise UsageError(f"--record {path}: use a .mp4, .avi or .mkv file name")
        if not path.parent.is_dir():
            raise UsageError(f"--record {path}: no directory {path.parent}")

    def write(self, frame: np.ndarray, original: np.ndarray | None = None) -> None:
        """One (H, W, 3) uint8 RGB reconstruction (and its original, for side by side)."""
        picture = frame
        if self.side_by_side:
            left = original if original is not None and original.shape == frame.shape else np.full_like(frame, 128)
            picture = np.concatenate([left, frame], axis=1)  # (H, 2W, 3)
        if self.writer is None:
            h, w = picture.shape[:2]
            self.size = (w, h)
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*FOURCC), self.fps, self.size)
            if not self.writer.isOpened():
                raise OSError(f"--record {self.path}: OpenCV cannot write this file")
            log.info("recording %dx%d at %.1f fps to %s", w, h, self.fps, self.path)
        if (picture.shape[1], picture.shape[0]) != self.size:
            picture = cv2.resize(picture, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
