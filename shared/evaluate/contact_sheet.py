"""The contact sheet: reconstructions of one or two images, one row per (image, scheme point)
and one column per SNR, beside the original; each tile is labelled with its PSNR, or as lost.

Reads the PNGs the runner wrote into ``recon/``, so a resumed run draws the same sheet.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from shared.evaluate.grid import Job  # noqa: E402
from shared.evaluate.runner import original_path, recon_path  # noqa: E402

TILE_IN = 1.9  # inches per tile


def _read_rgb(path: Path):
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def draw_contact_sheet(jobs: list[Job], rows: dict[str, dict], recon_dir: Path, images: list[str],
                       channel: str, path: Path) -> bool:
    """Sheet of ``channel``'s repeat-0 jobs on ``images``; False (nothing drawn) when none ran."""
    jobs = [j for j in jobs if j.channel == channel and j.image in images and j.repeat == 0 and j.key in rows]
    if not jobs:
        return False
    snrs = sorted({j.snr_db for j in jobs})
    lines = list(dict.fromkeys((j.image, j.point.label) for j in jobs))
    fig, axes = plt.subplots(len(lines), len(snrs) + 1, squeeze=False, layout="constrained",
                             figsize=(TILE_IN * (len(snrs) + 1), (TILE_IN + 0.35) * len(lines) + 0.6))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    by_cell = {(j.image, j.point.label, j.snr_db): j for j in jobs}
    rate = {(j.image, j.point.label): rows[j.key] for j in jobs}  # the rate does not depend on the channel
    for r, (image, label) in enumerate(lines):
        axes[r, 0].imshow(_read_rgb(original_path(recon_dir, image)))
        row = rate[(image, label)]
        axes[r, 0].set_ylabel(f"{image}\n{label}\nCBR {row['cbr']:.4f}, {row['bpp']:.3f} bpp", fontsize=7)
        if r == 0:
            axes[r, 0].set_title("original", fontsize=9)
        for c, snr in enumerate(snrs, start=1):
            ax = axes[r, c]
            if r == 0:
                ax.set_title(f"SNR {snr:g} dB", fontsize=9)
            job = by_cell.get((image, label, snr))
            picture = None if job is None else _read_rgb(recon_path(recon_dir, job))
            if picture is None:
                continue
            ax.imshow(picture)
            row = rows[job.key]
            text = f"{row['psnr_db']:.1f} dB" if row["decode_ok"] else "lost (grey)"
            ax.set_xlabel(text, fontsize=8, color="black" if row["decode_ok"] else "red")
    fig.suptitle(f"{channel.upper()} channel: reconstructions\n(PSNR below each; a lost frame shows grey)", fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
