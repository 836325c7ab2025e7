"""The semantic schemes on TAEF2 (codec=auto|taef2): the class condition, the parameters' rules, the parts on the
wire, decoding end to end, and the semantic cache + trainer + export chain. Tiny random weights of the real
architectures (TAEF2, ESPNetv2-VOC, the generator's UNet) stand in for the hub files and the shipped generator."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from shared.codecs import taef2 as taef2_codec
from shared.config import ChannelConfig
from shared.generators import semantic_taef2
from shared.generators.diffusion import ConditionalDenoiser, save_denoiser
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.registry.table import MODELS, get_spec
from shared.registry.tiny import save_tiny_espnetv2, save_tiny_taef2
from shared.schemes import semantic
from shared.schemes.base import get_scheme
from shared.schemes.keyregion import SPEC as KEYREGION
from shared.schemes.spic import SPEC as SPIC

FRAME = cv2.resize(np.random.default_rng(2).integers(0, 256, (16, 24, 3), dtype=np.uint8), (96, 64), interpolation=cv2.INTER_CUBIC)
TINY = replace(semantic_taef2.SEMANTIC_TAEF2_DENOISER, block_out_channels=(32, 32, 32))
CACHES = (semantic_taef2.load_generator, semantic_taef2.load_normaliser, taef2_codec.hub_codec)


def clear() -> None:
    for cache in CACHES:
        cache.cache_clear()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """TAEF2 and ESPNetv2-VOC on this machine (tiny, hash-pinned); no generator weights yet."""
    monkeypatch.setitem(MODELS, "taef2", replace(get_spec("taef2"), config=save_tiny_taef2(tmp_path / "hub" / "madebyollin" / "taef2")))
    voc = save_tiny_espnetv2("espnetv2-voc", tmp_path / "hub" / "sacmehta" / "espnetv2")
    monkeypatch.setitem(MODELS, "espnetv2-voc", replace(get_spec("espnetv2-voc"), config=voc))
    monkeypatch.setenv("SEMCOM_HUB_DIR", str(tmp_path / "hub"))
    weights = tmp_path / "weights"
    weights.mkdir()
    for module in (semantic, semantic_taef2):
        monkeypatch.setattr(module, "WEIGHTS_DIR", weights)
    clear()
    yield weights
    clear()


@pytest.fixture
def generator(hub):
    """The hub above plus a tiny TAEF2 semantic generator in the weights folder."""
    torch.manual_seed(0)
    norm = semantic_taef2.Normaliser(torch.zeros(32), torch.full((32,), 0.5))
    save_denoiser(ConditionalDenoiser(TINY), hub / f"{semantic_taef2.GENERATOR}.safetensors", semantic_taef2.normaliser_metadata(norm))
    return hub


def round_trip(scheme, params, snr_db=30.0):
    header, symbols, encoded = FrameEncoder(scheme, params).encode(FRAME, 0)
    header, symbols, _ = ChannelStage(ChannelConfig(snr_db=snr_db, seed=3)).process(header, symbols)
    return FrameDecoder().decode(header, symbols), header, encoded


def test_class_condition_is_each_class_share_of_a_latent_cell():
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[0, :, 4:8] = 15  # person in the right half of the first cell column
    labels[0, 8:, 8:] = 30  # beyond VOC: counted as the last class, never an index error
    c = semantic_taef2.class_condition(labels)  # (1, 21, 2, 2)
    assert c.shape == (1, 21, 2, 2) and torch.allclose(c.sum(1), torch.ones(1, 2, 2))
    assert c[0, 15, 0, 0] == 0.5 and c[0, 0, 0, 0] == 0.5 and c[0, 20, 1, 1] == 1 and c[0, 0, 0, 1] == 1


def test_auto_picks_taef2_only_where_the_generator_and_its_extractors_are(hub, generator):
    assert SPIC.params(codec="auto").codec == "taef2"
    p = SPIC.params()
    assert (p.lowres_factor, p.segmenter) == (semantic_taef2.SPIC_FACTOR, "espnetv2-voc")
    assert KEYREGION.params().key_regions == ""  # no YuNet file in this hub: the embedded face/saliency selector
    (hub / f"{semantic_taef2.GENERATOR}.safetensors").unlink()
    p = SPIC.params()
    assert (p.codec, p.lowres_factor) == ("embedded", 8)


def test_taef2_refuses_what_its_generator_cannot_read(hub):
    with pytest.raises(ValidationError, match="Pascal VOC"):
        SPIC.params(codec="taef2", segmenter="regions-slic")
    with pytest.raises(ValidationError, match="trained on 4"):
        SPIC.params(codec="taef2", lowres_factor=8)


@pytest.mark.parametrize("scheme", ["spic", "keyregion", "full"])
def test_taef2_schemes_decode_end_to_end(generator, scheme):
    params = {"codec": "taef2", "steps": 2} | ({} if scheme == "spic" else {"key_regions": "faces-saliency"})
    out, header, encoded = round_trip(scheme, params)
    assert out.shape == FRAME.shape and out.dtype == np.uint8
    assert header.scheme_params["codec"] == "taef2"
    sent = semantic.sent_parts(encoded)
    assert sent == set(semantic.TAEF2_PARTS[scheme]) - ({"key"} if encoded.info.get("key_cells") == 0 else set())
    if scheme == "keyregion":  # the 8 x 8-cell thumbnail of a 64 x 96 frame: a few bytes of coarse layout
        assert 0 < encoded.info["lowres_bytes"] < 120


def test_a_map_beyond_voc_is_dropped_not_fatal(generator, caplog):
    receive = get_scheme("spic").receive(SPIC.params(codec="taef2"))
    got = {"lowres": FRAME[::4, ::4].copy(), "labels": np.full(FRAME.shape[:2], 40, np.uint8)}
    with caplog.at_level("INFO"):
        out = receive._generate_taef2(got, *FRAME.shape[:2])
    assert out.shape == FRAME.shape and "beyond Pascal VOC" in caplog.text


def test_cache_train_export_chain(hub, tmp_path, monkeypatch):
    """semcom train semantic-cache on three photos, two training steps, export: the scheme then loads the result."""
    from shared.training import semantic_cache, semantic_taef2 as trainer

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        cv2.imwrite(str(photos / f"p{i}.png"), np.random.default_rng(i).integers(0, 256, (270, 300, 3), dtype=np.uint8))
    assert semantic_cache.main(["--data", f"folder:{photos}", "--cache-dir", str(tmp_path / "cache")]) == 0
    cache = semantic_cache.SemanticCache(tmp_path / "cache" / semantic_cache.FOLDER)
    assert len(cache) == 3 and cache.arrays["z"].shape == (3, 32, 32, 32) and cache.arrays["labels"].shape == (3, 256, 256)
    monkeypatch.setattr(trainer, "SEMANTIC_TAEF2_DENOISER", TINY)
    ckpt = tmp_path / "ckpt"
    args = ["--cache-dir", str(tmp_path / "cache"), "--ckpt-dir", str(ckpt)]
    assert trainer.main(args + ["--steps", "2", "--batch", "2", "--ckpt-every", "2", "--log-every", "1"]) == 0
    assert trainer.main(args + ["--export", "--out-dir", str(hub)]) == 0
    model, norm = semantic_taef2.load_generator()
    assert model.config.latent_channels == 32 and torch.allclose(norm.std.flatten(), cache.std, rtol=1e-3)
    out, _, _ = round_trip("spic", {"codec": "taef2"})
    assert out.shape == FRAME.shape


def test_scene_adapter_trains_saves_small_and_decodes_by_name(generator, tmp_path, monkeypatch):
    """semcom train lora-semantic on a short clip: the adapter is a small file, and a stream names it."""
    from shared.nets.lora import adapter_card
    from shared.training import lora_semantic

    monkeypatch.setenv("SEMCOM_LORA_DIR", str(tmp_path / "lora"))
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (300, 270))
    for i in range(8):
        writer.write(np.roll(cv2.resize(FRAME, (300, 270)), 4 * i, axis=1))
    writer.release()
    args = ["--data", f"video:{clip}", "--name", "scene", "--steps", "2", "--video-stride", "1", "--log-every", "1",
            "--ckpt-dir", str(tmp_path / "ckpt")]
    assert lora_semantic.main(args) == 0
    path = tmp_path / "lora" / "scene.safetensors"
    card = adapter_card(path)
    assert card["base"] == semantic_taef2.GENERATOR and card["train_frames"] == 4 and card["held_out_frames"] == 4
    assert {"spic_psnr", "keyregion_effnet"} <= set(card["held_out_adapted"])
    assert path.stat().st_size < 0.5 * (generator / f"{semantic_taef2.GENERATOR}.safetensors").stat().st_size
    out, header, _ = round_trip("spic", {"codec": "taef2", "lora": "scene"})
    assert out.shape == FRAME.shape and header.scheme_params["lora"] == "scene"
    with pytest.raises(ValidationError, match="codec=taef2"):
        SPIC.params(codec="embedded", lora="scene")


def test_a_residual_generator_starts_at_its_layout_and_learns_what_it_lacks():
    torch.manual_seed(0)
    model = ConditionalDenoiser(TINY).eval()
    x_t, t = torch.randn(2, 32, 4, 4), torch.tensor([999, 10])
    layout = torch.randn(2, 32, 4, 4)
    with torch.no_grad():
        assert torch.equal(model(x_t, t, semantic_taef2.conditions(layout=layout)), layout)  # zeroed output layer
        assert torch.count_nonzero(model(x_t, t, semantic_taef2.conditions())) == 0  # no layout: nothing added
    config = semantic_taef2.SEMANTIC_TAEF2_DENOISER.to_dict()
    assert type(TINY).from_dict(config).residual == "layout"
    del config["residual"]  # a generator file written before the field existed
    assert type(TINY).from_dict(config).residual == ""
