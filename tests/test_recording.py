"""``--record``: the reconstruction, or original | reconstruction, as a video file any player opens."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from receiver.recorder import VideoRecorder
from shared.cli import UsageError

DIGITAL = ["--scheme", "digital", "--size", "64", "--param", "cbr=0.25", "--param", "link.modulation=qpsk",
           "--param", "link.code_rate=0.5", "--param", "link.ldpc_k=1024"]


def _read_video(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_the_recorder_writes_every_frame_at_the_first_frames_size(tmp_path):
    rec = VideoRecorder(tmp_path / "r.mp4", fps=10, side_by_side=True)
    for i in range(10):
        frame = np.full((32, 32, 3), 20 * i, np.uint8)
        rec.write(frame if i != 5 else np.zeros((16, 16, 3), np.uint8), np.full((32, 32, 3), 200, np.uint8) if i % 2 else None)
    rec.close()
    frames = _read_video(tmp_path / "r.mp4")
    assert len(frames) == 10 and frames[0].shape == (32, 64, 3)  # original | reconstruction; the odd-sized one resized
    assert abs(int(frames[1][:, :32].mean()) - 200) < 8 and abs(int(frames[0][:, :32].mean()) - 128) < 8  # grey: no original
    assert abs(int(frames[9][:, 32:].mean()) - 180) < 8


@pytest.mark.parametrize("name", ["x.png", "missing_dir/x.mp4"])
def test_a_bad_recording_path_is_a_usage_error(tmp_path, name):
    with pytest.raises(UsageError, match="--record"):
        VideoRecorder.check_path(tmp_path / name)


def test_the_demo_records_the_stream(tmp_path):
    video = tmp_path / "run.mp4"
    done = subprocess.run([sys.executable, "-m", "shared.cli", "demo", *DIGITAL, "--frames", "12", "--viewer", "off",
                           "--record", str(video), "--record-side-by-side"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    frames = _read_video(video)
    assert len(frames) == 12 and frames[0].shape == (64, 128, 3)
    bad = subprocess.run([sys.executable, "-m", "shared.cli", "demo", *DIGITAL, "--record", str(tmp_path / "x.gif")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--record" in bad.stderr
