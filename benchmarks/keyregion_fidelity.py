"""Key-region fidelity: PSNR inside and outside the key mask, and channel uses, keyregion / full against lrisc.

For each validation photo (scikit-image, 256x256) and SNR, one frame goes through the real pipeline
(FrameEncoder -> ChannelStage -> FrameDecoder); the key mask is the transmitter's own (the default
key-region selector, widened to whole latent cells). LRISC is run at each of its rates, so its
quality in the key region can be matched against the channel uses it needs.

    OMP_NUM_THREADS=2 python benchmarks/keyregion_fidelity.py --out results/keyregion_fidelity.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from shared.config import ChannelConfig
from shared.generators.semantic_conditions import LATENT_FACTOR
from shared.metrics.key_region import masked_psnr
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.registry.table import default_model, load_model
from shared.sideinfo.maps import block_any, upsample
from shared.sources import skimage_photos, square_resize

POINTS = (("keyregion", {}), ("full", {}), ("keyregion r2", {"key_repeat": 2}),
          *((f"lrisc cbr 1/{d}", {"cbr": 1 / d, "rate_policy": "fixed"}) for d in (192, 96, 48)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("results/keyregion_fidelity.json"))
    p.add_argument("--snr-db", default="0,5,10,15,20")
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    snrs = [float(s) for s in args.snr_db.split(",")]
    selector = load_model(default_model("key_regions"), role="key_regions")
    rows = []
    for name, photo in skimage_photos().items():
        frame = square_resize(photo, args.size)
        key = upsample(block_any(selector.select(frame), LATENT_FACTOR), LATENT_FACTOR, args.size, args.size)  # (H, W) bool
        if not key.any() or key.all():
            continue
        for label, params in POINTS:
            scheme = label.split()[0]
            header, symbols, _ = FrameEncoder(scheme, params).encode(frame, 0)
            for snr in snrs:
                h, faded, _ = ChannelStage(ChannelConfig(snr_db=snr, seed=7)).process(header, symbols)
                out = FrameDecoder().decode(h, faded)
                rows.append({"image": name, "point": label, "snr_db": snr, "symbols": header.n_symbols,
                             "key_fraction": round(float(key.mean()), 3),
                             "psnr_key": round(masked_psnr(out, frame, key), 2), "psnr_rest": round(masked_psnr(out, frame, ~key), 2)})
                print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for label, _ in POINTS:
        r = [x for x in rows if x["point"] == label]
        summary[label] = {"symbols": round(float(np.mean([x["symbols"] for x in r]))),
                          "psnr_key": round(float(np.mean([x["psnr_key"] for x in r])), 2),
                          "psnr_rest": round(float(np.mean([x["psnr_rest"] for x in r])), 2),
                          **{f"psnr_key_{s:g}dB": round(float(np.mean([x["psnr_key"] for x in r if x["snr_db"] == s])), 2) for s in snrs}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": args.size, "channel": "awgn", "rows": rows, "summary": summary}, indent=1))
    for label, s in summary.items():
        print(f"{label:16s} {s}")


if __name__ == "__main__":
    main()
