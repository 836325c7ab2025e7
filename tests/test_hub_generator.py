"""The semantic schemes on Stable-Diffusion-family pipelines (diffusers), end to end on tiny configs of the
same classes, found by hub id in a local mirror folder ($SEMCOM_HUB_DIR), as real weights would be."""
from __future__ import annotations

import numpy as np
import pytest

from shared.cli import UsageError
from shared.hub import MIRROR_ENV
from shared.registry.tiny import save_tiny
from shared.schemes.base import Received, get_scheme
from shared.schemes.semantic import HUB_DEFAULTS, sent_parts
from shared.sources import skimage_photos, square_resize

TINY = {"sd-img2img": HUB_DEFAULTS["spic"][0], "sd-inpaint": HUB_DEFAULTS["keyregion"][0],
        "controlnet-seg": HUB_DEFAULTS["spic"][1], "sd-x4-upscaler": "tiny/x4-upscaler", "sd-lora": "tiny/lora"}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    for name, hub_id in TINY.items():
        save_tiny(name, root / hub_id)
    return root


@pytest.fixture()
def hub(mirror, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    from shared.generators.hub_generator import load_hub_generator

    load_hub_generator.cache_clear()
    return mirror


def decode(scheme: str, frame: np.ndarray, **params) -> np.ndarray:
    spec = get_scheme(scheme)
    p = spec.params(generator="hub", steps=2, **params)
    encoded = spec.transmit(p).encode(frame)
    rx = {q.name: Received(q.symbols, np.full(q.symbols.size, 1e-6, np.float32)) for q in encoded.payloads}
    return spec.receive(p).decode(rx, *frame.shape[:2])


@pytest.mark.parametrize("scheme", ["spic", "keyregion", "full"])
def test_each_scheme_generates_through_its_hub_pipeline(hub, scheme):
    from shared.generators.hub_generator import load_hub_generator

    frame = square_resize(skimage_photos()["astronaut"], 64)
    out = decode(scheme, frame, guidance=2.0)
    assert out.shape == frame.shape and out.dtype == np.uint8
    pipe = type(load_hub_generator(scheme, *(list(HUB_DEFAULTS[scheme]) + [""]), "cpu").pipe).__name__
    assert pipe == {"spic": "StableDiffusionControlNetImg2ImgPipeline", "keyregion": "StableDiffusionInpaintPipeline",
                    "full": "StableDiffusionControlNetInpaintPipeline"}[scheme]


def test_upscaler_model_and_lora_adapter(hub):
    frame = square_resize(skimage_photos()["coffee"], 64)
    assert decode("spic", frame, hub_model="tiny/x4-upscaler").shape == frame.shape
    plain = decode("spic", frame, hub_controlnet="none")
    with_lora = decode("spic", frame, hub_controlnet="none", hub_lora="tiny/lora")
    assert not np.array_equal(plain, with_lora)  # the adapter really changes the UNet


def test_missing_hub_weights_and_wrong_model_kind_are_one_line_errors(hub):
    frame = square_resize(skimage_photos()["coffee"], 64)
    with pytest.raises(UsageError) as info:
        decode("spic", frame, hub_model="nobody/nothing")
    assert "\n" not in str(info.value) and MIRROR_ENV in str(info.value)
    with pytest.raises(UsageError, match="needs an inpainting model"):
        decode("keyregion", frame, hub_model=HUB_DEFAULTS["spic"][0])


def test_header_cannot_name_a_local_path():
    spec = get_scheme("spic")
    for bad in ("/etc/passwd", "../weights", "a/../../b", "owner/.hidden"):
        with pytest.raises(ValueError):
            spec.params(hub_model=bad)


def test_receiver_refuses_a_stream_whose_hub_weights_it_lacks_and_keeps_serving(monkeypatch, tmp_path):
    from shared.config import ChannelConfig
    from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
    from shared.protocol import ProtocolError

    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))  # an empty mirror
    frame = square_resize(skimage_photos()["coffee"], 64)
    header, symbols, _ = FrameEncoder("spic", {"generator": "hub"}).encode(frame, 0)
    header, symbols, _ = ChannelStage(ChannelConfig(snr_db=20.0)).process(header, symbols)
    decoder = FrameDecoder()
    for call in (lambda: decoder.prepare(header), lambda: decoder.decode(header, symbols)):
        with pytest.raises(ProtocolError, match="model_unavailable"):
            call()
    header, symbols, _ = FrameEncoder("spic").encode(frame, 1)  # the embedded generator still serves
    header, symbols, _ = ChannelStage(ChannelConfig(snr_db=20.0)).process(header, symbols)
    assert decoder.decode(header, symbols).shape == frame.shape


def test_transmitter_extractors_chosen_by_param_come_from_the_hub_mirror(monkeypatch, tmp_path):
    """spic / full with SegFormer maps, BLIP captions and class-based key regions (tiny configs under their hub ids)."""
    from shared.registry.table import get_spec

    for name in ("segformer-b0-ade", "blip-base"):
        save_tiny(name, tmp_path / get_spec(name).weights)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    frame = square_resize(skimage_photos()["astronaut"], 64)
    spec = get_scheme("full")
    params = spec.params(segmenter="segformer-b0-ade", captioner="blip-base", key_regions="key-classes")
    tx = spec.transmit(params)
    assert type(tx.segmenter).__name__ == "SegformerSegmenter" and type(tx.captioner).__name__ == "BlipCaptioner"
    encoded = tx.encode(frame)
    assert {"map", "mask", "caption"} <= sent_parts(encoded)
    rx = {q.name: Received(q.symbols, np.full(q.symbols.size, 1e-6, np.float32)) for q in encoded.payloads}
    assert spec.receive(params).decode(rx, 64, 64).shape == frame.shape
    with pytest.raises(UsageError, match="unknown model"):
        spec.transmit(spec.params(segmenter="no-such-model"))
    with pytest.raises(UsageError, match="not a segmenter"):
        spec.transmit(spec.params(segmenter="blip-base"))
