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
from shared.protocol import ProtocolError
from shared.registry.table import MODELS, get_spec
from shared.registry.tiny import save_tiny_espnetv2, save_tiny_taef2
from shared.schemes import semantic
from shared.schemes.base import DecodeFailure, Received, get_scheme
from shared.schemes.jscc_background import FEATHER_PX
from shared.schemes.keyregion import SPEC as KEYREGION
from shared.schemes.spic import SPEC as SPIC
from tests.tiny_lrisc import clear_lrisc_caches, point_lrisc_at, save_tiny_lrisc

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
    point_lrisc_at(weights, monkeypatch)  # no lrisc on TAEF2 here: keyregion generates its background
    clear()
    yield weights
    clear()
    clear_lrisc_caches()


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


@pytest.fixture
def jscc_background(generator):
    """The hub and generator above plus lrisc's TAEF2 JSCC (tiny): keyregion's background=jscc becomes the default."""
    save_tiny_lrisc(generator)
    return generator


def keyregion_frame(params: dict | None = None) -> tuple[dict, dict]:
    """FRAME through keyregion's transmitter (salient-region keys) -> (received payloads at 30 dB AWGN, encoded info)."""
    encoded = get_scheme("keyregion").transmit(KEYREGION.params(key_regions="faces-saliency", **(params or {}))).encode(FRAME)
    return at_30_db(encoded), encoded.info


def at_30_db(encoded) -> dict:
    """An encoded frame's payloads as received over 30 dB AWGN (seeded)."""
    rng = np.random.default_rng(0)
    nv = 10 ** -3.0
    payloads = {}
    for pl in encoded.payloads:
        noise = (rng.standard_normal(pl.symbols.size) + 1j * rng.standard_normal(pl.symbols.size)) * (nv / 2) ** 0.5
        payloads[pl.name] = Received((pl.symbols + noise).astype(np.complex64), np.full(pl.symbols.size, nv, np.float32))
    return payloads


def test_keyregion_on_taef2_sends_its_background_through_lriscs_jscc(jscc_background):
    p = KEYREGION.params()
    assert (p.codec, p.background, p.background_maps) == ("taef2", "jscc", 16)
    out, header, encoded = round_trip("keyregion", {"key_regions": "faces-saliency"})
    assert out.shape == FRAME.shape and out.dtype == np.uint8 and header.scheme_params["background"] == "jscc"
    assert semantic.sent_parts(encoded) == {"mask", "key", "rest"} and encoded.info["key_cells"] > 0  # no caption, no thumbnail
    rest = next(d for d in header.payloads if d.name == "rest")
    assert rest.n_symbols == encoded.info["rest_symbols"] == 16 * (64 // 16) * (96 // 16) // 2  # 16 maps of a 4 x 6 grid
    _, header8, _ = round_trip("keyregion", {"key_regions": "faces-saliency", "background_maps": 8})
    assert next(d for d in header8.payloads if d.name == "rest").n_symbols == rest.n_symbols // 2


def near(mask: np.ndarray, px: int) -> np.ndarray:
    """(H, W) bool -> the pixels within ``px`` (Chebyshev distance) of ``mask``."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def test_outside_the_key_cells_the_picture_is_the_jscc_alone(jscc_background):
    payloads, info = keyregion_frame()
    receive = get_scheme("keyregion").receive(KEYREGION.params(key_regions="faces-saliency"))
    with_key = receive.decode(payloads, *FRAME.shape[:2])
    receive._open_bundle(payloads)
    grid = receive._key(payloads, 8, 12)[1]
    inside = semantic.upsample(grid[0, 0].bool().numpy(), 8, *FRAME.shape[:2])  # (64, 96) the key cells' pixels
    assert inside.sum() == 64 * info["key_cells"]
    jscc_only = receive.background.decode(payloads["rest"], None, None, *FRAME.shape[:2])
    beyond = ~near(inside, FEATHER_PX)  # beyond the blend at the key cells' edge
    assert beyond.any() and np.array_equal(with_key[beyond], jscc_only[beyond])  # the JSCC's picture, untouched
    del payloads[semantic.BUNDLE]  # the mask's bundle lost: the key latents cannot be placed, the JSCC's picture stays
    assert np.array_equal(receive.decode(payloads, *FRAME.shape[:2]), jscc_only)


class SpyDecoder(torch.nn.Module):
    """A stand-in pixel decoder that records its latents and shows their first 3 channels, 8 x 8 pixels a cell."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (1, 32, h, w) -> (1, 3, 8h, 8w)
        self.seen.append(z.clone())
        return torch.sigmoid(z[:, :3]).repeat_interleave(8, 2).repeat_interleave(8, 3)


def test_the_key_pixels_decode_the_received_key_latents_in_the_jscc_context(jscc_background, monkeypatch):
    from shared.codecs.frames import as_frame, frame_tensor
    from shared.schemes import jscc_background as background

    spy = SpyDecoder()
    monkeypatch.setattr(background, "pixel_decoder_at", lambda *args: spy)
    payloads, _ = keyregion_frame()
    receive = get_scheme("keyregion").receive(KEYREGION.params(key_regions="faces-saliency"))
    out = receive.decode(payloads, *FRAME.shape[:2])
    z_hat, mixed = spy.seen  # the JSCC's z_hat (the rest's decoder), then z_hat with the key cells replaced (TAEF2's)
    receive._open_bundle(payloads)
    grid = receive._key(payloads, 8, 12)[1][0, 0].bool()  # (8, 12)
    assert torch.equal(mixed[:, :, ~grid], z_hat[:, :, ~grid])
    z = taef2_codec.hub_codec("cpu").encode_tensor(frame_tensor(FRAME, 16))  # (1, 32, 8, 12) what was sent, raw TAEF2
    raw = lambda zn: zn * 0.05  # noqa: E731  the tiny JSCC's normalisation: mean 0, std 0.05
    rms = z[:, :, grid].pow(2).mean().sqrt()
    assert (raw(mixed) - z)[:, :, grid].pow(2).mean().sqrt() < 0.1 * rms  # 30 dB: the received key latents
    assert (raw(z_hat) - z)[:, :, grid].pow(2).mean().sqrt() > 0.5 * rms  # where the (tiny) JSCC alone is far off
    inside = semantic.upsample(grid.numpy(), 8, *FRAME.shape[:2])
    deep, beyond = ~near(~inside, FEATHER_PX), ~near(inside, FEATHER_PX)  # clear of the blend at the edge, in and out
    key_pixels, rest_pixels = (as_frame(SpyDecoder()(z), *FRAME.shape[:2]) for z in (mixed, z_hat))
    assert deep.any() and np.array_equal(out[deep], key_pixels[deep]) and np.array_equal(out[beyond], rest_pixels[beyond])
    edge = inside & ~deep & (key_pixels != rest_pixels).any(-1)  # in the blend: between the two
    lo, hi = np.minimum(key_pixels, rest_pixels)[edge].astype(int), np.maximum(key_pixels, rest_pixels)[edge].astype(int)
    assert edge.any() and ((out[edge] >= lo - 1) & (out[edge] <= hi + 1)).all()


@pytest.mark.parametrize("error_var, noise_var", [(0.3, 1.0), (0.3, 0.01), (0.05, 0.2)])
def test_the_key_estimate_weighs_the_jscc_and_the_channel_by_their_errors(error_var, noise_var):
    """z ~ N(0, 1); the JSCC's z_hat = z + e, e ~ N(0, s2); the key latents y = z + n, n ~ N(0, v): the estimate
    reaches the LMMSE error s2 v / (s2 + v) without being told s2, below both inputs' errors."""
    from shared.schemes.jscc_background import key_estimate

    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 32, 16, 16, generator=g)
    prior = z + error_var**0.5 * torch.randn(z.shape, generator=g)
    observed = z + noise_var**0.5 * torch.randn(z.shape, generator=g)
    grid = torch.zeros(1, 1, 16, 16)
    grid[..., 2:14, 3:15] = 1  # 144 key cells: s2 is estimated per channel from 144 values
    est = key_estimate(observed, torch.full(z.shape, noise_var), prior, grid)
    inside = grid.bool().expand_as(z)
    mse = (est - z)[inside].pow(2).mean().item()
    theory = error_var * noise_var / (error_var + noise_var)
    assert mse == pytest.approx(theory, rel=0.1)  # 4,608 values: the MSE's own spread is ~2%
    assert mse < min(error_var, noise_var) and (est[~inside] == 0).all()


def test_a_frame_without_a_fitting_background_fails_alone(jscc_background):
    payloads, _ = keyregion_frame()
    receive = get_scheme("keyregion").receive(KEYREGION.params(key_regions="faces-saliency"))
    rest = payloads.pop("rest")
    with pytest.raises(DecodeFailure, match="no 'rest' payload"):
        receive.decode(payloads, *FRAME.shape[:2])
    payloads["rest"] = Received(rest.symbols[:-3], rest.noise_var[:-3])
    with pytest.raises(DecodeFailure, match="no supported length"):
        receive.decode(payloads, *FRAME.shape[:2])
    payloads["rest"] = rest
    assert receive.decode(payloads, *FRAME.shape[:2]).shape == FRAME.shape  # and the next frame decodes


def test_the_background_jscc_is_told_the_fed_back_snr(jscc_background):
    transmit = get_scheme("keyregion").transmit(KEYREGION.params(key_regions="faces-saliency", snr_db=12.0))
    assert transmit.encode(FRAME).info["tx_snr_db"] == 12.0  # before any feedback: snr_db
    transmit.on_feedback(3.5)
    assert transmit.encode(FRAME).info["tx_snr_db"] == 3.5


def test_at_a_low_fed_back_snr_the_key_latents_go_twice(jscc_background):
    p = KEYREGION.params(key_regions="faces-saliency")
    assert p.repeat_policy == "snr" and KEYREGION.params(background="generate").repeat_policy == "fixed"
    assert [semantic.key_repeats(p, snr) for snr in (None, 3.0, 7.4, 7.5, 20.0)] == [1, 2, 2, 1, 1]
    fixed = KEYREGION.params(key_repeat=3, repeat_policy="fixed")
    assert {semantic.key_repeats(fixed, snr) for snr in (None, 0.0, 20.0)} == {3}
    transmit = get_scheme("keyregion").transmit(p)
    once = transmit.encode(FRAME)
    transmit.on_feedback(3.0)
    twice = transmit.encode(FRAME)
    key_symbols = lambda enc: next(pl.symbols for pl in enc.payloads if pl.name == "key")  # noqa: E731
    assert (once.info["key_repeat"], twice.info["key_repeat"]) == (1, 2)
    assert np.array_equal(key_symbols(twice), np.tile(key_symbols(once), 2))
    receive = get_scheme("keyregion").receive(p)  # reads the repetitions off the count: no parameter tells it
    variance = lambda enc: receive._arrived(at_30_db(enc), *FRAME.shape[:2])["key_observed"][1]  # noqa: E731
    v1, v2 = variance(once), variance(twice)
    assert torch.allclose(v2[v1 > 0], v1[v1 > 0] / 2)  # two copies combined: half the noise
    forged = at_30_db(twice)
    forged["key"] = Received(np.tile(forged["key"].symbols, 2)[: 3 * key_symbols(once).size],
                             np.tile(forged["key"].noise_var, 2)[: 3 * key_symbols(once).size])  # 3 copies: not the policy's
    assert receive.decode(forged, *FRAME.shape[:2]).shape == FRAME.shape and receive.lost["key"] == 1


def test_the_jscc_background_needs_the_embedded_generator_and_lriscs_rates(jscc_background):
    with pytest.raises(ValidationError, match="generator=embedded"):
        KEYREGION.params(background="jscc", generator="hub")
    with pytest.raises(ValidationError, match="taef2 JSCC sends 8, 16, 24, 32, 48, 64"):
        KEYREGION.params(background_maps=12)
    with pytest.raises(ValidationError, match="embedded JSCC sends 8, 16, 24, 32 maps"):
        KEYREGION.params(codec="embedded", background_maps=48)  # a TAEF2 rate: the embedded JSCC has 32 maps
    assert KEYREGION.params(codec="embedded").background == "jscc"  # the embedded JSCC always ships
    assert KEYREGION.params(generator="hub").background == "generate"  # a hub generator paints the background


def test_the_mask_alone_goes_at_rate_third_in_a_fitted_block(jscc_background):
    p = KEYREGION.params()
    assert p.link == semantic.MASK_LINK and p.link.code_rate == pytest.approx(1 / 3) and p.link.fit
    assert KEYREGION.params(background="generate").link == semantic.SemanticParams.model_fields["link"].default
    chosen = {"modulation": "qpsk", "code_rate": 0.5, "ldpc_k": 512}
    assert KEYREGION.params(link=chosen).link.ldpc_k == 512  # a link the user names is kept
    _, header, encoded = round_trip("keyregion", {"key_regions": "faces-saliency"})
    side = next(d for d in header.payloads if d.name == semantic.BUNDLE)
    assert side.n_symbols == p.link.n_symbols(encoded.info["mask_bytes"] + 5) < 1024  # + the bundle entry (id, length)
    assert header.scheme_params["link"]["code_rate"] == pytest.approx(1 / 3)  # the receiver decodes what was sent


def test_a_receiver_without_the_background_jscc_refuses_the_stream(jscc_background):
    header, _, _ = FrameEncoder("keyregion", {"key_regions": "faces-saliency"}).encode(FRAME, 0)
    from shared.schemes import lrisc

    (jscc_background / f"{lrisc.TAEF2_JSCC}.safetensors").unlink()
    clear_lrisc_caches()
    with pytest.raises(ProtocolError) as info:
        FrameDecoder().prepare(header)
    assert info.value.reason == "model_unavailable" and lrisc.TAEF2_JSCC in str(info.value)


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
