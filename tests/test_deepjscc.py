"""The ``deepjscc`` scheme end to end through the pipeline stages, on the shipped weights (CPU, seconds)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from shared.config import ChannelConfig
from shared.nets.jscc import DeepJSCC, JSCCConfig, from_symbols, load_jscc_file, to_symbols
from shared.nets.weights_file import JSCCWeightsMissing
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.sources import skimage_photos, square_resize


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return square_resize(skimage_photos()["astronaut"], 64)  # (64, 64, 3) uint8


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def round_trip(frame: np.ndarray, snr_db: float, params: dict | None = None, model: str = "awgn", seq: int = 0) -> np.ndarray:
    header, symbols, _ = FrameEncoder("deepjscc", params).encode(frame, seq)
    header, symbols, _ = ChannelStage(ChannelConfig(model=model, snr_db=snr_db, seed=7)).process(header, symbols)
    return FrameDecoder().decode(header, symbols)


def test_round_trip_shape_and_graceful_degradation(photo):
    out0 = round_trip(photo, 0.0)
    out20 = round_trip(photo, 20.0)
    assert out0.shape == photo.shape and out0.dtype == np.uint8
    p0, p20 = psnr(photo, out0), psnr(photo, out20)
    assert p20 > p0 + 0.3  # more SNR, better picture (64x64 astronaut: ~14.0 -> ~14.5 dB with the shipped model)
    assert p0 > 12.0  # no cliff: still an image at 0 dB


def test_rayleigh_and_odd_sizes(photo):
    out = round_trip(photo, 10.0, model="rayleigh", seq=3)
    assert out.shape == photo.shape
    odd = np.ascontiguousarray(photo[:50, :37])  # padded to 64x48 inside, cropped back
    assert round_trip(odd, 10.0).shape == (50, 37, 3)


def test_power_and_cbr(photo):
    for cbr, maps in ((1 / 48, 32), (1 / 96, 16), (1 / 192, 8)):
        enc = FrameEncoder("deepjscc", {"cbr": cbr})
        header, symbols, encoded = enc.encode(photo, 0)
        (x,) = symbols
        assert x.dtype == np.complex64
        assert x.size == maps * (64 // 16) ** 2 // 2 == header.n_symbols
        assert x.size / photo.size == pytest.approx(cbr)
        assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, rel=1e-4)
        assert encoded.payloads[0].role == "analog"


def test_unsupported_cbr_is_a_clear_error():
    with pytest.raises(ValidationError, match="supports cbr"):
        FrameEncoder("deepjscc", {"cbr": 0.3})


def test_missing_weights_is_one_line(photo, tmp_path):
    with pytest.raises(JSCCWeightsMissing) as info:
        FrameEncoder("deepjscc", {"weights": "deepjscc_absent"}).encode(photo, 0)
    assert "\n" not in str(info.value) and "semcom train jscc" in str(info.value)
    with pytest.raises(JSCCWeightsMissing):
        load_jscc_file(tmp_path / "none.safetensors")


def test_symbol_layout_truncates_by_maps():
    net = DeepJSCC(JSCCConfig(channels=(4, 4, 4, 4), latent_channels=8, rates=(4, 8), af_hidden=4))
    z = net.encode(torch.rand(2, 3, 32, 32), torch.full((2, 1), 10.0))  # (2, 8, 2, 2)
    x = to_symbols(z, 4)  # (2, 8)
    assert x.shape == (2, 8)
    back = from_symbols(x, 8, 2, 2)  # (2, 8, 2, 2), maps 4..7 zero
    assert torch.all(back[:, 4:] == 0)
    ratio = back[:, :4] / z[:, :4]  # one positive power-normalisation factor per frame
    assert torch.allclose(ratio, ratio[:, :1, :1, :1].expand_as(ratio), rtol=1e-4)


def test_a_batch_of_streams_decodes_as_each_frame_alone(photo):
    """What a Ray replica does with a batch: frames of several streams (and one broken frame) through one
    pass of the network give each the picture it would get alone, in order, the broken one its failure."""
    from shared.schemes.base import DecodeFailure

    decoder, items = FrameDecoder(), []
    for i, snr in enumerate((0.0, 10.0, 20.0)):
        header, symbols, _ = FrameEncoder("deepjscc", stream_id=f"cam{i}").encode(np.roll(photo, 8 * i, axis=1), seq=i)
        header, symbols, _ = ChannelStage(ChannelConfig(snr_db=snr, seed=i)).process(header, symbols)
        items.append((header, decoder.equalised(header, symbols)))
    broken = {"jscc": type(items[0][1]["jscc"])(items[0][1]["jscc"].symbols[:-2], items[0][1]["jscc"].noise_var[:-2])}
    items.insert(1, (items[0][0], broken))
    batch = decoder.reconstruct_batch(items)
    assert isinstance(batch[1], DecodeFailure) and "symbols" in str(batch[1])
    for (header, received), got in zip(items[:1] + items[2:], batch[:1] + batch[2:]):
        alone = FrameDecoder().reconstruct(header, received)
        assert got.shape == alone.shape == (64, 64, 3)
        assert np.abs(got.astype(int) - alone.astype(int)).max() <= 1  # (float sums in another order: one level at most)
    assert psnr(batch[0], photo) < psnr(batch[3], np.roll(photo, 16, axis=1))  # each frame kept its own SNR
