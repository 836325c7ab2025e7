"""Frame sources: ``builtin``, ``video:PATH``, ``folder:PATH``, ``webcam:N``.

Every source yields (size, size, 3) uint8 RGB frames: the largest centred
square is cropped, then resized. A source that cannot be opened raises
:class:`SourceError` at construction, before any service starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
BUILTIN_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field")
BUILTIN_FRAMES_PER_PHOTO = 30  # a 3-second slow pan per photo at 10 fps


class SourceError(ValueError):
    pass


def square_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize: (H, W, 3) -> (size, size, 3) uint8."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = rgb[top : top + s, left : left + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(crop, (size, size), interpolation=interp))


def skimage_photos() -> dict[str, np.ndarray]:
    """The validation photos shipped with scikit-image, name -> (H, W, 3) uint8 RGB.

    Never train on these: they are the project's validation set.
    """
    import skimage.data

    photos = {}
    for name in BUILTIN_PHOTOS:
        if name == "motorcycle_left":
            img = skimage.data.stereo_motorcycle()[0]  # the left view of the stereo pair
        else:
            img = getattr(skimage.data, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)  # (H, W) -> (H, W, 3)
        photos[name] = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
    return photos


class BuiltinSource:
    """Real photos shipped with scikit-image, each shown as a slow pan (a synthetic camera move)."""

    def __init__(self, size: int):
        self.size = size
        self.photos = list(skimage_photos().values())

    def __iter__(self) -> Iterator[np.ndarray]:
        i = 0
        while True:
            photo = self.photos[(i // BUILTIN_FRAMES_PER_PHOTO) % len(self.photos)]
            t = (i % BUILTIN_FRAMES_PER_PHOTO) / BUILTIN_FRAMES_PER_PHOTO  # 0..1 along the pan
            h, w = photo.shape[:2]
            s = int(min(h, w) * 0.8)  # an 80% window pans from top-left to bottom-right
            top, left = int((h - s) * t), int((w - s) * t)
            yield square_resize(photo[top : top + s, left : left + s], self.size)
            i += 1


def first_frames(path: Path, n: int, size: int | None = None) -> list[np.ndarray]:
    """The first ``n`` frames of a video file, RGB uint8: at their own size, or square-resized to ``size``."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        frames.append(rgb if size is None else square_resize(rgb, size))
    cap.release()
    return frames


class VideoSource:
    """A video file or a webcam, through OpenCV."""

    def __init__(self, target: str | int, size: int, loop: bool):
        self.size, self.loop, self.target = size, loop, target
        # OpenCV's own warnings on a failed open would bury our one-line error
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self.cap = cv2.VideoCapture(target)
        if not self.cap.isOpened():
            what = f"webcam {target}" if isinstance(target, int) else f"video file {target}"
            raise SourceError(f"cannot open {what}")
        ok, _ = self.cap.read()
        if not ok:
            raise SourceError(f"{target}: opened but delivers no frames")
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            ok, bgr = self.cap.read()
            if not ok:
                if self.loop and isinstance(self.target, str):
                    self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, bgr = self.cap.read()
                if not ok:
                    return
            yield square_resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.size)


class FolderSource:
    """Every image in a folder, in name order, cycled."""

    def __init__(self, path: Path, size: int):
        if not path.is_dir():
            raise SourceError(f"folder not found: {path}")
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
        self.size = size

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            for f in self.files:
                bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if bgr is None:
                    continue  # unreadable file: skip it, as a viewer would
                yield square_resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.size)


def open_source(spec: str, size: int, loop: bool = True):
    """Parse a ``--source`` spec and open it; raises SourceError with a one-line reason."""
    kind, _, arg = spec.partition(":")
    if kind == "builtin" and not arg:
        return BuiltinSource(size)
    if kind == "video" and arg:
        if not Path(arg).is_file():
            raise SourceError(f"video file not found: {arg}")
        return VideoSource(arg, size, loop)
    if kind == "folder" and arg:
        return FolderSource(Path(arg), size)
    if kind == "webcam":
        try:
            index = int(arg or "0")
        except ValueError:
            raise SourceError(f"webcam index must be an integer, got {arg!r}") from None
        return VideoSource(index, size, loop=False)
    raise SourceError(f"bad source {spec!r}: use builtin, video:PATH, folder:PATH or webcam:N")
