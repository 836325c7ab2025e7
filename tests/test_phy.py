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


def _arrived(data: bytes, cfg: LinkConfig, snr_db: float, trials: int, seed: int) -> float:
    """Share of ``trials`` AWGN transmissions of ``data`` at ``snr_db`` that pass the CRC."""
    rng = np.random.default_rng(seed)
    x = link.transmit(data, cfg)
    n0 = 10 ** (-snr_db / 10)
    ok = 0
    for _ in range(trials):
        noise = np.sqrt(n0 / 2) * (rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size))
        ok += link.receive((x + noise).astype(np.complex64), np.full(x.size, n0, np.float32), cfg) == data
    return ok / trials


def test_fitted_block_costs_its_own_length_and_the_receiver_reads_k_off_the_count():
    padded = LinkConfig(modulation="qpsk", code_rate=0.5, ldpc_k=1024)
    fitted = padded.model_copy(update={"fit": True})
    noiseless = lambda x: np.full(x.size, 1e-6, np.float32)  # noqa: E731
    counts = set()
    for n_bytes in (0, 1, 50, 115):  # 115 + 8 bytes of overhead: the last size under one 1,024-bit block
        data = np.random.default_rng(n_bytes).bytes(n_bytes)
        x = link.transmit(data, fitted)
        # k: the transport block's bits rounded up to 32; n = 2k at rate 1/2; 2 bits a QPSK symbol
        k = -(-(n_bytes + link.TB_OVERHEAD_BYTES) * 8 // 32) * 32
        assert x.size == fitted.n_symbols(n_bytes) == k < padded.n_symbols(n_bytes) == 1024
        assert link.receive(x, noiseless(x), fitted) == data and fitted.capacity_bytes(x.size) >= n_bytes
        counts.add(x.size)
    assert len(counts) == 4
    long = np.random.default_rng(9).bytes(300)  # 2,464 bits: two whole blocks, and 416 bits in a fitted last one
    x = link.transmit(long, fitted)
    assert x.size == fitted.n_symbols(300) == 2 * 1024 + 416 < padded.n_symbols(300) == 3 * 1024
    assert link.receive(x, noiseless(x), fitted) == long and fitted.capacity_bytes(x.size) == 300
    whole = np.random.default_rng(8).bytes(248)  # (248 + 8) bytes = two whole blocks: nothing left to fit
    assert link.transmit(whole, fitted).size == 2 * 1024
    for count in (100, 1024 + 100):  # counts no fitted k gives (fitted counts step by 32 at rate 1/2)
        odd = np.zeros(count, np.complex64)
        assert link.receive(odd, noiseless(odd), fitted) is None
    junk = np.random.default_rng(1).standard_normal(480).astype(np.complex64)
    assert link.receive(junk, noiseless(junk), fitted) is None


def test_a_fitted_rate_third_block_arrives_where_a_padded_half_rate_one_fails():
    # keyregion's mask (~55 bytes with its overhead) at 0 dB AWGN: r 1/3 in a fitted block against r 1/2 padded to
    # 1,024 bits, the semantic link before; the fitted one also costs fewer symbols
    mask = np.random.default_rng(3).bytes(55)
    half = LinkConfig(modulation="qpsk", code_rate=0.5, ldpc_k=1024)
    third = LinkConfig(modulation="qpsk", code_rate=1 / 3, ldpc_k=1024, fit=True)
    assert third.n_symbols(len(mask)) < half.n_symbols(len(mask))
    assert _arrived(mask, third, 0.0, 40, seed=5) >= 0.9
    assert _arrived(mask, half, 0.0, 40, seed=6) <= 0.5
