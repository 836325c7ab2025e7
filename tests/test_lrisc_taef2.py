"""lrisc on TAEF2: codec=auto|taef2|embedded, the per-block length layout, the entropy model's allocation,
the length map as exact side information, and a receiver that lacks TAEF2 refusing the stream.
Tiny random weights of the real architectures stand in for the trained ones and for the hub files."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from shared.config import ChannelConfig
from shared.nets import latent_jscc
from shared.nets.block_lengths import from_block_symbols, n_values, pack_lengths, to_block_symbols, unpack_lengths
from shared.nets.entropy import allocate
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.protocol import ProtocolError
from shared.registry.table import MODELS, get_spec
from shared.registry.tiny import save_tiny_taef2
from shared.schemes import lrisc, lrisc_nets
from shared.training import lrisc_taef2
from tests.tiny_lrisc import clear_lrisc_caches, point_lrisc_at, save_tiny_lrisc

FRAME = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)


@pytest.fixture
def taef2_here(tmp_path, monkeypatch):
    """TAEF2 on this machine (tiny, hash-pinned) and tiny lrisc_taef2 weights in a weights folder."""
    config = save_tiny_taef2(tmp_path / "hub" / "madebyollin" / "taef2")
    monkeypatch.setitem(MODELS, "taef2", replace(get_spec("taef2"), config=config))
    monkeypatch.setenv("SEMCOM_HUB_DIR", str(tmp_path / "hub"))
    weights = tmp_path / "weights"
    weights.mkdir()
    point_lrisc_at(weights, monkeypatch)
    save_tiny_lrisc(weights)
    yield weights
    clear_lrisc_caches()


def round_trip(params, snr_db=20.0, frame=FRAME):
    enc = FrameEncoder("lrisc", params)
    header, symbols, encoded = enc.encode(frame, 0)
    header, symbols, _ = ChannelStage(ChannelConfig(model="awgn", snr_db=snr_db, seed=3)).process(header, symbols)
    return FrameDecoder().decode(header, symbols), header, encoded


def test_block_layout_round_trips_with_edge_blocks():
    s = torch.randn(8, 6, 5)  # M = 8 maps on a 6x5 grid: blocks of 4 leave edge blocks of 2 and 1
    maps = np.array([[2, 8], [4, 6]])
    x = to_block_symbols(s, maps, 4)
    assert 2 * x.numel() == n_values(maps, 6, 5, 4) == 2 * 16 + 8 * 4 + 4 * 8 + 6 * 2
    assert torch.allclose(x.abs().pow(2).mean(), torch.tensor(1.0), atol=1e-5)
    back, rate = from_block_symbols(x, maps, 8, 6, 5, 4)
    scale = s[:2, :4, :4].reshape(-1)[0] / back[:2, :4, :4].reshape(-1)[0]
    assert torch.allclose(back[:2, :4, :4] * scale, s[:2, :4, :4], atol=1e-5) and (back[2:, :4, :4] == 0).all()
    assert rate[0, 5, 4] == 6 / 8
    assert (unpack_lengths(pack_lengths(maps, (2, 4, 6, 8)), (2, 2), (2, 4, 6, 8)) == maps).all()
    with pytest.raises(ValueError):
        unpack_lengths(b"\xff", (2, 2), (2, 4, 6, 8))  # too short for four blocks
    with pytest.raises(ValueError):
        from_block_symbols(x[:-1], maps, 8, 6, 5, 4)


def test_allocation_follows_the_information_within_the_budget():
    bits = np.array([[10.0, 100.0], [400.0, 40.0]])
    cells = np.full((2, 2), 16)
    maps = allocate(bits, cells, (8, 16, 24, 32, 48, 64), budget_values=32 * 64)
    assert (maps * cells).sum() <= 32 * 64
    assert maps[1, 0] == maps.max() and maps[0, 0] == maps.min() < maps.max()  # more where there is more to say
    assert (allocate(np.zeros((2, 2)), cells, (8, 16), 10) == 8).all()  # nothing fits: the least everywhere


def test_auto_picks_embedded_without_taef2(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMCOM_HUB_DIR", str(tmp_path))
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path))
    p = lrisc.LriscParams()
    assert (p.codec, p.length, p.steps, p.jscc_weights) == ("embedded", "uniform", 0, "lrisc_jscc")
    with pytest.raises(ValidationError, match="needs codec=taef2"):
        lrisc.LriscParams(codec="embedded", length="content")
    with pytest.raises(ValidationError, match="not a generator of codec"):
        lrisc.LriscParams(codec="taef2", diffusion_weights="lrisc_diffusion")


def test_taef2_content_lengths_end_to_end(taef2_here):
    p = lrisc.LriscParams()
    assert (p.codec, p.length, p.steps, p.jscc_weights) == ("taef2", "uniform", 0, lrisc.TAEF2_JSCC)
    out, header, encoded = round_trip({"length": "content"})
    assert out.shape == FRAME.shape and out.dtype == np.uint8
    assert header.scheme_params["codec"] == "taef2"  # the header names the concrete codec, never auto
    names = [d.name for d in header.payloads]
    assert names == [lrisc.PAYLOAD, lrisc.LENGTHS]
    gh, gw = 64 // 16, 96 // 16
    budget = 32 * gh * gw // 2  # CBR 1/48 in symbols
    analog = header.payloads[0].n_symbols
    assert analog <= budget and encoded.info["length_symbols"] == header.payloads[1].n_symbols > 0
    assert encoded.info["cbr"] == pytest.approx(header.n_symbols / (64 * 96 * 3))  # the length map is counted


def test_the_generator_starts_from_the_noise_level_of_the_remaining_error(taef2_here, monkeypatch, tmp_path):
    header, symbols, _ = FrameEncoder("lrisc", {"steps": 1}).encode(FRAME, 0)
    with pytest.raises(ProtocolError) as info:  # no TAEF2 generator among these weights: refused, not crashed
        FrameDecoder().prepare(header)
    assert info.value.reason == "model_unavailable"
    from shared.generators import diffusion
    from shared.generators.diffusion import ConditionalDenoiser, save_denoiser

    tiny = replace(lrisc_taef2.DIFFUSION_CONFIG, block_out_channels=(32, 32), attention_levels=(False, False),
                   train_timesteps=100)
    table = {f"k{k}_snr{s:g}": lrisc_taef2.matched_alpha(e) for k in (16, 32) for s, e in ((0.0, 0.8), (20.0, 0.1))}
    save_denoiser(ConditionalDenoiser(tiny), taef2_here / f"{lrisc.TAEF2_DIFFUSION}.safetensors",
                  {"alpha_table": json.dumps(table)})
    monkeypatch.setattr(diffusion, "WEIGHTS_DIR", taef2_here)
    lrisc_nets.denoiser_at.cache_clear()
    lrisc.alpha_table.cache_clear()
    assert lrisc.LriscParams().steps == 1  # the generator ships: the receiver samples by default
    low = lrisc.matched_strength(lrisc.alpha_table(lrisc.TAEF2_DIFFUSION), 32, 0.0, ConditionalDenoiser(tiny))
    high = lrisc.matched_strength(lrisc.alpha_table(lrisc.TAEF2_DIFFUSION), 32, 20.0, ConditionalDenoiser(tiny))
    assert 0 < high < low < 1  # lower SNR: more noise, more generation
    out, header, _ = round_trip({"steps": 1}, snr_db=5.0)
    assert out.shape == FRAME.shape and header.scheme_params["diffusion_weights"] == lrisc.TAEF2_DIFFUSION
    lrisc_nets.denoiser_at.cache_clear()
    lrisc.alpha_table.cache_clear()


def test_taef2_uniform_length_needs_no_side_information(taef2_here):
    out, header, encoded = round_trip({"length": "uniform"})
    assert [d.name for d in header.payloads] == [lrisc.PAYLOAD]
    assert header.n_symbols == 32 * (64 // 16) * (96 // 16) // 2 and encoded.info["cbr"] == pytest.approx(1 / 48)
    _, wide, _ = round_trip({"length": "uniform", "cbr": 1 / 24})
    assert wide.n_symbols == 2 * header.n_symbols  # taef2 also offers CBR 1/24


def test_a_lost_length_map_loses_the_frame_not_the_receiver(taef2_here):
    enc = FrameEncoder("lrisc", {"length": "content"})
    header, symbols, _ = enc.encode(FRAME, 0)
    header, symbols, _ = ChannelStage(ChannelConfig(model="awgn", snr_db=-8.0, seed=3)).process(header, symbols)
    from shared.schemes.base import DecodeFailure

    with pytest.raises(DecodeFailure, match="length map"):
        FrameDecoder().decode(header, symbols)


def test_a_receiver_without_taef2_refuses_the_stream(taef2_here, monkeypatch, tmp_path):
    header, symbols, _ = FrameEncoder("lrisc", {}).encode(FRAME, 0)
    monkeypatch.setenv("SEMCOM_HUB_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "elsewhere"))
    lrisc.hub_codec.cache_clear()
    with pytest.raises(ProtocolError) as info:
        FrameDecoder().prepare(header)
    assert info.value.reason == "model_unavailable" and "taef2" in str(info.value)


def test_the_receiver_tuned_decoder_is_used_where_it_ships(taef2_here):
    from safetensors.torch import save_file

    plain_out, header, _ = round_trip({})
    assert header.scheme_params["decoder"] == "plain"  # not shipped among these weights: TAEF2's own decoder
    with pytest.raises(ValidationError, match="--stage decoder"):
        lrisc.LriscParams(decoder="tuned")
    state = {k: v.clone().half() for k, v in lrisc.hub_codec("cpu").net.decoder.state_dict().items()}
    last_bias = [k for k in state if k.endswith("bias")][-1]  # the output conv's: shifts every pixel
    state[last_bias] += 0.2
    save_file(state, taef2_here / f"{lrisc_nets.TAEF2_TUNED}.safetensors")
    assert lrisc.LriscParams().decoder == "tuned"  # shipped: the default
    tuned_out, header, _ = round_trip({})
    assert header.scheme_params["decoder"] == "tuned"
    assert tuned_out.astype(float).mean() > plain_out.astype(float).mean() + 20  # +0.2 of the range, before clipping
    again, _, _ = round_trip({"decoder": "plain"})
    assert np.array_equal(again, plain_out)  # plain stays TAEF2's own
    save_file({"0.weight": torch.zeros(1)}, taef2_here / f"{lrisc_nets.TAEF2_TUNED}.safetensors")
    lrisc_nets.pixel_decoder_at.cache_clear()
    with pytest.raises(ValueError, match="does not fit"):
        lrisc_nets.pixel_decoder_fp32(lrisc_nets.TAEF2_TUNED, lrisc.TAEF2_JSCC)


def tiny_latent_cache(root):
    """Three random 16x16 TAEF2-shaped latents as a latent cache at ``root`` (the trainers' input)."""
    folder = root / "taef2-s256"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    index = {}
    for i in range(3):
        np.save(folder / f"k{i}.npy", rng.standard_normal((32, 16, 16)).astype(np.float16) * 0.05, allow_pickle=False)
        index[f"k{i}"] = {"source": f"photo{i}.jpg", "shape": [32, 16, 16]}
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "stats.json").write_text(json.dumps({"mean": [0.0] * 32, "std": [0.05] * 32, "data": "test", "codec": "taef2",
                                                   "short_side": 256}))
    return root


def test_the_generator_stage_trains_the_one_step_the_receiver_takes():
    """The training step's g = UNet(z_hat noised to t*, t*) is exactly the receiver's steps=1 sample at the matched level."""
    from shared.generators.diffusion import ConditionalDenoiser, latent_guidance, make_scheduler, sample
    from shared.training.receiver_generator import GENERATOR_CONFIG, one_step_timesteps

    torch.manual_seed(0)
    config = replace(GENERATOR_CONFIG, block_out_channels=(32, 32), attention_levels=(False, False))
    model = ConditionalDenoiser(config).eval()
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)  # leave the residual's zero start: the UNet must matter
    sched = make_scheduler(config)
    z_n = torch.randn(1, 32, 8, 8)
    z_hat = z_n + 0.5 * torch.randn_like(z_n)  # remaining error ~0.25: a = 0.8
    t = one_step_timesteps(z_hat, z_n, sched)
    assert 0 < int(t) < config.train_timesteps // 2 and abs(float(sched.alphas_cumprod[t]) - 0.8) < 0.05
    noise, cond = torch.randn_like(z_n), latent_guidance(z_hat, torch.tensor([[5.0]]))
    with torch.no_grad():
        trained = model(sched.add_noise(z_hat, noise, t), t, cond)
    strength = lrisc_taef2.strength_for(lrisc_taef2.matched_alpha(float((z_hat - z_n).pow(2).mean())), sched)
    received = sample(model, cond, tuple(z_hat.shape), steps=1, strength=strength, init=z_hat, noise=noise)
    assert torch.allclose(trained, received, atol=1e-5) and not torch.allclose(received, z_hat, atol=1e-2)


def test_the_generator_stage_trains_with_its_critic_exports_and_ships(taef2_here, tmp_path, monkeypatch):
    """semcom train lrisc-taef2 --stage generator: two steps on a tiny cache (generator and critic in one checkpoint),
    export as lrisc_taef2_diffusion (residual on z_hat, with its noise table); lrisc then samples it by default."""
    from safetensors.torch import load_file, save_file

    from shared.generators import diffusion
    from shared.training import receiver_decoder, receiver_generator

    root = tiny_latent_cache(tmp_path / "cache")
    for module in (lrisc_taef2, receiver_decoder, diffusion):
        monkeypatch.setattr(module, "WEIGHTS_DIR", taef2_here)
    monkeypatch.setattr(receiver_generator, "GENERATOR_CONFIG", replace(
        receiver_generator.GENERATOR_CONFIG, block_out_channels=(32, 32), attention_levels=(False, False), train_timesteps=100))
    lrisc_taef2.frozen_codec.cache_clear()
    decoder = lrisc_taef2.frozen_codec().net.decoder
    save_file({k: v.half() for k, v in decoder.state_dict().items()}, taef2_here / f"{lrisc.TAEF2_TUNED}.safetensors")
    ckpt = ["--stage", "generator", "--ckpt-dir", str(tmp_path / "g"), "--cache-dir", str(root), "--steps", "2",
            "--batch", "2", "--ckpt-every", "2", "--minutes", "5", "--out-dir", str(taef2_here)]
    assert lrisc_taef2.main(ckpt) == 0
    state = load_file(tmp_path / "g" / "model.safetensors")
    assert any(k.startswith("critic.") for k in state) and any(k.startswith("generator.") for k in state)
    val = json.loads((tmp_path / "g" / "state.json").read_text())["history"][-1]["val"]
    assert {"effnet_snr0_steps0_tuned", "effnet_snr0_steps1_tuned", "psnr_snr20_steps1_plain"} <= set(val)
    assert lrisc_taef2.main([*ckpt, "--export"]) == 0
    model = diffusion.load_denoiser_file(taef2_here / f"{lrisc.TAEF2_DIFFUSION}.safetensors")
    assert model.config.residual == "z_hat"
    for cache in (*lrisc_nets.CACHES, lrisc.alpha_table):
        cache.cache_clear()
    assert lrisc.LriscParams().steps == 1  # the generator ships: the receiver samples it
    out, header, _ = round_trip({})
    assert out.shape == FRAME.shape and header.scheme_params["steps"] == 1
    lrisc_taef2.frozen_codec.cache_clear()


def test_the_decoder_and_joint_stages_train_export_and_ship(taef2_here, tmp_path, monkeypatch):
    """semcom train lrisc-taef2 --stage decoder, then --stage joint: two steps each on a tiny cache, export; the
    receiver then decodes with the tuned decoder, and the joint export replaces the JSCC too."""
    from shared.training import receiver_decoder

    root = tiny_latent_cache(tmp_path / "cache")
    for module in (lrisc_taef2, receiver_decoder):
        monkeypatch.setattr(module, "WEIGHTS_DIR", taef2_here)
    lrisc_taef2.frozen_codec.cache_clear()
    common = ["--cache-dir", str(root), "--steps", "2", "--batch", "2", "--ckpt-every", "2", "--minutes", "5",
              "--out-dir", str(taef2_here)]
    assert lrisc_taef2.main(["--stage", "joint", "--ckpt-dir", str(tmp_path / "j"), *common]) == 2  # needs the decoder first
    for stage in ("decoder", "joint"):
        ckpt = ["--stage", stage, "--ckpt-dir", str(tmp_path / stage), *common]
        assert lrisc_taef2.main(ckpt) == 0 and lrisc_taef2.main([*ckpt, "--export"]) == 0
        assert (taef2_here / f"{receiver_decoder.DECODER_NAME}.md").read_text().count("| JSCC and decoder tuned together |") == (stage == "joint")
    card = (taef2_here / f"{lrisc.TAEF2_JSCC}.md").read_text()
    assert card.count(receiver_decoder.JOINT_SECTION) == 1
    for cache in (latent_jscc.load_latent_jscc, latent_jscc.latent_normalisation, *lrisc_nets.CACHES):
        cache.cache_clear()
    assert lrisc.LriscParams().decoder == "tuned"
    out, header, _ = round_trip({})
    assert out.shape == FRAME.shape and header.scheme_params["decoder"] == "tuned"
    lrisc_taef2.frozen_codec.cache_clear()
