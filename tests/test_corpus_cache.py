"""The corpus's fixed validation split, the latent cache, and LRISC's TAEF2 trainer on tiny random weights."""
from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from shared.cli import UsageError
from shared.corpus import corpus_photos, is_validation
from shared.evaluate.images import load_images
from shared.registry.table import MODELS, get_spec, load_model
from shared.registry.tiny import save_tiny_taef2
from shared.training import latent_cache, lrisc_taef2
from shared.training.data import load_corpus, parse_data_source


def make_corpus(root, n: int = 120) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / "photos" / ("setA" if i % 2 else "setB")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"img{i:03d}.png"), rng.integers(0, 255, (100, 120, 3), dtype=np.uint8))


def test_the_validation_split_is_fixed_disjoint_and_never_trained_on(tmp_path):
    make_corpus(tmp_path)
    val, train = corpus_photos(tmp_path, "val"), corpus_photos(tmp_path, "train")
    assert val and train and not set(val) & set(train) and len(val) + len(train) == 120
    assert all(is_validation(p.relative_to(tmp_path).as_posix()) for p in val)
    assert 0 < len(val) < 12  # about 1 in 48
    source = parse_data_source(f"corpus:{tmp_path}")
    assert source.kind == "corpus" and parse_data_source(str(tmp_path)).kind == "corpus"  # a plain path says what it is
    assert len(load_corpus(source, video_stride=5)) == len(train)
    images = load_images(f"corpus:{tmp_path}", 64)
    assert list(images) == [f"{p.parent.name}-{p.name}" for p in val]  # eval reads the validation split only
    assert all(im.shape == (64, 64, 3) for im in images.values())
    native = load_images(f"corpus:{tmp_path}", 0)
    assert all(im.shape == (100, 120, 3) for im in native.values())  # --size 0: each at its own size
    with pytest.raises(UsageError, match="not a corpus"):
        parse_data_source(f"corpus:{tmp_path / 'photos'}")


@pytest.fixture
def tiny_codec(tmp_path, monkeypatch):
    config = save_tiny_taef2(tmp_path / "taef2")
    monkeypatch.setitem(MODELS, "taef2", replace(get_spec("taef2"), config=config, weights=str(tmp_path / "taef2")))
    lrisc_taef2.frozen_codec.cache_clear()
    yield load_model("taef2")
    lrisc_taef2.frozen_codec.cache_clear()


def test_the_latent_cache_encodes_each_image_once_and_resumes(tmp_path, tiny_codec, monkeypatch):
    make_corpus(tmp_path / "corpus", n=8)
    source = parse_data_source(f"corpus:{tmp_path / 'corpus'}")
    calls = []
    real = tiny_codec.encode_tensor
    monkeypatch.setattr(tiny_codec, "encode_tensor", lambda x: calls.append(x.shape) or real(x))
    folder = latent_cache.build(source, "taef2", tmp_path / "cache", 128, 30, minutes=5, codec=tiny_codec)
    n_train = len(corpus_photos(tmp_path / "corpus", "train"))
    assert len(calls) == n_train and all(s[2] == 128 and s[3] % 8 == 0 for s in calls)  # short side 128
    latent_cache.build(source, "taef2", tmp_path / "cache", 128, 30, minutes=5, codec=tiny_codec)
    assert len(calls) == n_train  # the second build finds everything cached
    stats = json.loads((folder / "stats.json").read_text())
    assert len(stats["mean"]) == len(stats["std"]) == 32 and stats["data"] == str(source)
    cache = latent_cache.LatentCache(folder)
    assert len(cache) == n_train and cache.latents[0].dtype == np.float16
    crops = cache.sample(5, 8, np.random.default_rng(0))
    assert crops.shape == (5, 32, 8, 8) and crops.dtype == torch.float32
    with pytest.raises(UsageError, match="no latent cache"):
        latent_cache.LatentCache(tmp_path / "nothing")


def test_masked_channel_matches_lmmse_theory():
    gen = torch.Generator().manual_seed(0)
    b, m, h, w = 4, 64, 16, 16
    s = torch.randn(b, m, h, w, generator=gen)
    maps = torch.full((b, h // lrisc_taef2.BLOCK, w // lrisc_taef2.BLOCK), 32)
    maps[0, 0, 0] = 8  # one short block
    snr = torch.full((b, 1), 5.0)
    s_hat, rx_snr, rate = lrisc_taef2.masked_channel(s, maps, snr, torch.zeros(b, dtype=torch.bool), gen)
    assert torch.allclose(rx_snr, snr, atol=1e-4)  # AWGN: the CSI says the true SNR
    assert (s_hat[:, 32:] == 0).all() and (s_hat[0, 8:, :4, :4] == 0).all()  # unsent maps stay zero
    assert rate[0, 0, 0, 0] == 8 / 64 and rate[1, 0, 5, 5] == 0.5
    mask = s_hat != 0
    sent = s[mask]
    x = sent / torch.sqrt(2 * sent.pow(2).mean())  # unit complex power: variance 1/2 per real
    nv = 10 ** (-0.5)
    err = (s_hat[mask] - x).pow(2).mean().item()
    assert err == pytest.approx(nv / (2 * (1 + nv)), rel=0.05)  # LMMSE error of a Gaussian: (1/2)(nv/2)/((1+nv)/2)


def test_taef2_jscc_trains_resumes_and_exports(tmp_path, tiny_codec):
    make_corpus(tmp_path / "corpus", n=8)
    source = parse_data_source(f"corpus:{tmp_path / 'corpus'}")
    latent_cache.build(source, "taef2", tmp_path / "cache", 128, 30, minutes=5, codec=tiny_codec)
    args = ["--cache-dir", str(tmp_path / "cache"), "--short-side", "128", "--ckpt-dir", str(tmp_path / "ckpt"),
            "--steps", "2", "--batch", "2", "--ckpt-every", "2", "--log-every", "1"]
    assert lrisc_taef2.main(args) == 0
    state = json.loads((tmp_path / "ckpt" / "state.json").read_text())
    assert state["step"] == 2 and "psnr_cbr48" in state["history"][-1]["val"]
    assert lrisc_taef2.main(args[:-6] + ["--steps", "3", "--batch", "2", "--ckpt-every", "5", "--log-every", "5"]) == 0
    assert json.loads((tmp_path / "ckpt" / "state.json").read_text())["step"] == 3  # resumed, one more step
    out = tmp_path / "weights"
    assert lrisc_taef2.main(["--export", "--ckpt-dir", str(tmp_path / "ckpt"), "--out-dir", str(out)]) == 0
    from safetensors import safe_open

    from shared.nets.latent_jscc import load_latent_jscc_file

    net = load_latent_jscc_file(out / "lrisc_taef2_jscc.safetensors")
    assert net.config == lrisc_taef2.JSCC_CONFIG
    with safe_open(str(out / "lrisc_taef2_jscc.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert meta["codec"] == "taef2" and len(json.loads(meta["latent_std"])) == 32
    assert "TAEF2" in (out / "lrisc_taef2_jscc.md").read_text()


def test_entropy_model_trains_and_exports(tmp_path, tiny_codec):
    make_corpus(tmp_path / "corpus", n=8)
    latent_cache.build(parse_data_source(f"corpus:{tmp_path / 'corpus'}"), "taef2", tmp_path / "cache", 128, 30, 5,
                       codec=tiny_codec)
    args = ["--stage", "entropy", "--cache-dir", str(tmp_path / "cache"), "--short-side", "128",
            "--ckpt-dir", str(tmp_path / "ckpt"), "--steps", "2", "--batch", "2", "--ckpt-every", "2", "--log-every", "1"]
    assert lrisc_taef2.main(args) == 0
    val = json.loads((tmp_path / "ckpt" / "state.json").read_text())["history"][-1]["val"]
    assert 0 < val["bpp_min"] <= val["bpp"] <= val["bpp_max"]
    out = tmp_path / "weights"
    assert lrisc_taef2.main(["--stage", "entropy", "--export", "--ckpt-dir", str(tmp_path / "ckpt"), "--out-dir", str(out)]) == 0
    from shared.nets.entropy import EntropyConfig, Hyperprior
    from shared.nets.weights_file import read_configured

    config, state = read_configured(out / "lrisc_taef2_entropy.safetensors", "entropy", "")
    Hyperprior(EntropyConfig.from_dict(config)).load_state_dict(state)
    assert "hyperprior" in (out / "lrisc_taef2_entropy.md").read_text()


def test_taef2_diffusion_stage_trains_and_exports_its_noise_table(tmp_path, tiny_codec, monkeypatch):
    make_corpus(tmp_path / "corpus", n=8)
    latent_cache.build(parse_data_source(f"corpus:{tmp_path / 'corpus'}"), "taef2", tmp_path / "cache", 128, 30, 5,
                       codec=tiny_codec)
    from shared.nets.latent_jscc import LatentJSCC
    from shared.nets.weights_file import save_configured

    weights = tmp_path / "weights"
    weights.mkdir()
    save_configured(LatentJSCC(replace(lrisc_taef2.JSCC_CONFIG, width=16, af_hidden=8)), weights / "lrisc_taef2_jscc.safetensors", {})
    monkeypatch.setattr(lrisc_taef2, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(lrisc_taef2, "DIFFUSION_CONFIG", replace(lrisc_taef2.DIFFUSION_CONFIG, block_out_channels=(32, 32),
                                                                   attention_levels=(False, False), train_timesteps=100))
    args = ["--stage", "diffusion", "--cache-dir", str(tmp_path / "cache"), "--short-side", "128",
            "--ckpt-dir", str(tmp_path / "ckpt"), "--steps", "2", "--batch", "2", "--ckpt-every", "2", "--log-every", "1"]
    assert lrisc_taef2.main(args) == 0
    val = json.loads((tmp_path / "ckpt" / "state.json").read_text())["history"][-1]["val"]
    assert {"effnet_snr0_steps0", "effnet_snr0_steps1", "psnr_snr20_steps2"} <= set(val)
    assert lrisc_taef2.main(["--stage", "diffusion", "--export", "--ckpt-dir", str(tmp_path / "ckpt"), "--out-dir", str(weights)]) == 0
    from safetensors import safe_open

    with safe_open(str(weights / "lrisc_taef2_diffusion.safetensors"), framework="pt") as f:
        table = json.loads(f.metadata()["alpha_table"])
    assert set(table) == {f"k{k}_snr{s:g}" for k in (16, 32, 64) for s in (0, 5, 10, 15, 20)}
    assert all(0 < a < 1 for a in table.values())


def test_the_diffusion_stage_needs_the_exported_jscc(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lrisc_taef2, "WEIGHTS_DIR", tmp_path)
    assert lrisc_taef2.main(["--stage", "diffusion", "--cache-dir", str(tmp_path)]) == 2
    assert "needs the exported JSCC" in capsys.readouterr().err


def test_eval_stream_ids_fit_the_header_for_long_corpus_names():
    from shared.evaluate.runner import stream_id
    from shared.protocol import PROTOCOL_VERSION, Header

    long_a, long_b = "stargan-v2-celebahq-afhq-" + "a" * 60 + ".jpg", "stargan-v2-celebahq-afhq-" + "b" * 60 + ".jpg"
    odd = "bsds-12 003 (copy).jpg"  # a space and brackets: outside the stream-id alphabet
    ids = {stream_id(long_a, 0), stream_id(long_b, 0), stream_id(long_a, 1), stream_id("short.jpg", 0), stream_id(odd, 0)}
    assert len(ids) == 5 and stream_id("short.jpg", 0) == "eval-short.jpg-0"
    for sid in ids:
        Header(version=PROTOCOL_VERSION, kind="frame", stream_id=sid, seq=0)  # the header accepts each
