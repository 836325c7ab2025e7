"""TAEF2: our implementation of the published layout, loaded through the registry with pinned hashes;
tiny random weights of the same layout stand in for the real files (which tests never need)."""
from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import replace

import numpy as np
import pytest
import torch

from shared.codecs.taef2 import DECODER_FILE, ENCODER_FILE, Taef2LatentCodec, Taef2Net
from shared.hub import WeightsNotFound, WeightsTampered, fetch_files, sha256_of
from shared.registry import cli as models_cli
from shared.registry.table import MODELS, availability, get_spec, load_model
from shared.registry.tiny import save_tiny_taef2


@pytest.fixture
def tiny_taef2(tmp_path, monkeypatch):
    """The registry's taef2 row pointed at tiny random weights whose hashes it pins."""
    folder = tmp_path / "madebyollin" / "taef2"
    config = save_tiny_taef2(folder)
    monkeypatch.setitem(MODELS, "taef2", replace(get_spec("taef2"), config=config))
    return folder


def test_layout_matches_the_upstream_state_dicts():
    net = Taef2Net()
    enc, dec = net.encoder.state_dict(), net.decoder.state_dict()
    assert len(enc) == 79 and len(dec) == 79  # as many tensors as the published files hold
    # the pooled branch only in the deepest stage: encoder Blocks 11-13, decoder Blocks 3-5
    assert {k.split(".")[0] for k in enc if ".pool." in k} == {"11", "12", "13"}
    assert {k.split(".")[0] for k in dec if ".pool." in k} == {"3", "4", "5"}
    assert enc["0.weight"].shape == (64, 3, 3, 3) and enc["14.weight"].shape == (32, 64, 3, 3)
    assert enc["2.weight"].shape == (64, 64, 3, 3) and "2.bias" not in enc  # stride-2 convs carry no bias
    assert dec["1.weight"].shape == (64, 32, 3, 3) and dec["19.weight"].shape == (3, 64, 3, 3)
    assert dec["3.pool.0.weight"].shape == (256, 64, 1, 1) and dec["3.pool.1.weight"].shape == (256,)
    assert 1.3e6 < sum(v.numel() for v in enc.values()) < 1.4e6  # the published 2.7 MB per side, in fp16


def test_tiny_weights_load_through_the_registry_and_round_trip(tiny_taef2):
    codec = load_model("taef2", source=str(tiny_taef2), role="latent_codec")
    assert isinstance(codec, Taef2LatentCodec) and codec.downsample == 8 and codec.latent_channels == 32
    frame = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    z = codec.encode(frame)
    assert z.shape == (32, 5, 7)
    out = codec.decode(z, size=(40, 56))
    assert out.shape == (40, 56, 3) and out.dtype == np.uint8


def test_a_tampered_file_is_refused_before_it_is_unpickled(tiny_taef2, monkeypatch):
    (tiny_taef2 / DECODER_FILE).write_bytes((tiny_taef2 / DECODER_FILE).read_bytes() + b"x")
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a))
    with pytest.raises(WeightsTampered, match="not the pinned") as info:
        load_model("taef2", source=str(tiny_taef2))
    assert "\n" not in str(info.value)
    assert not loads  # both files are checked before anything is unpickled


def test_missing_files_are_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SEMCOM_HUB_DIR", raising=False)
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFound) as info:
        load_model("taef2")
    assert "\n" not in str(info.value) and "semcom models fetch taef2" in str(info.value)
    ok, why = availability("taef2")
    assert not ok and "madebyollin/taef2" in why


def test_hub_mirror_and_user_cache_are_found(tiny_taef2, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_HUB_DIR", str(tmp_path))  # tmp_path/madebyollin/taef2
    assert isinstance(load_model("taef2"), Taef2LatentCodec)
    assert availability("taef2")[0]


def test_fetch_checks_the_pinned_hash(tiny_taef2, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    config = get_spec("taef2").config
    upstream = tiny_taef2.as_uri()  # a file:// upstream: the same download code path, no network
    folder = fetch_files("taef2", "madebyollin/taef2", upstream, config.files())
    assert folder == tmp_path / "cache" / "hub" / "madebyollin" / "taef2"
    assert sha256_of(folder / ENCODER_FILE) == config.encoder_sha256
    monkeypatch.delenv("SEMCOM_HUB_DIR", raising=False)
    assert isinstance(load_model("taef2"), Taef2LatentCodec)  # found in the user cache
    (folder / DECODER_FILE).unlink()
    with pytest.raises(WeightsTampered, match="does not match"):
        fetch_files("taef2", "madebyollin/taef2", upstream, {**config.files(), DECODER_FILE: "0" * 64})
    assert not (folder / DECODER_FILE).exists() and not list(folder.glob("*.partial"))


def test_fetch_without_network_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert models_cli.main(["fetch", "taef2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "could not download" in err and "SEMCOM_HUB_DIR" in err
