"""Hub backends, loaded for real: tiny configs of the same classes, saved with
``save_pretrained`` to a temp dir and loaded through the project's own loader
(``load_model(name, source=dir)``), then run through the role interface.
Also: the one-line errors for hub weights that are not on the machine."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.hub import WeightsNotFound
from shared.registry.table import load_model
from shared.registry.tiny import TINY_WORDS, save_tiny
from shared.roles import Captioner, LatentCodec, Segmentation, Segmenter

FRAME = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_segformer_tiny_config_through_loader(tmp_path):
    seg = load_model("segformer-b0-ade", source=str(save_tiny("segformer-b0-ade", tmp_path)), role="segmenter")
    assert isinstance(seg, Segmenter)
    out = seg.segment(FRAME)
    assert out.labels.shape == FRAME.shape[:2] and out.labels.dtype == np.uint8
    assert out.class_names == ("wall", "person;individual;someone", "sky")
    assert out.vocabulary == "ade20k"
    assert set(out.present()) <= {0, 1, 2}
    # the class-based key selector pairs with it: "person" is a key class
    key = load_model("key-classes")
    forced = Segmentation(labels=np.ones((48, 64), np.uint8), class_names=out.class_names)
    assert key.select(FRAME, forced).all()
    assert not key.select(FRAME, Segmentation(np.zeros((48, 64), np.uint8), out.class_names)).any()
    with pytest.raises(ValueError, match="needs the frame's Segmentation"):
        key.select(FRAME)


def test_blip_tiny_config_through_loader(tmp_path):
    cap = load_model("blip-base", source=str(save_tiny("blip-base", tmp_path)), role="captioner")
    assert isinstance(cap, Captioner)
    text = cap.caption(FRAME)
    assert isinstance(text, str)
    assert set(text.split()) <= set(TINY_WORDS)


@pytest.mark.parametrize("name", ["sd-vae", "taesd"])
def test_diffusers_vae_tiny_config_through_loader(tmp_path, name):
    codec = load_model(name, source=str(save_tiny(name, tmp_path)), role="latent_codec")
    assert isinstance(codec, LatentCodec)
    f = codec.downsample
    assert f == 2
    z = codec.encode(FRAME)
    assert z.shape == (4, 48 // f, 64 // f) and z.dtype == torch.float32
    out = codec.decode(z, size=FRAME.shape[:2])
    assert out.shape == FRAME.shape and out.dtype == np.uint8


def test_a_full_pipeline_directory_with_a_vae_subfolder(tmp_path):
    from diffusers import AutoencoderKL

    AutoencoderKL(block_out_channels=(8,), layers_per_block=1, latent_channels=4, norm_num_groups=4,
                  down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",)).save_pretrained(tmp_path / "vae")
    (tmp_path / "config.json").write_text("{}")  # a pipeline's model_index stands here in real checkpoints
    codec = load_model("sd-vae", source=str(tmp_path))
    assert codec.downsample == 1


def test_hub_id_not_on_this_machine_is_one_clear_line():
    with pytest.raises(WeightsNotFound) as info:
        load_model("sd-vae", source="nobody-here/no-such-model-xyz")
    msg = str(info.value)
    assert "\n" not in msg
    for hint in ("HF_HOME", "save_pretrained", "semcom models fetch sd-vae", "nobody-here/no-such-model-xyz"):
        assert hint in msg


def test_missing_local_path_and_directory_without_config(tmp_path):
    with pytest.raises(WeightsNotFound, match="not on this machine"):
        load_model("segformer-b0-ade", source=str(tmp_path / "missing"))
    with pytest.raises(WeightsNotFound, match="without config.json"):
        load_model("blip-base", source=str(tmp_path))


def test_unknown_model_and_wrong_role():
    from shared.registry.table import UnknownModel

    with pytest.raises(UnknownModel, match="unknown model 'nope'"):
        load_model("nope")
    with pytest.raises(UnknownModel, match="is a segmenter, not a captioner"):
        load_model("regions-slic", role="captioner")


def test_tiny_configs_cover_every_hub_model(tmp_path):
    from shared.registry.table import MODELS, hub_marker
    from shared.registry.tiny import NO_TINY

    for name, spec in MODELS.items():
        if spec.backend == "hub" and name not in NO_TINY:
            assert (save_tiny(name, tmp_path / name) / hub_marker(spec)).is_file()
    with pytest.raises(ValueError, match="no tiny config"):
        save_tiny("regions-slic", tmp_path / "x")
