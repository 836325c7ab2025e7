"""Key-region selectors: which pixels deserve latent bits (people, faces, salient objects).

Two backends of the :class:`~shared.roles.KeyRegionSelector` role:

* :class:`FaceSaliencySelector` (embedded): frontal faces found by
  scikit-image's LBP cascade (``lbpcascade_frontalface_opencv.xml``, bundled
  with scikit-image), widened to the head and shoulders, united with the
  segments that are most salient under spectral-residual saliency
  (Hou & Zhang, CVPR 2007).
* :class:`ClassKeySelector` (for semantic segmenters such as SegFormer): the
  pixels whose class name is one of the configured key classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from shared.hub import PinnedFile
from shared.roles import KeyRegionSelector, Segmentation, check_frame
from shared.sideinfo.maps import block_any, upsample


@dataclass(frozen=True)
class FaceBox:
    """A detected face in frame pixels: top-left (row, col), height, width."""

    r: int
    c: int
    h: int
    w: int


@dataclass(frozen=True)
class FaceSaliencyConfig:
    detect_width: int = 128  # faces are searched at this width: ~20 ms on one core (192: ~75 ms)
    min_face: int = 16  # smallest face side in detection pixels: faces >= 1/8 of the width (webcam faces are larger)
    scale_factor: float = 1.25  # cascade pyramid step: fewer scales than 1.2 for ~the same recall
    head_scale: float = 1.6  # a face box widened this much covers hair and chin
    shoulders: float = 0.8  # and extended down by this many face heights covers the neck and shoulders
    saliency_size: int = 64  # spectral residual works on a small thumbnail (as in the paper)
    salient_fraction: float = 0.15  # target area of the salient part of the key mask
    max_key_fraction: float = 0.4  # never mark more than this much as key: key bits must stay the minority
    grid: int = 8  # the mask is snapped to 8x8 blocks, the latent cells of f=8 codecs: ~1/10 the mask bits


def spectral_residual_saliency(frame: np.ndarray, size: int = 64) -> np.ndarray:
    """Saliency map in [0, 1], (H, W) float32, by the spectral residual method.

    The log-amplitude spectrum minus its local average keeps the "unexpected"
    part of the image; its inverse transform, squared and blurred, is salient.
    """
    h, w = frame.shape[:2]
    g = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    f = np.fft.fft2(g)
    log_amp = np.log(np.abs(f) + 1e-6).astype(np.float32)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2  # (size, size)
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), size / 24)
    sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    lo, hi = float(sal.min()), float(sal.max())
    return (sal - lo) / (hi - lo) if hi > lo else np.zeros_like(sal)


class FaceSaliencySelector(KeyRegionSelector):
    """Faces (LBP cascade) + salient segments -> (H, W) bool key mask."""

    def __init__(self, config: FaceSaliencyConfig = FaceSaliencyConfig()):
        self.config = config

    @cached_property
    def cascade(self):
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade

        return Cascade(lbp_frontal_face_cascade_filename())

    def faces(self, frame: np.ndarray) -> list[FaceBox]:
        """Frontal faces in frame pixels, largest first."""
        cfg = self.config
        h, w = frame.shape[:2]
        scale = min(1.0, cfg.detect_width / w)
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale < 1:
            gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        side = min(gray.shape)
        dets = self.cascade.detect_multi_scale(img=gray, scale_factor=cfg.scale_factor, step_ratio=1,
                                               min_size=(cfg.min_face, cfg.min_face), max_size=(side, side),
                                               min_neighbor_number=2)
        boxes = [FaceBox(round(d["r"] / scale), round(d["c"] / scale), round(d["height"] / scale),
                         round(d["width"] / scale)) for d in dets]
        return sorted(boxes, key=lambda b: -b.h * b.w)

    def face_mask(self, shape: tuple[int, int], boxes: list[FaceBox], head_scale: float | None = None,
                  shoulders: float | None = None) -> np.ndarray:
        """(H, W) bool: each face widened to the head, plus neck and shoulders below it."""
        cfg = self.config
        head_scale = cfg.head_scale if head_scale is None else head_scale
        shoulders = cfg.shoulders if shoulders is None else shoulders
        h, w = shape
        mask = np.zeros((h, w), np.uint8)
        for b in boxes:
            cy, cx = b.r + b.h / 2, b.c + b.w / 2
            axes = (int(b.w * head_scale / 2), int(b.h * head_scale / 2))
            cv2.ellipse(mask, (int(cx), int(cy)), axes, 0, 0, 360, 1, -1)
            if shoulders > 0:
                top = int(cy + b.h * 0.4)
                bottom = int(cy + b.h * (0.5 + shoulders))
                cv2.rectangle(mask, (int(cx - b.w * 0.9), top), (int(cx + b.w * 0.9), bottom), 1, -1)
        return mask.astype(bool)

    def capped_face_mask(self, shape: tuple[int, int], boxes: list[FaceBox]) -> np.ndarray:
        """The widest face mask within ``max_key_fraction``: head and shoulders, else the head,
        else the face alone (close-up portraits), else the largest face alone."""
        cap = self.config.max_key_fraction
        for head_scale, shoulders, n in ((None, None, None), (None, 0.0, None), (1.0, 0.0, None), (1.0, 0.0, 1)):
            mask = self.face_mask(shape, boxes[:n], head_scale, shoulders)
            if mask.mean() <= cap:
                return mask
        return mask

    def salient_mask(self, frame: np.ndarray, segmentation: Segmentation | None) -> np.ndarray:
        """(H, W) bool: the most salient segments (or pixels, without a segmentation)."""
        cfg = self.config
        sal = spectral_residual_saliency(frame, cfg.saliency_size)  # (H, W)
        if segmentation is None:
            return sal >= np.quantile(sal, 1 - cfg.salient_fraction)
        labels = segmentation.labels.astype(np.int64).ravel()
        n = int(labels.max()) + 1
        area = np.bincount(labels, minlength=n).astype(np.float64)
        mean_sal = np.bincount(labels, sal.ravel(), n) / np.maximum(area, 1)
        frac = area / labels.size
        chosen = np.zeros(n, bool)
        covered = 0.0
        for j in np.argsort(-mean_sal, kind="stable"):  # most salient segments first
            if area[j] == 0 or frac[j] > cfg.max_key_fraction:
                continue  # background-sized segments are never "key"
            if covered + frac[j] > cfg.salient_fraction and covered > 0:
                break
            chosen[j] = True
            covered += frac[j]
        return chosen[segmentation.labels]

    def select(self, frame: np.ndarray, segmentation: Segmentation | None = None) -> np.ndarray:
        check_frame(frame)
        faces = self.faces(frame)
        mask = self.capped_face_mask(frame.shape[:2], faces) if faces else self.salient_mask(frame, segmentation)
        return self.snapped(mask)

    def snapped(self, mask: np.ndarray) -> np.ndarray:
        """Every grid block touching the mask: exact g x g blocks, coded at 1/g by the map coder."""
        g = self.config.grid
        return upsample(block_any(mask, g), g, *mask.shape) if g > 1 else mask


@dataclass(frozen=True)
class ClassKeyConfig:
    key_classes: tuple[str, ...] = ("person", "face", "rider", "animal", "dog", "cat", "car")  # the things viewers look at


class ClassKeySelector(KeyRegionSelector):
    """Key mask = pixels of a semantic segmentation whose class is a key class.

    A class matches when any of its comma- or semicolon-separated synonyms
    (ADE20K names look like ``"person;individual;someone"``) is a key class.
    """

    reads_segmentation = True

    def __init__(self, config: ClassKeyConfig = ClassKeyConfig()):
        self.config = config

    def key_ids(self, class_names: tuple[str, ...]) -> list[int]:
        keys = {k.lower() for k in self.config.key_classes}
        out = []
        for i, name in enumerate(class_names):
            synonyms = {s.strip().lower() for s in name.replace(";", ",").split(",")}
            if synonyms & keys:
                out.append(i)
        return out

    def select(self, frame: np.ndarray, segmentation: Segmentation | None = None) -> np.ndarray:
        check_frame(frame)
        if segmentation is None:
            raise ValueError("ClassKeySelector needs the frame's Segmentation (from a semantic segmenter)")
        return np.isin(segmentation.labels, self.key_ids(segmentation.class_names))


@dataclass(frozen=True)
class YunetKeyConfig(PinnedFile):
    """The registry row's config: the YuNet ONNX file, its pinned hash, and how faces, persons and classes combine."""

    score_threshold: float = 0.7  # YuNet's faces at 0.9+ on portraits; 0.7 keeps small webcam faces, drops most false ones
    nms_threshold: float = 0.3  # overlapping boxes of one face merged, as upstream's demo
    max_side: int = 640  # faces are searched at most at this side (YuNet is fast: ~15-40 ms at 640 on one core)
    key_classes: tuple[str, ...] = ()  # segmenter classes that are always key (key_classes=dog,car); "person": every person
    head_scale: float = 1.6  # a face box widened this much covers hair and chin
    shoulders: float = 0.8  # neck and shoulders below each face, when no segmenter gives the person's own pixels
    max_key_fraction: float = 0.4  # never more than this much as key: key bits must stay the minority
    grid: int = 8  # snapped to 8x8 blocks, the latent cells of f=8 codecs


class YunetKeySelector(FaceSaliencySelector):
    """Faces (YuNet, with landmarks) + the person each face belongs to + named classes -> (H, W) bool key mask.

    With a semantic segmentation (ESPNetv2-VOC's or Cityscapes' ``person``), each face brings the
    connected person region it touches, so a body is key only where a face says it is a person
    (a segmenter's stray "person" pixels elsewhere are not); without one, the head and shoulders.
    Pixels of ``key_classes`` are key wherever the segmenter finds them. No face and no key class:
    the most salient segments, as the embedded selector does.
    """

    reads_segmentation = True  # persons and key classes come from the segmenter, when it has them

    def __init__(self, detector, config: YunetKeyConfig):
        super().__init__(FaceSaliencyConfig(head_scale=config.head_scale, shoulders=config.shoulders,
                                            max_key_fraction=config.max_key_fraction, grid=config.grid))
        self.detector = detector  # cv2.FaceDetectorYN
        self.yunet = config
        self.person_class = ClassKeySelector(ClassKeyConfig(("person",)))
        self.key_class = ClassKeySelector(ClassKeyConfig(config.key_classes)) if config.key_classes else None

    @classmethod
    def load(cls, name: str, config: YunetKeyConfig, source: str | None) -> "YunetKeySelector":
        """``source``: a hub id (``ShiqiYu/yunet``) or a folder holding ``config.weights_file``."""
        path = config.checked_path(name, source)
        detector = cv2.FaceDetectorYN.create(str(path), "", (320, 320), config.score_threshold, config.nms_threshold)
        return cls(detector, config)

    def num_parameters(self) -> int:
        return 0  # an ONNX graph run by OpenCV: its weights are not torch parameters

    def detections(self, frame: np.ndarray) -> np.ndarray:
        """(N, 15) float32 in frame pixels: x, y, w, h, 5 landmarks (x, y), score; largest first."""
        h, w = frame.shape[:2]
        scale = min(1.0, self.yunet.max_side / max(h, w))
        small = frame if scale == 1 else cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        self.detector.setInputSize((small.shape[1], small.shape[0]))
        _, found = self.detector.detect(np.ascontiguousarray(small[:, :, ::-1]))  # YuNet reads BGR 0-255
        if found is None:
            return np.zeros((0, 15), np.float32)
        found = found.astype(np.float32)
        found[:, :14] /= scale
        return found[np.argsort(-found[:, 2] * found[:, 3], kind="stable")]

    def faces(self, frame: np.ndarray) -> list[FaceBox]:
        return [FaceBox(round(y), round(x), round(fh), round(fw)) for x, y, fw, fh in self.detections(frame)[:, :4]]

    def person_mask(self, segmentation: Segmentation, heads: np.ndarray) -> np.ndarray:
        """(H, W) bool: the connected person regions that a head touches (all persons when "person" is a key class)."""
        persons = np.isin(segmentation.labels, self.person_class.key_ids(segmentation.class_names)).astype(np.uint8)
        if "person" in self.yunet.key_classes:
            return persons.astype(bool)
        _, components = cv2.connectedComponents(persons, connectivity=8)  # (H, W) int32, 0 = not a person
        touched = np.unique(components[heads & (persons > 0)])
        return np.isin(components, touched[touched > 0])

    def select(self, frame: np.ndarray, segmentation: Segmentation | None = None) -> np.ndarray:
        check_frame(frame)
        faces = self.faces(frame)
        shape = frame.shape[:2]
        mask = np.zeros(shape, bool)
        if faces:
            heads = self.face_mask(shape, faces, shoulders=0.0)
            if segmentation is not None and self.person_class.key_ids(segmentation.class_names):
                mask = heads | self.person_mask(segmentation, heads)
                if mask.mean() > self.config.max_key_fraction:
                    mask = heads  # a crowd or a close-up: the faces alone stay within the cap
            else:
                mask = self.capped_face_mask(shape, faces)
        if segmentation is not None and self.key_class is not None:
            mask |= self.key_class.select(frame, segmentation)
        if not mask.any():  # no face, no key class: the salient segments, else (one class fills the frame) salient pixels
            mask = self.salient_mask(frame, segmentation)
            if not mask.any():
                mask = self.salient_mask(frame, None)
        return self.snapped(mask)
