"""The run's tables: ``results.csv`` and ``results.json`` (one row per job), and the summary
(mean per point, channel and SNR) that is printed and written to ``summary.csv``."""
from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

from shared.evaluate.grid import Job
from shared.metrics import METRICS

KEY_COLUMNS = ["scheme", "point", "channel", "snr_db", "image", "repeat", "seq", "decode_ok", "failure",
               "cbr", "bpp", "n_symbols", "source_bits", "header_bytes", "encode_ms", "channel_ms", "decode_ms"]
# Averaged in the summary: the outcome, every metric, the rate and the timings.
SUMMARY_VALUES = ["decode_ok", *METRICS, "imagenet_top1", "imagenet_top5", "cbr", "bpp", "encode_ms", "decode_ms"]
# Printed in the terminal table: (column, header, format).
PRINTED = [("decode_ok", "ok%", "{:5.0%}"), ("psnr_db", "PSNR dB", "{:7.2f}"), ("ssim", "SSIM", "{:5.3f}"),
           ("ms_ssim", "MS-SSIM", "{:7.3f}"), ("effnet_dist", "effnet", "{:6.3f}"), ("semantic_top1", "top1", "{:4.2f}"),
           ("miou_voc", "mIoU", "{:5.3f}"), ("psnr_key", "key dB", "{:6.2f}"), ("psnr_rest", "rest dB", "{:7.2f}"),
           ("imagenet_top1", "IN top1", "{:7.2f}"),
           ("cbr", "CBR", "{:6.4f}"), ("bpp", "bpp", "{:5.3f}"), ("decode_ms", "dec ms", "{:7.1f}")]


def ordered_rows(jobs: list[Job], rows: dict[str, dict]) -> list[dict]:
    """The measured rows of ``jobs``, in grid order."""
    return [rows[job.key] for job in jobs if job.key in rows]


def unavailable_metrics(rows: list[dict]) -> dict[str, str]:
    """name -> reason, for every metric some row could not compute."""
    out: dict[str, str] = {}
    for row in rows:
        out.update(row.get("unavailable", {}))
    return out


def _flat(row: dict) -> dict:
    """A row without its per-metric reasons (kept once, at the top of results.json)."""
    return {k: v for k, v in row.items() if k not in ("key", "unavailable")}


def write_results(out: Path, config: dict, rows: list[dict]) -> None:
    """``results.json`` (config, unavailable metrics, rows) and ``results.csv`` (the rows)."""
    flat = [_flat(r) for r in rows]
    doc = {"config": config, "unavailable_metrics": unavailable_metrics(rows), "rows": flat}
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    columns = list(KEY_COLUMNS)
    for row in flat:
        columns += [k for k in row if k not in columns]
    _write_csv(out / "results.csv", columns, flat)


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _mean_and_sem(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def summarize(rows: list[dict]) -> list[dict]:
    """Rows -> one entry per (point, channel, SNR), in first-seen order: ``n``, and for each of
    SUMMARY_VALUES present its mean and its standard error (``<name>_sem``)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["point"], row["channel"], row["snr_db"])].append(row)
    summary = []
    for (point, channel, snr), members in groups.items():
        entry = {"point": point, "scheme": members[0]["scheme"], "channel": channel, "snr_db": snr, "n": len(members)}
        for name in SUMMARY_VALUES:
            values = [float(r[name]) for r in members if r.get(name) is not None and not math.isnan(float(r[name]))]
            if values:
                entry[name], entry[f"{name}_sem"] = _mean_and_sem(values)
        summary.append(entry)
    return summary


def write_summary(out: Path, summary: list[dict]) -> None:
    columns: list[str] = []
    for entry in summary:
        columns += [k for k in entry if k not in columns]
    _write_csv(out / "summary.csv", columns, summary)


def format_summary(summary: list[dict]) -> str:
    """The summary as a fixed-width text table (means over images and repeats)."""
    printed = [(col, head, fmt) for col, head, fmt in PRINTED if any(col in e for e in summary)]
    width = max([len("point")] + [len(e["point"]) for e in summary])
    heads = [f"{'point':<{width}}", f"{'channel':<8}", f"{'SNR dB':>6}", f"{'n':>3}"]
    heads += [f"{head:>{len(fmt.format(0.5))}}" for _, head, fmt in printed]
    lines = ["  ".join(heads)]
    for e in summary:
        cells = [f"{e['point']:<{width}}", f"{e['channel']:<8}", f"{e['snr_db']:>6g}", f"{e['n']:>3}"]
        for col, _, fmt in printed:
            blank = " " * len(fmt.format(0.5))
            cells.append(fmt.format(e[col]) if col in e else blank)
        lines.append("  ".join(cells))
    return "\n".join(lines)
