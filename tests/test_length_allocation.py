"""The allocators of benchmarks/length_allocation.py, the measurement of what content-adaptive lengths could gain."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

RATES = (8, 16, 24, 32, 48, 64)


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "length_allocation.py"
    spec = importlib.util.spec_from_file_location("length_allocation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lagrangian_lengths_spend_where_the_error_falls_fastest_within_the_budget(bench):
    cells = np.full(4, 16)
    flat = np.array([[1.0 / k for k in RATES]] * 4)  # four alike blocks: one length is best
    assert list(bench.lagrangian_lengths(flat, cells, RATES, 32 * 64)) == [32] * 4
    steep = flat.copy()
    steep[0] *= 50  # block 0 gains 50x more per value spent there
    lengths = bench.lagrangian_lengths(steep, cells, RATES, 32 * 64)
    assert lengths[0] == 64 and (lengths * cells).sum() <= 32 * 64 and lengths[1:].max() < 32
    saturated = np.array([[1.0] * len(RATES)] * 4)  # no gain anywhere: nothing beyond the cheapest length
    assert list(bench.lagrangian_lengths(saturated, cells, RATES, 32 * 64)) == [8] * 4


def test_hindsight_lengths_never_exceed_the_mean_budget_and_never_lose_to_one_length(bench):
    rng = np.random.default_rng(0)
    scores = np.sort(rng.uniform(0.3, 1.0, (12, len(RATES))), axis=1)[:, ::-1]  # falling with the rate, per frame
    idx, best = bench.hindsight_lengths(scores, RATES, 32)
    assert np.asarray(RATES)[idx].mean() <= 32 + 1e-9
    assert best <= scores[:, RATES.index(32)].mean() + 1e-12
    assert best == pytest.approx(scores[np.arange(12), idx].mean())
