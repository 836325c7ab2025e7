"""Extractor speed per 256x256 frame on the CPU, written as JSON.

Measures, each as the median of ``--repeats`` calls after one warm-up call:

* every embedded extractor (segmenter, key regions, captioner, latent encode
  and decode) and the side-information coders;
* the hub classes at *tiny* configs (loader and framework overhead only: a
  tiny SegFormer says nothing about SegFormer-B0's real speed);
* the whole embedded transmitter path per frame, on scikit-image photos, and
  on a video (``--video``, default ``../shared/media/vtest.avi`` if present)
  with and without the reuse gate (:mod:`shared.sideinfo.reuse`), which skips
  the extractors on frames that did not change and re-captions only on change.

    OMP_NUM_THREADS=2 python benchmarks/bench_extractors.py --threads 2 -o results/bench_extractors.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from shared.bench.hardware import cpu_model
from shared.bench.timing import median_seconds
from shared.registry.table import default_model, load_model
from shared.registry.tiny import save_tiny
from shared.sideinfo.bundle import encode_parts
from shared.sideinfo.lowres import LowResConfig, encode_lowres
from shared.sideinfo.maps import encode_map
from shared.sideinfo.reuse import ReuseSender
from shared.sideinfo.text import encode_text
from shared.sources import first_frames, skimage_photos, square_resize

SIZE = 256


def embedded(frames: list[np.ndarray], repeats: int) -> dict[str, float]:
    seg, sel = load_model(default_model("segmenter")), load_model(default_model("key_regions"))
    cap, codec = load_model(default_model("captioner")), load_model(default_model("latent_codec"))
    out: dict[str, list[float]] = {}
    for f in frames:
        s = seg.segment(f)
        m = sel.select(f, s)
        c = cap.caption(f)
        z = codec.encode(f)
        for name, fn in {
            "segmenter regions-slic": lambda: seg.segment(f),
            "key_regions faces-saliency": lambda: sel.select(f, s),
            "captioner structured-effnet": lambda: cap.caption(f),
            "latent encode latent-conv-ae": lambda: codec.encode(f),
            "latent decode latent-conv-ae": lambda: codec.decode(z),
            "code map (lossless)": lambda: encode_map(s.labels),
            "code mask (lossless)": lambda: encode_map(m),
            "code caption": lambda: encode_text(c),
            "code lowres (webp 1/8)": lambda: encode_lowres(f, LowResConfig()),
        }.items():
            out.setdefault(name, []).append(median_seconds(fn, repeats))
    return {k: statistics.mean(v) for k, v in out.items()}


def transmitter_path(frames: list[np.ndarray], gate: bool) -> dict[str, float]:
    """Per-frame time of the embedded extract + code path (latent encoded every frame).

    With ``gate``, unchanged frames reuse everything but the latent, and the caption
    is recomputed only when the frame gate fires and at refreshes.
    """
    seg, sel = load_model(default_model("segmenter")), load_model(default_model("key_regions"))
    cap, codec = load_model(default_model("captioner")), load_model(default_model("latent_codec"))
    tx = ReuseSender()
    last = None
    n_extract = 0
    times = []
    cap.caption(frames[0])  # warm-up
    for i, f in enumerate(frames):
        t = time.perf_counter()
        if not gate or last is None or tx.frame_changed(f):
            s = seg.segment(f)
            m = sel.select(f, s)
            caption = cap.caption(f) if (not gate or last is None or i % 10 == 0) else last[2]
            last = (s, m, caption)
            n_extract += 1
        s, m, caption = last
        codec.encode(f)
        reusable = {"map": s.labels, "mask": m, "caption": caption}
        send = {k: (not gate) or tx.should_send(k, v) for k, v in reusable.items()}
        encode_parts(f, s if send["map"] else None, m if send["mask"] else None,
                     caption if send["caption"] else None, LowResConfig())
        times.append(time.perf_counter() - t)
    mean = statistics.mean(times[1:]) if len(times) > 1 else times[0]
    return {"frames": len(frames), "mean_s": mean, "fps": 1.0 / mean, "extractions": n_extract}


def tiny_hub(repeats: int) -> dict[str, float]:
    """Hub classes at tiny configs, loaded through the project's loader from a temp dir."""
    frame = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        seg = load_model("segformer-b0-ade", source=str(save_tiny("segformer-b0-ade", d / "seg")))
        out["segmenter segformer-b0-ade (tiny config, 512 input)"] = median_seconds(lambda: seg.segment(frame), repeats)
        cap = load_model("blip-base", source=str(save_tiny("blip-base", d / "blip")))
        out["captioner blip-base (tiny config, 3 beams)"] = median_seconds(lambda: cap.caption(frame), repeats)
        for name in ("sd-vae", "taesd"):
            codec = load_model(name, source=str(save_tiny(name, d / name, levels=4)))
            out[f"latent encode {name} (tiny config, f=8)"] = median_seconds(lambda: codec.encode(frame), repeats)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", type=Path, default=Path("results/bench_extractors.json"))
    p.add_argument("--threads", type=int, default=2, help="torch threads (the machine's 2 cores)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--video", type=Path, default=Path("../shared/media/vtest.avi"))
    p.add_argument("--video-frames", type=int, default=40)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    photos = [square_resize(img, SIZE) for img in skimage_photos().values()]
    result = {
        "frame": f"{SIZE}x{SIZE}",
        "threads": args.threads,
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "embedded_s_per_frame": embedded(photos[:3], args.repeats),
        "hub_tiny_s_per_frame": tiny_hub(args.repeats),
        "transmitter_path_photos": transmitter_path(photos * 2, gate=False),
    }
    if args.video.is_file():
        frames = first_frames(args.video, args.video_frames, SIZE)
        result["transmitter_path_video_no_reuse"] = transmitter_path(frames, gate=False)
        result["transmitter_path_video_reuse"] = transmitter_path(frames, gate=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
