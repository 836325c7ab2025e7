"""The PHY against theory: uncoded QPSK BER and the LDPC cliff."""
import numpy as np
import pytest

from shared.phy import link, linksim
from shared.phy.link import LinkConfig

N_BITS = 400_000  # >= 2,000 bit errors at every point below: ~2% relative standard error


@pytest.mark.parametrize("snr_db", [0.0, 4.0, 8.0])
def test_qpsk_ber_awgn_matches_closed_form(snr_db):
    ber = linksim.uncoded_ber("qpsk", "awgn", snr_db, N_BITS, seed=int(snr_db))
    assert abs(ber / linksim.qpsk_ber_awgn(snr_db) - 1) < 0.10


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_qpsk_ber_rayleigh_with_equalisation_matches_closed_form(snr_db):
    ber = linksim.uncoded_ber("qpsk", "rayleigh", snr_db, N_BITS, seed=int(snr_db))
    assert abs(ber / linksim.qpsk_ber_rayleigh(snr_db) - 1) < 0.10


def test_ldpc_cliff_around_its_threshold():
    cfg = LinkConfig(modulation="qpsk", code_rate=0.5, ldpc_k=1024)
    threshold = linksim.bler_threshold_db(cfg, lo=-2.0, hi=6.0)
    # rate-1/2 QPSK carries 1 bit/symbol: Shannon's limit is 0 dB; a 2048-bit code sits ~1 dB above
    assert 0.0 < threshold < 2.5
    assert linksim.coded_bler(cfg, "awgn", threshold + 2, 300, seed=11) < 0.01
    assert linksim.coded_bler(cfg, "awgn", threshold - 2, 300, seed=12) > 0.90


def test_link_round_trip_and_crc_catches_garbage():
    cfg = LinkConfig(modulation="16qam", code_rate=0.5, ldpc_k=1024)
    data = np.random.default_rng(0).bytes(700)
    x = link.transmit(data, cfg)
    assert x.size == cfg.n_symbols(len(data)) and abs(np.mean(np.abs(x) ** 2) - 1) < 0.05
    noiseless = np.full(x.size, 1e-6, np.float32)
    assert link.receive(x, noiseless, cfg) == data
    junk = np.random.default_rng(1).standard_normal(x.size).astype(np.complex64)
    assert link.receive(junk, noiseless, cfg) is None
    assert cfg.capacity_bytes(x.size) >= len(data)
