"""A receiver network under ``torch.compile``, with static shapes (``compile=true`` on ``lrisc``).

torch.compile (inductor) fuses the network into generated kernels: C++/OpenMP on the CPU, Triton on
CUDA, where mode ``reduce-overhead`` also records each shape's kernels as a CUDA graph and replays it,
which removes the per-layer launch cost that dominates small few-step networks. Both want few distinct
shapes: a batch is padded to the next size in :data:`BATCH_BUCKETS` (the padding rows repeat the last
frame and are dropped from the output), so up to 8 streams decoded together compile four graphs, not
eight. Frame sizes are the stream's own and stay fixed within a stream.

What cannot compile (no C++ compiler, an unsupported op, an old GPU) falls back to the eager network
with one warning line, and the frame decodes all the same. The first frame of each shape pays the
compile (seconds to a minute on a CPU).
"""
from __future__ import annotations

import logging

import torch
from torch import nn

LOG = logging.getLogger("semcom.compiled")
BATCH_BUCKETS = (1, 2, 4, 8)  # padded batch sizes: one graph each (a batch above 8 runs at its own size)


def bucket(b: int) -> int:
    """The padded batch size for ``b`` frames."""
    return next((k for k in BATCH_BUCKETS if k >= b), b)


def _pad(x, to: int):
    if not isinstance(x, torch.Tensor) or x.shape[0] == to:
        return x
    return torch.cat([x, x[-1:].expand(to - x.shape[0], *x.shape[1:])])  # (to, ...)


class Compiled(nn.Module):
    """``module`` under torch.compile (CUDA: mode reduce-overhead, i.e. CUDA graphs), batch padded to a bucket.

    Every tensor argument is batched on dim 0; the output is one tensor, batched the same way."""

    def __init__(self, module: nn.Module, device: str):
        super().__init__()
        self.eager = module
        mode = "reduce-overhead" if device.startswith("cuda") else "default"
        self.mode = mode
        self.fn = torch.compile(module, mode=mode, dynamic=False, fullgraph=False)
        self.failed = False

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        b = next(a.shape[0] for a in args if isinstance(a, torch.Tensor))
        if self.failed:
            return self.eager(*args)
        padded = [_pad(a, bucket(b)) for a in args]
        try:
            out = self.fn(*padded)
        except Exception as exc:  # noqa: BLE001 - any compile failure: the eager network decodes instead
            self.failed = True
            LOG.warning("torch.compile failed (%s: %s); decoding eagerly", type(exc).__name__, str(exc).splitlines()[0][:200])
            return self.eager(*args)
        if self.mode == "reduce-overhead":
            out = out.clone()  # a CUDA graph's output buffer is overwritten by its next replay
        return out[:b]


def maybe_compiled(module: nn.Module, compile_it: bool, device: str) -> nn.Module:
    """``module`` itself, or :class:`Compiled` around it."""
    return Compiled(module, device) if compile_it else module
