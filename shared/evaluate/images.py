"""The evaluation images: scikit-image's validation photos, every image in a folder, or a corpus's validation split.

Each comes as name -> (size, size, 3) uint8 RGB, cropped and resized by the sources' one
``square_resize``.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from shared.cli import UsageError
from shared.corpus import corpus_photos, is_corpus
from shared.sources import FolderSource, SourceError, open_source, skimage_photos, square_resize


def load_images(spec: str, size: int, limit: int | None = None) -> dict[str, np.ndarray]:
    """``builtin``, ``folder:PATH`` or ``corpus:PATH[@SET]`` -> the first ``limit`` images (all when None), in name order.

    ``size`` 0 keeps each image at its own size (native-resolution evaluation); a corpus gives its
    validation split, named ``<set>-<file>``; ``@SET`` keeps one photo set (``corpus:../shared/corpus@imagenet-sample``).
    """
    usage = f"--images {spec!r}: use builtin, folder:PATH or corpus:PATH[@SET]"
    fit = (lambda rgb: rgb) if size == 0 else (lambda rgb: square_resize(rgb, size))
    if spec == "builtin":
        photos = skimage_photos()
        names = list(photos)[:limit]
        return {name: fit(photos[name]) for name in names}
    if spec.startswith("corpus:"):
        root_text, _, photo_set = spec.split(":", 1)[1].partition("@")
        root = Path(root_text)
        if not is_corpus(root):
            raise UsageError(f"{usage} ({root} has neither photos/ nor videos/)")
        photos = [p for p in corpus_photos(root, "val") if not photo_set or p.relative_to(root / "photos").parts[0] == photo_set]
        if photo_set and not photos:
            raise UsageError(f"--images {spec!r}: no validation photo in set {photo_set!r} (the folders of {root / 'photos'})")
        paths = [(f"{p.parent.name}-{p.name}", p) for p in photos]
    elif spec.startswith("folder:"):
        try:
            source = open_source(spec, max(size, 1))
        except SourceError as exc:
            raise UsageError(f"--images: {exc}") from None
        if not isinstance(source, FolderSource):
            raise UsageError(usage)
        paths = [(p.name, p) for p in source.files]
    else:
        raise UsageError(usage)
    images: dict[str, np.ndarray] = {}
    for name, path in paths:
        if limit is not None and len(images) >= limit:
            break
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue  # unreadable file: skipped, as the folder source does
        images[name] = fit(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not images:
        raise UsageError(f"--images {spec!r}: no readable image")
    return images
