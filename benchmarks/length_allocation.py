"""How much could any content-adaptive length gain with lrisc's TAEF2 JSCC? A measurement of the ceiling, not a scheme.

The quality issue asks content-adaptive lengths (``length=content``: per 64x64 block, from the hyperprior) to beat
one length at the same mean CBR; measured, they do not (README). This script asks whether *any* allocation could,
with the shipped JSCC and the receiver-tuned TAEF2 decoder, at the 1/48 budget (32 maps a cell), over AWGN:

* ``uniform_<k>``: one length ``k`` everywhere, for each sendable ``k``: the frame's own rate-distortion curve;
* ``entropy``: the scheme's hyperprior allocation (``length=content``) in the same budget; ``entropy_fair``: in the
  budget less the length map's 192 symbols, so that the frame spends what ``uniform_32`` spends;
* ``rd_block`` / ``rd_block_fair``: an operational rate-distortion allocation per block, the most a transmitter that
  knew its receiver could do: each block's pixel squared error measured at every uniform length (one noise draw),
  then the Lagrangian choice of lengths (ties filled greedily) on another noise draw;
* ``oracle_frames``: one length per frame chosen *with hindsight* on the very draws it is scored on, the mean over
  the photos at most 32 maps: an upper bound on any frame-level policy that needs no length map.

Every point is the mean of two noise draws per photo and SNR. Writes the per-photo rows and a summary.

    SEMCOM_HUB_DIR=../shared/hub OMP_NUM_THREADS=2 python benchmarks/length_allocation.py --out results/length_allocation.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from shared.codecs.frames import frame_tensor
from shared.codecs.taef2 import hub_codec
from shared.evaluate.images import load_images
from shared.metrics.perceptual import effnet_dist
from shared.metrics.pixel import psnr_db
from shared.nets.block_lengths import block_slices, from_block_symbols, grid_blocks, to_block_symbols
from shared.nets.entropy import allocate, block_bits, load_entropy
from shared.nets.jscc import mmse_scale, snr_from_noise_var
from shared.nets.latent_jscc import latent_normalisation, load_latent_jscc
from shared.schemes.lrisc import BLOCK, DOWNSAMPLE, TAEF2_ENTROPY, TAEF2_JSCC, TAEF2_RATES
from shared.schemes.lrisc_nets import TAEF2_TUNED, jscc_decoder_at, pixel_decoder_at

BUDGET_MAPS = 32  # CBR 1/48
LENGTH_MAP_SYMBOLS = 192  # lrisc's LENGTH_LINK at 256x256: 48 bits in one k=128 block at QPSK r 1/3
TEST_SEEDS = (7, 8)  # the noise draws every allocation is scored on
ESTIMATE_SEED = 1  # the draw rd_block measures its distortions on


def lagrangian_lengths(distortion: np.ndarray, cells: np.ndarray, rates: tuple[int, ...], budget: int) -> np.ndarray:
    """Per-block lengths minimising sum of distortion under sum(k * cells) <= budget.

    Args:
        distortion: (blocks, rates) squared error of each block at each uniform length; cells: (blocks,) cells each.
    Returns:
        (blocks,) lengths: the Lagrangian choice at the smallest multiplier that fits, then the leftover values
        spent greedily on the steps that lower the error most per value.
    """
    r = np.asarray(rates)
    cost = r[None] * cells[:, None]  # (blocks, rates) values

    def choice(lam: float) -> np.ndarray:
        return np.argmin(distortion + lam * cost, axis=1)

    lo, hi = 0.0, 1.0
    while cost[np.arange(len(cells)), choice(hi)].sum() > budget and hi < 1e12:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if cost[np.arange(len(cells)), choice(mid)].sum() <= budget else (mid, hi)
    idx = choice(hi)
    while True:
        used = cost[np.arange(len(cells)), idx].sum()
        steps = [((distortion[b, i] - distortion[b, i + 1]) / (cost[b, i + 1] - cost[b, i]), b)
                 for b, i in enumerate(idx) if i + 1 < len(r) and used + cost[b, i + 1] - cost[b, i] <= budget]
        gain, b = max(steps, default=(0.0, -1))
        if gain <= 0:
            return r[idx]
        idx[b] += 1


def hindsight_lengths(scores: np.ndarray, rates: tuple[int, ...], mean_budget: float) -> tuple[np.ndarray, float]:
    """One length per frame, mean at most ``mean_budget``, minimising the mean score: (frames, rates) -> (choice index
    per frame, mean score), by the Lagrangian over a fine grid of multipliers (exact enough for a bound)."""
    r = np.asarray(rates, float)
    best = (np.full(len(scores), list(rates).index(BUDGET_MAPS)), float(scores[:, list(rates).index(BUDGET_MAPS)].mean()))
    for lam in np.logspace(-6, 2, 3000):
        idx = np.argmin(scores + lam * r[None], axis=1)
        if r[idx].mean() <= mean_budget + 1e-9 and scores[np.arange(len(scores)), idx].mean() < best[1]:
            best = (idx, float(scores[np.arange(len(scores)), idx].mean()))
    return best


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", default="corpus:../shared/corpus", help="image source (default: %(default)s)")
    p.add_argument("--limit", type=int, default=24, help="photos (default: %(default)s, the held-out 24 of the README)")
    p.add_argument("--snr-db", default="0,10,20", help="AWGN SNRs, comma-separated (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("results/length_allocation.json"))
    args = p.parse_args()
    snrs = [float(s) for s in args.snr_db.split(",")]
    jscc = load_latent_jscc(TAEF2_JSCC)
    mean, std = latent_normalisation(TAEF2_JSCC)
    entropy = load_entropy(TAEF2_ENTROPY)
    decode_latent = jscc_decoder_at(TAEF2_JSCC, "taef2", "fp32", "cpu")
    decode_pixels = pixel_decoder_at(TAEF2_TUNED, TAEF2_JSCC, "fp32", "cpu")
    rows = []
    images = load_images(args.images, 256, args.limit)
    for n, (name, frame) in enumerate(images.items()):
        x = frame_tensor(frame, DOWNSAMPLE)  # (1, 3, H, W) in [0, 1]
        z_n = (hub_codec("cpu").encode_tensor(x) - mean) / std  # (1, 32, H/8, W/8)
        bits = block_bits(entropy(z_n)[0][0], 2, BLOCK)  # (hb, wb)
        for snr in snrs:
            s = jscc.encode(z_n, torch.tensor([[snr]]))[0]  # (M, gh, gw)
            _, gh, gw = s.shape
            shape = grid_blocks(gh, gw, BLOCK)
            slices = block_slices(gh, gw, BLOCK)
            cells = np.array([(rs.stop - rs.start) * (cs.stop - cs.start) for rs, cs in slices])  # (blocks,)

            def received(maps: np.ndarray, seed: int) -> torch.Tensor:
                """The frame through AWGN with per-block lengths ``maps`` -> pixels (1, 3, H, W)."""
                sym = to_block_symbols(s, maps, BLOCK)  # (N,)
                gen = torch.Generator().manual_seed(10_000 * n + 100 * seed + int(snr))
                n0 = 10 ** (-snr / 10)
                noise = torch.complex(torch.randn(sym.shape, generator=gen), torch.randn(sym.shape, generator=gen)) * np.sqrt(n0 / 2)
                nv = torch.full((1, sym.numel()), n0)
                s_hat, rate = from_block_symbols(mmse_scale((sym + noise)[None], nv)[0], maps, jscc.config.maps, gh, gw, BLOCK)
                return decode_pixels(decode_latent(s_hat[None], snr_from_noise_var(nv), rate[None])).clamp(0, 1)

            def scored(label: str, maps: np.ndarray) -> None:
                ys = torch.cat([received(maps, seed) for seed in TEST_SEEDS])  # (2, 3, H, W)
                ref = x.expand_as(ys)
                rows.append({"image": name, "snr_db": snr, "allocation": label,
                             "symbols": int(sum(int(k) * c for k, c in zip(maps.reshape(-1), cells)) // 2),
                             "psnr_db": round(float(psnr_db(ys, ref).mean()), 3),
                             "effnet_dist": round(float(effnet_dist(ys, ref).mean()), 4),
                             "lengths": [int(k) for k in maps.reshape(-1)]})

            error = np.zeros((len(slices), len(TAEF2_RATES)))  # (blocks, rates) pixel squared error, estimate draw
            for j, k in enumerate(TAEF2_RATES):
                uniform = np.full(shape, k)
                scored(f"uniform_{k}", uniform)
                y = received(uniform, ESTIMATE_SEED)
                for b, (rs, cs) in enumerate(slices):
                    rows_px = slice(DOWNSAMPLE * rs.start, DOWNSAMPLE * rs.stop)
                    cols_px = slice(DOWNSAMPLE * cs.start, DOWNSAMPLE * cs.stop)
                    error[b, j] = float((y[..., rows_px, cols_px] - x[..., rows_px, cols_px]).pow(2).sum())
            budget = BUDGET_MAPS * int(cells.sum())
            fair = budget - 2 * LENGTH_MAP_SYMBOLS
            scored("entropy", allocate(bits, cells.reshape(shape), TAEF2_RATES, budget))
            scored("entropy_fair", allocate(bits, cells.reshape(shape), TAEF2_RATES, fair))
            scored("rd_block", lagrangian_lengths(error, cells, TAEF2_RATES, budget).reshape(shape))
            scored("rd_block_fair", lagrangian_lengths(error, cells, TAEF2_RATES, fair).reshape(shape))
        print(f"{n + 1}/{len(images)} {name}", flush=True)
    summary = []
    for snr in snrs:
        at = [r for r in rows if r["snr_db"] == snr]
        labels = list(dict.fromkeys(r["allocation"] for r in at))
        for label in labels:
            r = [x for x in at if x["allocation"] == label]
            summary.append({"snr_db": snr, "allocation": label, "symbols": float(np.mean([x["symbols"] for x in r])),
                            "psnr_db": float(np.mean([x["psnr_db"] for x in r])),
                            "effnet_dist": float(np.mean([x["effnet_dist"] for x in r]))})
        for metric, sign in (("effnet_dist", 1.0), ("psnr_db", -1.0)):
            uniform = [[next(x for x in at if x["image"] == name and x["allocation"] == f"uniform_{k}") for k in TAEF2_RATES]
                       for name in images]  # (frames, rates) rows
            table = np.array([[x[metric] for x in frame_rows] for frame_rows in uniform])
            idx, best = hindsight_lengths(sign * table, TAEF2_RATES, BUDGET_MAPS)
            summary.append({"snr_db": snr, "allocation": f"oracle_frames_{metric}", "metric": metric, metric: sign * best,
                            "symbols": float(np.mean([frame_rows[i]["symbols"] for frame_rows, i in zip(uniform, idx)]))})
        for row in summary[-len(labels) - 2:]:
            print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"images": args.images, "limit": args.limit, "budget_maps": BUDGET_MAPS,
                                    "summary": summary, "rows": rows}, indent=1))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
