"""How low can effnet_dist go at CBR 1/48? A separate source-channel *genie* bound.

At each SNR the channel is credited with its Shannon capacity, 4,096 complex uses x
log2(1 + SNR) bits (AWGN; on Rayleigh block fading with one fade per frame the genie knows
the fade and gets log2(1 + |h|^2 SNR) per use, averaged over fade draws), a zero-error code
of that exact length, and WebP (the stronger of OpenCV's codecs at these rates) fitted to it.
No practical digital scheme reaches this; it says what a good image codec achieves at the
information the channel can carry, to put the generative-core target (effnet_dist 40% below
deepjscc, averaged over 0-20 dB) in perspective.

    OMP_NUM_THREADS=1 python benchmarks/capacity_bound.py --out results/capacity_bound.json
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from shared.metrics.perceptual import effnet_dist
from shared.sideinfo.image_fit import decode_image, fit_image
from shared.training.latent import psnr, validation_images

SYMBOLS = 4096  # CBR 1/48 at 256x256, as the generative-core eval
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
    p.add_argument("--out", type=Path, default=Path("results/capacity_bound.json"))
    args = p.parse_args()
    rng = np.random.default_rng(0)
    images = validation_images()
    rows = []
    for channel in ("awgn", "rayleigh"):
        for snr_db in SNRS_DB:
            snr = 10 ** (snr_db / 10)
            gains = [1.0] if channel == "awgn" else list(rng.exponential(1.0, FADE_DRAWS))  # |h|^2
            per = [score(img, genie(img, SYMBOLS * math.log2(1 + g * snr))) for _, img in images for g in gains]
            bits = float(np.mean([SYMBOLS * math.log2(1 + g * snr) for g in gains]))
            rows.append({"channel": channel, "snr_db": snr_db, "mean_bits": round(bits), "bpp": round(bits / 65536, 4),
                         "psnr": round(float(np.mean([a for a, _ in per])), 2),
                         "effnet_dist": round(float(np.mean([b for _, b in per])), 4)})
            print(json.dumps(rows[-1]), flush=True)
    summary = {ch: round(float(np.mean([r["effnet_dist"] for r in rows if r["channel"] == ch])), 4) for ch in ("awgn", "rayleigh")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"symbols": SYMBOLS, "size": 256, "images": [n for n, _ in images],
                                    "rows": rows, "mean_effnet_dist": summary}, indent=1))
    print("mean effnet_dist over SNRs:", summary)


if __name__ == "__main__":
    main()
