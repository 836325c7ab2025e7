"""The real extractors of the hub (ESPNetv2 segmenters, YuNet faces): our implementations of the published
layouts, loaded through the registry with pinned hashes. Tiny random weights of the same layout stand in
for the real files; the combination of faces, persons and key classes is checked on a stand-in detector."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from shared.extractors.keyregions import YunetKeyConfig, YunetKeySelector
from shared.extractors.segment_espnetv2 import CITYSCAPES_CLASSES, VOC_CLASSES, Espnetv2Net, Espnetv2Segmenter
from shared.hub import WeightsNotFound, WeightsTampered
from shared.registry.table import MODELS, availability, get_spec, load_model
from shared.registry.tiny import save_tiny_espnetv2
from shared.roles import Segmentation
from shared.sideinfo.maps import block_any, upsample


@pytest.mark.parametrize("scale, classes, published", [(2.0, 21, 789_253), (1.0, 21, 234_021), (2.0, 20, 789_242)])
def test_layout_has_the_published_parameter_count(scale, classes, published):
    """The three upstream files hold exactly these many learnable values (VOC s=2, VOC s=1, Cityscapes s=2)."""
    net = Espnetv2Net(scale, classes)
    state = net.state_dict()
    assert sum(p.numel() for p in net.parameters()) == published
    assert len(state) == 526  # as many tensors as each published file, buffers included
    assert state["base_net.level2_0.eesp.proj_1x1.conv.weight"].shape == ((24 if scale == 2 else 8), 8, 1, 1)
    assert state["bu_dec_l4.merge_layer.3.weight"].shape == (classes, 10, 1, 1)


@pytest.fixture
def tiny_voc(tmp_path, monkeypatch):
    folder = tmp_path / "sacmehta" / "espnetv2"
    config = save_tiny_espnetv2("espnetv2-voc", folder)
    monkeypatch.setitem(MODELS, "espnetv2-voc", replace(get_spec("espnetv2-voc"), config=config))
    return folder


def test_tiny_weights_load_and_segment_at_the_frame_size(tiny_voc):
    seg = load_model("espnetv2-voc", source=str(tiny_voc), role="segmenter")
    assert isinstance(seg, Espnetv2Segmenter) and seg.class_names == VOC_CLASSES
    frame = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)  # not a multiple of 32
    out = seg.segment(frame)
    assert out.labels.shape == (50, 70) and out.labels.dtype == np.uint8
    assert out.labels.max() < 21 and out.vocabulary == "voc"  # a known vocabulary: no class names on the wire
    assert seg.segment(frame).labels.tolist() == out.labels.tolist()  # eval mode: deterministic


def test_batch_norm_statistics_are_used_not_batch_statistics(tiny_voc):
    seg = load_model("espnetv2-voc", source=str(tiny_voc))
    assert not seg.net.training
    frame = np.full((64, 96, 3), 128, np.uint8)
    logits = seg.logits(frame)  # a flat image: batch statistics would give NaN-free but different logits
    assert torch.isfinite(logits).all()


def test_a_tampered_file_is_refused_before_it_is_unpickled(tiny_voc, monkeypatch):
    file = tiny_voc / get_spec("espnetv2-voc").config.weights_file
    file.write_bytes(file.read_bytes() + b"x")
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a))
    with pytest.raises(WeightsTampered, match="not the pinned"):
        load_model("espnetv2-voc", source=str(tiny_voc))
    assert not loads


@pytest.mark.parametrize("name", ["espnetv2-voc", "espnetv2-cityscapes", "yunet"])
def test_missing_files_are_one_line(name, tmp_path, monkeypatch):
    monkeypatch.delenv("SEMCOM_HUB_DIR", raising=False)
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFound) as info:
        load_model(name)
    assert "\n" not in str(info.value) and f"semcom models fetch {name}" in str(info.value)
    assert not availability(name)[0]


def test_cityscapes_row_knows_its_vocabulary():
    config = get_spec("espnetv2-cityscapes").config
    assert config.classes() == CITYSCAPES_CLASSES and len(config.classes()) == 20
    assert config.input_size == (512, 1024)


class StandInDetector:
    """cv2.FaceDetectorYN's interface, answering fixed boxes (x, y, w, h, landmarks, score) at the size it was given."""

    def __init__(self, boxes):
        self.boxes, self.size = np.asarray(boxes, np.float32).reshape(-1, 15), None

    def setInputSize(self, size):
        self.size = size

    def detect(self, image):
        assert image.shape[1::-1] == self.size and image.flags.c_contiguous
        return 1, (self.boxes.copy() if len(self.boxes) else None)


def face(x, y, w, h, score=0.9):
    return [x, y, w, h] + [0.0] * 10 + [score]


CONFIG = YunetKeyConfig("yunet.onnx", "0" * 64, "https://example.invalid")
NAMES = ("background", "person", "dog")


def test_a_face_brings_the_person_it_touches_and_only_that_person():
    labels = np.zeros((128, 128), np.uint8)
    labels[20:120, 10:40] = 1  # a person with a face
    labels[20:120, 90:120] = 1  # a "person" with no face (a statue, a stray label): not key
    selector = YunetKeySelector(StandInDetector([face(15, 22, 20, 20)]), CONFIG)
    mask = selector.select(np.zeros((128, 128, 3), np.uint8), Segmentation(labels, NAMES, vocabulary="voc"))
    assert mask[60:120, 12:38].all()  # the body under the face
    assert not mask[:, 88:].any()
    assert mask.shape == (128, 128) and (mask.reshape(16, 8, 16, 8).all(axis=(1, 3)) == mask.reshape(16, 8, 16, 8).any(axis=(1, 3))).all()


def test_named_classes_are_key_without_a_face_and_every_person_when_asked():
    labels = np.zeros((64, 64), np.uint8)
    labels[40:60, 0:16] = 2  # a dog
    labels[0:30, 40:60] = 1  # a person, no face visible
    frame = np.zeros((64, 64, 3), np.uint8)
    seg = Segmentation(labels, NAMES, vocabulary="voc")
    dog_only = YunetKeySelector(StandInDetector([]), replace(CONFIG, key_classes=("dog",))).select(frame, seg)
    assert dog_only[40:60, 0:16].all() and not dog_only[0:30, 40:60].any()
    everyone = YunetKeySelector(StandInDetector([]), replace(CONFIG, key_classes=("dog", "person"))).select(frame, seg)
    assert everyone[0:30, 40:60].all()


def test_faces_are_found_at_most_at_max_side_and_mapped_back_to_frame_pixels():
    detector = StandInDetector([face(10, 20, 30, 40)])
    selector = YunetKeySelector(detector, replace(CONFIG, max_side=160))
    (box,) = selector.faces(np.zeros((480, 640, 3), np.uint8))
    assert detector.size == (160, 120)  # searched at a quarter of the side
    assert (box.c, box.r, box.w, box.h) == (40, 80, 120, 160)


def test_without_a_segmenter_a_face_keys_head_and_shoulders_and_no_face_falls_back_to_saliency():
    frame = np.random.default_rng(1).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    with_face = YunetKeySelector(StandInDetector([face(36, 10, 24, 24)]), CONFIG).select(frame)
    assert with_face[22, 48] and with_face[45, 48] and not with_face[80, 48]  # the face and the shoulders below it
    without = YunetKeySelector(StandInDetector([]), CONFIG).select(frame)
    assert 0 < without.mean() <= 0.5  # the salient part, never empty, never most of the frame


def test_mean_iou_counts_every_class_present_in_either_map():
    from shared.metrics.segmentation import mean_iou

    ref = np.array([[0, 0, 1, 1]])
    assert mean_iou(ref, ref) == 1.0
    assert mean_iou(ref, np.array([[0, 0, 0, 1]])) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert mean_iou(ref, np.array([[2, 2, 2, 2]])) == 0.0  # three classes, none matching


def test_miou_voc_is_optional_and_unavailable_without_weights(tmp_path, monkeypatch):
    from shared.metrics import METRICS, compute_all, segmentation

    monkeypatch.delenv("SEMCOM_HUB_DIR", raising=False)
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    segmentation.reset()
    x = torch.rand(1, 3, 32, 32)
    assert "miou_voc" in METRICS and "miou_voc" not in compute_all(x, x, ["psnr_db"])
    results = compute_all(x, x, ["psnr_db", "miou_voc"])
    assert "miou_voc" in results.unavailable and "semcom models fetch espnetv2-voc" in results.unavailable["miou_voc"]
    segmentation.reset()


def test_miou_voc_of_an_image_with_itself_is_one(tiny_voc, monkeypatch):
    from shared.metrics import compute_all, segmentation

    monkeypatch.setenv("SEMCOM_HUB_DIR", str(tiny_voc.parent.parent))
    segmentation.reset()
    x = torch.rand(2, 3, 64, 64)
    assert compute_all(x, x, ["miou_voc"])["miou_voc"].tolist() == [1.0, 1.0]
    segmentation.reset()


class HalfKey:
    """A key selector that keys the left half of any frame (stands in for YuNet, whose file tests lack)."""

    def select(self, frame, segmentation=None):
        mask = np.zeros(frame.shape[:2], bool)
        mask[:, : frame.shape[1] // 2] = True
        return mask


def test_key_and_rest_psnr_score_each_side_of_the_originals_mask(monkeypatch):
    from shared.evaluate.report import summarize
    from shared.metrics import compute_all, key_region

    key_region.reset()
    monkeypatch.setattr(key_region, "_selector", lambda: HalfKey())
    monkeypatch.setattr(key_region, "_segmenter", lambda: type("NoSeg", (), {"segment": lambda self, f: None})())
    x = torch.full((1, 3, 32, 32), 0.5)
    y = x.clone()
    y[..., 16:] += 0.1  # errors outside the key half only
    r = compute_all(x, y, ["psnr_key", "psnr_rest"])
    assert r["psnr_key"].item() > 100 and r["psnr_rest"].item() == pytest.approx(20.0, abs=0.2)  # 20 log10(1 / 0.1)
    monkeypatch.setattr(key_region, "_selector", lambda: type("None", (), {"select": lambda self, f, s: np.zeros(f.shape[:2], bool)})())
    key_region._mask.cache_clear()
    empty = compute_all(x, y, ["psnr_key"])["psnr_key"].item()
    assert np.isnan(empty)  # no key region: no key PSNR, and the mean leaves it out
    rows = [{"point": "p", "scheme": "s", "channel": "awgn", "snr_db": 0, "psnr_key": v} for v in (empty, 30.0)]
    assert summarize(rows)[0]["psnr_key"] == 30.0
    key_region._mask.cache_clear()


def test_no_face_in_a_frame_one_class_fills_still_keys_the_salient_pixels():
    frame = np.zeros((96, 96, 3), np.uint8)
    frame[30:60, 40:70] = 255  # one bright object on a flat background
    seg = Segmentation(np.zeros((96, 96), np.uint8), NAMES, vocabulary="voc")  # all background
    selector = YunetKeySelector(StandInDetector([]), CONFIG)
    mask = selector.select(frame, seg)
    assert not selector.salient_mask(frame, seg).any()  # the one segment is the whole frame: never key
    pixels = selector.salient_mask(frame, None)
    assert 0 < mask.mean() <= 0.5 and (mask == upsample(block_any(pixels, 8), 8, 96, 96)).all()
