"""Could keyregion send its key cells through lrisc's JSCC instead of as raw latents? A measurement, not a scheme.

Each photo's key mask (YuNet faces + the persons they touch, else the salient region: the keyregion transmitter's
and the psnr_key metric's) marks the symbol-grid cells (16 x 16 pixels) it touches; lrisc's TAEF2 JSCC then sends
``key`` maps in those cells and ``rest`` maps elsewhere (per-cell lengths, the layout of length=content with blocks
of one cell), over AWGN (LMMSE, as the receiver), decoded by the JSCC decoder and the receiver-tuned TAEF2 decoder.
Reported per (key, rest) and SNR: analog symbols (the mask's side information not counted), whole-frame
effnet_dist, PSNR inside / outside the key mask. Uniform lengths (key = rest) are lrisc itself.

    SEMCOM_HUB_DIR=../shared/hub OMP_NUM_THREADS=2 python benchmarks/keyregion_jscc.py --out results/keyregion_jscc.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from shared.codecs.frames import as_frame, frame_tensor
from shared.codecs.taef2 import hub_codec
from shared.evaluate.images import load_images
from shared.metrics.key_region import key_mask, masked_psnr
from shared.metrics.perceptual import effnet_dist
from shared.nets.block_lengths import from_block_symbols, to_block_symbols
from shared.nets.jscc import mmse_scale, snr_from_noise_var
from shared.nets.latent_jscc import latent_normalisation, load_latent_jscc
from shared.schemes.lrisc import DOWNSAMPLE, TAEF2_JSCC
from shared.schemes.lrisc_nets import TAEF2_TUNED, jscc_decoder_at, pixel_decoder_at
from shared.sideinfo.maps import block_any

POINTS = ((16, 16), (24, 24), (32, 32), (32, 8), (48, 8), (64, 8), (48, 16), (64, 16))  # (maps in key cells, elsewhere)


def as_tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", default="corpus:../shared/corpus", help="image source (default: %(default)s)")
    p.add_argument("--limit", type=int, default=8, help="photos (default: %(default)s, eval_semantic_taef2.sh's eight)")
    p.add_argument("--snr-db", default="0,10,20")
    p.add_argument("--out", type=Path, default=Path("results/keyregion_jscc.json"))
    args = p.parse_args()
    snrs = [float(s) for s in args.snr_db.split(",")]
    jscc = load_latent_jscc(TAEF2_JSCC)
    mean, std = latent_normalisation(TAEF2_JSCC)
    decode_latent = jscc_decoder_at(TAEF2_JSCC, "taef2", "fp32", "cpu")
    decode_pixels = pixel_decoder_at(TAEF2_TUNED, TAEF2_JSCC, "fp32", "cpu")
    rows = []
    for n, (name, frame) in enumerate(load_images(args.images, 256, args.limit).items()):
        h, w = frame.shape[:2]
        key = key_mask(frame)  # (H, W) bool
        cells = block_any(key, DOWNSAMPLE)  # (gh, gw) symbol-grid cells touching the key region
        gh, gw = cells.shape
        z_n = (hub_codec("cpu").encode_tensor(frame_tensor(frame, DOWNSAMPLE)) - mean) / std  # (1, 32, gh*2, gw*2)
        for snr in snrs:
            s = jscc.encode(z_n, torch.tensor([[snr]]))[0]  # (M, gh, gw)
            for k_key, k_rest in POINTS:
                maps = np.where(cells, k_key, k_rest)  # (gh, gw) per-cell lengths
                x = to_block_symbols(s, maps, 1)  # (N,) unit power
                gen = torch.Generator().manual_seed(1000 * n + int(snr))
                n0 = 10 ** (-snr / 10)
                noise = torch.complex(torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen)) * np.sqrt(n0 / 2)
                nv = torch.full((1, x.numel()), n0)
                s_hat, rate = from_block_symbols(mmse_scale((x + noise)[None], nv)[0], maps, jscc.config.maps, gh, gw, 1)
                out = as_frame(decode_pixels(decode_latent(s_hat[None], snr_from_noise_var(nv), rate[None])), h, w)
                rows.append({"image": name, "key": k_key, "rest": k_rest, "snr_db": snr, "symbols": int(x.numel()),
                             "key_cells": round(float(cells.mean()), 3),
                             "effnet_dist": round(float(effnet_dist(as_tensor(frame), as_tensor(out))[0]), 4),
                             "psnr_key": round(masked_psnr(frame, out, key), 2) if key.any() else None,
                             "psnr_rest": round(masked_psnr(frame, out, ~key), 2)})
        print(f"{name}: key cells {cells.mean():.2f}", flush=True)
    summary = []
    for k_key, k_rest in POINTS:
        for snr in snrs:
            r = [x for x in rows if (x["key"], x["rest"], x["snr_db"]) == (k_key, k_rest, snr)]
            summary.append({"key": k_key, "rest": k_rest, "snr_db": snr, "symbols": float(np.mean([x["symbols"] for x in r])),
                            **{m: float(np.mean([x[m] for x in r if x[m] is not None]))
                               for m in ("effnet_dist", "psnr_key", "psnr_rest")}})
            print(json.dumps(summary[-1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
