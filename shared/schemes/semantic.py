"""The machinery the semantic schemes share: side-information parts, their coding, and the generative receiver.

A scheme is a set of parts (:data:`SCHEME_PARTS`); every part is coded exactly as below and
becomes one payload, so a part that has not changed since the last frame can stay home:

| part      | role    | content                                                         | re-sent           |
| --------- | ------- | --------------------------------------------------------------- | ----------------- |
| ``lowres``  | digital | the frame downscaled ``lowres_factor`` x (keyregion: 32 x), WebP  | every frame       |
| ``map``     | digital | the default segmenter's label map, lossless                     | when changed      |
| ``mask``    | digital | the key mask on the latent grid (lossless) + the key symbols' power scale (float16) | every frame |
| ``key``     | analog  | the latent values under the mask, unit-power, repeated ``key_repeat`` x (``repeat_policy=snr``: at least 2 x below 7.5 dB fed back) | every frame |
| ``caption`` | digital | the default captioner's text for the non-key region             | when changed      |
| ``rest``    | analog  | keyregion, ``background=jscc``: the frame through lrisc's JSCC at ``background_maps`` | every frame |

Digital parts go through CRC + 5G LDPC + QAM (:mod:`shared.phy.link`); the key latents go
straight onto the channel as analog symbols (pairs of reals), the simplest JSCC: linear, with
repetition combined by maximum-ratio combining and LMMSE scaling at the receiver, so they
degrade gracefully with the SNR.

The receiver turns what arrived into the semantic generator's conditions, runs ``steps`` DDIM
steps, holding the latent to the received key latents inside the key mask at every step
(inpainting-style), and decodes. A lost part drops its condition; the generator was trained with
condition dropout. Only ``spic``'s low-res image is indispensable: without it, the frame fails.

Two latent spaces (``codec``), each with its own generator:

* ``taef2`` (``auto`` picks it where TAEF2's and ESPNetv2-VOC's files and the generator are here):
  :mod:`shared.generators.semantic_taef2`. The map is ESPNetv2-VOC's (21 classes, read as class
  fractions per latent cell); ``spic``'s low-res image is 1/4 of the side; ``keyregion`` adds an
  8 x 8 thumbnail (``lowres`` at 1/32) as its coarse layout; key latents are TAEF2's (32 a cell).
  ``keyregion``'s default there is ``background=jscc`` (where lrisc's TAEF2 JSCC ships): no caption
  and no thumbnail; the rest of the frame is sent, not generated (:mod:`shared.schemes.jscc_background`).
* ``embedded``: the project's latent codec (8 a cell) and :mod:`shared.generators.semantic_conditions`
  (the map as region boundaries, any segmenter), decoded by LRISC's receiver latent decoder.
"""
from __future__ import annotations

import logging
import math
import struct
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from shared.codecs.frames import frame_tensor, latent_codec, to_frame, to_latent
from shared.generators import semantic_taef2 as taef2
from shared.generators.diffusion import load_denoiser, sample
from shared.generators.semantic_conditions import (
    LATENT_FACTOR,
    caption_condition,
    edge_condition,
    key_condition,
    latent_grid,
    lowres_condition,
    non_key,
    semantic_conditions,
)
from shared.nets.latent_jscc import LatentJSCCConfig
from shared.nets.lora import LORA_WORD
from shared.nets.weights_file import WEIGHTS_DIR
from shared.phy.link import LinkConfig, receive, transmit
from shared.schemes.jscc_background import PART as REST
from shared.schemes.jscc_background import BackgroundReceive, BackgroundTransmit
from shared.schemes.lrisc import TAEF2_RATES, frame_latent
from shared.schemes.lrisc import taef2_ready as lrisc_taef2_ready
from shared.schemes.base import (
    DecodeFailure,
    Encoded,
    Payload,
    Receive,
    Received,
    SchemeParams,
    SchemeSpec,
    Transmit,
    register,
)
from shared.sideinfo.bundle import BundleError, pack_parts, unpack_parts
from shared.sideinfo.image_fit import decode_image
from shared.sideinfo.lowres import LowResConfig, encode_lowres
from shared.sideinfo.maps import MapDecodeError, block_any, decode_map, encode_map, upsample
from shared.sideinfo.reuse import ReuseReceiver, ReuseSender
from shared.sideinfo.text import TextDecodeError, decode_text, encode_text

log = logging.getLogger(__name__)
SCHEME_PARTS = {
    "spic": ("lowres", "map"),
    "keyregion": ("mask", "key", "caption"),
    "full": ("map", "mask", "key", "caption"),
}
TAEF2_PARTS = SCHEME_PARTS | {"keyregion": ("lowres", "mask", "key", "caption")}  # + the 8 x 8 thumbnail: a coarse layout
JSCC_PARTS = {"keyregion": ("mask", "key", REST)}  # keyregion with background=jscc: the frame's JSCC under the key latents
VOC_SEGMENTERS = ("espnetv2-voc", "espnetv2-voc-small")  # the TAEF2 generator's class condition is Pascal VOC's 21 classes


def taef2_ready() -> bool:
    """TAEF2's and ESPNetv2-VOC's files on this machine and the TAEF2 semantic generator among the weights: codec=auto's test."""
    if not (WEIGHTS_DIR / f"{taef2.GENERATOR}.safetensors").is_file():
        return False
    from shared.registry.table import availability  # the table imports every backend: only when asked

    return availability("taef2")[0] and availability("espnetv2-voc")[0]
HUB_ID = r"^$|^none$|^[A-Za-z0-9][\w.-]{0,95}/[\w-][\w.-]{0,95}$"  # owner/name (no path tricks), or empty
MODEL_NAME = r"^$|^[a-z0-9][a-z0-9-]{0,47}$"  # a model-registry name, or empty
HUB_DEFAULTS = {  # scheme -> (model, ControlNet): the public checkpoints each scheme's hub path is made for
    "spic": ("stable-diffusion-v1-5/stable-diffusion-v1-5", "lllyasviel/sd-controlnet-seg"),
    "keyregion": ("stable-diffusion-v1-5/stable-diffusion-inpainting", ""),
    "full": ("stable-diffusion-v1-5/stable-diffusion-inpainting", "lllyasviel/sd-controlnet-seg"),
}
REUSED = ("map", "caption")  # parts not re-sent while unchanged
BUNDLE = "side"  # the payload that carries every digital part of a frame when bundle=true
GENERATOR = "semantic_diffusion"  # shared/weights/<name>.safetensors
DECODER = "lrisc-latent-ae"  # the latent decoder the generator was trained through
ENCODER = "latent-conv-ae"  # the latent codec's encoder: key latents, and spic's starting latent


class SemanticParams(SchemeParams):
    # auto: taef2 where TAEF2, ESPNetv2-VOC and the TAEF2 generator are here (the header names the result), else embedded
    codec: Literal["auto", "embedded", "taef2"] = "auto"
    # steps and strength: the best effnet_dist on seven training photos (README, "choosing the samplers"): one
    # step from noise for keyregion / full (their key latents are held); spic overrides strength
    steps: int = Field(default=1, ge=1, le=50)  # DDIM steps at the receiver
    strength: float = Field(default=1.0, gt=0, le=1)  # 1 = from noise; < 1 = from a starting latent noised to this level (spic: the low-res image's)
    guidance: float = Field(default=1.0, ge=0, le=10)  # classifier-free guidance scale; 1 = one UNet call per step
    seed: int = Field(default=0, ge=0)  # sampling noise: the same side information gives the same picture
    reuse: bool = True  # map and caption are not re-sent while unchanged (video); False sends them every frame
    # the digital parts as one LDPC message ("side", one CRC): one length-and-CRC overhead and one partly filled last
    # block instead of one per part; False sends each part alone (a lost one loses only itself)
    bundle: bool = True
    # QPSK r 1/2 (threshold ~1 dB on AWGN, 6 dB below the digital baseline's 16-QAM) in 128-byte blocks, a message
    # under one block in one block fitted to it: the side information is small (a video frame's mask alone is ~60 bytes),
    # so the most robust common MCS costs few channel uses, and little padding
    link: LinkConfig = LinkConfig(modulation="qpsk", ldpc_k=1024, fit=True)
    # the transmitter's extractors, by model-registry name ("" = the role's embedded default; see semcom models list),
    # e.g. segformer-b0-ade, blip-base, key-classes (which needs a semantic segmenter's classes)
    segmenter: str = Field(default="", pattern=MODEL_NAME)
    captioner: str = Field(default="", pattern=MODEL_NAME)
    key_regions: str = Field(default="", pattern=MODEL_NAME)
    # the generator: the embedded one, or Stable-Diffusion-family pipelines (shared.generators.hub_generator) named by
    # hub id only, which the receiver looks up in $SEMCOM_HUB_DIR or its Hugging Face cache (a header never names a path)
    generator: Literal["embedded", "hub"] = "embedded"  # embedded: works offline on any machine
    hub_model: str = Field(default="", pattern=HUB_ID)  # "" = the scheme's usual model (HUB_DEFAULTS)
    hub_controlnet: str = Field(default="", pattern=HUB_ID)  # "" = the scheme's usual ControlNet-seg ("none" for none)
    hub_lora: str = Field(default="", pattern=HUB_ID)  # a LoRA adapter (diffusers save_lora_weights format); "" = none
    lora: str = Field(default="", pattern=f"^({LORA_WORD})?$")  # codec=taef2: a scene adapter of the generator (semcom train lora-semantic)

    @model_validator(mode="before")
    @classmethod
    def _codec_defaults(cls, data):
        """Resolve ``codec=auto`` and fill the TAEF2 defaults the caller did not set."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("codec", "auto") == "auto":
            data["codec"] = "taef2" if taef2_ready() else "embedded"
        if data["codec"] == "taef2":
            for key, value in cls.taef2_defaults().items():
                data.setdefault(key, value)
        return cls.resolved_defaults(data)

    @classmethod
    def resolved_defaults(cls, data: dict) -> dict:
        """Defaults that follow from the resolved ones (a scheme's own hook)."""
        return data

    @classmethod
    def taef2_defaults(cls) -> dict:
        """What codec=taef2 changes, where the caller did not say."""
        return {}

    @model_validator(mode="after")
    def _taef2_needs(self) -> "SemanticParams":
        if self.lora and self.codec != "taef2":
            raise ValueError("lora= adapts the TAEF2 generator: it needs codec=taef2")
        if self.codec == "taef2" and self.segmenter not in VOC_SEGMENTERS:
            raise ValueError(f"segmenter={self.segmenter}: codec=taef2's generator reads Pascal VOC classes; "
                             f"use {' or '.join(VOC_SEGMENTERS)}, or codec=embedded")
        return self

    def lowres(self) -> LowResConfig:
        """How the low-res part is coded, where the scheme sends one (keyregion on TAEF2: the 8 x 8 thumbnail)."""
        return taef2.layout_config(taef2.THUMB_FACTOR)


class KeyLatentParams(SemanticParams):
    """The ``full`` scheme's parameters (and ``keyregion``'s base): the semantic ones plus key-latent repetition."""

    key_repeat: int = Field(default=1, ge=1, le=8)  # analog repetitions of the key latents: r x the channel uses, ~r x the SNR
    # snr: while the receiver feeds back less than REPEAT_BELOW_DB, at least 2 repetitions (keyregion's default with its
    # JSCC background); fixed: always key_repeat. The receiver reads the count off the key symbols
    repeat_policy: Literal["fixed", "snr"] = "fixed"

    @classmethod
    def taef2_defaults(cls) -> dict:
        """On TAEF2: the VOC map (full), YuNet faces + their persons where YuNet's file is here."""
        from shared.registry.table import availability

        return {"segmenter": "espnetv2-voc", "key_regions": "yunet" if availability("yunet")[0] else ""}


class KeyRegionParams(KeyLatentParams):
    """``keyregion``'s parameters: the key latents' plus where the rest of the frame comes from."""

    # jscc: the frame through lrisc's JSCC of the codec at background_maps maps, the key cells over it from their
    # latents (shared.schemes.jscc_background; measured better than generate on every figure, README); generate: the
    # caption + an 8 x 8 thumbnail painted by the semantic generator (seed paper 001's design). The default is jscc
    # where lrisc's JSCC of the codec ships (resolved_defaults)
    background: Literal["generate", "jscc"] = "generate"
    # of TAEF2's 64 (or the embedded JSCC's 32): CBR 1/96 (2,048 symbols at 256x256); TAEF2: +3.0 dB key PSNR at 10 dB (README)
    background_maps: int = 16
    snr_db: float = Field(default=10.0, ge=-10, le=40)  # the background JSCC's SNR until the receiver feeds one back

    @classmethod
    def resolved_defaults(cls, data: dict) -> dict:
        # the JSCC background wherever its JSCC ships (the embedded one always does) and the embedded generator runs
        jscc_here = data.get("codec") != "taef2" or lrisc_taef2_ready()
        data.setdefault("background", "jscc" if jscc_here and data.get("generator", "embedded") == "embedded" else "generate")
        if data.get("background") == "jscc":
            data.setdefault("link", MASK_LINK)
            data.setdefault("repeat_policy", "snr")
        return data

    @model_validator(mode="after")
    def _background_needs(self) -> "KeyRegionParams":
        if self.background == "jscc" and self.generator == "hub":
            raise ValueError("background=jscc is lrisc's JSCC of the latent codec: it needs generator=embedded")
        rates = TAEF2_RATES if self.codec == "taef2" else LatentJSCCConfig().rates
        if self.background_maps not in rates:
            raise ValueError(f"background_maps={self.background_maps}: the {self.codec} JSCC sends {', '.join(map(str, rates))} maps")
        return self


# keyregion with background=jscc sends one digital part, the mask (~60 bytes): at QPSK r 1/3 in a fitted block it
# arrives at 0 dB AWGN, where r 1/2 lost it on every frame, and still costs fewer symbols than r 1/2's padded 128-byte block
MASK_LINK = LinkConfig(modulation="qpsk", code_rate=1 / 3, ldpc_k=1024, fit=True)


# below 7.5 dB fed back, repeat_policy=snr sends the key latents twice: at 5 dB AWGN that measured +2.2 dB key PSNR over
# lrisc at the same channel uses (one copy: +1.2); at 10 dB one copy already gives +3.0 (README)
REPEAT_BELOW_DB = 7.5


def key_repeats(params: KeyLatentParams, snr_db: float | None) -> int:
    """Repetitions of the key latents at the fed-back SNR (None: no feedback yet -> ``key_repeat``)."""
    low = params.repeat_policy == "snr" and snr_db is not None and snr_db < REPEAT_BELOW_DB
    return max(params.key_repeat, 2) if low else params.key_repeat


def pack_key(values: np.ndarray) -> tuple[np.ndarray, float]:
    """(n,) real latent values -> (ceil(n/2),) unit-power complex64 symbols and their scale (E|c|^2 before scaling)."""
    v = np.append(values, 0.0) if values.size % 2 else values
    c = (v[0::2] + 1j * v[1::2]).astype(np.complex64)  # (n/2,)
    scale = float(np.sqrt(np.mean(np.abs(c) ** 2))) if c.size else 1.0
    scale = float(np.float16(max(scale, 1e-3)))  # what the mask part carries, so both sides use the same number
    return (c / scale).astype(np.complex64), scale


def observe_key(rx: Received, n_values: int, repeat: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Received repeated symbols -> ((n_values,) latent values, zero-forced and maximum-ratio combined over the
    repeats, (n_values,) the noise variance of each)."""
    y = rx.symbols.reshape(repeat, -1)  # (r, n/2)
    w = 1.0 / np.maximum(rx.noise_var.reshape(repeat, -1), 1e-9)  # (r, n/2)
    combined = (y * w).sum(0) / w.sum(0) * scale  # (n/2,) in latent units
    nv = 1.0 / w.sum(0)  # (n/2,) per complex unit-power symbol
    values = np.stack([combined.real, combined.imag], 1).reshape(-1)[:n_values]
    return values.astype(np.float32), (np.repeat(nv, 2)[:n_values] * scale**2 / 2).astype(np.float32)


def zero_mean_lmmse(values: np.ndarray, variance: np.ndarray, scale: float) -> np.ndarray:
    """Observed latent values and their noise variances -> LMMSE estimates under the zero-mean prior the symbols were
    scaled to (unit power: scale^2 / 2 a latent value)."""
    prior = scale**2 / 2
    return (values * (prior / (prior + variance))).astype(np.float32)


def sent_parts(encoded: Encoded) -> set[str]:
    """The parts a coded frame carries: its own payloads and the digital parts inside its bundle (by their byte counts)."""
    bundled = {k[: -len("_bytes")] for k in encoded.info if k.endswith("_bytes")}
    return {p.name for p in encoded.payloads if p.name != BUNDLE} | bundled


def scheme_parts(scheme: str, params: SemanticParams) -> tuple[str, ...]:
    """The parts ``scheme`` sends with ``params`` (their latent codec; keyregion's background)."""
    if getattr(params, "background", "generate") == "jscc":
        return JSCC_PARTS[scheme]
    return (TAEF2_PARTS if params.codec == "taef2" else SCHEME_PARTS)[scheme]


def key_latents(frame: np.ndarray, codec: str, z: torch.Tensor | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> the normalised latent (L, h/8, w/8) whose key cells are sent: TAEF2's or the embedded codec's.
    ``z``: the frame's lrisc ``frame_latent`` (1, L, >= h/8, >= w/8) where it is already encoded."""
    gh, gw = latent_grid(*frame.shape[:2])
    if z is not None:
        z_n = taef2.load_normaliser().forward(z) if codec == "taef2" else z  # the embedded latent comes normalised
        return z_n[0, :, :gh, :gw].numpy()
    if codec == "taef2":
        return taef2.encode(frame)[0].numpy()
    return to_latent(frame_tensor(frame, LATENT_FACTOR), "cpu", ENCODER)[0].numpy()


def hub_sources(scheme: str, p: SemanticParams) -> tuple[str, str, str]:
    """(model, controlnet, lora) hub ids for ``scheme``, the scheme's usual ones where ``p`` leaves them empty."""
    model, control = HUB_DEFAULTS[scheme]
    return p.hub_model or model, "" if p.hub_controlnet == "none" else p.hub_controlnet or control, p.hub_lora


class SemanticTransmit(Transmit):
    """Extracts and codes the parts of ``self.scheme`` (set by the subclass)."""

    scheme: str

    def __init__(self, params: SemanticParams):
        super().__init__(params)
        from shared.registry.table import default_model, load_model

        def model(role: str, name: str, needed: bool):
            return load_model(name or default_model(role), role=role) if needed else None

        self.parts = scheme_parts(self.scheme, params)
        self.background = BackgroundTransmit(params.codec, params.background_maps, params.snr_db) if REST in self.parts else None
        self.selector = model("key_regions", params.key_regions, "mask" in self.parts)
        # a class-based key selector reads the segmenter's classes, so it brings a segmenter even without a map part
        self.class_keys = self.selector is not None and self.selector.reads_segmentation
        self.segmenter = model("segmenter", params.segmenter, "map" in self.parts or self.class_keys)
        self.captioner = model("captioner", params.captioner, "caption" in self.parts)
        self.reuse = ReuseSender()
        self.analysed: dict[str, object] = {}  # the last segmentation and caption, reused while the frame holds still
        self.feedback_snr_db: float | None = None

    def on_feedback(self, snr_db: float) -> None:
        self.feedback_snr_db = snr_db  # the key latents' repetitions follow it (repeat_policy=snr)
        if self.background is not None:  # the background JSCC's encoder is told the channel's SNR
            self.background.on_feedback(snr_db)

    def _send(self, name: str, value: np.ndarray | str) -> bool:
        return not (self.params.reuse and name in REUSED) or self.reuse.should_send(name, value)

    @torch.no_grad()
    def encode(self, frame: np.ndarray) -> Encoded:
        p = self.params
        h, w = frame.shape[:2]
        digital: dict[str, bytes] = {}
        payloads: list[Payload] = []
        # the frame gate: while the picture holds still (32x32 thumbnails within 2 grey levels of the last
        # analysed frame), the map and caption are not even re-extracted, so a segmenter's jitter costs nothing
        fresh = not p.reuse or self.reuse.frame_changed(frame) or not self.analysed
        info: dict = {"analysed": fresh}
        z = None  # the frame's latent, where the background needs it: encoded once, for the key latents too
        if self.background is not None:
            z = frame_latent(frame, p.codec)  # (1, L, H'/8, W'/8)
            rest = self.background.encode(z, h, w)
            payloads += rest.payloads
            info |= {"rest_symbols": rest.payloads[0].symbols.size, "tx_snr_db": rest.info["tx_snr_db"]}
        if "lowres" in self.parts:
            digital["lowres"] = encode_lowres(frame, p.lowres())
        if self.segmenter is not None and fresh:
            self.analysed["segmentation"] = self.segmenter.segment(frame)
        segmentation = self.analysed.get("segmentation")
        if "map" in self.parts and self._send("map", segmentation.labels):
            digital["map"] = encode_map(segmentation.labels)  # (H, W) labels
        if "mask" in self.parts:
            classes = segmentation if self.class_keys else None  # the face/saliency selector works on pixels, as measured
            grid = block_any(self.selector.select(frame, classes), LATENT_FACTOR)  # (h/8, w/8) bool: latent cells touching the key region
            z_n = key_latents(frame, p.codec, z)  # (L, h/8, w/8)
            symbols, scale = pack_key(z_n[:, grid].reshape(-1))  # (L * cells / 2,)
            digital["mask"] = struct.pack("<e", scale) + encode_map(grid)
            repeats = key_repeats(p, self.feedback_snr_db)
            if symbols.size:  # no key region: the mask alone says so
                payloads.append(Payload("key", "analog", np.tile(symbols, repeats)))
            info |= {"key_cells": int(grid.sum()), "key_repeat": repeats}
        if "caption" in self.parts:
            if fresh:
                self.analysed["caption"] = self.captioner.caption(non_key(frame, upsample(grid, LATENT_FACTOR, h, w)))
            text = self.analysed["caption"]
            if self._send("caption", text):
                digital["caption"] = encode_text(text)
        if p.bundle and digital:
            data = pack_parts(digital)
            payloads.append(Payload(BUNDLE, "digital", transmit(data, p.link), bits=8 * len(data)))
        else:
            payloads += [Payload(name, "digital", transmit(data, p.link), bits=8 * len(data)) for name, data in digital.items()]
        info |= {f"{n}_bytes": len(d) for n, d in digital.items()}
        return Encoded(payloads=payloads, info=info)


class SemanticReceive(Receive):
    """Decodes whatever parts arrived into conditions, then samples the semantic generator."""

    scheme: str
    stateful = True  # the map and the caption are held between frames (sent again only when the scene changes)

    def __init__(self, params: SemanticParams):
        super().__init__(params)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.held = ReuseReceiver()
        self.lost: dict[str, int] = {}  # parts that failed their CRC (or would not decode), by name
        self.bundled: dict[str, bytes] | None = {}  # this frame's bundle, by part; None: lost ({} without a bundle)
        self.parts = scheme_parts(self.scheme, params)
        self.background = BackgroundReceive(params.codec, params.background_maps, params.snr_db) if REST in self.parts else None

    def _open_bundle(self, payloads: dict[str, Received]) -> None:
        """This frame's bundled parts, decoded once (before any part is read)."""
        self.bundled = {}
        if BUNDLE not in payloads:
            return
        data = self._digital(BUNDLE, payloads)
        try:
            self.bundled = unpack_parts(data) if data is not None else None
        except BundleError:
            self._lose(BUNDLE)
            self.bundled = None

    def _sent(self, name: str, payloads: dict[str, Received]) -> bool:
        """Whether this frame carries ``name`` (a lost bundle may have: its parts count as sent and lost)."""
        if BUNDLE in payloads:
            return self.bundled is None or name in self.bundled
        return name in payloads

    def _digital(self, name: str, payloads: dict[str, Received]) -> bytes | None:
        if name != BUNDLE and BUNDLE in payloads:
            return self.bundled.get(name) if self.bundled is not None else None
        rx = payloads.get(name)
        if rx is None:
            return None
        data = receive(rx.symbols, rx.noise_var, self.params.link)
        if data is None:
            self._lose(name)
        return data

    def _lose(self, name: str) -> None:
        self.lost[name] = self.lost.get(name, 0) + 1
        log.info("%s: part '%s' lost; decoding without it (%d so far)", self.scheme, name, self.lost[name])

    def _held(self, name: str, payloads: dict[str, Received], decode) -> object | None:
        """A reused part: this frame's value, the held one when the frame omits it, None when it was lost."""
        if not self._sent(name, payloads):
            return self.held.update(name, None)
        data = self._digital(name, payloads)
        try:
            value = decode(data) if data is not None else None
        except (MapDecodeError, TextDecodeError):
            self._lose(name)
            value = None
        return self.held.update(name, value) if value is not None else None

    def _key(self, payloads: dict[str, Received], gh: int, gw: int) -> tuple[torch.Tensor, ...] | None:
        """(key latents (1, L, gh, gw) LMMSE, mask (1, 1, gh, gw), the latents as observed (1, L, gh, gw) and their noise
        variances (1, L, gh, gw): zero outside the mask), or None when the mask or the symbols are unusable."""
        data = self._digital("mask", payloads)
        if data is None or "key" not in payloads:
            return None
        try:
            (scale,), grid = struct.unpack_from("<e", data), decode_map(data[2:]).astype(bool)
        except (struct.error, MapDecodeError):
            self._lose("mask")
            return None
        if not (np.isfinite(scale) and 0 < scale < 1e4):  # a sane power scale, whatever a sender claims
            self._lose("mask")
            return None
        channels = taef2.LATENT_CHANNELS if self.params.codec == "taef2" else latent_codec(self.device, ENCODER)[1].shape[1]
        n = channels * int(grid.sum())
        rx = payloads["key"]
        repeats, rest = divmod(rx.symbols.size, max(-(-n // 2), 1))
        allowed = {key_repeats(self.params, None), key_repeats(self.params, -math.inf)}  # what the policy may send
        if grid.shape != (gh, gw) or not n or rest or repeats not in allowed:
            self._lose("key")
            return None
        z, observed, variance = (np.zeros((channels, gh, gw), np.float32) for _ in range(3))
        values, noise = observe_key(rx, n, repeats, scale)
        observed[:, grid], variance[:, grid] = values.reshape(channels, -1), noise.reshape(channels, -1)
        z[:, grid] = zero_mean_lmmse(values, noise, scale).reshape(channels, -1)
        return tuple(torch.from_numpy(a)[None] for a in (z, grid.astype(np.float32)[None], observed, variance))

    def _arrived(self, payloads: dict[str, Received], height: int, width: int) -> dict:
        """The scheme's parts as decoded this frame (or held): ``lowres`` (h, w, 3) uint8 at its coded size,
        ``labels`` (H, W), ``key`` (latents (1, L, gh, gw), mask (1, 1, gh, gw)) and ``key_observed`` (before the LMMSE:
        values and noise variances (1, L, gh, gw)), ``caption`` str; None where lost."""
        parts = self.parts
        self._open_bundle(payloads)
        got: dict = {}
        if "lowres" in parts:
            f = self.params.lowres().factor
            data = self._digital("lowres", payloads)
            got["lowres"] = decode_image(data, -(-height // f), -(-width // f)) if data else None
            if got["lowres"] is None and self.scheme == "spic":  # keyregion's thumbnail is a hint; spic's image is the picture
                raise DecodeFailure("low-res image lost (LDPC/CRC)")
        if "map" in parts:
            labels = self._held("map", payloads, decode_map)
            got["labels"] = labels if labels is not None and labels.shape == (height, width) else None
        if "key" in parts:
            key = self._key(payloads, *latent_grid(height, width))
            got["key"], got["key_observed"] = (key[:2], key[2:]) if key is not None else (None, None)
        if "caption" in parts:
            got["caption"] = self._held("caption", payloads, decode_text)
        if REST in parts:
            if REST not in payloads:  # the background is the picture: without it the frame fails
                raise DecodeFailure(f"no '{REST}' payload")
            got[REST] = payloads[REST]
        return got

    @torch.no_grad()
    def decode(self, payloads: dict[str, Received], height: int, width: int) -> np.ndarray:
        got = self._arrived(payloads, height, width)
        if self.background is not None:
            return self.background.decode(got[REST], got["key_observed"], got["key"][1] if got["key"] else None, height, width)
        if self.params.generator == "hub":
            return self._generate_hub(got, height, width)
        if self.params.codec == "taef2":
            return self._generate_taef2(got, height, width)
        p = self.params
        gh, gw = latent_grid(height, width)
        cond = {"lowres": lowres_condition(got["lowres"], height, width) if got.get("lowres") is not None else None,  # (1, 3, gh, gw)
                "edges": edge_condition(got["labels"]) if got.get("labels") is not None else None,  # (1, 16, gh, gw)
                "key": key_condition(*got["key"]) if got.get("key") is not None else None,  # (1, 9, gh, gw)
                "caption": caption_condition([got["caption"]]) if got.get("caption") is not None else None}  # (1, 384)
        init = None
        if cond["lowres"] is not None and p.strength < 1:  # spic: start from the upsampled low-res image's latent
            up = F.interpolate(cond["lowres"], size=(gh * LATENT_FACTOR, gw * LATENT_FACTOR), mode="bicubic").clamp(-1, 1)
            init = to_latent(up * 0.5 + 0.5, self.device, ENCODER)  # (1, L, gh, gw)
        keep = tuple(t.to(self.device) for t in got["key"]) if got.get("key") is not None else None
        model = load_denoiser(GENERATOR, self.device)
        z0 = sample(model, semantic_conditions(**{k: v.to(self.device) for k, v in cond.items() if v is not None}),
                    (1, model.config.latent_channels, gh, gw), steps=p.steps, guidance=p.guidance, strength=p.strength,
                    init=init, generator=torch.Generator().manual_seed(p.seed), keep=keep)
        return to_frame(z0, height, width, self.device, DECODER)

    def _generate_taef2(self, got: dict, height: int, width: int) -> np.ndarray:
        """The TAEF2 generator (:mod:`shared.generators.semantic_taef2`): spic starts from its layout latent noised to
        ``strength``; keyregion and full start from noise and hold the key latents."""
        p, dev = self.params, self.device
        gh, gw = latent_grid(height, width)
        layout = None
        if got.get("lowres") is not None:  # (1, 32, gh, gw): the coded low-res image upsampled, in the generator's space
            layout = taef2.encode(taef2.upsample_layout(got["lowres"], gh * LATENT_FACTOR, gw * LATENT_FACTOR), dev)
        labels = got.get("labels")
        if labels is not None and int(labels.max()) >= taef2.VOC_CLASSES:
            log.info("%s: map labels beyond Pascal VOC's %d classes; decoding without the map", self.scheme, taef2.VOC_CLASSES)
            labels = None
        cond = taef2.conditions(
            layout=layout,
            classes=taef2.class_condition(taef2.padded_labels(labels)).to(dev) if labels is not None else None,  # (1, 21, gh, gw)
            key=key_condition(*(t.to(dev) for t in got["key"])) if got.get("key") is not None else None,  # (1, 33, gh, gw)
            caption=caption_condition([got["caption"]], dev) if got.get("caption") is not None else None)  # (1, 384)
        keep = tuple(t.to(dev) for t in got["key"]) if got.get("key") is not None else None
        model, _ = taef2.load_generator(dev, lora=p.lora)
        init = layout if self.scheme == "spic" else None
        z0 = sample(model, cond, (1, taef2.LATENT_CHANNELS, gh, gw), steps=p.steps, guidance=p.guidance,
                    strength=p.strength if init is not None else 1.0, init=init,
                    generator=torch.Generator().manual_seed(p.seed), keep=keep)
        return taef2.decode(z0, height, width, dev)

    def _generate_hub(self, got: dict, height: int, width: int) -> np.ndarray:
        """The Stable-Diffusion-family path (:mod:`shared.generators.hub_generator`): the key region decoded to pixels
        by the embedded latent decoder, the rest painted by the hub pipeline."""
        from shared.generators.hub_generator import load_hub_generator

        p = self.params
        key_image = key_mask = None
        if got.get("key") is not None:
            z_key, grid = got["key"]
            key_image = taef2.decode(z_key, height, width, self.device) if p.codec == "taef2" else \
                to_frame(z_key, height, width, self.device, DECODER)
            key_mask = upsample(grid[0, 0].bool().numpy(), LATENT_FACTOR, height, width)  # (H, W)
        gen = load_hub_generator(self.scheme, *hub_sources(self.scheme, p), self.device)
        return gen.generate(height, width, prompt=got.get("caption") or "", lowres=got.get("lowres"), labels=got.get("labels"),
                            key_image=key_image, key_mask=key_mask, steps=p.steps, strength=p.strength,
                            guidance=p.guidance, seed=p.seed)

    def warmup(self) -> None:
        if self.params.generator == "hub":
            from shared.generators.hub_generator import load_hub_generator

            load_hub_generator(self.scheme, *hub_sources(self.scheme, self.params), self.device)
        if self.background is not None:
            self.background.warmup()
        elif self.params.codec == "taef2":
            taef2.load_generator(self.device, lora=self.params.lora)
            taef2.hub_codec(self.device)
        else:
            load_denoiser(GENERATOR, self.device)
            latent_codec(self.device, DECODER)
            if "lowres" in SCHEME_PARTS[self.scheme]:  # only spic starts from an encoded latent
                latent_codec(self.device, ENCODER)
        if "caption" in SCHEME_PARTS[self.scheme]:
            caption_condition(["warm-up"], self.device)


def register_semantic(name: str, params: type[SemanticParams], help: str) -> SchemeSpec:
    """Register scheme ``name`` (a key of :data:`SCHEME_PARTS`): this module's transmitter and receiver for its parts."""
    transmit = type(f"{name.title()}Transmit", (SemanticTransmit,), {"scheme": name})
    receive = type(f"{name.title()}Receive", (SemanticReceive,), {"scheme": name})
    return register(SchemeSpec(name=name, help=help, params=params, transmit=transmit, receive=receive,
                               payload_names=tuple(dict.fromkeys(SCHEME_PARTS[name] + TAEF2_PARTS[name] + JSCC_PARTS.get(name, ())
                                                                 + (BUNDLE,)))))
