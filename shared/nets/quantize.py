"""DeepJSCC's decoder at a precision (:mod:`shared.nets.precision`): int8 calibrated on its own inputs.

int8 is torch.ao's FX post-training quantization (x86 / qnnpack kernels; int8 weights per channel,
int8 activations calibrated on real photos encoded by the net and sent through AWGN at 0-20 dB); the
graph keeps float where no int8 kernel exists (GELU, the AF gates' sigmoid). fp16 / bf16 run on CUDA.
What the platform cannot run falls back with one warning line (:func:`shared.nets.precision.runnable`).

Measured on this project's CPU (``benchmarks/precision.sh``): DeepJSCC's decoder 7.6x smaller,
0.1 dB less PSNR, about the speed of fp32 (GELU converts back and forth).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from shared.nets.jscc import DeepJSCC, from_symbols, to_symbols
from shared.nets.lora import jscc_with
from shared.nets.precision import at_precision

CALIBRATION_SNRS_DB = (0.0, 5.0, 10.0, 15.0, 20.0)  # the trained SNR range: activation ranges cover every operating point


class JsccDecoder(nn.Module):
    """(B, C, h, w) received features, (B, 1) SNR dB -> (B, 3, 16h, 16w): DeepJSCC's decoder as one traceable module."""

    def __init__(self, net: DeepJSCC):
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        return self.net.decode(z, snr_db)


def calibration_batches(net: DeepJSCC) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(received features, SNR) pairs: the six scikit-image photos at 256x256, every map sent, AWGN at each SNR."""
    from shared.sources import skimage_photos, square_resize

    x = torch.stack([torch.from_numpy(square_resize(p, 256)).permute(2, 0, 1).float() / 255
                     for p in skimage_photos().values()])  # (6, 3, 256, 256)
    g = torch.Generator().manual_seed(0)
    batches = []
    for snr in CALIBRATION_SNRS_DB:
        s = torch.full((x.shape[0], 1), snr)
        z = net.encode(x, s)  # (6, C, 16, 16)
        c, h, w = z.shape[1:]
        sym = to_symbols(z, c)  # (6, N) unit power
        nv = 10 ** (-snr / 10)
        noise = torch.complex(torch.randn(sym.shape, generator=g), torch.randn(sym.shape, generator=g)) * (nv / 2) ** 0.5
        batches.append((from_symbols((sym + noise) / (1 + nv), c, h, w), s))  # MMSE-scaled, as the receiver feeds it
    return batches


def quantize_decoder(net: DeepJSCC) -> nn.Module:
    """An int8 copy of ``net``'s decoder (calibrated), or the fp32 decoder with one warning where int8 cannot run."""
    return at_precision(JsccDecoder(net), "int8", "cpu", lambda: calibration_batches(net))


@lru_cache(maxsize=4)
def jscc_decoder(weights: str, precision: str, lora: str = "", device: str = "cpu") -> nn.Module:
    """The decoder of ``shared/weights/<weights>.safetensors`` (with the scene adapter ``lora`` merged,
    :mod:`shared.nets.lora`) at ``precision`` on ``device``, built once per process."""
    net = jscc_with(weights, lora)
    return at_precision(JsccDecoder(net), precision, device, lambda: calibration_batches(net))
