"""``semcom eval``: sweep schemes, channels, SNRs and images; write tables, plots and a contact sheet."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from shared.cli import CliParser, UsageError, run_cli
from shared.cli_options import add_channel_args, channel_from_args
from shared.metrics import OPTIONAL_METRICS, compute_all

PROG = "semcom eval"
CHANNELS = ["awgn", "rayleigh", "rician"]
NOT_FOR_EVAL = {"snr_schedule", "delay_ms", "jitter_ms", "symbol_rate"}  # timing and schedules: the services' concern

DESCRIPTION = """\
Sweep schemes, channels, SNRs and images through the services' encode -> channel -> decode
path; write tables, plots and contact sheets. Resumable: a rerun into --out skips what is done."""
EPILOG = """\
scheme parameters:
  --param [SCHEME:]KEY=VALUE[,VALUE...]   (repeatable)
    SCHEME: limits it to one of --schemes (without it, every scheme gets it);
    dotted keys nest (link.modulation=qpsk); commas sweep, and several swept keys
    are crossed, e.g. --param digital:cbr=0.04,0.083 runs digital at two rates
    and adds plots of each metric against CBR.

outputs in --out:
  rows.jsonl, run.json     the rows as they finish, and the run's config (resume)
  results.csv, results.json, summary.csv
  snr_<channel>.png        every metric vs SNR, one line per scheme point
  cbr_<channel>.png        every metric vs CBR (only when a rate is swept)
  contact_<channel>.png    reconstructions, (image, scheme) x SNR
  recon/                   the PNGs behind the contact sheets

example:
  semcom eval --schemes digital --channel awgn,rayleigh --snr-db 0:20:5 --out results/
"""


def build_parser() -> CliParser:
    parser = CliParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, conflict_handler="resolve",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    channel = add_channel_args(parser)  # block length, CSI error, erasure, Rician K, seed; --channel/--snr-db widened below
    for action in channel._group_actions:
        if action.dest in NOT_FOR_EVAL:
            action.help = argparse.SUPPRESS
    g = parser.add_argument_group("sweep")
    g.add_argument("--schemes", default="digital", help="comma list of schemes (default: %(default)s)")
    g.add_argument("--channel", default="awgn,rayleigh", help="comma list of awgn, rayleigh, rician (default: %(default)s)")
    g.add_argument("--snr-db", default="0:20:5", help="START:STOP:STEP (STOP included) or a comma list, dB (default: %(default)s)")
    g.add_argument("--param", action="append", default=[], metavar="[SCHEME:]KEY=VALUE[,VALUE...]",
                   help="scheme parameter, repeatable; commas sweep it (see below)")
    g.add_argument("--images", default="builtin",
                   help="builtin (scikit-image's validation photos), folder:PATH, or corpus:PATH[@SET] (its fixed validation "
                        "split; @SET: one photo set, e.g. @imagenet-sample, whose file names give ImageNet accuracy against the "
                        "true labels) (default: %(default)s)")
    g.add_argument("--size", type=int, default=256,
                   help="images are centre-cropped and resized to SIZE x SIZE; 0 keeps each at its own size (default: %(default)s)")
    g.add_argument("--limit", type=int, default=None, help="use only the first N images")
    g.add_argument("--repeats", type=int, default=1, help="channel draws per image (default: %(default)s)")
    o = parser.add_argument_group("output")
    o.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: %(default)s)")
    o.add_argument("--fresh", action="store_true", help="discard the results already in --out instead of resuming")
    o.add_argument("--sheet-images", type=int, default=2, help="images on the contact sheets (default: %(default)s)")
    o.add_argument("--metric", action="append", default=[], choices=OPTIONAL_METRICS, metavar="NAME",
                   help=f"also compute an optional metric ({', '.join(OPTIONAL_METRICS)}: miou_voc re-segments the reconstruction "
                        "by ESPNetv2-VOC, mIoU against the original's map; psnr_key / psnr_rest are PSNR inside / outside the "
                        "original's YuNet key mask; each needs its hub weights); repeatable")
    o.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="device of the metrics (default: %(default)s)")
    return parser


def _check_ranges(ns: argparse.Namespace) -> None:
    if ns.size != 0 and not 16 <= ns.size <= 4096:
        raise UsageError(f"--size {ns.size}: must be 0 (native size) or between 16 and 4096")
    if ns.limit is not None and ns.limit < 1:
        raise UsageError(f"--limit {ns.limit}: must be at least 1")
    if ns.sheet_images < 0:
        raise UsageError(f"--sheet-images {ns.sheet_images}: must be >= 0")
    if ns.snr_schedule != "const":
        raise UsageError("--snr-schedule: eval sweeps --snr-db; schedules are for the services")


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device here")
    return choice


def _body(ns: argparse.Namespace) -> int:
    from shared.evaluate.contact_sheet import draw_contact_sheet
    from shared.evaluate.grid import build_jobs, parse_names, parse_snr_list, scheme_points
    from shared.evaluate.images import load_images
    from shared.evaluate.plots import plot_vs_cbr, plot_vs_snr, swept_rates
    from shared.evaluate.report import format_summary, ordered_rows, summarize, unavailable_metrics, write_results, write_summary
    from shared.evaluate.runner import Runner
    from shared.evaluate.store import ConfigMismatch, RunStore
    from shared.schemes.base import scheme_names

    _check_ranges(ns)
    schemes = parse_names(ns.schemes, "schemes", scheme_names())
    channels = parse_names(ns.channel, "channel", CHANNELS)
    snrs = parse_snr_list(ns.snr_db)
    points = scheme_points(schemes, ns.param)

    def channel_config(model: str, snr_db: float):
        return channel_from_args(argparse.Namespace(**{**vars(ns), "channel": model, "snr_db": snr_db}))

    base = channel_config(channels[0], snrs[0]).model_dump(exclude={"model", "snr_db"})  # validates the channel options
    device = _device(ns.device)
    extra_metrics = tuple(sorted(set(ns.metric)))
    for name, reason in _not_computable_here(extra_metrics).items():  # say so before a long run, not only after it
        print(f"{PROG}: --metric {name} cannot be computed here, its columns will be missing: {reason}", file=sys.stderr)
    images = load_images(ns.images, ns.size, ns.limit)
    jobs = build_jobs(points, channels, snrs, list(images), ns.repeats)
    config = {
        "points": [p.as_config() for p in points], "channels": channels, "snr_db": snrs, "channel": base,
        "images": ns.images, "image_names": list(images), "size": ns.size, "repeats": ns.repeats,
        **({"extra_metrics": list(extra_metrics)} if extra_metrics else {}),
    }
    try:
        store = RunStore(ns.out, config, fresh=ns.fresh)
    except ConfigMismatch as exc:
        raise UsageError(str(exc)) from None
    sheet = list(images)[: ns.sheet_images]
    print(f"{PROG}: {len(jobs)} runs ({len(points)} points x {len(channels)} channels x {len(snrs)} SNRs x "
          f"{len(images)} images x {ns.repeats} repeats), {len(store.rows)} already in {ns.out}")
    t0 = time.perf_counter()
    Runner(images, channel_config, store, sheet, device, extra_metrics).run(jobs)

    rows = ordered_rows(jobs, store.rows)
    write_results(ns.out, store.config, rows)
    summary = summarize(rows)
    write_summary(ns.out, summary)
    fading = "; one fade per frame" if base["block_len"] == 0 else f"; a fade every {base['block_len']} symbols"
    size = "native size" if ns.size == 0 else f"{ns.size}x{ns.size}"
    subtitle = f"{len(images)} images ({ns.images}), {size}, {ns.repeats} channel draw(s) each"
    written = []
    for channel in channels:
        about = subtitle + ("" if channel == "awgn" else fading) + "; mean"
        plot_vs_snr(summary, channel, about + " ± 1 standard error", ns.out / f"snr_{channel}.png")
        written.append(f"snr_{channel}.png")
        if swept_rates(summary):
            plot_vs_cbr(summary, channel, about, ns.out / f"cbr_{channel}.png")
            written.append(f"cbr_{channel}.png")
        if sheet and draw_contact_sheet(jobs, store.rows, store.recon_dir, sheet, channel, ns.out / f"contact_{channel}.png"):
            written.append(f"contact_{channel}.png")
    print(format_summary(summary))
    for name, reason in unavailable_metrics(rows).items():
        if name in extra_metrics:  # asked for by name, so say why it is missing (every reason is in results.json)
            print(f"{PROG}: --metric {name} was not computed: {reason}", file=sys.stderr)
    print(f"{PROG}: {len(rows)} rows in {time.perf_counter() - t0:.1f} s -> {ns.out}/results.csv, results.json, "
          + ", ".join(written))
    return 0


def _not_computable_here(names: tuple[str, ...]) -> dict[str, str]:
    """name -> reason for each optional metric that cannot run on this machine (its weights or package missing),
    probed once on a small blank pair; the models it loads stay cached for the run."""
    if not names:
        return {}
    probe = torch.zeros(1, 3, 64, 64)  # (1, 3, 64, 64): big enough for every optional metric's networks
    return compute_all(probe, probe, names).unavailable


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _body(ns))


if __name__ == "__main__":
    raise SystemExit(main())
