"""SNR schedules: the channel SNR (dB) of the i-th frame of a stream.

Every schedule is a deterministic function of (spec, seed, frame index), so a
run can be reproduced exactly and two services can agree on it.

Spec strings, as taken on the command line (``--snr-schedule``):

* ``const`` (default): always ``--snr-db``.
* ``list:0,5,10``: cycle through the values, one per frame.
* ``trace:PATH``: one value per line in a text file (``#`` comments), cycled.
* ``gm:MEAN,STD,RHO``: a Gauss-Markov walk,
  s[i+1] = MEAN + RHO (s[i] - MEAN) + sqrt(1 - RHO^2) STD w[i], w ~ N(0, 1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SNR_DB_RANGE = (-30.0, 60.0)  # beyond these a link is either dead or noiseless


def _check(value: float, where: str) -> float:
    lo, hi = SNR_DB_RANGE
    if not np.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{where}: SNR {value} dB outside [{lo:g}, {hi:g}] dB")
    return float(value)


class SnrSchedule:
    """SNR of frame ``i`` in dB: ``schedule(i)``."""

    def __init__(self, spec: str, snr_db: float, seed: int = 0):
        self.spec = spec
        kind, _, arg = spec.partition(":")
        if kind == "const":
            self._values = [_check(snr_db, "--snr-db")]
            self._walk = None
        elif kind == "list":
            self._values = [_check(float(v), spec) for v in arg.split(",") if v.strip()]
            if not self._values:
                raise ValueError(f"{spec}: empty SNR list")
            self._walk = None
        elif kind == "trace":
            path = Path(arg)
            if not path.is_file():
                raise ValueError(f"SNR trace file not found: {arg}")
            lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
            self._values = [_check(float(v), f"{arg}") for v in lines if v]
            if not self._values:
                raise ValueError(f"{arg}: SNR trace holds no values")
            self._walk = None
        elif kind == "gm":
            try:
                mean, std, rho = (float(v) for v in arg.split(","))
            except ValueError:
                raise ValueError(f"{spec}: expected gm:MEAN,STD,RHO") from None
            if not 0.0 <= rho < 1.0 or std < 0:
                raise ValueError(f"{spec}: need 0 <= RHO < 1 and STD >= 0")
            _check(mean, spec)
            self._walk = (mean, std, rho)
            self._seed = seed
            self._restart_walk()
        else:
            raise ValueError(f"unknown SNR schedule {spec!r}: use const, list:..., trace:PATH or gm:MEAN,STD,RHO")

    def __call__(self, index: int) -> float:
        if self._walk is None:
            return self._values[index % len(self._values)]
        mean, std, rho = self._walk
        if index < self._index:  # an earlier frame (rare: frames come in order): walk again from the start
            self._restart_walk()
        while self._index < index:  # extend the walk lazily, keeping only its head: a stream of any length, O(1) memory
            nxt = mean + rho * (self._value - mean) + np.sqrt(1 - rho**2) * std * self._rng.standard_normal()
            self._value = float(np.clip(nxt, *SNR_DB_RANGE))
            self._index += 1
        return self._value

    def _restart_walk(self) -> None:
        """The Gauss-Markov walk at frame 0: same seed, same path."""
        self._rng = np.random.default_rng([self._seed, 0x5A12])
        self._index, self._value = 0, self._walk[0]
