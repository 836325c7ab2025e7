"""``semcom inspect IMAGE``: what the transmitter extracts from one frame, and what it costs.

Runs the four model roles (embedded defaults unless told otherwise), codes the
side information exactly as the transmitter does, prints the bit budget, and
writes one PNG panel: the frame, the label-map overlay, the key mask, the
low-resolution image, the latent channels with their decoding, and the caption
with the budget table.

    semcom inspect ../shared/media/grace_hopper.jpg -o inspect.png
    semcom inspect photo.jpg --segmenter segformer-b0-ade --source segformer-b0-ade=/models/segformer
"""
from __future__ import annotations

import json
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from shared.cli import CliParser, UsageError, run_cli
from shared.registry.table import default_model, load_model
from shared.roles import Captioner, KeyRegionSelector, LatentCodec, Segmentation, Segmenter
from shared.sideinfo.budget import FrameBudget, frame_budget
from shared.sideinfo.bundle import decode_parts, encode_parts
from shared.sideinfo.lowres import LowResConfig
from shared.sideinfo.maps import block_any, describe

PROG = "semcom inspect"


@dataclass
class Inspection:
    """Everything one frame yields; ``timings`` are seconds per extractor."""

    frame: np.ndarray  # (H, W, 3) uint8
    segmentation: Segmentation
    key_mask: np.ndarray  # (H, W) bool
    caption: str
    latent: np.ndarray  # (C, h, w) float32
    reconstruction: np.ndarray  # (H, W, 3) uint8, latent decoded
    lowres: np.ndarray  # (H, W, 3) uint8, decoded and upsampled
    parts: dict[str, bytes]
    budget: FrameBudget
    timings: dict[str, float]
    models: dict[str, str]


def inspect_frame(frame: np.ndarray, segmenter: Segmenter, selector: KeyRegionSelector, captioner: Captioner,
                  codec: LatentCodec, lowres: LowResConfig, models: dict[str, str]) -> Inspection:
    """Run every role on ``frame`` (H, W, 3) uint8 and code the side information."""
    timings = {}
    t = time.perf_counter()
    seg = segmenter.segment(frame)
    timings["segmenter"] = time.perf_counter() - t
    t = time.perf_counter()
    mask = selector.select(frame, seg)
    timings["key_regions"] = time.perf_counter() - t
    t = time.perf_counter()
    caption = captioner.caption(frame)
    timings["captioner"] = time.perf_counter() - t
    t = time.perf_counter()
    latent = codec.encode(frame)
    timings["latent_encode"] = time.perf_counter() - t
    recon = codec.decode(latent, size=frame.shape[:2])
    t = time.perf_counter()
    parts = encode_parts(frame, seg, mask, caption, lowres)
    timings["side_info_coding"] = time.perf_counter() - t
    h, w = frame.shape[:2]
    back = decode_parts(parts, h, w)
    if not (np.array_equal(back["map"], seg.labels) and np.array_equal(back["mask"], mask) and back["caption"] == caption):
        raise RuntimeError("side-information round trip is not exact")  # a bug, never a user error
    cells = block_any(mask, codec.downsample)  # (h, w) latent cells that touch the key mask
    c = latent.shape[0]
    notes = {
        "map": describe(parts["map"]) + f", {len(seg.present())} labels",
        "classes": "label names (no shared vocabulary)",
        "mask": describe(parts["mask"]) + f", {100 * mask.mean():.0f}% key",
        "caption": f"{len(caption.encode())} B of UTF-8",
        "lowres": f"{lowres.codec} q{lowres.quality}, 1/{lowres.factor} size",
        "key_latent": f"{c} ch x {int(cells.sum())} of {cells.size} latent cells (JSCC, analog)",
    }
    budget = frame_budget(h, w, parts, {"key_latent": c * int(cells.sum())}, notes=notes)
    return Inspection(frame, seg, mask, caption, latent.numpy(), recon, back["lowres"], parts, budget, timings, models)


def label_colours(n: int) -> np.ndarray:
    """(n, 3) uint8 distinct colours (tab20, then hsv for more)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if n <= 20 else "hsv"]
    return (np.array([cmap(i / max(1, n - 1) if n > 20 else i)[:3] for i in range(n)]) * 255).astype(np.uint8)


def overlay(frame: np.ndarray, labels: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Frame blended with label colours, label boundaries drawn in white; (H, W, 3) uint8."""
    colours = label_colours(int(labels.max()) + 1)
    out = (alpha * colours[labels] + (1 - alpha) * frame).astype(np.uint8)
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    out[edge] = 255
    return out


def key_view(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Key regions in full colour, the rest dimmed and grey, outlined in yellow."""
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out = np.where(mask[..., None], frame, (0.35 * grey).astype(np.uint8))
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.ascontiguousarray(out)
    cv2.drawContours(out, contours, -1, (255, 215, 0), max(1, frame.shape[0] // 170))
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def render_panel(ins: Inspection, path: Path, title: str) -> None:
    """Write the inspection panel PNG (about 1500 x 1400 px)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec, GridSpecFromSubplotSpec
    from matplotlib.patches import Patch

    h, w = ins.frame.shape[:2]
    fig = plt.figure(figsize=(15, 14), dpi=100, facecolor="white")
    gs = GridSpec(3, 3, figure=fig, height_ratios=[1, 1, 0.62], hspace=0.34, wspace=0.06,
                  left=0.02, right=0.98, top=0.94, bottom=0.02)
    fig.suptitle(title, fontsize=16, fontweight="bold")
    rows = {r["part"]: r for r in ins.budget.rows()}

    def show(cell, img, heading, sub=""):
        ax = fig.add_subplot(cell)
        ax.imshow(img, interpolation="nearest" if img.shape[0] < 96 else "antialiased")
        ax.set_title(heading, fontsize=12, fontweight="bold", loc="left")
        if sub:
            ax.text(0.0, -0.02, sub, transform=ax.transAxes, va="top", fontsize=9.5, color="#333")
        ax.set_xticks([])
        ax.set_yticks([])
        return ax

    show(gs[0, 0], ins.frame, "frame", f"{w}x{h} RGB, {h * w * 24 / 1000:.0f} kbit raw")
    seg = ins.segmentation
    ax = show(gs[0, 1], overlay(ins.frame, seg.labels), f"label map ({ins.models['segmenter']})",
              f"{rows['map']['bits']} bits, {rows['map']['bpp']:.3f} bpp lossless  [{ins.timings['segmenter'] * 1e3:.0f} ms]")
    colours = label_colours(int(seg.labels.max()) + 1)
    names = seg.descriptors or seg.class_names
    present = seg.present()
    area = np.bincount(seg.labels.ravel().astype(np.int64))
    shown = sorted(present, key=lambda i: -area[i])[:10]
    ax.legend(handles=[Patch(color=colours[i] / 255, label=str(names[i])[:32]) for i in shown],
              loc="upper left", bbox_to_anchor=(0.0, -0.065), ncol=2, fontsize=8.5, frameon=False,
              borderaxespad=0.0, handlelength=1.2, columnspacing=1.0, labelspacing=0.25)
    show(gs[0, 2], key_view(ins.frame, ins.key_mask), f"key regions ({ins.models['key_regions']})",
         f"{100 * ins.key_mask.mean():.1f}% of pixels, {rows['mask']['bits']} bits lossless  "
         f"[{ins.timings['key_regions'] * 1e3:.0f} ms]")
    lr = rows["lowres"]
    show(gs[1, 0], ins.lowres, "low-res image (SPIC), as received",
         f"{lr['note']}: {lr['bits']} bits, {lr['bpp']:.3f} bpp, PSNR {psnr(ins.lowres, ins.frame):.1f} dB")

    # latent channels, each normalised to its own range
    lat = ins.latent
    c = lat.shape[0]
    ncol = int(np.ceil(np.sqrt(c)))
    nrow = int(np.ceil(c / ncol))
    sub = GridSpecFromSubplotSpec(nrow, ncol, subplot_spec=gs[1, 1], wspace=0.04, hspace=0.04)
    for i in range(nrow * ncol):
        ax = fig.add_subplot(sub[i // ncol, i % ncol])
        ax.set_xticks([])
        ax.set_yticks([])
        if i < c:
            ax.imshow(lat[i], cmap="RdBu_r", vmin=-np.abs(lat[i]).max(), vmax=np.abs(lat[i]).max(), interpolation="nearest")
            ax.text(0.03, 0.97, str(i), transform=ax.transAxes, va="top", fontsize=8, color="k",
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", alpha=0.7, lw=0))
        else:
            ax.axis("off")
        if i == 0:
            ax.set_title(f"latent channels ({ins.models['latent_codec']})", fontsize=12, fontweight="bold", loc="left")
        if i == (nrow - 1) * ncol:
            kl = rows["key_latent"]
            ax.text(0.0, -0.08, f"{c}x{lat.shape[1]}x{lat.shape[2]}; key cells: {kl['channel_uses']} channel uses "
                    f"[{ins.timings['latent_encode'] * 1e3:.0f} ms]", transform=ax.transAxes, va="top", fontsize=9.5, color="#333")
    show(gs[1, 2], ins.reconstruction, "latent decoded (whole frame)",
         f"PSNR {psnr(ins.reconstruction, ins.frame):.1f} dB: what the key-region latents carry")

    ax = fig.add_subplot(gs[2, :])
    ax.axis("off")
    caption = "\n".join(textwrap.wrap(f"\u201c{ins.caption}\u201d", 120))
    ax.text(0.0, 1.0, f"caption ({ins.models['captioner']}, {ins.timings['captioner'] * 1e3:.0f} ms)", fontsize=12,
            fontweight="bold", va="top", transform=ax.transAxes)
    ax.text(0.0, 0.88, caption, fontsize=12, va="top", style="italic", transform=ax.transAxes, color="#1a3a6b")
    ax.text(0.0, 0.62, "bit budget", fontsize=12, fontweight="bold", va="top", transform=ax.transAxes)
    ax.text(0.0, 0.52, ins.budget.format(), fontsize=10, family="monospace", va="top", transform=ax.transAxes)
    fig.savefig(path, facecolor="white")
    plt.close(fig)


def parse_sources(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--source expects NAME=PATH, got {item!r}")
        out[name] = path
    return out


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog=PROG, description="Show what the transmitter extracts from one image, and its bit budget.")
    p.add_argument("image", type=Path, help="an image file (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", type=Path, default=None, help="panel PNG (default: IMAGE-inspect.png in the current folder)")
    p.add_argument("--json", type=Path, default=None, help="also write the budget and timings as JSON here")
    p.add_argument("--size", type=int, default=256, help="frame side: centre square crop resized to SIZE (as the sources do)")
    p.add_argument("--segmenter", default=default_model("segmenter"), help="segmenter model (see 'semcom models list')")
    p.add_argument("--key-regions", default=default_model("key_regions"), help="key-region selector model")
    p.add_argument("--captioner", default=default_model("captioner"), help="captioner model")
    p.add_argument("--latent", default=default_model("latent_codec"), help="latent codec model")
    p.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                   help="load model NAME's weights from PATH (a save_pretrained folder or a weights file)")
    p.add_argument("--lowres-factor", type=int, default=LowResConfig.factor, help="low-res downscale factor")
    p.add_argument("--lowres-codec", choices=("webp", "jpeg"), default=LowResConfig.codec)
    p.add_argument("--lowres-quality", type=int, default=LowResConfig.quality)
    args = p.parse_args(argv)

    def body() -> int:
        import torch

        from shared.sources import square_resize

        if not args.image.is_file():
            raise UsageError(f"image not found: {args.image}")
        bgr = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise UsageError(f"not a readable image: {args.image}")
        if args.size < 16:
            raise UsageError(f"--size must be at least 16, got {args.size}")
        frame = square_resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), args.size)
        sources = parse_sources(args.source)
        names = {"segmenter": args.segmenter, "key_regions": args.key_regions, "captioner": args.captioner,
                 "latent_codec": args.latent}
        torch.set_num_threads(min(2, torch.get_num_threads()))
        models = {role: load_model(name, sources.get(name), role=role) for role, name in names.items()}
        ins = inspect_frame(frame, models["segmenter"], models["key_regions"], models["captioner"], models["latent_codec"],
                            LowResConfig(args.lowres_factor, args.lowres_codec, args.lowres_quality), names)
        out = args.output or Path(f"{args.image.stem}-inspect.png")
        render_panel(ins, out, f"semcom inspect: {args.image.name}")
        print(f"caption: {ins.caption}")
        print(ins.budget.format())
        print("extractor time, first call incl. warm-up (ms): " + ", ".join(f"{k} {v * 1e3:.0f}" for k, v in ins.timings.items()))
        print(f"wrote {out}")
        if args.json:
            args.json.write_text(json.dumps({"image": str(args.image), "size": args.size, "models": names,
                                             "caption": ins.caption, "budget": ins.budget.rows(),
                                             "timings_s": ins.timings}, indent=1))
        return 0

    return run_cli(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
