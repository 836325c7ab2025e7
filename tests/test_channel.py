"""The channel against theory: noise power, fading power, blocks, schedules, erasure."""
import numpy as np
import pytest

from shared.channel.awgn import snr_db_to_n0
from shared.channel.simulator import ChannelSimulator, apply_channel
from shared.channel.snr import SnrSchedule
from shared.config import ChannelConfig


def test_awgn_noise_variance_matches_n0_within_2_percent():
    n = 1_000_000
    for snr_db in (0.0, 10.0):
        sim = ChannelSimulator(ChannelConfig(model="awgn", snr_db=snr_db, seed=1))
        x = np.zeros(n, np.complex64)
        (y,) = apply_channel([x], sim.realize(0, n))
        n0 = snr_db_to_n0(snr_db)
        assert abs(np.mean(np.abs(y) ** 2) / n0 - 1) < 0.02
        # circular: real and imaginary parts carry half each
        assert abs(np.var(y.real) / (n0 / 2) - 1) < 0.02
        assert abs(np.var(y.imag) / (n0 / 2) - 1) < 0.02


@pytest.mark.parametrize("model", ["rayleigh", "rician"])
def test_fading_has_unit_mean_power(model):
    sim = ChannelSimulator(ChannelConfig(model=model, block_len=1, seed=2, rician_k=3.0))
    h = sim.realize(0, 200_000).gains
    assert abs(np.mean(np.abs(h) ** 2) - 1) < 0.02


def test_rician_line_of_sight_share_matches_k():
    k = 4.0
    h = ChannelSimulator(ChannelConfig(model="rician", block_len=1, rician_k=k, seed=3)).realize(0, 200_000).gains
    los = np.mean(h)
    assert abs(abs(los) ** 2 - k / (k + 1)) < 0.01
    assert abs(np.var(h) - 1 / (k + 1)) < 0.01


def test_block_fading_holds_one_gain_per_block():
    sim = ChannelSimulator(ChannelConfig(model="rayleigh", snr_db=60, block_len=100, seed=4))
    real = sim.realize(0, 1000)
    assert real.gains.size == 10
    x = np.ones(1000, np.complex64)
    (y,) = apply_channel([x], real)
    blocks = y.reshape(10, 100)
    np.testing.assert_allclose(blocks, np.repeat(real.gains[:, None], 100, axis=1), atol=0.01)
    # default: one gain for the whole frame, across payload boundaries
    sim = ChannelSimulator(ChannelConfig(model="rayleigh", snr_db=60, seed=4))
    real = sim.realize(0, 300)
    y1, y2 = apply_channel([np.ones(100, np.complex64), np.ones(200, np.complex64)], real)
    assert real.gains.size == 1
    np.testing.assert_allclose(np.concatenate([y1, y2]), real.gains[0], atol=0.01)


def test_draws_are_reproducible_per_seed_and_frame():
    cfg = ChannelConfig(model="rayleigh", snr_db=5, seed=7)
    x = np.ones(64, np.complex64)
    a = apply_channel([x], ChannelSimulator(cfg).realize(5, 64))[0]
    b = apply_channel([x], ChannelSimulator(cfg).realize(5, 64))[0]
    c = apply_channel([x], ChannelSimulator(cfg).realize(6, 64))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_csi_error_has_the_configured_variance():
    sim = ChannelSimulator(ChannelConfig(model="rayleigh", block_len=1, csi_error_var=0.1, seed=8))
    real = sim.realize(0, 100_000)
    err = real.csi - real.gains
    assert abs(np.mean(np.abs(err) ** 2) / 0.1 - 1) < 0.03
    perfect = ChannelSimulator(ChannelConfig(model="rayleigh", seed=8)).realize(0, 10)
    np.testing.assert_array_equal(perfect.csi, perfect.gains)


def test_erasure_rate_and_delay_jitter():
    sim = ChannelSimulator(ChannelConfig(erasure=0.2, delay_ms=20, jitter_ms=5, seed=9))
    reals = [sim.realize(i, 10) for i in range(4000)]
    assert abs(np.mean([r.erased for r in reals]) - 0.2) < 0.02
    delays = np.array([r.delay_s for r in reals]) * 1000
    assert delays.min() >= 15 and delays.max() <= 25 and abs(delays.mean() - 20) < 0.3


def test_snr_schedules(tmp_path):
    assert [SnrSchedule("list:0,5,10", 0)(i) for i in range(4)] == [0, 5, 10, 0]
    trace = tmp_path / "trace.txt"
    trace.write_text("# dB\n3\n7.5\n")
    assert [SnrSchedule(f"trace:{trace}", 0)(i) for i in range(3)] == [3, 7.5, 3]
    walk = SnrSchedule("gm:10,3,0.9", 0, seed=1)
    s = np.array([walk(i) for i in range(20_000)])
    assert abs(s.mean() - 10) < 0.5 and abs(s.std() - 3) < 0.3
    assert abs(np.corrcoef(s[:-1], s[1:])[0, 1] - 0.9) < 0.02
    again = SnrSchedule("gm:10,3,0.9", 0, seed=1)
    assert again(500) == walk(500)
    for bad in ("list:", "gm:1,2", "gm:10,3,1.5", "nope", "list:0,99", f"trace:{tmp_path}/missing"):
        with pytest.raises(ValueError):
            SnrSchedule(bad, 0)


def test_the_gauss_markov_walk_holds_constant_memory_and_its_path():
    """The walk kept every value it had drawn: 32 bytes a frame, for ever, on a live stream."""
    from shared.channel.snr import SnrSchedule

    walk = SnrSchedule("gm:12,4,0.95", 12.0, seed=3)
    path = [walk(i) for i in range(5000)]
    assert not hasattr(walk, "_values") or len(walk._values) <= 1
    again = SnrSchedule("gm:12,4,0.95", 12.0, seed=3)
    assert again(4999) == path[4999] and again(10) == path[10]  # out of order: the same path
