"""int8 post-training quantization of the embedded JSCC decoders (torch.ao FX graph mode, x86 / qnnpack kernels).

Weights become int8 per channel, activations int8 per tensor with ranges observed on calibration
data (the decoder's own input distribution: real photos encoded by the net, sent through AWGN at
0-20 dB); the graph keeps float where no int8 kernel exists (GELU, the AF gates' sigmoid).
A platform without an int8 engine gets one warning line and the fp32 module, never an error.

Measured on this project's CPU (``benchmarks/precision.sh``): DeepJSCC's decoder 7.6x smaller,
0.1 dB less PSNR, about the speed of fp32; bf16 is not offered on the CPU (without bf16 hardware it ran
65x slower than fp32 here).
"""
from __future__ import annotations

import logging
import warnings
from functools import lru_cache

import torch
from torch import nn

from shared.nets.jscc import DeepJSCC, from_symbols, to_symbols
from shared.nets.lora import jscc_with

LOG = logging.getLogger("semcom.quantize")
PRECISIONS = ("fp32", "int8")  # fp16/bf16 are GPU precisions (the deployment issue's CUDA path)
ENGINES = ("x86", "fbgemm", "qnnpack")  # int8 kernel libraries, preferred first
CALIBRATION_SNRS_DB = (0.0, 5.0, 10.0, 15.0, 20.0)  # the trained SNR range: activation ranges cover every operating point


class JsccDecoder(nn.Module):
    """(B, C, h, w) received features, (B, 1) SNR dB -> (B, 3, 16h, 16w): DeepJSCC's decoder as one traceable module."""

    def __init__(self, net: DeepJSCC):
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        return self.net.decode(z, snr_db)


def int8_engine() -> str | None:
    """The first int8 engine this torch build supports, or None."""
    supported = set(torch.backends.quantized.supported_engines)
    return next((e for e in ENGINES if e in supported), None)


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


@torch.no_grad()
def quantize_decoder(net: DeepJSCC) -> nn.Module:
    """An int8 copy of ``net``'s decoder (calibrated), or the fp32 decoder with one warning where int8 cannot run."""
    decoder = JsccDecoder(net).eval()
    engine = int8_engine()
    if engine is None:
        LOG.warning("int8 requested but this torch build has no int8 engine (%s): decoding in fp32", ", ".join(ENGINES))
        return decoder
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = engine
    batches = calibration_batches(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's notice that FX quantization is moving to torchao
        prepared = prepare_fx(decoder, get_default_qconfig_mapping(engine), example_inputs=batches[0])
        for z, snr in batches:
            prepared(z, snr)
        return convert_fx(prepared).eval()


@lru_cache(maxsize=4)
def jscc_decoder(weights: str, precision: str, lora: str = "") -> nn.Module:
    """The decoder of ``shared/weights/<weights>.safetensors`` (with the scene adapter ``lora`` merged,
    :mod:`shared.nets.lora`) at ``precision``, built once per process."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; known: {', '.join(PRECISIONS)}")
    net = jscc_with(weights, lora)
    return quantize_decoder(net) if precision == "int8" else JsccDecoder(net).eval()
