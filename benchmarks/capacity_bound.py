"""How low can effnet_dist go at CBR 1/48 (or any CBR)? A separate source-channel *genie* bound.

At each SNR the channel is credited with its Shannon capacity, n complex uses (4,096 at CBR 1/48, 256x256) x
log2(1 + SNR) bits (AWGN; on Rayleigh block fading with one fade per frame the genie knows
the fade and gets log2(1 + |h|^2 SNR) per use, averaged over fade draws), a zero-error code
of that exact length, and WebP (the stronger of OpenCV's codecs at these rates) fitted to it.
No practical digital scheme reaches this; it says what a good image codec achieves at the
information the channel can carry, to put the generative-core target (effnet_dist 40% below
deepjscc, averaged over 0-20 dB) in perspective.

    OMP_NUM_THREADS=1 python benchmarks/capacity_bound.py --out results/capacity_bound.json
    python benchmarks/capacity_bound.py --images corpus:../shared/corpus --cbr 0.0208333,0.0104167 \
        --out results/capacity_bound_corpus.json     # the quality issue's validation split, CBR 1/48 and 1/96
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from shared.metrics.perceptual import effnet_dist
from shared.evaluate.images import load_images
from shared.sideinfo.image_fit import decode_image, fit_image
from shared.training.latent import psnr

SIZE = 256  # the evaluations' frame side
SNRS_DB = (0, 5, 10, 15, 20)
FADE_DRAWS = 16  # Rayleigh: fades per image and SNR (one per frame)


def genie(img: np.ndarray, bits: float) -> np.ndarray:
    """WebP fitted to floor(bits / 8) bytes, decoded; grey if not even the smallest coding fits."""
    try:
        data = fit_image(img, "webp", int(bits // 8)).data
    except ValueError:
        return np.full_like(img, 128)
    return decode_image(data, *img.shape[:2])


def score(img: np.ndarray, rec: np.ndarray) -> tuple[float, float]:
    x, y = (torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255 for a in (img, rec))
    with torch.no_grad():
        return psnr(img, rec), float(effnet_dist(y, x))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", default="builtin", help="as semcom eval: builtin, folder:PATH or corpus:PATH (its validation split)")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--cbr", default="0.0208333", help="comma list of channel uses per pixel value (default 1/48)")
    p.add_argument("--out", type=Path, default=Path("results/capacity_bound.json"))
    args = p.parse_args()
    rng = np.random.default_rng(0)
    images = list(load_images(args.images, SIZE, args.limit).items())
    rows = []
    for cbr in (float(c) for c in args.cbr.split(",")):
        symbols = round(cbr * SIZE * SIZE * 3)
        for channel in ("awgn", "rayleigh"):
            for snr_db in SNRS_DB:
                snr = 10 ** (snr_db / 10)
                gains = [1.0] if channel == "awgn" else list(rng.exponential(1.0, FADE_DRAWS))  # |h|^2
                per = [score(img, genie(img, symbols * math.log2(1 + g * snr))) for _, img in images for g in gains]
                bits = float(np.mean([symbols * math.log2(1 + g * snr) for g in gains]))
                rows.append({"cbr": round(cbr, 7), "symbols": symbols, "channel": channel, "snr_db": snr_db,
                             "mean_bits": round(bits), "bpp": round(bits / SIZE**2, 4),
                             "psnr": round(float(np.mean([a for a, _ in per])), 2),
                             "effnet_dist": round(float(np.mean([b for _, b in per])), 4)})
                print(json.dumps(rows[-1]), flush=True)
    summary = {f"cbr{r['cbr']}_{r['channel']}": {k: round(float(np.mean([q[k] for q in rows if (q["cbr"], q["channel"]) ==
                                                                         (r["cbr"], r["channel"])])), 4)
                                                for k in ("effnet_dist", "psnr")} for r in rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": SIZE, "images_spec": args.images, "images": [n for n, _ in images],
                                    "rows": rows, "mean_over_snrs": summary}, indent=1))
    print("means over SNRs:", json.dumps(summary))


if __name__ == "__main__":
    main()
