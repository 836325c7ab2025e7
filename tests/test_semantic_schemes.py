"""The semantic schemes (spic, keyregion, full): conditions, analog key latents, reuse, lost parts, end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.config import ChannelConfig
from shared.generators.semantic_conditions import (
    EDGE_CHANNELS,
    SCHEME_CONDITIONS,
    edge_condition,
    lowres_condition,
    non_key,
    semantic_conditions,
)
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.schemes.base import Received, get_scheme
from shared.schemes.semantic import SCHEME_PARTS, observe_key, pack_key, scheme_parts, sent_parts, zero_mean_lmmse
from shared.sources import skimage_photos, square_resize


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    p = skimage_photos()
    return {name: square_resize(p[name], 64) for name in ("astronaut", "coffee")}  # (64, 64, 3) uint8 each


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = d[mask].mean() if mask is not None else d.mean()
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def round_trip(scheme, frame, snr_db, params=None, encoder=None, decoder=None, seq=0):
    encoder = encoder or FrameEncoder(scheme, params)
    header, symbols, encoded = encoder.encode(frame, seq)
    header, symbols, _ = ChannelStage(ChannelConfig(snr_db=snr_db, seed=3)).process(header, symbols)
    decoder = decoder or FrameDecoder()
    return decoder.decode(header, symbols), header, encoded


def test_edge_condition_marks_region_boundaries_on_the_latent_grid():
    labels = np.zeros((64, 64), np.uint8)
    labels[:, 20:] = 1  # one vertical boundary, between columns 19 and 20
    e = edge_condition(labels)  # (1, 16, 8, 8)
    assert e.shape == (1, EDGE_CHANNELS, 8, 8)
    cells = e[0].sum(0)  # (8, 8): boundary bits per latent cell
    assert torch.all(cells[:, 2] > 0) and cells.sum() == cells[:, 2].sum()  # column 19 lies in latent column 2 only
    odd = edge_condition(np.zeros((61, 70), np.uint8))  # odd frames pad to whole latent cells
    assert odd.shape == (1, EDGE_CHANNELS, 8, 9) and odd.sum() == 0


def test_lowres_condition_range_and_non_key_fill(photos):
    small = photos["astronaut"][::8, ::8]  # (8, 8, 3)
    c = lowres_condition(small, 64, 64)
    assert c.shape == (1, 3, 8, 8) and c.min() >= -1 and c.max() <= 1
    key = np.zeros((64, 64), bool)
    key[:32] = True
    filled = non_key(photos["astronaut"], key)
    assert np.all(filled[~key] == photos["astronaut"][~key])
    assert len(np.unique(filled[key].reshape(-1, 3), axis=0)) == 1  # one flat colour over the key region


def test_semantic_conditions_reject_unknown_names():
    with pytest.raises(ValueError, match="unknown condition"):
        semantic_conditions(depth=torch.zeros(1, 1, 8, 8))
    assert set(SCHEME_CONDITIONS) == set(SCHEME_PARTS)


def test_key_latents_round_trip_and_lmmse_error_matches_theory():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(20001).astype(np.float32)  # odd: the last symbol is half padding
    symbols, scale = pack_key(values)
    assert symbols.size == 10001 and abs(np.mean(np.abs(symbols) ** 2) - 1) < 1e-3
    clean = Received(symbols, np.full(symbols.size, 1e-9, np.float32))
    assert np.allclose(zero_mean_lmmse(*observe_key(clean, values.size, 1, scale), scale), values, atol=1e-3)
    for repeat in (1, 4):
        nv = 10 ** (-5 / 10)  # 5 dB
        tx = np.tile(symbols, repeat)
        noise = (rng.standard_normal(tx.size) + 1j * rng.standard_normal(tx.size)) * np.sqrt(nv / 2)
        rx = Received((tx + noise).astype(np.complex64), np.full(tx.size, nv, np.float32))
        est = zero_mean_lmmse(*observe_key(rx, values.size, repeat, scale), scale)
        nv_c = nv / repeat  # maximum-ratio combining of r repeats
        theory = scale**2 * nv_c / (1 + nv_c) / 2  # LMMSE error of a unit-power complex symbol, per real
        # the last (padded) symbol aside, the mean squared error per real value matches theory within 5%
        assert abs(np.mean((est[:-1] - values[:-1]) ** 2) / theory - 1) < 0.05


@pytest.mark.parametrize("scheme,params", [("spic", {}), ("keyregion", {}), ("keyregion", {"background": "generate"}),
                                           ("full", {})])
def test_scheme_round_trip_resembles_the_frame(scheme, params, photos):
    frame, other = photos["astronaut"], photos["coffee"]
    out, header, encoded = round_trip(scheme, frame, 20.0, params)
    assert out.shape == frame.shape and out.dtype == np.uint8
    parts = set(scheme_parts(scheme, get_scheme(scheme).params(**params)))
    names = {p.name for p in header.payloads}
    assert names <= {"side", "key", "rest"} and ("rest" in names) == ("rest" in parts)  # the digital parts travel bundled
    assert sent_parts(encoded) <= parts and sent_parts(encoded) >= parts - {"key"}
    assert psnr(out, frame) > psnr(out, other) + 1  # the picture is of this frame, not any frame


def noiseless(encoded) -> dict[str, Received]:
    """Payloads as a perfect channel delivers them."""
    return {p.name: Received(p.symbols, np.full(p.symbols.size, 1e-6, np.float32)) for p in encoded.payloads}


def test_reuse_omits_unchanged_map_and_caption_and_the_receiver_holds_them(photos):
    frame = photos["astronaut"]
    spec = get_scheme("full")
    params = spec.params()
    tx = spec.transmit(params)
    first, second = tx.encode(frame), tx.encode(frame)
    assert {"map", "caption"} <= sent_parts(first)
    assert not {"map", "caption"} & sent_parts(second)  # unchanged: not re-sent
    assert sum(p.symbols.size for p in second.payloads) < sum(p.symbols.size for p in first.payloads)
    rx = spec.receive(params)
    a, b = rx.decode(noiseless(first), 64, 64), rx.decode(noiseless(second), 64, 64)
    assert np.array_equal(a, b)  # the held map and caption make the same picture
    late = spec.receive(params).decode(noiseless(second), 64, 64)  # a receiver that joined late lacks them
    assert not np.array_equal(a, late)
    again = spec.transmit(spec.params(reuse=False))
    again.encode(frame)
    assert {"map", "caption"} <= sent_parts(again.encode(frame))


def test_a_lost_map_drops_its_condition_but_a_lost_lowres_loses_the_frame(photos):
    from shared.schemes.base import DecodeFailure

    spec = get_scheme("spic")
    params = spec.params(bundle=False)  # each part its own message
    encoded = spec.transmit(params).encode(photos["astronaut"])
    rng = np.random.default_rng(1)
    rx = {}
    for p in encoded.payloads:
        junk = (rng.standard_normal(p.symbols.size) + 1j * rng.standard_normal(p.symbols.size)).astype(np.complex64)
        good = p.name == "lowres"
        rx[p.name] = Received(p.symbols if good else junk, np.full(p.symbols.size, 0.01, np.float32))
    receiver = spec.receive(params)
    assert receiver.decode(rx, 64, 64).shape == (64, 64, 3)
    assert receiver.lost == {"map": 1}
    rx["lowres"] = rx["map"]
    with pytest.raises(DecodeFailure, match="low-res"):
        receiver.decode(rx, 64, 64)


def test_keyregion_keeps_the_key_region_faithful():
    frame = square_resize(skimage_photos()["astronaut"], 128)  # a face the cascade finds
    out, header, encoded = round_trip("keyregion", frame, 20.0, {"background": "generate"})
    assert encoded.info["key_cells"] > 0
    key_symbols = next(p.n_symbols for p in header.payloads if p.name == "key")
    assert key_symbols == 8 * encoded.info["key_cells"] // 2  # 8 latent values per cell, two per complex symbol
    from shared.sideinfo.maps import block_any, upsample

    from shared.registry.table import default_model, load_model
    grid = block_any(load_model(default_model("key_regions"), role="key_regions").select(frame), 8)
    key = upsample(grid, 8, 128, 128)
    assert psnr(out, frame, key) > psnr(out, frame, ~key) + 2  # faithful inside, generated outside


def test_offline_keyregion_sends_its_background_through_the_embedded_jscc():
    frame = square_resize(skimage_photos()["astronaut"], 128)
    spec = get_scheme("keyregion")
    params = spec.params()
    assert (params.codec, params.background, params.background_maps) == ("embedded", "jscc", 16)
    encoded = spec.transmit(params).encode(frame)
    assert sent_parts(encoded) == {"mask", "key", "rest"} and encoded.info["key_cells"] > 0
    assert encoded.info["rest_symbols"] == 16 * (128 // 16) ** 2 // 2  # 16 of the embedded JSCC's 32 maps
    rx = noiseless(encoded)
    receiver = spec.receive(params)
    with_key = receiver.decode(rx, 128, 128)
    jscc_alone = receiver.decode({n: r for n, r in rx.items() if n != "key"}, 128, 128)  # a lost key: the JSCC's picture
    generated, _, _ = round_trip("keyregion", frame, 40.0, {"background": "generate"})
    from shared.registry.table import default_model, load_model
    from shared.sideinfo.maps import block_any, upsample

    grid = block_any(load_model(default_model("key_regions"), role="key_regions").select(frame), 8)
    key = upsample(grid, 8, 128, 128)
    assert psnr(with_key, frame, key) > psnr(jscc_alone, frame, key) + 1  # the key latents sharpen the key region
    assert psnr(with_key, frame, ~key) > psnr(generated, frame, ~key) + 3  # and the rest is the scene, not a guess


def test_list_schemes_shows_every_param_with_its_default(capsys):
    from shared.demo import main

    assert main(["--list-schemes"]) == 0
    out = capsys.readouterr().out
    for expected in ("spic ", "keyregion ", "full ", "lowres_factor=8", "key_repeat=1", "link.ldpc_k=1024", "generator=embedded"):
        assert expected in out


def test_a_still_frame_is_not_reanalysed_so_segmenter_jitter_costs_nothing(photos):
    frame = photos["astronaut"]
    jittered = np.clip(frame.astype(int) + np.random.default_rng(0).integers(-2, 3, frame.shape), 0, 255).astype(np.uint8)
    spec = get_scheme("spic")
    tx = spec.transmit(spec.params())
    first, second = tx.encode(frame), tx.encode(jittered)  # sensor noise: the same picture
    assert first.info["analysed"] and not second.info["analysed"]
    assert "map" not in sent_parts(second)
    moved = tx.encode(np.ascontiguousarray(frame[:, ::-1]))  # a different picture is analysed again
    assert moved.info["analysed"] and "map" in sent_parts(moved)


def test_a_mask_part_with_a_bad_power_scale_is_dropped_not_trusted(photos):
    import struct

    from shared.phy.link import receive, transmit

    spec = get_scheme("keyregion")
    params = spec.params(bundle=False)
    encoded = spec.transmit(params).encode(photos["astronaut"])
    rx = noiseless(encoded)
    mask = receive(rx["mask"].symbols, rx["mask"].noise_var, params.link)  # scale (float16) + coded mask
    for bad in (float("nan"), float("inf"), 0.0):
        symbols = transmit(struct.pack("<e", bad) + mask[2:], params.link)  # a valid mask with a forged scale
        receiver = spec.receive(params)
        out = receiver.decode(dict(rx, mask=Received(symbols, np.full(symbols.size, 1e-6, np.float32))), 64, 64)
        assert receiver.lost == {"mask": 1} and out.shape == (64, 64, 3)


def test_bundled_parts_take_fewer_blocks_and_a_lost_or_forged_bundle_loses_them_together(photos):
    from shared.phy.link import transmit
    from shared.schemes.base import DecodeFailure

    spec = get_scheme("full")
    frame = photos["astronaut"]
    bundled = spec.transmit(spec.params()).encode(frame)
    alone = spec.transmit(spec.params(bundle=False)).encode(frame)
    digital = lambda enc: sum(p.symbols.size for p in enc.payloads if p.name != "key")  # noqa: E731
    assert [p.name for p in bundled.payloads if p.name != "key"] == ["side"]
    assert digital(bundled) < digital(alone)  # map, mask and caption each padded to whole blocks when alone
    params = spec.params()
    assert np.array_equal(spec.receive(params).decode(noiseless(bundled), 64, 64),
                          spec.receive(spec.params(bundle=False)).decode(noiseless(alone), 64, 64))
    rx = noiseless(bundled)
    n = rx["side"].symbols.size
    junk = Received((np.random.default_rng(0).standard_normal(n) * 3).astype(np.complex64), np.full(n, 0.01, np.float32))
    receiver = spec.receive(params)
    assert receiver.decode(dict(rx, side=junk), 64, 64).shape == (64, 64, 3)  # without map, mask, caption
    assert receiver.lost == {"side": 1}
    forged = transmit(b"\x07\x00\x00\x00\x00", params.link)  # a valid CRC around an unknown part id
    receiver = spec.receive(params)
    receiver.decode(dict(rx, side=Received(forged, np.full(forged.size, 1e-6, np.float32))), 64, 64)
    assert receiver.lost == {"side": 1}
    spic = get_scheme("spic")
    encoded = spic.transmit(spic.params()).encode(frame)
    with pytest.raises(DecodeFailure, match="low-res"):  # spic's picture is in the bundle
        spic.receive(spic.params()).decode(dict(noiseless(encoded), side=junk), 64, 64)
