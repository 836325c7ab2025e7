"""``deepjscc``: the analog baseline, pixels straight into SNR-adaptive JSCC symbols.

Transmit: the frame (padded by edge replication to a multiple of 16) goes
through the :class:`~shared.nets.jscc.DeepJSCC` encoder, whose AF modules get
``snr_db`` (a parameter until CSI feedback reaches the transmitter); the first
``k`` feature maps become ``k * H * W / 512`` complex symbols, normalised to
E|x|^2 = 1 per frame.

Receive: the equalised (zero-forcing, with CSI) symbols are scaled to linear
MMSE estimates x_hat / (1 + noise_var), so deep-faded blocks count for little;
the decoder's AF modules get SNR = 10 log10(mean(1 / noise_var)), clipped to
[0, 20] dB (for AWGN or one fade per frame this is -10 log10(noise_var)). No
cliff: the image degrades smoothly with the SNR.

Rate: ``cbr`` picks how many of the model's importance-ordered feature maps
are sent: 1/192, 1/96, 1/64 or 1/48 (8, 16, 24 or 32 maps; 1,024 to 4,096
symbols per 256x256 frame).
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, field_validator

from shared.codecs.frames import frame_tensor, padded
from shared.nets.jscc import (
    DOWNSAMPLE,
    JSCCConfig,
    from_symbols,
    load_jscc,
    maps_for_cbr,
    mmse_scale,
    snr_from_noise_var,
    to_symbols,
)
from shared.nets.lora import LORA_WORD
from shared.nets.precision import Precision
from shared.nets.quantize import jscc_decoder
from shared.schemes.base import (
    BatchedReceive,
    DecodeFailure,
    Encoded,
    Payload,
    Received,
    SchemeParams,
    SchemeSpec,
    Transmit,
    register,
)

PAYLOAD = "jscc"


class DeepJSCCParams(SchemeParams):
    cbr: float = Field(default=1 / 48, gt=0, le=1)  # all 32 maps: 4,096 symbols per 256x256, the comparison point
    snr_db: float = Field(default=10.0, ge=-10, le=40)  # transmitter AF SNR: mid-range until feedback supplies the real one
    weights: str = Field(default="deepjscc", pattern=r"^deepjscc[a-z0-9_]{0,32}$")  # shared/weights/<name>.safetensors
    # receiver's decoder: auto = fp16 on CUDA, fp32 on the CPU; int8 is 7.6x smaller, -0.1 dB (benchmarks/precision.sh)
    precision: Precision = "auto"
    lora: str = Field(default="", pattern=f"^({LORA_WORD})?$")  # a scene adapter of the decoder (semcom train lora); '' = none

    @field_validator("cbr")
    @classmethod
    def _supported(cls, v: float) -> float:
        maps_for_cbr(v, JSCCConfig().rates, "deepjscc")
        return v

    def maps(self) -> int:
        """Feature maps sent for this CBR."""
        return maps_for_cbr(self.cbr, JSCCConfig().rates, "deepjscc")


class DeepJSCCTransmit(Transmit):
    params: DeepJSCCParams

    @torch.no_grad()
    def encode(self, frame: np.ndarray) -> Encoded:
        net = load_jscc(self.params.weights)
        h, w = frame.shape[:2]
        k = self.params.maps()
        if k > net.config.latent_channels:
            raise ValueError(f"weights {self.params.weights} have {net.config.latent_channels} maps, cbr needs {k}")
        x = frame_tensor(frame)  # (1, 3, H', W'), padded to whole 16x16 cells
        z = net.encode(x, torch.tensor([[self.params.snr_db]]))  # (1, C, H'/16, W'/16)
        symbols = to_symbols(z, k)[0].numpy().astype(np.complex64)  # (k*H'*W'/512,)
        return Encoded(payloads=[Payload(PAYLOAD, "analog", symbols)],
                       info={"maps": k, "cbr": symbols.size / (h * w * 3), "tx_snr_db": self.params.snr_db})


class DeepJSCCReceive(BatchedReceive):
    params: DeepJSCCParams

    def __init__(self, params: DeepJSCCParams):
        super().__init__(params)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"

    @torch.no_grad()
    def decode_batch(self, frames: list[dict[str, Received]], height: int, width: int) -> list[np.ndarray | DecodeFailure]:
        """One pass of the decoder network over every frame whose symbols are whole (the others: DecodeFailure)."""
        net = load_jscc(self.params.weights)
        hp, wp = padded(height) // DOWNSAMPLE, padded(width) // DOWNSAMPLE
        n = self.params.maps() * hp * wp // 2  # symbols a frame of this size carries
        out: list[np.ndarray | DecodeFailure | None] = [None] * len(frames)
        whole = []
        for i, payloads in enumerate(frames):
            rx = payloads.get(PAYLOAD)
            if rx is None:
                out[i] = DecodeFailure(f"no '{PAYLOAD}' payload")
            elif rx.symbols.size != n or rx.noise_var.size != n:
                out[i] = DecodeFailure(f"expected {n} symbols for {height}x{width}, got {rx.symbols.size}")
            else:
                whole.append(i)
        if whole:
            x_hat = torch.from_numpy(np.stack([frames[i][PAYLOAD].symbols for i in whole]).astype(np.complex64))  # (B, n)
            nv = torch.from_numpy(np.stack([frames[i][PAYLOAD].noise_var for i in whole]).astype(np.float32))  # (B, n)
            z = from_symbols(mmse_scale(x_hat, nv), net.config.latent_channels, hp, wp)  # (B, C, H'/16, W'/16)
            decoder = jscc_decoder(self.params.weights, self.params.precision, self.params.lora, self.device)
            y = decoder(z.to(self.device), snr_from_noise_var(nv).to(self.device)).cpu()  # (B, 3, H', W')
            pictures = (y[:, :, :height, :width].clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            for i, picture in zip(whole, pictures):
                out[i] = picture  # (H, W, 3)
        return out  # type: ignore[return-value]

    def warmup(self) -> None:
        jscc_decoder(self.params.weights, self.params.precision, self.params.lora, self.device)  # int8: calibrated here, not on a frame


SPEC = register(
    SchemeSpec(
        name="deepjscc",
        help="SNR-adaptive DeepJSCC (ADJSCC AF modules): pixels -> analog symbols, the no-cliff baseline",
        params=DeepJSCCParams,
        transmit=DeepJSCCTransmit,
        receive=DeepJSCCReceive,
        payload_names=(PAYLOAD,),
        required_payloads=(PAYLOAD,),
    )
)
