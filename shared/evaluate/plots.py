"""The run's figures (matplotlib, Agg): every metric against SNR, one figure per channel, one
line per scheme point; and, where a scheme's rate is swept, every metric against CBR.

Each panel shows the mean over images and repeats (against SNR, with a band of +-1 standard error).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

# Plotted metric -> axis label (units; direction where it is not obvious).
PANELS = {
    "psnr_db": "PSNR (dB)",
    "ssim": "SSIM",
    "ms_ssim": "MS-SSIM",
    "effnet_dist": "EfficientNet feature distance\n(lower is better; not LPIPS)",
    "lpips_alex": "LPIPS, AlexNet (lower is better)",
    "semantic_top1": "top-1 class agreement",
    "semantic_top5": "top-5 class overlap",
    "miou_voc": "mIoU, re-segmented by ESPNetv2-VOC",
    "psnr_key": "PSNR in the key region (dB)",
    "psnr_rest": "PSNR outside the key region (dB)",
    "imagenet_top1": "ImageNet top-1 accuracy\n(true labels)",
    "decode_ok": "frames decoded (fraction)",
}


def _panels(summary: list[dict]) -> list[str]:
    return [name for name in PANELS if any(name in e for e in summary)]


def _grid(n: int, title: str):
    ncols = 3 if n in (5, 6, 9) else 4
    rows = -(-n // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(4.2 * ncols, 3.4 * rows + 1.2), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    return fig, list(axes.flat[:n])


def _line(ax, xs, entries, name, band: bool = True, **style) -> None:
    ys = [e[name] for e in entries]
    sem = [e.get(f"{name}_sem", 0.0) for e in entries]
    style.setdefault("marker", "o")
    (line,) = ax.plot(xs, ys, **style)
    if band:
        ax.fill_between(xs, [y - s for y, s in zip(ys, sem)], [y + s for y, s in zip(ys, sem)],
                        color=line.get_color(), alpha=0.15, linewidth=0)


def _finish(fig, axes, path: Path) -> None:
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.03 + 0.03 * (-(-len(labels) // 3)), 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_vs_snr(summary: list[dict], channel: str, subtitle: str, path: Path) -> None:
    """One panel per metric; x = SNR (dB); one line per point, its mean CBR and bpp in the legend."""
    entries = [e for e in summary if e["channel"] == channel]
    names = _panels(entries)
    fig, axes = _grid(len(names), f"{channel.upper()} channel: quality vs SNR\n{subtitle}")
    points = list(dict.fromkeys(e["point"] for e in entries))
    for point in points:
        line = sorted((e for e in entries if e["point"] == point), key=lambda e: e["snr_db"])
        label = f"{point}  (CBR {line[0]['cbr']:.4f}, {line[0]['bpp']:.3f} bpp)"
        for ax, name in zip(axes, names):
            present = [e for e in line if name in e]
            _line(ax, [e["snr_db"] for e in present], present, name, label=label)
    for ax, name in zip(axes, names):
        ax.set_xlabel("channel SNR (dB)")
        ax.set_ylabel(PANELS[name])
        ax.grid(alpha=0.3)
    _finish(fig, axes, path)


def swept_rates(summary: list[dict]) -> bool:
    """True when some scheme runs at more than one rate (CBR)."""
    rates: dict[str, set] = {}
    for e in summary:
        rates.setdefault(e["scheme"], set()).add(round(e["cbr"], 6))
    return any(len(r) > 1 for r in rates.values())


def plot_vs_cbr(summary: list[dict], channel: str, subtitle: str, path: Path) -> None:
    """One panel per metric; x = CBR (channel uses per pixel-channel); one line per (scheme, SNR).

    No error bands here: the lines of a digital scheme coincide at every SNR past its cliff, and
    stacked bands would hide them."""
    entries = [e for e in summary if e["channel"] == channel]
    names = _panels(entries)
    fig, axes = _grid(len(names), f"{channel.upper()} channel: quality vs rate\n{subtitle}")
    snrs = sorted({e["snr_db"] for e in entries})
    cmap = plt.get_cmap("plasma")
    markers = "osD^v<>p"
    for s, scheme in enumerate(dict.fromkeys(e["scheme"] for e in entries)):
        for i, snr in enumerate(snrs):
            line = sorted((e for e in entries if e["scheme"] == scheme and e["snr_db"] == snr), key=lambda e: e["cbr"])
            colour = cmap(0.85 * i / max(len(snrs) - 1, 1))  # the palest end of plasma is hard to see
            for ax, name in zip(axes, names):
                present = [e for e in line if name in e]
                _line(ax, [e["cbr"] for e in present], present, name, band=False, color=colour,
                      marker=markers[s % len(markers)], label=f"{scheme} @ {snr:g} dB")
    for ax, name in zip(axes, names):
        ax.set_xlabel("CBR (channel uses / (H·W·3))")
        ax.set_ylabel(PANELS[name])
        ax.grid(alpha=0.3)
    _finish(fig, axes, path)
