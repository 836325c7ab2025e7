"""The evaluation images: scikit-image's validation photos, or every image in a folder.

Each comes as name -> (size, size, 3) uint8 RGB, cropped and resized by the sources' one
``square_resize``.
"""
from __future__ import annotations

import cv2
import numpy as np

from shared.cli import UsageError
from shared.sources import FolderSource, SourceError, open_source, skimage_photos, square_resize


def load_images(spec: str, size: int, limit: int | None = None) -> dict[str, np.ndarray]:
    """``builtin`` or ``folder:PATH`` -> the first ``limit`` images (all when None), in name order."""
    if spec == "builtin":
        photos = skimage_photos()
        names = list(photos)[:limit]
        return {name: square_resize(photos[name], size) for name in names}
    if not spec.startswith("folder:"):
        raise UsageError(f"--images {spec!r}: use builtin or folder:PATH")
    try:
        source = open_source(spec, size)
    except SourceError as exc:
        raise UsageError(f"--images: {exc}") from None
    if not isinstance(source, FolderSource):
        raise UsageError(f"--images {spec!r}: use builtin or folder:PATH")
    images: dict[str, np.ndarray] = {}
    for path in source.files:
        if limit is not None and len(images) >= limit:
            break
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue  # unreadable file: skipped, as the folder source does
        images[path.name] = square_resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)
    if not images:
        raise UsageError(f"--images {spec!r}: no readable image")
    return images
