"""`semcom train --data folder:PATH|video:PATH`: what the trainers read, and clear errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from shared.cli import UsageError
from shared.training.data import DataSource, load_corpus, parse_data_source


def write_video(path, frames: int) -> None:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 112))
    for i in range(frames):
        out.write(np.full((112, 128, 3), 10 * i, np.uint8))
    out.release()


def test_folder_and_video_sources(tmp_path):
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "a.png"), rng.integers(0, 255, (120, 100, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "tiny.png"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))  # too small to crop
    (tmp_path / "notes.txt").write_text("not an image")
    write_video(tmp_path / "clip.avi", 10)

    folder = parse_data_source(f"folder:{tmp_path}")
    assert folder == DataSource("folder", tmp_path) and str(folder) == f"folder:{tmp_path}"
    images = load_corpus(folder, video_stride=5)
    assert len(images) == 1 + 2  # the photo, frames 0 and 5 of the clip
    assert images[0].shape == (120, 100, 3) and images[0].dtype == np.uint8

    video = parse_data_source(f"video:{tmp_path / 'clip.avi'}")
    assert [f.shape for f in load_corpus(video, video_stride=3)] == [(112, 128, 3)] * 4  # frames 0, 3, 6, 9
    assert parse_data_source(str(tmp_path / "clip.avi")).kind == "video"  # a plain path says what it is
    assert parse_data_source(str(tmp_path)).kind == "folder"


def test_missing_or_empty_sources_are_one_clear_line(tmp_path):
    with pytest.raises(UsageError, match="training folder not found"):
        parse_data_source(f"folder:{tmp_path / 'gone'}")
    with pytest.raises(UsageError, match="training video not found"):
        parse_data_source(f"video:{tmp_path / 'gone.avi'}")
    with pytest.raises(UsageError, match="no training images"):
        load_corpus(parse_data_source(f"folder:{tmp_path}"), 5)


def test_crops_come_from_images_smaller_than_the_crop_too():
    from shared.training.latent import TrainConfig, sample_batch

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)  # a corpus thumbnail below the 96-pixel crop
    big = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    batch = sample_batch([small, big], TrainConfig(batch=16), rng)
    assert batch.shape == (16, 3, 96, 96) and 0 <= float(batch.min()) and float(batch.max()) <= 1
