"""What a latent codec alone does to a picture, with no channel: the ceiling of every scheme built on it.

Each codec encodes and decodes every image; the figures are PSNR, MS-SSIM and effnet_dist (the
EfficientNet-Lite0 feature distance `semcom eval` reports), means over the images, and the median
encode / decode time per image on this machine. ``--codec NAME=WEIGHTS`` scores another weights
file of an embedded codec beside the shipped one (an earlier export, say).

    git show ee8fc0a:shared/weights/latent_conv_ae.safetensors > /tmp/latent_conv_ae_media.safetensors  # the codec before
    SEMCOM_HUB_DIR=../shared/hub OMP_NUM_THREADS=2 python benchmarks/latent_codec.py --images corpus:../shared/corpus --limit 24 \
        --codec latent-conv-ae=/tmp/latent_conv_ae_media.safetensors --codec latent-conv-ae --codec taef2 \
        --out results/latent_codec.json --sheet docs/img/latent_codec_sheet.jpg
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from shared.bench.hardware import cpu_model
from shared.evaluate.images import load_images
from shared.metrics.image_tensor import to_tensor_batch
from shared.metrics.perceptual import effnet_dist
from shared.metrics.pixel import ms_ssim, psnr_db
from shared.registry.table import load_model


SHEET_TILE_IN = 2.2  # inches per tile of the contact sheet


def score(codec, images: dict[str, np.ndarray], keep: int = 0) -> dict:
    """Mean PSNR / MS-SSIM / effnet_dist over ``images`` after encode -> decode, and median times (ms);
    the first ``keep`` reconstructions under ``"pictures"`` (not written to the JSON)."""
    psnrs, ssims, dists, enc_ms, dec_ms, pictures = [], [], [], [], [], []
    for img in images.values():
        t0 = time.perf_counter()
        z = codec.encode(img)
        t1 = time.perf_counter()
        out = codec.decode(z, size=img.shape[:2])  # (H, W, 3) uint8
        t2 = time.perf_counter()
        enc_ms.append(1e3 * (t1 - t0))
        dec_ms.append(1e3 * (t2 - t1))
        x, y = to_tensor_batch(img), to_tensor_batch(out)  # (1, 3, H, W) in [0, 1]
        psnrs.append(float(psnr_db(y, x)))
        ssims.append(float(ms_ssim(y, x)))
        dists.append(float(effnet_dist(y, x)))
        if len(pictures) < keep:
            pictures.append(out)
    return {"pictures": pictures, "psnr_db": statistics.fmean(psnrs), "ms_ssim": statistics.fmean(ssims), "effnet_dist": statistics.fmean(dists),
            "encode_ms_p50": statistics.median(enc_ms), "decode_ms_p50": statistics.median(dec_ms),
            "latent_shape": list(z.shape), "per_image_psnr_db": psnrs}


def draw_sheet(images: dict[str, np.ndarray], results: dict[str, dict], path: Path) -> None:
    """One row per image: the original, then each codec's reconstruction with its PSNR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(r["pictures"]) for r in results.values())
    names = list(images)[:n]
    fig, axes = plt.subplots(n, len(results) + 1, squeeze=False, layout="constrained",
                             figsize=(SHEET_TILE_IN * (len(results) + 1), (SHEET_TILE_IN + 0.3) * n + 0.4))
    for r, name in enumerate(names):
        tiles = [("original", images[name], name)] + [(label, res["pictures"][r], f"{res['per_image_psnr_db'][r]:.1f} dB")
                                                        for label, res in results.items()]
        for c, (title, picture, below) in enumerate(tiles):
            ax = axes[r, c]
            ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(below, fontsize=8)
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle("latent codecs alone (encode -> decode, no channel)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, pil_kwargs={"quality": 88} if path.suffix.lower() in (".jpg", ".jpeg") else {})
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", default="builtin", help="builtin, folder:PATH or corpus:PATH (its validation split)")
    p.add_argument("--limit", type=int, default=None, help="the first N images (default: all)")
    p.add_argument("--size", type=int, default=256, help="square frame side (0: each image at its own size)")
    p.add_argument("--codec", action="append", default=[], metavar="NAME[=WEIGHTS]",
                   help="a latent codec of the registry, optionally another weights file of it (repeatable)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=Path("results/latent_codec.json"))
    p.add_argument("--sheet", type=Path, default=None, help="also draw a contact sheet of the first images here")
    p.add_argument("--sheet-images", type=int, default=3, help="images on the contact sheet")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    images = load_images(args.images, args.size, args.limit)
    results = {}
    for item in args.codec or ["latent-conv-ae"]:
        name, _, weights = item.partition("=")
        label = f"{name} ({Path(weights).stem})" if weights else name
        codec = load_model(name, weights or None, role="latent_codec")
        results[label] = score(codec, images, keep=args.sheet_images if args.sheet else 0)
        r = results[label]
        print(f"{label:48s} PSNR {r['psnr_db']:6.2f} dB  MS-SSIM {r['ms_ssim']:.4f}  effnet_dist {r['effnet_dist']:.3f}  "
              f"encode {r['encode_ms_p50']:.1f} ms  decode {r['decode_ms_p50']:.1f} ms", flush=True)
    if args.sheet:
        draw_sheet(images, results, args.sheet)
        print(f"wrote {args.sheet}")
    for r in results.values():
        del r["pictures"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"images": args.images, "limit": args.limit, "size": args.size, "n_images": len(images),
                                    "hardware": f"{cpu_model()}, {args.threads} thread(s), torch {torch.__version__}, "
                                                f"Python {platform.python_version()}",
                                    "codecs": results}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
