"""``lrisc``: latent JSCC of adaptive length, then conditional diffusion guided by the received latent.

Transmit (LRISC, seed paper 000):
    frame (padded to a multiple of 16) -> latent codec encoder -> z / std = z_n (8 x H/8 x W/8)
    -> SNR-adaptive latent JSCC encoder (AF modules get the SNR fed back, or ``snr_db``)
    -> the first k of 32 importance-ordered maps -> k * H * W / 512 unit-power complex symbols
Receive:
    ZF-equalised symbols -> MMSE scaling -> latent JSCC decoder (SNR from the CSI) -> z_hat
    -> ``steps`` DDIM steps of the conditional UNet guided by z_hat and the SNR -> z0
    -> the receiver's latent decoder (tuned with the generator) -> frame.  ``steps = 0`` skips the diffusion (the JSCC-only ablation).

Adaptive length: the rate knob ``cbr`` is the most the stream may spend (1/192, 1/96, 1/64
or 1/48); the rate policy ``snr`` sends fewer maps when the receiver reports a good channel
(:data:`RATE_POLICY`), ``fixed`` always sends ``cbr``. Before any feedback (and in
``semcom eval``, which has no feedback link) the policy sends ``cbr``. The receiver reads the
length from the payload's symbol count, so no per-frame signalling is needed.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from shared.codecs.frames import LATENT_CODEC, frame_tensor, latent_codec, padded, to_frame, to_latent
from shared.generators.diffusion import latent_guidance, load_denoiser, sample
from shared.nets.jscc import from_symbols, maps_for_cbr, mmse_scale, snr_from_noise_var, to_symbols
from shared.nets.latent_jscc import LatentJSCCConfig, load_latent_jscc
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

PAYLOAD = "latent"
RECEIVER_CODEC = "lrisc-latent-ae"  # the same encoder, with the decoder tuned jointly with the diffusion generator
DOWNSAMPLE = 16  # latent codec 8x, JSCC 2x: pixels per symbol-grid cell, per side
# (feedback SNR floor in dB, maps sent). Measured JSCC-only on the validation photos (semcom eval,
# steps=0, AWGN): at 15 dB half the maps give 22.19 dB against 22.49 with all of them; at 10 dB
# three quarters give 22.10 against 22.35; at 5 dB they lose 0.35 dB and at 0 dB 0.46, so send all
RATE_POLICY = ((15.0, 16), (8.0, 24), (-math.inf, 32))


class LriscParams(SchemeParams):
    cbr: float = Field(default=1 / 48, gt=0, le=1)  # the most the stream spends: all 32 maps, 4,096 symbols per 256x256
    rate_policy: Literal["snr", "fixed"] = "snr"  # snr: fewer maps when the fed-back SNR is high; fixed: always cbr
    snr_db: float = Field(default=10.0, ge=-10, le=40)  # transmitter AF SNR until feedback supplies the real one
    # steps and strength: the best effnet_dist of steps {0, 1, 4} x strength {0.02, 0.25, 0.5} on seven training
    # photos (README, "choosing the samplers"), and the fastest generative setting
    steps: int = Field(default=1, ge=0, le=50)  # DDIM steps at the receiver; 0 = JSCC only (no diffusion)
    guidance: float = Field(default=1.0, ge=0, le=10)  # classifier-free guidance; 1 = one UNet call per step
    strength: float = Field(default=0.02, gt=0, le=1)  # 1 = start from noise; < 1 = from z_hat noised to this level (0.02: t = 19)
    seed: int = Field(default=0, ge=0)  # sampling noise: the same frame and channel give the same picture
    jscc_weights: str = Field(default="lrisc_jscc", pattern=r"^lrisc_jscc[a-z0-9_]{0,32}$")  # shared/weights/<name>
    diffusion_weights: str = Field(default="lrisc_diffusion", pattern=r"^lrisc_diffusion[a-z0-9_]{0,32}$")

    @field_validator("cbr")
    @classmethod
    def _supported(cls, v: float) -> float:
        maps_for_cbr(v, LatentJSCCConfig().rates, "lrisc")
        return v

    def max_maps(self) -> int:
        return maps_for_cbr(self.cbr, LatentJSCCConfig().rates, "lrisc")


def maps_for_snr(snr_db: float | None, max_maps: int) -> int:
    """The rate policy: maps to send at a fed-back SNR (None: no feedback yet -> the most allowed)."""
    if snr_db is None:
        return max_maps
    return min(max_maps, next(k for floor, k in RATE_POLICY if snr_db >= floor))


class LriscTransmit(Transmit):
    params: LriscParams

    def __init__(self, params: LriscParams):
        super().__init__(params)
        self.feedback_snr_db: float | None = None

    def on_feedback(self, snr_db: float) -> None:
        self.feedback_snr_db = snr_db

    @torch.no_grad()
    def encode(self, frame: np.ndarray) -> Encoded:
        jscc = load_latent_jscc(self.params.jscc_weights)
        h, w = frame.shape[:2]
        z_n = to_latent(frame_tensor(frame, DOWNSAMPLE), "cpu")  # (1, L, H'/8, W'/8), padded to whole symbol-grid cells
        policy_snr = self.feedback_snr_db if self.params.rate_policy == "snr" else None
        tx_snr = self.feedback_snr_db if self.feedback_snr_db is not None else self.params.snr_db
        k = maps_for_snr(policy_snr, self.params.max_maps())
        s = jscc.encode(z_n, torch.tensor([[tx_snr]]))  # (1, C, H'/16, W'/16)
        symbols = to_symbols(s, k)[0].numpy().astype(np.complex64)  # (k * H' * W' / 512,)
        return Encoded(payloads=[Payload(PAYLOAD, "analog", symbols)],
                       info={"maps": k, "cbr": symbols.size / (h * w * 3), "tx_snr_db": tx_snr})


class LriscReceive(Receive):
    params: LriscParams

    def __init__(self, params: LriscParams):
        super().__init__(params)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.codec = RECEIVER_CODEC if params.steps else LATENT_CODEC  # the decoder trained on what this receiver makes

    @torch.no_grad()
    def decode(self, payloads: dict[str, Received], height: int, width: int) -> np.ndarray:
        if PAYLOAD not in payloads:
            raise DecodeFailure(f"no '{PAYLOAD}' payload")
        rx = payloads[PAYLOAD]
        jscc = load_latent_jscc(self.params.jscc_weights)
        hp, wp = padded(height, DOWNSAMPLE) // DOWNSAMPLE, padded(width, DOWNSAMPLE) // DOWNSAMPLE
        k, rest = divmod(2 * rx.symbols.size, hp * wp)
        if rest or k not in jscc.config.rates or rx.noise_var.size != rx.symbols.size:
            raise DecodeFailure(f"{rx.symbols.size} symbols is no supported length for {height}x{width}")
        x_hat = torch.from_numpy(rx.symbols.astype(np.complex64))[None]  # (1, N)
        nv = torch.from_numpy(rx.noise_var.astype(np.float32))[None]  # (1, N)
        snr = snr_from_noise_var(nv)  # (1, 1)
        s_hat = from_symbols(mmse_scale(x_hat, nv), jscc.config.maps, hp, wp)  # (1, C, H'/16, W'/16)
        z_hat = jscc.decode(s_hat, snr).to(self.device)  # (1, L, H'/8, W'/8)
        if self.params.steps:
            model = load_denoiser(self.params.diffusion_weights, self.device)
            gen = torch.Generator().manual_seed(self.params.seed)
            z_hat = sample(model, latent_guidance(z_hat, snr.to(self.device)), tuple(z_hat.shape), steps=self.params.steps,
                           guidance=self.params.guidance, strength=self.params.strength, init=z_hat, generator=gen)
        return to_frame(z_hat, height, width, self.device, self.codec)

    def warmup(self) -> None:
        load_latent_jscc(self.params.jscc_weights)
        latent_codec(self.device, self.codec)
        if self.params.steps:
            load_denoiser(self.params.diffusion_weights, self.device)


SPEC = register(
    SchemeSpec(
        name="lrisc",
        help="LRISC: latent JSCC of adaptive length (SNR-adaptive), then conditional diffusion guided by the received latent",
        params=LriscParams,
        transmit=LriscTransmit,
        receive=LriscReceive,
        payload_names=(PAYLOAD,),
    )
)
