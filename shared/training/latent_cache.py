"""The latent cache: each training image encoded once by a frozen latent codec, fp16 on disk, reused by every run.

    semcom train cache --codec taef2 --data corpus:../shared/corpus        # builds or completes the cache

Each image of the source (a corpus's training split, a folder or a video) is resized so that
its short side is ``--short-side`` pixels (area interpolation; the scale of a 256x256
evaluation frame), cropped to whole latent cells, and encoded once. The latent goes to
``<cache>/<codec>-s<short>/<key>.npy`` (float16, ``allow_pickle=False`` on both sides), where
``key`` is a hash of the image's source path and frame; an interrupted build resumes where it
stopped. ``index.json`` lists every entry with its source, and ``stats.json`` the per-channel
mean and standard deviation over the whole cache (the normalisation the JSCC trains with).
Trainers draw random latent crops with :meth:`LatentCache.sample` and never run the encoder.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from shared.cli import CliParser, UsageError, run_cli
from shared.corpus import PHOTO_SUFFIXES, VIDEO_SUFFIXES, corpus_photos, corpus_videos
from shared.training.data import MIN_SIDE, DataSource, add_data_args, parse_data_source

PROG = "semcom train cache"
SHORT_SIDE = 256  # the scale of the 256x256 evaluation frames: crops of it are what the JSCC sees at test time
VIDEO_STRIDE = 30  # one frame a second or so: consecutive frames add little but time
DEFAULT_CACHE = Path(os.environ.get("SEMCOM_CACHE") or Path.home() / ".cache" / "semcom") / "latents"


@dataclass(frozen=True)
class Item:
    """One image to encode: its source file, the frame index (videos) and the cache key."""

    path: Path
    frame: int | None

    @property
    def key(self) -> str:
        text = f"{self.path.resolve()}#{self.frame}"
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def source_items(source: DataSource, video_stride: int) -> list[Item]:
    """The images of ``source`` in a fixed order; video frames by index (read when encoded)."""
    if source.kind == "corpus":
        photos, videos = corpus_photos(source.path, "train"), corpus_videos(source.path, "train")
    elif source.kind == "folder":
        files = sorted(p for p in source.path.iterdir() if p.is_file())
        photos = [p for p in files if p.suffix.lower() in PHOTO_SUFFIXES]
        videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    else:
        photos, videos = [], [source.path]
    items = [Item(p, None) for p in photos]
    for video in videos:
        cap = cv2.VideoCapture(str(video))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        items += [Item(video, i) for i in range(0, max(count, 0), video_stride)]
    return items


def read_item(item: Item) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB, or None when unreadable or smaller than a training crop."""
    if item.frame is None:
        bgr = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
    else:
        cap = cv2.VideoCapture(str(item.path))
        cap.set(cv2.CAP_PROP_POS_FRAMES, item.frame)
        ok, bgr = cap.read()
        cap.release()
        bgr = bgr if ok else None
    if bgr is None or min(bgr.shape[:2]) < MIN_SIDE:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def at_scale(rgb: np.ndarray, short_side: int, multiple: int) -> np.ndarray:
    """Resize so the short side is ``short_side`` (area), then centre-crop to multiples of ``multiple``."""
    h, w = rgb.shape[:2]
    s = short_side / min(h, w)
    nh, nw = max(multiple, round(h * s)), max(multiple, round(w * s))
    rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    ch, cw = nh - nh % multiple, nw - nw % multiple
    top, left = (nh - ch) // 2, (nw - cw) // 2
    return np.ascontiguousarray(rgb[top : top + ch, left : left + cw])


def cache_dir(root: Path, codec: str, short_side: int) -> Path:
    return root / f"{codec}-s{short_side}"


def build(source: DataSource, codec_name: str, root: Path, short_side: int, video_stride: int, minutes: float,
          codec=None) -> Path:
    """Encode every not-yet-cached image of ``source``; write ``index.json`` and ``stats.json``; return the folder."""
    if codec is None:
        from shared.registry.table import load_model  # the table imports every backend: only when building

        codec = load_model(codec_name, role="latent_codec")
    folder = cache_dir(root, codec_name, short_side)
    folder.mkdir(parents=True, exist_ok=True)
    items = source_items(source, video_stride)
    index_path = folder / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    todo = [it for it in items if it.key not in index or not (folder / f"{it.key}.npy").is_file()]
    deadline = time.monotonic() + minutes * 60
    done = 0
    with tqdm(total=len(items), initial=len(items) - len(todo), desc=f"{PROG} {codec_name}", unit="img",
              file=sys.stderr, dynamic_ncols=True) as bar:
        for item in todo:
            if time.monotonic() > deadline:
                break
            rgb = read_item(item)
            if rgb is not None:
                rgb = at_scale(rgb, short_side, codec.downsample)
                x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
                z = codec.encode_tensor(x)[0].to(torch.float16).numpy()  # (C, H/8, W/8)
                np.save(folder / f"{item.key}.npy", z, allow_pickle=False)
                index[item.key] = {"source": str(item.path), "frame": item.frame, "shape": list(z.shape)}
            else:
                index[item.key] = {"source": str(item.path), "frame": item.frame, "shape": None}
            done += 1
            bar.update(1)
            if done % 100 == 0:
                index_path.write_text(json.dumps(index))
    index_path.write_text(json.dumps(index))
    write_stats(folder, index, {"data": str(source), "codec": codec_name, "short_side": short_side})
    left = len(todo) - done
    print(f"{PROG}: {folder}: {sum(1 for e in index.values() if e['shape'])} latents"
          + (f"; {left} images left (time budget spent): run again to continue" if left else ""))
    return folder


def write_stats(folder: Path, index: dict, about: dict) -> None:
    """Per-channel mean and std over every cached latent value (and ``about`` the build) -> ``stats.json``."""
    total, s1, s2 = 0, None, None
    for key, entry in index.items():
        if not entry["shape"]:
            continue
        z = np.load(folder / f"{key}.npy", allow_pickle=False).astype(np.float64)  # (C, h, w)
        flat = z.reshape(z.shape[0], -1)
        s1 = flat.sum(1) if s1 is None else s1 + flat.sum(1)
        s2 = (flat ** 2).sum(1) if s2 is None else s2 + (flat ** 2).sum(1)
        total += flat.shape[1]
    if not total:
        return
    mean = s1 / total
    std = np.sqrt(np.maximum(s2 / total - mean ** 2, 1e-12))
    (folder / "stats.json").write_text(json.dumps({**about, "count": total, "mean": [round(float(m), 6) for m in mean],
                                                   "std": [round(float(s), 6) for s in std]}))


class LatentCache:
    """A built cache in memory (float16): random latent crops for training, in the codec's raw scale."""

    def __init__(self, folder: Path):
        index_path = folder / "index.json"
        if not index_path.is_file() or not (folder / "stats.json").is_file():
            raise UsageError(f"no latent cache at {folder}; build it with: {PROG} --codec CODEC --data SOURCE")
        index = json.loads(index_path.read_text())
        self.folder = folder
        self.keys = [k for k, e in index.items() if e["shape"]]
        self.sources = {k: index[k] for k in self.keys}
        self.latents = [np.load(folder / f"{k}.npy", allow_pickle=False) for k in self.keys]  # each (C, h, w) float16
        stats = json.loads((folder / "stats.json").read_text())
        self.about = {k: stats.get(k) for k in ("data", "codec", "short_side")}
        self.mean = torch.tensor(stats["mean"], dtype=torch.float32)  # (C,)
        self.std = torch.tensor(stats["std"], dtype=torch.float32)  # (C,)

    def __len__(self) -> int:
        return len(self.latents)

    def sample(self, batch: int, crop: int, rng: np.random.Generator) -> torch.Tensor:
        """(batch, C, crop, crop) float32 random crops of random cached latents (raw codec scale)."""
        out = []
        while len(out) < batch:
            z = self.latents[rng.integers(len(self.latents))]
            if min(z.shape[1:]) < crop:
                continue
            top, left = rng.integers(z.shape[1] - crop + 1), rng.integers(z.shape[2] - crop + 1)
            out.append(torch.from_numpy(z[:, top : top + crop, left : left + crop].astype(np.float32)))
        return torch.stack(out)


class LatentBatches:
    """The :class:`~shared.training.loop.Batches` of a cache: ``batch`` random ``crop`` x ``crop`` latent crops a step."""

    def __init__(self, cache: LatentCache, batch: int, crop: int):
        self.cache, self.batch, self.crop = cache, batch, crop
        self.describe = f"latent cache {cache.folder}: {len(cache)} latents of {cache.about['data']}"
        self.meta = {"cache": str(cache.folder), "cache_latents": len(cache), **cache.about}

    def __call__(self, rng: np.random.Generator) -> torch.Tensor:
        return self.cache.sample(self.batch, self.crop, rng)


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog=PROG, description="Encode the training images once with a frozen latent codec (fp16 on disk); "
                                              "resumes an interrupted build.")
    parser.add_argument("--codec", default="taef2", help="latent codec from 'semcom models list' (default: %(default)s)")
    add_data_args(parser)
    parser.set_defaults(video_stride=VIDEO_STRIDE)
    parser.add_argument("--short-side", type=int, default=SHORT_SIDE, help="resize each image to this short side (default: %(default)s)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="cache root (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=600.0, help="time budget; run again to continue (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args: argparse.Namespace = parser.parse_args(argv)

    def body() -> int:
        if not 64 <= args.short_side <= 2048:
            raise UsageError(f"--short-side {args.short_side}: must be between 64 and 2048")
        torch.set_num_threads(args.threads)
        build(parse_data_source(args.data), args.codec, args.cache_dir, args.short_side, args.video_stride, args.minutes)
        return 0

    return run_cli(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
