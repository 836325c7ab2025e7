"""Running a network at a numeric precision: ``fp32``, ``fp16`` / ``bf16`` (CUDA) or ``int8`` (CPU int8 kernels).

- ``int8``: torch.ao post-training static quantization in FX graph mode (x86 / fbgemm / qnnpack
  kernels): int8 weights per output channel, int8 activations per tensor with ranges observed on
  calibration inputs the caller supplies (the network's own input distribution); the graph stays
  float where no int8 kernel exists (GELU, sigmoid gates, GroupNorm). Modules FX cannot trace
  (diffusers' UNet) take :func:`int8_linear` instead: dynamic int8 of their linear layers only.
- ``fp16`` / ``bf16``: the module's weights in that dtype, float inputs cast on the way in and the
  output cast back to fp32 (:class:`Cast`), so callers never see the dtype.
- ``auto``: fp16 on CUDA, fp32 on the CPU.

What a platform cannot run falls back with one warning line and never an error: fp16 / bf16 on the
CPU run fp32 (no half kernels worth having: bf16 autocast ran 65x slower than fp32 on this project's
CPU); int8 on CUDA runs fp16 (the int8 kernels are CPU kernels); a torch without an int8 engine runs fp32.
Nothing here imports CUDA-only code.
"""
from __future__ import annotations

import copy
import io
import logging
import warnings
from functools import lru_cache
from typing import Callable, Literal, Sequence

import torch
from torch import nn

LOG = logging.getLogger("semcom.precision")
Precision = Literal["auto", "fp32", "fp16", "bf16", "int8"]
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
ENGINES = ("x86", "fbgemm", "qnnpack")  # int8 kernel libraries, preferred first
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def int8_engine() -> str | None:
    """The first int8 engine this torch build supports, or None."""
    supported = set(torch.backends.quantized.supported_engines)
    return next((e for e in ENGINES if e in supported), None)


@lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    LOG.warning(message)


def runnable(precision: str, device: str) -> str:
    """The precision that will really run for ``precision`` on ``device`` (one warning line the first time it differs)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; known: {', '.join(PRECISIONS)}")
    cuda = device.startswith("cuda")
    if precision == "auto":
        return "fp16" if cuda else "fp32"
    if precision in DTYPES and not cuda:
        _warn_once(f"precision {precision} is a GPU precision; on the CPU decoding in fp32")
        return "fp32"
    if precision == "int8" and cuda:
        _warn_once("precision int8 runs on the CPU's int8 kernels; on CUDA decoding in fp16")
        return "fp16"
    if precision == "int8" and int8_engine() is None:
        _warn_once(f"int8 requested but this torch build has no int8 engine ({', '.join(ENGINES)}): decoding in fp32")
        return "fp32"
    return precision


class Cast(nn.Module):
    """``module`` run in ``dtype``: floating inputs cast in, the (tensor) output cast back to fp32."""

    def __init__(self, module: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.module = module.to(dtype)
        self.dtype = dtype

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        cast = [a.to(self.dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
        return self.module(*cast).float()


@torch.no_grad()
def int8_static(module: nn.Module, batches: Sequence[tuple[torch.Tensor, ...]]) -> nn.Module:
    """An int8 copy of a traceable ``module`` (calibrated on ``batches``, each a tuple of its forward's inputs)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    engine = int8_engine()
    torch.backends.quantized.engine = engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's notice that FX quantization is moving to torchao
        prepared = prepare_fx(module.eval(), get_default_qconfig_mapping(engine), example_inputs=tuple(batches[0]))
        for inputs in batches:
            prepared(*inputs)
        return convert_fx(prepared).eval()


def int8_linear(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every ``nn.Linear`` dynamically int8 (weights int8, activations quantized per call);
    convolutions stay fp32. For networks FX cannot trace."""
    from torch.ao.quantization import quantize_dynamic

    torch.backends.quantized.engine = int8_engine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(module.eval(), {nn.Linear}, dtype=torch.qint8)


def at_precision(module: nn.Module, precision: str, device: str,
                 calibration: Callable[[], Sequence[tuple[torch.Tensor, ...]]] | None = None) -> nn.Module:
    """``module`` (fp32, eval) ready to run at ``precision`` on ``device``.

    ``calibration`` gives the int8 calibration inputs (only called for int8); without it int8 means
    :func:`int8_linear` (the linear layers only)."""
    run = runnable(precision, device)
    module = module.eval()
    if run != "fp32" or device != "cpu":
        module = copy.deepcopy(module)  # the caller's module (often a cached one the encoder shares) stays as it was
    if run == "int8":
        return int8_static(module, calibration()) if calibration is not None else int8_linear(module)
    module = module.to(device)
    return Cast(module, DTYPES[run]) if run in DTYPES else module


def saved_bytes(module: nn.Module) -> int:
    """Bytes of ``module``'s state dict as torch.save writes it (int8 modules included)."""
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return len(buf.getvalue())
