"""Embedded backends, for real, on scikit-image photos (no network, no media folder)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from shared.extractors.caption_structured import imagenet_classes
from shared.registry.table import MODELS, ROLES, availability, default_model, load_model
from shared.roles import KeyRegionSelector, LatentCodec, Segmenter, check_frame


def photo(name: str, size: int = 256) -> np.ndarray:
    return cv2.resize(getattr(skimage.data, name)(), (size, size), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return photo("astronaut")


def test_every_role_has_an_embedded_default_that_is_available_here():
    for role in ROLES:
        name = default_model(role)
        assert MODELS[name].backend == "embedded"
        assert availability(name)[0], name
    with pytest.raises(ValueError, match="unknown role"):
        default_model("painter")


def test_frame_convention_is_enforced():
    seg = load_model("regions-slic")
    with pytest.raises(ValueError, match=r"\(H, W, 3\) and dtype uint8"):
        seg.segment(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError):
        check_frame(np.zeros((8, 8), np.uint8))


def test_region_segmenter(astronaut):
    seg = load_model(default_model("segmenter"))
    assert isinstance(seg, Segmenter)
    out = seg.segment(astronaut)
    assert out.labels.shape == (256, 256) and out.labels.dtype == np.uint8
    n = len(out.present())
    assert 2 <= n <= 8 and out.present() == list(range(n))  # labels 0..n-1, largest first
    assert len(out.class_names) == len(out.descriptors) == n
    assert out.vocabulary is None  # region names must be sent
    assert np.array_equal(seg.segment(astronaut).labels, out.labels)  # deterministic
    areas = np.bincount(out.labels.ravel())
    assert list(areas) == sorted(areas, reverse=True)
    odd = seg.segment(photo("coffee")[:101, :77])
    assert odd.labels.shape == (101, 77)


def test_face_key_regions_find_the_astronauts_face(astronaut):
    sel = load_model(default_model("key_regions"))
    assert isinstance(sel, KeyRegionSelector)
    faces = sel.faces(astronaut)
    assert len(faces) >= 1
    f = faces[0]
    cy, cx = f.r + f.h / 2, f.c + f.w / 2
    assert 40 < cy < 90 and 90 < cx < 140, faces  # her face, upper middle of the photo
    seg = load_model("regions-slic").segment(astronaut)
    mask = sel.select(astronaut, seg)
    assert mask.shape == (256, 256) and mask.dtype == bool
    assert mask[int(cy), int(cx)]
    assert 0.02 < mask.mean() <= sel.config.max_key_fraction


def test_saliency_key_regions_without_faces():
    sel = load_model("faces-saliency")
    coffee = photo("coffee")
    assert sel.faces(coffee) == []
    seg = load_model("regions-slic").segment(coffee)
    mask = sel.select(coffee, seg)
    assert 0 < mask.mean() <= sel.config.max_key_fraction
    assert sel.select(coffee).any()  # works without a segmentation too


def test_structured_captioner_names_the_cat():
    torch.set_num_threads(1)
    cap = load_model(default_model("captioner"))
    chelsea = photo("chelsea")
    label, prob = cap.labels(chelsea)[0]
    assert label in imagenet_classes()[281:286]  # ImageNet's domestic-cat classes
    text = cap.caption(chelsea)
    assert text.startswith("a photo of ") and "colours:" in text and "top " in text and "bottom " in text
    assert label in text
    assert len(imagenet_classes()) == 1000


def test_embedded_latent_codec_round_trip(astronaut):
    codec = load_model(default_model("latent_codec"))
    assert isinstance(codec, LatentCodec)
    z = codec.encode(astronaut)
    assert z.shape == (codec.latent_channels, 256 // codec.downsample, 256 // codec.downsample)
    out = codec.decode(z)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    mse = np.mean((out.astype(float) - astronaut.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 20  # the trained weights, not a random init
    small = codec.decode(codec.encode(astronaut[:50, :70]), size=(50, 70))  # padded, then cropped back
    assert small.shape == (50, 70, 3)
    with pytest.raises(ValueError, match="latent of shape"):
        codec.decode(torch.zeros(3, 4, 4))


def test_missing_embedded_weights_is_one_clear_line(tmp_path):
    from shared.codecs.latent_conv import WeightsFileMissing

    with pytest.raises(WeightsFileMissing) as info:
        load_model("latent-conv-ae", source=str(tmp_path / "gone.safetensors"))
    assert "\n" not in str(info.value) and "model card" in str(info.value)


def test_latent_trainer_resumes_and_exports(tmp_path):
    from shared.training import latent as train_latent

    media = tmp_path / "media"
    media.mkdir()
    for i, name in enumerate(("rocket", "coins")):  # not validation photos... but any image serves a smoke test
        img = getattr(skimage.data, name)()
        img = np.stack([img] * 3, -1) if img.ndim == 2 else img
        cv2.imwrite(str(media / f"{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    ckpt = tmp_path / "ckpt"
    args = ["--media", str(media), "--ckpt-dir", str(ckpt), "--steps", "2", "--ckpt-every", "2", "--log-every", "1"]
    assert train_latent.main(args) == 0
    assert train_latent.main(args[:-6] + ["--steps", "3", "--ckpt-every", "5", "--log-every", "5"]) == 0  # resumes
    import json

    assert json.loads((ckpt / "state.json").read_text())["step"] == 3
    out = tmp_path / "weights"
    assert train_latent.main(["--export", "--ckpt-dir", str(ckpt), "--out-dir", str(out)]) == 0
    codec = load_model("latent-conv-ae", source=str(out / "latent_conv_ae.safetensors"))
    assert codec.encode(photo("chelsea", 32)).shape == (8, 4, 4)
    assert "Validation PSNR" in (out / "latent_conv_ae.md").read_text()
    assert train_latent.main(["--export", "--ckpt-dir", str(tmp_path / "none")]) == 2


def test_decoder_only_fine_tune_keeps_the_latent_space(tmp_path):
    """--decoder-only: the encoder (so every latent, and latent_std) is exactly the starting codec's; the decoder moves."""
    from safetensors.torch import load_file

    from shared.training import latent as train_latent

    media = tmp_path / "media"
    media.mkdir()
    cv2.imwrite(str(media / "chelsea.png"), cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR))
    init = train_latent.shipped_weights()
    ckpt, out = tmp_path / "ckpt", tmp_path / "weights"
    args = ["--decoder-only", "--media", str(media), "--ckpt-dir", str(ckpt), "--steps", "2", "--ckpt-every", "2",
            "--log-every", "1"]
    assert train_latent.main(args) == 0
    assert train_latent.main(["--export", "--ckpt-dir", str(ckpt), "--out-dir", str(out), "--note", "a test run"]) == 0
    before, after = load_file(str(init)), load_file(str(out / "latent_conv_ae.safetensors"))
    assert before.keys() == after.keys()
    enc = [k for k in before if k.startswith("encoder.")]
    dec = [k for k in before if k.startswith("decoder.")]
    assert enc and dec
    assert all(torch.equal(before[k], after[k]) for k in enc)
    assert any(not torch.equal(before[k], after[k]) for k in dec)
    old, new = load_model("latent-conv-ae", source=str(init)), load_model("latent-conv-ae", source=str(out / "latent_conv_ae.safetensors"))
    assert torch.equal(old.latent_std, new.latent_std)
    img = photo("astronaut", 64)
    assert torch.equal(old.encode(img), new.encode(img))
    card = (out / "latent_conv_ae.md").read_text()
    assert "the decoder only" in card and "a test run" in card


def test_latent_trainer_refuses_an_init_that_is_not_a_codec(tmp_path, capsys):
    from shared.training import latent as train_latent

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    assert train_latent.main(["--decoder-only", "--init-from", str(bad), "--ckpt-dir", str(tmp_path / "c")]) == 2
    assert train_latent.main(["--decoder-only", "--init-from", str(tmp_path / "gone.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "not an exported latent codec" in err and "no such weights file" in err
