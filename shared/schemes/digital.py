"""``digital``: the classical separate source-channel baseline.

JPEG/WebP at the quality that fills a symbol budget, then CRC, 5G LDPC and
QAM (:mod:`shared.phy.link`). Perfect above the code's threshold SNR, lost
below it: the cliff effect.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

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
from shared.sideinfo.image_fit import decode_image, fit_image

PAYLOAD = "image"


class DigitalParams(SchemeParams):
    cbr: float = Field(default=1 / 12, gt=0, le=4)  # channel uses per pixel-channel; 1/12 gives ~0.5 bpp at 16-QAM r=1/2
    codec: str = Field(default="webp", pattern="^(jpeg|webp)$")  # WebP: far smaller headers than JPEG, a stronger baseline at low rates
    link: LinkConfig = LinkConfig()


class DigitalTransmit(Transmit):
    params: DigitalParams

    def encode(self, frame: np.ndarray) -> Encoded:
        h, w = frame.shape[:2]
        link = self.params.link
        budget_symbols = round(self.params.cbr * h * w * 3)
        capacity = link.capacity_bytes(budget_symbols)
        if capacity <= 0:
            raise ValueError(
                f"a CBR of {self.params.cbr:.4g} ({budget_symbols} symbols) is less than one "
                f"{link.symbols_per_block()}-symbol LDPC block; raise cbr or lower ldpc_k"
            )
        fitted = fit_image(frame, self.params.codec, capacity)
        symbols = transmit(fitted.data, link)
        return Encoded(
            payloads=[Payload(PAYLOAD, "digital", symbols, bits=8 * len(fitted.data))],
            info={"quality": fitted.quality, "scale": fitted.scale, "bytes": len(fitted.data)},
        )


class DigitalReceive(Receive):
    params: DigitalParams

    def decode(self, payloads: dict[str, Received], height: int, width: int) -> np.ndarray:
        rx = payloads[PAYLOAD]
        data = receive(rx.symbols, rx.noise_var, self.params.link)
        if data is None:
            raise DecodeFailure("LDPC/CRC failure")
        img = decode_image(data, height, width)
        if img is None:
            raise DecodeFailure("image bytes passed the CRC but do not decode")
        return img

    def warmup(self) -> None:
        link = self.params.link
        silence = np.zeros(link.symbols_per_block(), np.complex64)  # one code block of nothing
        receive(silence, np.ones(silence.size, np.float32), link)


SPEC = register(
    SchemeSpec(
        name="digital",
        help="JPEG/WebP + CRC + 5G LDPC + QAM: the separate source-channel baseline",
        params=DigitalParams,
        transmit=DigitalTransmit,
        receive=DigitalReceive,
        payload_names=(PAYLOAD,),
        required_payloads=(PAYLOAD,),
    )
)
