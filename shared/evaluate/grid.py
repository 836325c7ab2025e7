"""The run grid: which (scheme point, channel, SNR, image, repeat) combinations run, in what order.

A *scheme point* is one scheme with one full set of validated parameters. ``--param`` values
with commas sweep a parameter, so ``--param digital:cbr=0.04,0.083`` gives two digital points.
Each job gets a channel ``seq`` from (image index, repeat) alone, so its channel draw is the same
whatever else runs and in whatever order: results are reproducible and resumable.
"""
from __future__ import annotations

import argparse
import itertools
import math
from dataclasses import dataclass

from shared.cli import UsageError
from shared.cli_options import scheme_from_args

MAX_REPEATS = 1000  # seq = image_index * MAX_REPEATS + repeat
MAX_SNR_POINTS = 200  # a typo such as 0:20:0.001 is refused, not run for a week


@dataclass(frozen=True)
class SchemePoint:
    """One scheme at one parameter setting; ``label`` names it in rows, legends and keys."""

    label: str  # "digital", or "digital cbr=0.04" when a parameter is swept
    scheme: str
    params: dict  # every parameter, validated, JSON-able (the header's scheme_params)

    def as_config(self) -> dict:
        return {"label": self.label, "scheme": self.scheme, "params": self.params}


@dataclass(frozen=True)
class Job:
    """One row of the results: a point through one channel at one SNR, for one image and repeat."""

    point: SchemePoint
    channel: str
    snr_db: float
    image: str
    image_index: int
    repeat: int

    @property
    def key(self) -> str:
        return f"{self.point.label}|{self.channel}|{self.snr_db:g}|{self.image}|{self.repeat}"

    @property
    def seq(self) -> int:
        """The channel's frame number: shared by every point, channel and SNR of one (image, repeat)."""
        return self.image_index * MAX_REPEATS + self.repeat


def parse_snr_list(text: str) -> list[float]:
    """``START:STOP:STEP`` (STOP included), ``A,B,C`` or ``A`` -> sorted SNRs in dB."""
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3:
                raise UsageError(f"--snr-db {text!r}: expected START:STOP:STEP")
            start, stop, step = parts
            if step <= 0 or stop < start:
                raise UsageError(f"--snr-db {text!r}: need STEP > 0 and STOP >= START")
            count = math.floor((stop - start) / step + 1e-9) + 1
            if count > MAX_SNR_POINTS:
                raise UsageError(f"--snr-db {text!r}: {count} points; at most {MAX_SNR_POINTS}")
            values = [round(start + i * step, 6) for i in range(count)]
        else:
            values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--snr-db {text!r}: expected START:STOP:STEP or a comma list of numbers (dB)") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"--snr-db {text!r}: values must be finite")
    return sorted(set(values))


def parse_names(text: str, what: str, known: list[str]) -> list[str]:
    """A comma list of names, each in ``known``, without repeats, in the order given."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--{what}: give at least one of {', '.join(known)}")
    for name in names:
        if name not in known:
            raise UsageError(f"--{what}: unknown {name!r}; available: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise UsageError(f"--{what} {text!r}: a name is repeated")
    return names


def _split_param(item: str, schemes: list[str]) -> tuple[list[str], str, list[str]]:
    """``[SCHEME:]KEY=V1[,V2...]`` -> (schemes it applies to, key, values)."""
    target, sep, values = item.partition("=")
    if not sep or not target or not values:
        raise UsageError(f"--param {item!r}: expected [SCHEME:]KEY=VALUE[,VALUE...]")
    scheme, colon, key = target.rpartition(":")
    if not colon:
        return list(schemes), key, values.split(",")
    if scheme not in schemes:
        raise UsageError(f"--param {item!r}: scheme {scheme!r} is not among --schemes ({', '.join(schemes)})")
    return [scheme], key, values.split(",")


def scheme_points(schemes: list[str], param_items: list[str]) -> list[SchemePoint]:
    """Every scheme crossed with every combination of its swept parameters, validated."""
    sweeps: dict[str, dict[str, list[str]]] = {s: {} for s in schemes}
    for item in param_items:
        targets, key, values = _split_param(item, schemes)
        for scheme in targets:
            if key in sweeps[scheme]:
                raise UsageError(f"--param: {scheme}:{key} given twice; list its values once, comma-separated")
            sweeps[scheme][key] = values
    points: list[SchemePoint] = []
    for scheme in schemes:
        keys = list(sweeps[scheme])
        swept = [k for k in keys if len(sweeps[scheme][k]) > 1]
        for combo in itertools.product(*(sweeps[scheme][k] for k in keys)):
            chosen = dict(zip(keys, combo))
            ns = argparse.Namespace(scheme=scheme, param=[f"{k}={v}" for k, v in chosen.items()])
            name, params = scheme_from_args(ns)
            label = " ".join([name] + [f"{k}={chosen[k]}" for k in swept])
            points.append(SchemePoint(label, name, params))
    return points


def build_jobs(points: list[SchemePoint], channels: list[str], snrs: list[float],
               images: list[str], repeats: int) -> list[Job]:
    """The grid in run order: point, image, repeat (one encode each), then channel, SNR."""
    if not 1 <= repeats <= MAX_REPEATS:
        raise UsageError(f"--repeats {repeats}: must be between 1 and {MAX_REPEATS}")
    return [
        Job(point, channel, snr, image, index, repeat)
        for point in points
        for index, image in enumerate(images)
        for repeat in range(repeats)
        for channel in channels
        for snr in snrs
    ]
