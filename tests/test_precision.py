"""Precisions: int8 DeepJSCC and lrisc close to fp32 and much smaller; every fallback one warning line and a precision that runs."""
from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from shared.config import ChannelConfig
from shared.nets import precision, quantize
from shared.nets.jscc import load_jscc
from shared.nets.precision import saved_bytes as state_bytes
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.schemes import lrisc, lrisc_nets
from shared.schemes.base import DecodeFailure, Received
from shared.schemes.deepjscc import DeepJSCCParams
from shared.schemes.lrisc import LriscParams
from shared.sources import skimage_photos, square_resize

NO_INT8 = pytest.mark.skipif(precision.int8_engine() is None, reason="this torch build has no int8 engine")


@pytest.fixture(scope="module")
def decoders():
    net = load_jscc("deepjscc")
    return quantize.JsccDecoder(net).eval(), quantize.quantize_decoder(net), quantize.calibration_batches(net)


@NO_INT8
def test_int8_decoder_is_close_to_fp32_and_much_smaller(decoders):
    fp32, int8, batches = decoders
    assert int8 is not fp32 and not isinstance(int8, quantize.JsccDecoder)
    with torch.no_grad():
        for z, snr in (batches[0], batches[-1]):  # 0 dB and 20 dB inputs
            a, b = fp32(z, snr).clamp(0, 1), int8(z, snr).clamp(0, 1)
            psnr_between = 10 * torch.log10(1 / ((a - b) ** 2).mean())
            assert psnr_between > 30  # int8 error far below the channel's (the fp32 recon is ~22-24 dB from the photo)
        odd = int8(torch.randn(1, 32, 5, 7), torch.tensor([[7.0]]))
    assert odd.shape == (1, 3, 80, 112)  # not tied to the calibration shape
    assert state_bytes(int8) < state_bytes(fp32) / 5


def test_without_an_int8_engine_it_is_one_warning_and_fp32(monkeypatch, caplog):
    monkeypatch.setattr(precision, "int8_engine", lambda: None)
    precision._warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="semcom.precision"):
        decoder = quantize.quantize_decoder(load_jscc("deepjscc"))
    assert isinstance(decoder, quantize.JsccDecoder)
    assert [r.getMessage().count("\n") for r in caplog.records] == [0] and "fp32" in caplog.text


def test_precision_is_a_checked_parameter():
    assert DeepJSCCParams(precision="int8").precision == "int8"
    assert DeepJSCCParams().precision == LriscParams(codec="embedded").precision == "auto"
    with pytest.raises(ValidationError):
        DeepJSCCParams(precision="int4")
    with pytest.raises(ValidationError):
        LriscParams(codec="embedded", precision="fp64")
    with pytest.raises(ValueError, match="unknown precision"):
        quantize.jscc_decoder("deepjscc", "fp64")


def test_what_a_platform_cannot_run_falls_back_with_one_line(caplog):
    precision._warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="semcom.precision"):
        assert precision.runnable("auto", "cpu") == "fp32" and precision.runnable("auto", "cuda") == "fp16"
        assert precision.runnable("fp16", "cpu") == precision.runnable("bf16", "cpu") == "fp32"
        assert precision.runnable("int8", "cuda:0") == "fp16"  # int8 kernels are CPU kernels
        assert precision.runnable("fp16", "cpu") == "fp32"  # asked again: no second line
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert "fp32" in lines[0] and "fp16" in lines[2]


def test_half_precision_wrapper_keeps_the_callers_module_and_dtype():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1))
    x = torch.rand(2, 3, 16, 16)
    half = precision.Cast(copy.deepcopy(net), torch.bfloat16)  # bf16 runs on any CPU, slowly: enough to check the wrapper
    y = half(x)
    assert y.dtype == torch.float32 and next(net.parameters()).dtype == torch.float32
    assert torch.allclose(y, net(x), atol=0.05)
    cpu_fp32 = precision.at_precision(net, "fp16", "cpu")  # falls back: the same module, untouched
    assert cpu_fp32 is net and next(net.parameters()).dtype == torch.float32


def photo_frames(snr_db: float, n: int = 3, params: dict | None = None):
    """Three scikit-image photos (64x96 crops) encoded by lrisc (embedded codec) and sent over AWGN."""
    enc = FrameEncoder("lrisc", {"codec": "embedded", **(params or {})})
    stage = ChannelStage(ChannelConfig(model="awgn", snr_db=snr_db, seed=5))
    out = []
    for i, photo in enumerate(list(skimage_photos().values())[:n]):
        frame = np.ascontiguousarray(square_resize(photo, 96)[16:80])  # (64, 96, 3)
        header, symbols, _ = enc.encode(frame, i)
        out.append((frame, *stage.process(header, symbols)[:2]))
    return out


@NO_INT8
def test_lrisc_int8_decodes_close_to_fp32_and_its_decoders_are_smaller():
    frames = photo_frames(10.0)
    pictures = {}
    for p in ("fp32", "int8"):
        dec = FrameDecoder()
        pictures[p] = []
        for frame, header, symbols in frames:
            header.scheme_params["precision"] = p
            pictures[p].append(dec.decode(header, symbols).astype(float))
    for (frame, _, _), a, b in zip(frames, pictures["fp32"], pictures["int8"]):
        between = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
        to_photo = 10 * np.log10(255**2 / np.mean((a - frame) ** 2))
        assert between > to_photo + 8  # int8's error well below the reconstruction's own
    params = LriscParams(codec="embedded")
    for build in (lambda p: lrisc_nets.jscc_decoder_at(params.jscc_weights, "embedded", p, "cpu"),
                  lambda p: lrisc_nets.pixel_decoder_at(lrisc.RECEIVER_CODEC, params.jscc_weights, p, "cpu")):
        assert state_bytes(build("int8")) < state_bytes(build("fp32")) / 3
    unet = lrisc_nets.denoiser_at(params.diffusion_weights, "int8", "cpu")
    assert any("quantized" in type(m).__module__ for m in unet.modules())  # its linear layers are int8


def test_lrisc_frames_decode_the_same_alone_and_in_a_batch():
    frames = photo_frames(5.0, params={"steps": 1})
    receive, payloads = lrisc.LriscReceive(LriscParams(codec="embedded", steps=1)), FrameDecoder().equalised
    alone = [receive.decode(payloads(h, s), h.height, h.width) for _, h, s in frames]
    broken = {lrisc.PAYLOAD: Received(np.zeros(7, np.complex64), np.ones(7, np.float32))}
    batch = receive.decode_batch([payloads(h, s) for _, h, s in frames[:2]] + [broken, payloads(*frames[2][1:])],
                                 frames[0][1].height, frames[0][1].width)
    assert isinstance(batch[2], DecodeFailure)
    for a, b in zip(alone, batch[:2] + batch[3:]):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
