"""lrisc's TAEF2 JSCC against a linear analog code of the same latent at the same channel uses. A measurement, not a scheme.

The JSCC saturates above 32 maps (``benchmarks/length_allocation.py``: from 32 to 64 maps it gains nothing at
20 dB). Does the latent hold more than it delivers? The linear code: the normalised TAEF2 latent cut into 2x2-cell
patches (128 values, what one JSCC symbol-grid cell covers), projected on the first ``k`` principal components
(fitted on corpus *training* photos), each component scaled so that its power goes as the square root of its
variance, the whole frame normalised to unit power per complex symbol, AWGN, LMMSE per component, back through
the components. ``k`` values a cell send exactly what ``k`` JSCC maps send. Both decode to pixels with TAEF2's own
decoder and with lrisc's receiver-tuned one; each point is one noise draw per photo.

    SEMCOM_HUB_DIR=../shared/hub OMP_NUM_THREADS=2 python benchmarks/latent_linear_code.py --out results/latent_linear_code.json
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import cv2
import numpy as np
import torch

from shared.codecs.frames import frame_tensor
from shared.codecs.taef2 import hub_codec
from shared.corpus import corpus_photos
from shared.evaluate.images import load_images
from shared.metrics.perceptual import effnet_dist
from shared.metrics.pixel import psnr_db
from shared.nets.jscc import from_symbols, mmse_scale, to_symbols
from shared.nets.latent_jscc import latent_normalisation, load_latent_jscc
from shared.schemes.lrisc import DOWNSAMPLE, TAEF2_JSCC
from shared.schemes.lrisc_nets import TAEF2, TAEF2_TUNED, pixel_decoder_at
from shared.sources import square_resize

MAPS = (32, 64)  # CBR 1/48 and 1/24


def patches(z_n: torch.Tensor) -> torch.Tensor:
    """(1, L, h, w) latent -> (h/2 * w/2, 4L) rows, one per 2x2-cell patch (one JSCC symbol-grid cell)."""
    _, c, h, w = z_n.shape
    return z_n[0].reshape(c, h // 2, 2, w // 2, 2).permute(1, 3, 0, 2, 4).reshape(-1, c * 4)


def unpatch(rows: torch.Tensor, c: int, h: int, w: int) -> torch.Tensor:
    """The inverse of :func:`patches`: (h/2 * w/2, 4c) -> (1, c, h, w)."""
    return rows.reshape(h // 2, w // 2, c, 2, 2).permute(2, 0, 3, 1, 4).reshape(1, c, h, w)


def noise(shape: torch.Size, n0: float, seed: int) -> torch.Tensor:
    """CN(0, n0) samples of ``shape``, seeded."""
    gen = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)) * (n0 / 2) ** 0.5


def linear_code(rows: torch.Tensor, mean: torch.Tensor, basis: torch.Tensor, var: torch.Tensor, n0: float,
                seed: int) -> torch.Tensor:
    """Patch rows (n, D) through the linear analog code with ``k = basis.shape[1]`` components -> LMMSE estimate (n, D)."""
    coeff = (rows - mean) @ basis  # (n, k)
    gain = var.clamp_min(1e-9).pow(-0.25)  # (k,) power of component i goes as sqrt(var_i)
    sent = coeff * gain  # (n, k)
    power = 2 * sent.pow(2).mean()  # per complex symbol
    reals = (sent / power.sqrt()).reshape(-1)
    x = torch.complex(reals[0::2].float(), reals[1::2].float())  # (n * k / 2,) unit power
    y = x + noise(x.shape, n0, seed)
    rx = torch.stack([y.real, y.imag], dim=-1).reshape(sent.shape).double() * power.sqrt()  # (n, k), sent's scale
    signal = var.clamp_min(1e-9) * gain ** 2  # (k,)
    coeff_hat = rx * (signal / (signal + n0 / 2 * power)) / gain  # LMMSE per component
    return coeff_hat @ basis.T + mean  # (n, D)


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", default="corpus:../shared/corpus", help="image source (default: %(default)s)")
    p.add_argument("--limit", type=int, default=24, help="photos (default: %(default)s, the held-out 24 of the README)")
    p.add_argument("--fit-photos", type=int, default=240, help="corpus training photos the components are fitted on")
    p.add_argument("--snr-db", default="0,10,20", help="AWGN SNRs, comma-separated (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("results/latent_linear_code.json"))
    args = p.parse_args()
    snrs = [float(s) for s in args.snr_db.split(",")]
    mean, std = latent_normalisation(TAEF2_JSCC)
    codec = hub_codec("cpu")

    def latent(rgb: np.ndarray) -> torch.Tensor:
        return (codec.encode_tensor(frame_tensor(rgb, DOWNSAMPLE)) - mean) / std  # (1, 32, H/8, W/8)

    root = Path(args.images.split(":", 1)[1].partition("@")[0])
    train = corpus_photos(root, "train")
    random.Random(0).shuffle(train)
    rows = torch.cat([patches(latent(square_resize(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), 256)))
                      for f in train[: args.fit_photos]]).double()  # (N, 128)
    centre = rows.mean(0)
    var, vecs = torch.linalg.eigh(torch.cov((rows - centre).T))
    var, vecs = var.flip(0), vecs.flip(1)  # descending
    kept = {k: float(var[:k].sum() / var.sum()) for k in MAPS}
    print(f"components fitted on {len(rows)} patches of {args.fit_photos} training photos; variance kept {kept}", flush=True)
    jscc = load_latent_jscc(TAEF2_JSCC)
    decoders = {"taef2": pixel_decoder_at(TAEF2, TAEF2_JSCC, "fp32", "cpu"),
                "tuned": pixel_decoder_at(TAEF2_TUNED, TAEF2_JSCC, "fp32", "cpu")}
    results = []
    images = load_images(args.images, 256, args.limit)
    for n, (name, frame) in enumerate(images.items()):
        x = frame_tensor(frame, DOWNSAMPLE)  # (1, 3, H, W)
        z_n = latent(frame)
        _, c, h, w = z_n.shape
        for snr in snrs:
            n0 = 10 ** (-snr / 10)
            seed = 1000 * n + int(snr)
            s = jscc.encode(z_n, torch.tensor([[snr]]))  # (1, 64, h/2, w/2)
            for k in MAPS:
                sym = to_symbols(s, k)  # (1, N)
                s_hat = from_symbols(mmse_scale(sym + noise(sym.shape, n0, seed), torch.tensor(n0)), s.shape[1], h // 2, w // 2)
                latents = {"jscc": jscc.decode(s_hat, torch.tensor([[snr]]), torch.full((1, 1, h // 2, w // 2), k / s.shape[1])),
                           "linear": unpatch(linear_code(patches(z_n).double(), centre, vecs[:, :k], var[:k], n0, seed).float(), c, h, w)}
                for code, z_hat in latents.items():
                    for dec, decode in decoders.items():
                        y = decode(z_hat).clamp(0, 1)
                        results.append({"image": name, "snr_db": snr, "maps": k, "code": code, "decoder": dec,
                                        "psnr_db": round(float(psnr_db(y, x)), 3), "effnet_dist": round(float(effnet_dist(y, x)), 4)})
        print(f"{n + 1}/{len(images)} {name}", flush=True)
    summary = []
    for snr in snrs:
        for k in MAPS:
            for code in ("jscc", "linear"):
                for dec in decoders:
                    r = [x for x in results if (x["snr_db"], x["maps"], x["code"], x["decoder"]) == (snr, k, code, dec)]
                    summary.append({"snr_db": snr, "maps": k, "code": code, "decoder": dec,
                                    "psnr_db": float(np.mean([x["psnr_db"] for x in r])),
                                    "effnet_dist": float(np.mean([x["effnet_dist"] for x in r]))})
                    print(json.dumps(summary[-1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"images": args.images, "limit": args.limit, "variance_kept": kept,
                                    "summary": summary, "rows": results}, indent=1))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
