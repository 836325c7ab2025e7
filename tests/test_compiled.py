"""torch.compile for the receiver's networks: batches padded to a few static sizes, the same pictures as eager,
and one warning line (then eager) where compiling fails."""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from shared.nets import compiled
from shared.nets.compiled import Compiled, bucket


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor, snr: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.shape[0])
        return torch.relu(self.conv(x)) * snr[:, :, None, None]


def test_buckets():
    assert [bucket(b) for b in (1, 2, 3, 4, 5, 8, 9)] == [1, 2, 4, 4, 8, 8, 9]


def test_compiled_matches_eager_and_pads_to_a_bucket():
    torch.manual_seed(0)
    net = Tiny().eval()
    x, snr = torch.randn(3, 3, 8, 8), torch.rand(3, 1)
    with torch.no_grad():
        want = net(x, snr)
        net.seen.clear()
        got = Compiled(net, "cpu")(x, snr)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5)
    assert net.seen and set(net.seen) == {4}  # traced at the bucket size, not at 3


def test_a_failed_compile_decodes_eagerly_with_one_warning(monkeypatch, caplog):
    def broken(module, **kwargs):
        def fn(*args):
            raise RuntimeError("no C++ compiler\nmore detail")
        return fn

    monkeypatch.setattr(compiled.torch, "compile", broken)
    net = Tiny().eval()
    x, snr = torch.randn(2, 3, 8, 8), torch.rand(2, 1)
    wrapped = Compiled(net, "cpu")
    with caplog.at_level(logging.WARNING, logger="semcom.compiled"), torch.no_grad():
        first, second = wrapped(x, snr), wrapped(x, snr)
    assert torch.equal(first, net(x, snr)) and torch.equal(second, first)
    warnings = [r for r in caplog.records if "torch.compile failed" in r.getMessage()]
    assert len(warnings) == 1 and "no C++ compiler" in warnings[0].getMessage()


def test_lrisc_compile_true_wraps_its_decoders(monkeypatch):
    """compile=true reaches both decoders (torch.compile replaced by a recorder: the real one takes a minute here)."""
    from shared.config import ChannelConfig
    from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
    from shared.schemes import lrisc_nets

    wrapped = []

    def recorder(module, **kwargs):
        wrapped.append((type(module).__name__, kwargs["mode"], kwargs["dynamic"]))
        return module

    monkeypatch.setattr(compiled.torch, "compile", recorder)
    for cache in lrisc_nets.CACHES:
        cache.cache_clear()
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    outs = []
    for flag in (False, True):
        header, symbols, _ = FrameEncoder("lrisc", {"codec": "embedded", "steps": 0, "compile": flag}).encode(frame, 0)
        header, symbols, _ = ChannelStage(ChannelConfig(model="awgn", snr_db=20.0, seed=1)).process(header, symbols)
        outs.append(FrameDecoder().decode(header, symbols))
    for cache in lrisc_nets.CACHES:
        cache.cache_clear()
    assert np.array_equal(outs[0], outs[1])
    assert sorted(w[0] for w in wrapped) == ["LatentJsccDecoder", "PixelDecoder"]
    assert all(mode == "default" and dynamic is False for _, mode, dynamic in wrapped)  # CPU: no CUDA graphs
