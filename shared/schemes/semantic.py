"""The machinery the semantic schemes share: side-information parts, their coding, and the generative receiver.

A scheme is a set of parts (:data:`SCHEME_PARTS`); every part is coded exactly as below and
becomes one payload, so a part that has not changed since the last frame can stay home:

| part      | role    | content                                                         | re-sent           |
| --------- | ------- | --------------------------------------------------------------- | ----------------- |
| ``lowres``  | digital | the frame downscaled ``lowres_factor`` x, WebP                  | every frame       |
| ``map``     | digital | the default segmenter's label map, lossless                     | when changed      |
| ``mask``    | digital | the key mask on the latent grid (lossless) + the key symbols' power scale (float16) | every frame |
| ``key``     | analog  | the latent values under the mask, unit-power, repeated ``key_repeat`` x | every frame |
| ``caption`` | digital | the default captioner's text for the non-key region             | when changed      |

Digital parts go through CRC + 5G LDPC + QAM (:mod:`shared.phy.link`); the key latents go
straight onto the channel as analog symbols (pairs of reals), the simplest JSCC: linear, with
repetition combined by maximum-ratio combining and LMMSE scaling at the receiver, so they
degrade gracefully with the SNR.

The receiver turns what arrived into the semantic generator's conditions
(:mod:`shared.models.semantic_conditions`), runs ``steps`` DDIM steps, holding the latent to the
received key latents inside the key mask at every step (inpainting-style), and decodes with
LRISC's receiver latent decoder. A lost part drops its condition; the generator was trained
with condition dropout. Only ``spic``'s low-res image is indispensable: without it, the frame fails.
"""
from __future__ import annotations

import logging
import struct

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from shared.models.diffusion import load_denoiser, sample
from shared.models.jscc import frame_tensor
from shared.models.semantic_conditions import (
    LATENT_FACTOR,
    caption_condition,
    edge_condition,
    key_condition,
    latent_grid,
    lowres_condition,
    non_key,
    semantic_conditions,
)
from shared.phy.link import LinkConfig, receive, transmit
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
from shared.schemes.image_fit import decode_image
from shared.schemes.lrisc import latent_codec
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
REUSED = ("map", "caption")  # parts not re-sent while unchanged
GENERATOR = "semantic_diffusion"  # shared/weights/<name>.safetensors
DECODER = "lrisc-latent-ae"  # the latent decoder the generator was trained through
ENCODER = "latent-conv-ae"  # the latent codec's encoder: key latents, and spic's starting latent


class SemanticParams(SchemeParams):
    steps: int = Field(default=4, ge=1, le=50)  # DDIM steps at the receiver
    strength: float = Field(default=1.0, gt=0, le=1)  # 1 = from noise; < 1 = from a starting latent noised to this level (spic: the low-res image's)
    guidance: float = Field(default=1.0, ge=0, le=10)  # classifier-free guidance scale; 1 = one UNet call per step
    seed: int = Field(default=0, ge=0)  # sampling noise: the same side information gives the same picture
    reuse: bool = True  # map and caption are not re-sent while unchanged (video); False sends them every frame
    link: LinkConfig = LinkConfig(ldpc_k=1024)  # 16-QAM r 1/2 in 128-byte blocks: little padding on small parts


def pack_key(values: np.ndarray) -> tuple[np.ndarray, float]:
    """(n,) real latent values -> (ceil(n/2),) unit-power complex64 symbols and their scale (E|c|^2 before scaling)."""
    v = np.append(values, 0.0) if values.size % 2 else values
    c = (v[0::2] + 1j * v[1::2]).astype(np.complex64)  # (n/2,)
    scale = float(np.sqrt(np.mean(np.abs(c) ** 2))) if c.size else 1.0
    scale = float(np.float16(max(scale, 1e-3)))  # what the mask part carries, so both sides use the same number
    return (c / scale).astype(np.complex64), scale


def unpack_key(rx: Received, n_values: int, repeat: int, scale: float) -> np.ndarray:
    """Received repeated symbols -> (n_values,) latent estimates: MRC over the repeats, then LMMSE (unit-power prior)."""
    y = rx.symbols.reshape(repeat, -1)  # (r, n/2)
    w = 1.0 / np.maximum(rx.noise_var.reshape(repeat, -1), 1e-9)  # (r, n/2)
    combined = (y * w).sum(0) / w.sum(0)  # (n/2,) zero-forced, maximum-ratio combined
    nv = 1.0 / w.sum(0)  # (n/2,)
    c = combined / (1.0 + nv) * scale  # LMMSE estimate of unit-power symbols, rescaled
    return np.stack([c.real, c.imag], 1).reshape(-1)[:n_values].astype(np.float32)


class SemanticTransmit(Transmit):
    """Extracts and codes the parts of ``self.scheme`` (set by the subclass)."""

    scheme: str

    def __init__(self, params: SemanticParams):
        super().__init__(params)
        from shared.models.registry import default_model, load_model

        self.parts = SCHEME_PARTS[self.scheme]
        self.segmenter = load_model(default_model("segmenter"), role="segmenter") if "map" in self.parts else None
        self.selector = load_model(default_model("key_regions"), role="key_regions") if "mask" in self.parts else None
        self.captioner = load_model(default_model("captioner"), role="captioner") if "caption" in self.parts else None
        self.reuse = ReuseSender()

    def _send(self, name: str, value: np.ndarray | str) -> bool:
        return not (self.params.reuse and name in REUSED) or self.reuse.should_send(name, value)

    @torch.no_grad()
    def encode(self, frame: np.ndarray) -> Encoded:
        p = self.params
        h, w = frame.shape[:2]
        digital: dict[str, bytes] = {}
        payloads: list[Payload] = []
        info: dict = {}
        if "lowres" in self.parts:
            digital["lowres"] = encode_lowres(frame, LowResConfig(factor=p.lowres_factor, quality=p.lowres_quality))
        if "map" in self.parts:
            labels = self.segmenter.segment(frame).labels  # (H, W)
            if self._send("map", labels):
                digital["map"] = encode_map(labels)
        if "mask" in self.parts:
            grid = block_any(self.selector.select(frame), LATENT_FACTOR)  # (h/8, w/8) bool: latent cells touching the key region
            enc, std = latent_codec("cpu", ENCODER)
            z_n = (enc.encoder(frame_tensor(frame, LATENT_FACTOR) * 2 - 1) / std)[0].numpy()  # (L, h/8, w/8)
            symbols, scale = pack_key(z_n[:, grid].reshape(-1))  # (L * cells / 2,)
            digital["mask"] = struct.pack("<e", scale) + encode_map(grid)
            if symbols.size:  # no key region: the mask alone says so
                payloads.append(Payload("key", "analog", np.tile(symbols, p.key_repeat)))
            info["key_cells"] = int(grid.sum())
        if "caption" in self.parts:
            key = upsample(grid, LATENT_FACTOR, h, w)  # (H, W) bool
            text = self.captioner.caption(non_key(frame, key))
            if self._send("caption", text):
                digital["caption"] = encode_text(text)
        payloads += [Payload(name, "digital", transmit(data, p.link), bits=8 * len(data)) for name, data in digital.items()]
        info |= {f"{n}_bytes": len(d) for n, d in digital.items()}
        return Encoded(payloads=payloads, info=info)


class SemanticReceive(Receive):
    """Decodes whatever parts arrived into conditions, then samples the semantic generator."""

    scheme: str

    def __init__(self, params: SemanticParams):
        super().__init__(params)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.held = ReuseReceiver()
        self.lost: dict[str, int] = {}  # parts that failed their CRC (or would not decode), by name

    def _digital(self, name: str, payloads: dict[str, Received]) -> bytes | None:
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
        if name not in payloads:
            return self.held.update(name, None)
        data = self._digital(name, payloads)
        try:
            value = decode(data) if data is not None else None
        except (MapDecodeError, TextDecodeError):
            self._lose(name)
            value = None
        return self.held.update(name, value) if value is not None else None

    def _key(self, payloads: dict[str, Received], gh: int, gw: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(key latents (1, L, gh, gw), mask (1, 1, gh, gw)), or None when the mask or the symbols are unusable."""
        data = self._digital("mask", payloads)
        if data is None or "key" not in payloads:
            return None
        try:
            (scale,), grid = struct.unpack_from("<e", data), decode_map(data[2:]).astype(bool)
        except (struct.error, MapDecodeError):
            self._lose("mask")
            return None
        channels = load_denoiser(GENERATOR, self.device).config.latent_channels
        n = channels * int(grid.sum())
        rx = payloads["key"]
        if grid.shape != (gh, gw) or rx.symbols.size != self.params.key_repeat * -(-n // 2):
            self._lose("key")
            return None
        z = np.zeros((channels, gh, gw), np.float32)
        z[:, grid] = unpack_key(rx, n, self.params.key_repeat, scale).reshape(channels, -1)
        return torch.from_numpy(z)[None], torch.from_numpy(grid.astype(np.float32))[None, None]

    @torch.no_grad()
    def decode(self, payloads: dict[str, Received], height: int, width: int) -> np.ndarray:
        p = self.params
        gh, gw = latent_grid(height, width)
        parts: dict[str, torch.Tensor | None] = {}
        init = None
        if "lowres" in SCHEME_PARTS[self.scheme]:
            data = self._digital("lowres", payloads)
            small = decode_image(data, -(-height // p.lowres_factor), -(-width // p.lowres_factor)) if data else None
            if small is None:
                raise DecodeFailure("low-res image lost (LDPC/CRC)")
            parts["lowres"] = lowres_condition(small, height, width)  # (1, 3, gh, gw)
            if p.strength < 1:  # start from the upsampled low-res image's latent
                enc, std = latent_codec(self.device, ENCODER)
                up = F.interpolate(parts["lowres"], size=(gh * LATENT_FACTOR, gw * LATENT_FACTOR), mode="bicubic").clamp(-1, 1)
                init = enc.encoder(up.to(self.device)) / std  # (1, L, gh, gw)
        if "map" in SCHEME_PARTS[self.scheme]:
            labels = self._held("map", payloads, decode_map)
            parts["edges"] = edge_condition(labels) if labels is not None and labels.shape == (height, width) else None
        keep = None
        if "key" in SCHEME_PARTS[self.scheme]:
            key = self._key(payloads, gh, gw)
            parts["key"] = key_condition(*key) if key is not None else None
            keep = tuple(t.to(self.device) for t in key) if key is not None else None
        if "caption" in SCHEME_PARTS[self.scheme]:
            text = self._held("caption", payloads, decode_text)
            parts["caption"] = caption_condition([text], self.device) if text is not None else None
        cond = semantic_conditions(**{k: None if v is None else v.to(self.device) for k, v in parts.items()})
        model = load_denoiser(GENERATOR, self.device)
        z0 = sample(model, cond, (1, model.config.latent_channels, gh, gw), steps=p.steps, guidance=p.guidance,
                    strength=p.strength, init=init, generator=torch.Generator().manual_seed(p.seed), keep=keep)
        ae, std = latent_codec(self.device, DECODER)
        y = (ae.decoder(z0.float() * std) * 0.5 + 0.5)[0, :, :height, :width].clamp(0, 1)  # (3, H, W)
        return (y * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()

    def warmup(self) -> None:
        load_denoiser(GENERATOR, self.device)
        latent_codec(self.device, DECODER)
        latent_codec(self.device, ENCODER)
        if "caption" in SCHEME_PARTS[self.scheme]:
            caption_condition(["warm-up"], self.device)


def register_semantic(name: str, params: type[SemanticParams], help: str) -> SchemeSpec:
    """Register scheme ``name`` (a key of :data:`SCHEME_PARTS`): this module's transmitter and receiver for its parts."""
    transmit = type(f"{name.title()}Transmit", (SemanticTransmit,), {"scheme": name})
    receive = type(f"{name.title()}Receive", (SemanticReceive,), {"scheme": name})
    return register(SchemeSpec(name=name, help=help, params=params, transmit=transmit, receive=receive,
                               payload_names=SCHEME_PARTS[name]))
