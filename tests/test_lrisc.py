"""LRISC: the latent JSCC, the conditional diffusion generator, the rate policy and the scheme end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from shared.config import ChannelConfig
from shared.generators.diffusion import (
    ConditionalDenoiser,
    Conditions,
    DenoiserConfig,
    drop_conditions,
    latent_guidance,
    load_denoiser_file,
    sample,
    save_denoiser,
)
from shared.nets.jscc import from_symbols, to_symbols
from shared.nets.latent_jscc import LatentJSCC, LatentJSCCConfig
from shared.nets.weights_file import JSCCWeightsMissing
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.schemes.lrisc import RATE_POLICY, maps_for_snr
from shared.sources import skimage_photos, square_resize

TINY_UNET = DenoiserConfig(block_out_channels=(32, 32), attention_levels=(False, True), train_timesteps=100)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return square_resize(skimage_photos()["astronaut"], 64)  # (64, 64, 3) uint8


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def round_trip(frame, snr_db, params=None, model="awgn", feedback_snr=None):
    enc = FrameEncoder("lrisc", params)
    if feedback_snr is not None:
        enc.transmit.on_feedback(feedback_snr)
    header, symbols, encoded = enc.encode(frame, 0)
    header, symbols, _ = ChannelStage(ChannelConfig(model=model, snr_db=snr_db, seed=5)).process(header, symbols)
    return FrameDecoder().decode(header, symbols), header, encoded


def test_latent_jscc_shapes_power_and_prefix():
    net = LatentJSCC(LatentJSCCConfig(width=32, maps=8, rates=(4, 8), af_hidden=8))
    z = torch.randn(2, 8, 8, 8)  # a 64x64 frame's latent
    s = net.encode(z, torch.full((2, 1), 10.0))  # (2, 8, 4, 4)
    assert s.shape == (2, 8, 4, 4)
    x = to_symbols(s, 4)  # (2, 32): 4 maps x 16 cells / 2
    assert x.shape == (2, 32)
    assert torch.allclose(x.abs().pow(2).mean(dim=1), torch.ones(2), atol=1e-5)
    back = from_symbols(x, 8, 4, 4)
    assert torch.all(back[:, 4:] == 0)
    assert net.decode(back, torch.full((2, 1), 10.0)).shape == z.shape


def test_denoiser_conditions_change_the_output_and_dropout_flags():
    torch.manual_seed(0)
    m = ConditionalDenoiser(TINY_UNET).eval()
    x_t, t = torch.randn(2, 8, 8, 8), torch.tensor([10, 90])
    cond = latent_guidance(torch.randn(2, 8, 8, 8), torch.tensor([[3.0], [17.0]]))
    with torch.no_grad():
        # a fresh UNet zero-initialises its output conv: perturb it so the inputs reach the output
        torch.nn.init.normal_(m.unet.conv_out.weight, std=0.1)
        a, b = m(x_t, t, cond), m(x_t, t, Conditions())
        c = m(x_t, t, latent_guidance(cond.spatial["z_hat"], torch.tensor([[15.0], [1.0]])))
    assert a.shape == x_t.shape
    assert not torch.allclose(a, b) and not torch.allclose(a, c)  # both z_hat and the SNR reach the output
    gen = torch.Generator().manual_seed(0)
    kept = [len(drop_conditions(cond, 0.5, gen).spatial) for _ in range(400)]
    assert 0.4 < np.mean(kept) < 0.6  # each condition dropped with probability p
    assert drop_conditions(cond, 0.0, gen).spatial.keys() == cond.spatial.keys()


def test_sampling_is_seeded_and_guidance_and_strength_work():
    torch.manual_seed(0)
    m = ConditionalDenoiser(TINY_UNET).eval()
    torch.nn.init.normal_(m.unet.conv_out.weight, std=0.1)
    z_hat = torch.randn(1, 8, 8, 8)
    cond = latent_guidance(z_hat, torch.tensor([[10.0]]))
    run = lambda **kw: sample(m, cond, (1, 8, 8, 8), generator=torch.Generator().manual_seed(3), **kw)  # noqa: E731
    a, b = run(steps=3), run(steps=3)
    assert torch.equal(a, b) and torch.isfinite(a).all()
    assert not torch.allclose(run(steps=3, guidance=2.0), a)
    assert not torch.allclose(run(steps=2, strength=0.3, init=z_hat), a)


def test_sampling_holds_the_kept_region_to_its_known_latent():
    """Inpainting-style sampling (the keyregion receiver's mechanism): exact inside the mask, generated outside."""
    torch.manual_seed(0)
    m = ConditionalDenoiser(TINY_UNET).eval()
    torch.nn.init.normal_(m.unet.conv_out.weight, std=0.1)
    known = torch.randn(1, 8, 8, 12)
    mask = torch.zeros(1, 1, 8, 12)
    mask[..., :6] = 1  # the left half is a key region
    cond = latent_guidance(torch.randn(1, 8, 8, 12), torch.tensor([[10.0]]))
    for strength in (1.0, 0.5):
        out = sample(m, cond, (1, 8, 8, 12), steps=3, strength=strength, init=known, keep=(known, mask),
                     generator=torch.Generator().manual_seed(1))
        assert torch.allclose(out[..., :6], known[..., :6], atol=1e-5)
        assert not torch.allclose(out[..., 6:], known[..., 6:], atol=1e-2)
    odd = sample(m, latent_guidance(torch.randn(1, 8, 5, 7), torch.tensor([[10.0]])), (1, 8, 5, 7), steps=2,
                 keep=(known[..., :5, :7], mask[..., :5, :7]), generator=torch.Generator().manual_seed(1))
    assert odd.shape == (1, 8, 5, 7) and torch.allclose(odd[..., :6], known[..., :5, :6], atol=1e-5)


def test_denoiser_file_round_trip_and_missing_file(tmp_path):
    m = ConditionalDenoiser(TINY_UNET)
    path = tmp_path / "lrisc_diffusion_tiny.safetensors"
    save_denoiser(m, path, {"step": "0"})
    back = load_denoiser_file(path)
    assert back.config == TINY_UNET
    for (k, v), (_, w) in zip(m.state_dict().items(), back.state_dict().items()):
        assert torch.allclose(v, w, atol=1e-2 * (1 + v.abs().max().item())), k  # stored fp16
    with pytest.raises(JSCCWeightsMissing) as info:
        load_denoiser_file(tmp_path / "absent.safetensors")
    assert "\n" not in str(info.value) and "semcom train lrisc" in str(info.value)


def test_rate_policy_spends_less_at_high_snr():
    assert maps_for_snr(None, 32) == 32  # no feedback yet: the most allowed
    spent = [maps_for_snr(s, 32) for s in (0, 5, 10, 15, 20)]
    assert spent == sorted(spent, reverse=True) and spent[0] == 32 and spent[-1] < 32
    assert all(maps_for_snr(s, 16) <= 16 for s in (0, 20))  # the rate knob caps it
    assert RATE_POLICY[-1][0] == -np.inf  # every SNR has a rate


def test_scheme_round_trip_on_shipped_weights(photo):
    out0, _, _ = round_trip(photo, 0.0, {"steps": 0})
    out20, header, encoded = round_trip(photo, 20.0, {"steps": 0})
    assert out20.shape == photo.shape and out20.dtype == np.uint8
    assert header.n_symbols == 32 * (64 // 16) ** 2 // 2  # CBR 1/48 before any feedback
    assert encoded.info["cbr"] == pytest.approx(1 / 48)
    assert psnr(photo, out20) > psnr(photo, out0) > 12.0  # graceful: better with SNR, an image at 0 dB
    gen, _, _ = round_trip(photo, 10.0, {"steps": 2})
    again, _, _ = round_trip(photo, 10.0, {"steps": 2})
    assert np.array_equal(gen, again)  # seeded sampling
    assert psnr(photo, gen) > 12.0


def test_feedback_shortens_the_frame_and_the_receiver_follows(photo):
    out, header, encoded = round_trip(photo, 18.0, {"steps": 0}, feedback_snr=18.0)
    assert encoded.info["maps"] < 32 and header.n_symbols == encoded.info["maps"] * 8
    assert out.shape == photo.shape
    _, fixed, _ = round_trip(photo, 18.0, {"steps": 0, "rate_policy": "fixed"}, feedback_snr=18.0)
    assert fixed.n_symbols == 32 * 8


def test_odd_sizes_rayleigh_and_bad_params(photo):
    odd = np.ascontiguousarray(photo[:40, :56])
    out, _, _ = round_trip(odd, 10.0, {"steps": 1}, model="rayleigh")
    assert out.shape == (40, 56, 3)
    with pytest.raises(ValidationError, match="supports cbr"):
        FrameEncoder("lrisc", {"cbr": 0.5})
    with pytest.raises(ValidationError):
        FrameEncoder("lrisc", {"steps": -1})


def test_train_cli_runs_checkpoints_and_resumes(tmp_path):
    import cv2

    from shared.training.lrisc import main

    media = tmp_path / "media"
    media.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(media / f"{i}.png"), rng.integers(0, 255, (160, 160, 3), dtype=np.uint8))
    ckpt = tmp_path / "ckpt"
    args = ["--stage", "jscc", "--data", f"folder:{media}", "--ckpt-dir", str(ckpt), "--log-every", "1", "--ckpt-every", "2"]
    assert main([*args, "--steps", "2"]) == 0
    assert json.loads((ckpt / "state.json").read_text())["step"] == 2
    assert main([*args, "--steps", "3"]) == 0  # resumes at 2, runs one more
    state = json.loads((ckpt / "state.json").read_text())
    assert state["step"] == 3 and "val" in state["history"][-1]
    assert main(["--stage", "jscc", "--data", f"folder:{tmp_path / 'nowhere'}"]) == 2


def test_jscc_stage_starts_from_exported_weights_with_init(tmp_path):
    import cv2

    from shared.nets.latent_jscc import load_latent_jscc_file
    from shared.nets.weights_file import WEIGHTS_DIR
    from shared.training.lrisc import main

    media = tmp_path / "media"
    media.mkdir()
    cv2.imwrite(str(media / "0.png"), np.random.default_rng(0).integers(0, 255, (160, 160, 3), dtype=np.uint8))
    shipped, ckpt, out = WEIGHTS_DIR / "lrisc_jscc.safetensors", tmp_path / "ckpt", tmp_path / "weights"
    args = ["--stage", "jscc", "--data", f"folder:{media}", "--ckpt-dir", str(ckpt), "--steps", "1", "--lr", "1e-12"]
    assert main([*args, "--init-from", str(shipped)]) == 0
    assert main(["--stage", "jscc", "--ckpt-dir", str(ckpt), "--export", "--out-dir", str(out)]) == 0
    before, after = load_latent_jscc_file(shipped), load_latent_jscc_file(out / "lrisc_jscc.safetensors")
    for (name, a), b in zip(before.state_dict().items(), after.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name  # one step at lr 1e-12: still the shipped JSCC
    assert main([*args, "--init-from", str(tmp_path / "gone.safetensors")]) == 2
    assert main(["--stage", "diffusion", "--init-from", str(shipped), "--ckpt-dir", str(tmp_path / "d")]) == 2


def test_diffusion_stage_trains_and_exports_the_generator_and_its_decoder(tmp_path):
    import cv2

    from shared.registry.table import load_model
    from shared.training.lrisc import main

    media = tmp_path / "media"
    media.mkdir()
    cv2.imwrite(str(media / "0.png"), np.random.default_rng(0).integers(0, 255, (160, 160, 3), dtype=np.uint8))
    ckpt, out = tmp_path / "ckpt", tmp_path / "weights"
    assert main(["--stage", "diffusion", "--data", f"folder:{media}", "--ckpt-dir", str(ckpt), "--steps", "1"]) == 0
    assert main(["--stage", "diffusion", "--ckpt-dir", str(ckpt), "--export", "--out-dir", str(out)]) == 0
    card = (out / "lrisc_diffusion.md").read_text()
    assert "perceptual loss: yes" in card and "lrisc_latent_ae" in card and (out / "lrisc_latent_ae.md").is_file()
    assert load_denoiser_file(out / "lrisc_diffusion.safetensors").config == DenoiserConfig()
    shipped = load_model("latent-conv-ae", role="latent_codec")
    tuned = load_model("lrisc-latent-ae", role="latent_codec", source=str(out / "lrisc_latent_ae.safetensors"))
    for a, b in zip(shipped.net.encoder.state_dict().values(), tuned.net.encoder.state_dict().values()):
        assert torch.equal(a, b)  # the transmitter's encoder is untouched: only the receiver's decoder moves
    assert torch.allclose(shipped.latent_std, tuned.latent_std, atol=1e-4)


def test_decoder_stage_tunes_only_the_receivers_decoder_and_exports_a_codec(tmp_path):
    import cv2

    from shared.registry.table import load_model
    from shared.training.lrisc import main

    media = tmp_path / "media"
    media.mkdir()
    cv2.imwrite(str(media / "0.png"), np.random.default_rng(0).integers(0, 255, (160, 160, 3), dtype=np.uint8))
    ckpt, out = tmp_path / "ckpt", tmp_path / "weights"
    assert main(["--stage", "decoder", "--data", f"folder:{media}", "--ckpt-dir", str(ckpt), "--steps", "2", "--lr", "1e-3"]) == 0
    assert main(["--stage", "decoder", "--ckpt-dir", str(ckpt), "--export", "--out-dir", str(out)]) == 0
    card = (out / "lrisc_decoder_ae.md").read_text()
    assert "perceptual loss: yes" in card and "lrisc_jscc" in card and "0.005 x effnet_dist" in card
    shipped = load_model("latent-conv-ae", role="latent_codec")
    tuned = load_model("lrisc-decoder-ae", role="latent_codec", source=str(out / "lrisc_decoder_ae.safetensors"))
    for a, b in zip(shipped.net.encoder.state_dict().values(), tuned.net.encoder.state_dict().values()):
        assert torch.equal(a, b)  # every transmitter stays valid: the encoder is the shipped one
    assert torch.allclose(shipped.latent_std, tuned.latent_std, atol=1e-4)
    moved = [not torch.equal(a, b) for a, b in zip(shipped.net.decoder.state_dict().values(), tuned.net.decoder.state_dict().values())]
    assert any(moved)  # two steps at lr 1e-3 moved the decoder


def test_embedded_receiver_picks_the_decoder_tuned_for_what_it_decodes(monkeypatch, tmp_path):
    import shared.schemes.lrisc as lrisc

    assert lrisc.embedded_decoder(tuned=False, steps=0) == "latent-conv-ae"
    assert lrisc.embedded_decoder(tuned=True, steps=1) == "lrisc-latent-ae"  # tuned with the generator it follows
    shipped = (lrisc.WEIGHTS_DIR / f"{lrisc.DECODER_WEIGHTS}.safetensors").is_file()
    assert lrisc.embedded_decoder(tuned=True, steps=0) == ("lrisc-decoder-ae" if shipped else "latent-conv-ae")
    monkeypatch.setattr(lrisc, "WEIGHTS_DIR", tmp_path)  # a checkout without the tuned decoder: the codec's own
    assert lrisc.embedded_decoder(tuned=True, steps=0) == "latent-conv-ae"


def test_few_step_sampling_starts_at_the_noise_level_it_claims():
    from shared.generators.diffusion import make_scheduler

    sched = make_scheduler(TINY_UNET)  # 100 training timesteps
    sched.set_timesteps(1)
    assert sched.timesteps.tolist() == [99]  # one step from pure noise is told it is pure noise
    sched.set_timesteps(2)
    assert sched.timesteps.tolist() == [99, 49]  # so steps=1, strength=0.5 starts half-way, not at t = 0
    sched.set_timesteps(4)
    assert sched.timesteps.tolist()[0] == 99 and sched.timesteps.tolist()[-1] == 24


def test_more_steps_than_the_start_level_holds_still_decodes(photo):
    """steps=21 from strength 0.02 (t = 19) asked the scheduler for 1,050 of its 1,000 timesteps and crashed the
    receiver on the first frame; the sampler now runs every timestep below the start level instead."""
    frame, _, _ = round_trip(photo, 10.0, {"codec": "embedded", "steps": 21})
    one_step, _, _ = round_trip(photo, 10.0, {"codec": "embedded", "steps": 1})
    assert frame.shape == photo.shape and psnr(frame, photo) > psnr(one_step, photo) - 3  # a picture, not noise
