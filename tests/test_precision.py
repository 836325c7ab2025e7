"""int8 decoding of the embedded DeepJSCC: close to fp32, much smaller, and a clean fp32 fallback without an int8 engine."""
from __future__ import annotations

import io
import logging

import pytest
import torch
from pydantic import ValidationError

from shared.nets import quantize
from shared.nets.jscc import load_jscc
from shared.schemes.deepjscc import DeepJSCCParams


def state_bytes(module: torch.nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return len(buf.getvalue())


@pytest.fixture(scope="module")
def decoders():
    net = load_jscc("deepjscc")
    return quantize.JsccDecoder(net).eval(), quantize.quantize_decoder(net), quantize.calibration_batches(net)


@pytest.mark.skipif(quantize.int8_engine() is None, reason="this torch build has no int8 engine")
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
    monkeypatch.setattr(quantize, "int8_engine", lambda: None)
    with caplog.at_level(logging.WARNING, logger="semcom.quantize"):
        decoder = quantize.quantize_decoder(load_jscc("deepjscc"))
    assert isinstance(decoder, quantize.JsccDecoder)
    assert [r.getMessage().count("\n") for r in caplog.records] == [0] and "fp32" in caplog.text


def test_precision_is_a_checked_parameter():
    assert DeepJSCCParams(precision="int8").precision == "int8"
    with pytest.raises(ValidationError):
        DeepJSCCParams(precision="int4")
    with pytest.raises(ValueError, match="unknown precision"):
        quantize.jscc_decoder("deepjscc", "fp64")
