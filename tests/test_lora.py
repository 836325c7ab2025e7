"""Scene adapters (LoRA, peft) for the DeepJSCC decoder: `semcom train lora` on a short video saves
only the adapter, small beside the base weights, with its held-out figures in the card; a stream that
names it (`--param lora=NAME`) decodes with it; a receiver without it refuses the stream in one line."""
import cv2
import numpy as np
import pytest

from shared.cli import UsageError
from shared.config import ChannelConfig
from shared.nets.lora import adapter_card, adapter_path
from shared.nets.weights_file import WEIGHTS_DIR
from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder
from shared.protocol import ProtocolError
from shared.training.lora import main as train_lora


@pytest.fixture
def clip(tmp_path):
    """A 16-frame 64x64 video of a drifting pattern (one camera's scene)."""
    path = tmp_path / "scene.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    yy, xx = np.mgrid[0:64, 0:64]
    for t in range(16):
        frame = np.stack([(xx * 4 + t * 3) % 256, (yy * 4) % 256, ((xx + yy) * 2 + t) % 256], -1).astype(np.uint8)
        writer.write(frame)
    writer.release()
    return path


def test_an_adapter_is_trained_saved_small_and_used_by_name(clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEMCOM_LORA_DIR", str(tmp_path / "lora"))
    code = train_lora(["--data", f"video:{clip}", "--name", "cam1", "--steps", "4", "--crop", "32", "--size", "64",
                       "--video-stride", "1", "--ckpt-dir", str(tmp_path / "ckpt"), "--log-every", "2"])
    assert code == 0
    path = adapter_path("cam1")
    assert path.parent == tmp_path / "lora" and path.exists()
    assert path.stat().st_size < 0.05 * (WEIGHTS_DIR / "deepjscc.safetensors").stat().st_size  # only the adapter
    card = adapter_card(path)
    assert card["base"] == "deepjscc" and card["train_frames"] == 8 and card["held_out_frames"] == 8
    assert {"psnr_snr0", "ssim_snr20", "psnr_mean"} <= set(card["held_out_adapted"]) <= set(card["held_out_base"])
    assert "PSNR" in capsys.readouterr().out

    frame = cv2.cvtColor(cv2.VideoCapture(str(clip)).read()[1], cv2.COLOR_BGR2RGB)
    decoded = {}
    for lora in ("", "cam1"):
        header, symbols, _ = FrameEncoder("deepjscc", {"lora": lora}).encode(frame, 0)
        assert header.scheme_params["lora"] == lora  # the header names the adapter
        header, symbols, _ = ChannelStage(ChannelConfig(snr_db=10, seed=1)).process(header, symbols)
        decoder = FrameDecoder()
        decoder.prepare(header)
        decoded[lora] = decoder.decode(header, symbols)
    assert decoded["cam1"].shape == (64, 64, 3) and not np.array_equal(decoded["cam1"], decoded[""])


def test_a_missing_or_unsafe_adapter_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_LORA_DIR", str(tmp_path))
    header, _, _ = FrameEncoder("deepjscc", {"lora": "nowhere"}).encode(np.zeros((32, 32, 3), np.uint8), 0)
    with pytest.raises(ProtocolError, match="no adapter 'nowhere'"):
        FrameDecoder().prepare(header)  # the receiver refuses the stream (model_unavailable) and serves on
    with pytest.raises(Exception):
        FrameEncoder("deepjscc", {"lora": "../x"})  # never a path
    with pytest.raises(UsageError):
        adapter_path("../../etc/passwd")
