"""The side-information cache of the TAEF2 semantic generator: what the transmitters send, made once per training image.

    semcom train semantic-cache --data corpus:../shared/corpus      # builds or completes it (resumable)

Each training image (the corpus's training split, a folder or a video) is resized to a short
side of 256 (the evaluation scale), centre-cropped to 256 x 256 and turned into one
``<cache>/semantic-taef2-s256/<key>.npz`` (``allow_pickle=False`` on both sides) holding:

| array     | shape           | what                                                                         |
| --------- | --------------- | ---------------------------------------------------------------------------- |
| ``z``       | (32, 32, 32) f16 | the TAEF2 latent of the crop: the generator's target                         |
| ``layout4`` | (32, 32, 32) f16 | the TAEF2 latent of the WebP-coded 64 x 64 low-res image, upsampled (spic's)  |
| ``layout32``| (32, 32, 32) f16 | the same for the 8 x 8 thumbnail (keyregion's coarse layout)                   |
| ``labels``  | (256, 256) u8    | the ESPNetv2-VOC label map (the map ``spic`` and ``full`` send)                 |
| ``caption`` | (384,) f16       | the MiniLM embedding of the structured caption of the crop                    |

The low-res images are coded exactly as the transmitter codes them
(:func:`shared.generators.semantic_taef2.layout_latent`), so training sees what the receiver sees.
Trainers load the whole cache and never run an extractor.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from shared.cli import CliParser, UsageError, run_cli
from shared.training.data import add_data_args, parse_data_source
from shared.training.latent_cache import DEFAULT_CACHE, VIDEO_STRIDE, at_scale, read_item, source_items

PROG = "semcom train semantic-cache"
SIZE = 256  # the evaluation frames' size: the generator trains on crops of what it will see
FOLDER = "semantic-taef2-s256"
SEGMENTER = "espnetv2-voc"  # the map the TAEF2 semantic schemes send (VOC's 21 classes)
ARRAYS = ("z", "layout4", "layout32", "labels", "caption")


def square(rgb: np.ndarray) -> np.ndarray:
    """The centre SIZE x SIZE crop of an image whose short side is SIZE."""
    h, w = rgb.shape[:2]
    top, left = (h - SIZE) // 2, (w - SIZE) // 2
    return np.ascontiguousarray(rgb[top : top + SIZE, left : left + SIZE])


class Extractors:
    """The frozen models the cache is made with, loaded once."""

    def __init__(self):
        from shared.registry.table import default_model, load_model

        self.codec = load_model("taef2", role="latent_codec")
        self.segmenter = load_model(SEGMENTER, role="segmenter")
        self.captioner = load_model(default_model("captioner"), role="captioner")

    @torch.no_grad()
    def entry(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        """(256, 256, 3) uint8 -> the cache arrays (see the module docstring)."""
        from shared.generators.semantic_conditions import caption_condition
        from shared.generators.semantic_taef2 import layout_image, to_unit

        latent = lambda img: self.codec.encode_tensor(to_unit(img))[0].to(torch.float16).numpy()  # noqa: E731
        return {"z": latent(rgb), "layout4": latent(layout_image(rgb, 4)), "layout32": latent(layout_image(rgb, 32)),
                "labels": self.segmenter.segment(rgb).labels.astype(np.uint8),
                "caption": caption_condition([self.captioner.caption(rgb)])[0].to(torch.float16).numpy()}


def build(data: str, root: Path, video_stride: int, minutes: float) -> Path:
    """Make every not-yet-cached entry of ``data``; return the folder."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    items = source_items(parse_data_source(data), video_stride)
    items = [items[i] for i in np.random.default_rng(0).permutation(len(items))]  # a cut-short build still spans every folder
    index_path = folder / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    todo = [it for it in items if it.key not in index]
    extract = Extractors()
    deadline, done = time.monotonic() + minutes * 60, 0
    with tqdm(total=len(items), initial=len(items) - len(todo), desc=PROG, unit="img", file=sys.stderr,
              dynamic_ncols=True, mininterval=10) as bar:
        for item in todo:
            if time.monotonic() > deadline:
                break
            rgb = read_item(item)
            ok = rgb is not None
            if ok:
                np.savez(folder / f"{item.key}.npz", **extract.entry(square(at_scale(rgb, SIZE, 8))))
            index[item.key] = {"source": str(item.path), "frame": item.frame, "ok": ok}
            done += 1
            bar.update(1)
            if done % 50 == 0:
                index_path.write_text(json.dumps(index))
    index_path.write_text(json.dumps(index))
    left = len(todo) - done
    print(f"{PROG}: {folder}: {sum(e['ok'] for e in index.values())} entries"
          + (f"; {left} images left (time budget spent): run again to continue" if left else ""))
    return folder


class SemanticCache:
    """A built cache in memory: every array of every entry, stacked (N, ...)."""

    def __init__(self, folder: Path):
        index_path = folder / "index.json"
        if not index_path.is_file():
            raise UsageError(f"no semantic cache at {folder}; build it with: {PROG} --data SOURCE")
        keys = [k for k, e in json.loads(index_path.read_text()).items() if e["ok"]]
        if not keys:
            raise UsageError(f"the semantic cache at {folder} is empty; build it with: {PROG} --data SOURCE")
        self._stack([np.load(folder / f"{k}.npz", allow_pickle=False) for k in keys], folder)

    def _stack(self, entries: list, folder: Path | str) -> None:
        self.folder = folder
        self.arrays = {name: np.stack([e[name] for e in entries]) for name in ARRAYS}  # name -> (N, ...)
        z = torch.from_numpy(self.arrays["z"]).float()  # (N, 32, 32, 32)
        self.mean, self.std = z.mean((0, 2, 3)), z.std((0, 2, 3))  # (32,) each: the generator's latent normalisation

    @classmethod
    def of_entries(cls, entries: list[dict[str, np.ndarray]], source: str) -> "SemanticCache":
        """A cache held in memory only (a scene adapter's few frames), from :meth:`Extractors.entry` results."""
        cache = cls.__new__(cls)
        cache._stack(entries, source)
        return cache

    def __len__(self) -> int:
        return len(self.arrays["z"])


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog=PROG, description="Make the TAEF2 semantic generator's training side information once "
                                              "(TAEF2 latents, coded low-res layouts, ESPNetv2-VOC maps, caption embeddings); resumes.")
    add_data_args(parser)
    parser.set_defaults(video_stride=VIDEO_STRIDE)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="cache root (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=600.0, help="time budget; run again to continue (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args: argparse.Namespace = parser.parse_args(argv)

    def body() -> int:
        torch.set_num_threads(args.threads)
        build(args.data, args.cache_dir, args.video_stride, args.minutes)
        return 0

    return run_cli(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
