"""``semcom eval``'s grid (SNR lists, swept scheme parameters, job keys and seeds), its store and its images."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from shared.cli import UsageError
from shared.evaluate.grid import MAX_REPEATS, build_jobs, parse_names, parse_snr_list, scheme_points
from shared.evaluate.images import load_images
from shared.evaluate.store import ConfigMismatch, RunStore


def test_snr_range_includes_stop_and_lists_are_sorted():
    assert parse_snr_list("0:20:5") == [0, 5, 10, 15, 20]
    assert parse_snr_list("0:1:0.25") == [0, 0.25, 0.5, 0.75, 1.0]
    assert parse_snr_list("10,0,5") == [0, 5, 10]
    assert parse_snr_list("-3") == [-3]


@pytest.mark.parametrize("text", ["0:20", "0:20:0", "20:0:5", "a,b", "0:1e6:1", "nan"])
def test_bad_snr_lists_are_refused(text):
    with pytest.raises(UsageError):
        parse_snr_list(text)


def test_names_must_be_known_and_unique():
    assert parse_names("awgn,rayleigh", "channel", ["awgn", "rayleigh"]) == ["awgn", "rayleigh"]
    for bad in ("awgn,awgn", "fog", ""):
        with pytest.raises(UsageError):
            parse_names(bad, "channel", ["awgn", "rayleigh"])


def test_param_sweep_crosses_values_and_labels_swept_keys():
    points = scheme_points(["digital"], ["digital:cbr=0.05,0.1", "link.modulation=qpsk,16qam", "digital:codec=webp"])
    assert [p.label for p in points] == [
        "digital cbr=0.05 link.modulation=qpsk", "digital cbr=0.05 link.modulation=16qam",
        "digital cbr=0.1 link.modulation=qpsk", "digital cbr=0.1 link.modulation=16qam",
    ]
    assert points[0].params["cbr"] == 0.05 and points[0].params["codec"] == "webp"
    assert points[0].params["link"]["modulation"] == "qpsk"
    assert [p.label for p in scheme_points(["digital"], [])] == ["digital"]


@pytest.mark.parametrize("items", [["other:cbr=0.1"], ["cbr"], ["digital:cbr=-1"], ["digital:nope=1"],
                                   ["cbr=0.1", "digital:cbr=0.2"]])
def test_bad_params_are_refused(items):
    with pytest.raises(UsageError):
        scheme_points(["digital"], items)


def test_jobs_have_unique_keys_and_seeds_that_ignore_scheme_channel_and_snr():
    points = scheme_points(["digital"], ["cbr=0.05,0.1"])
    jobs = build_jobs(points, ["awgn", "rayleigh"], [0.0, 10.0], ["a", "b", "c"], repeats=2)
    assert len(jobs) == 2 * 2 * 2 * 3 * 2 == len({j.key for j in jobs})
    seqs = {(j.image, j.repeat): set() for j in jobs}
    for j in jobs:
        seqs[(j.image, j.repeat)].add(j.seq)
    assert all(len(s) == 1 for s in seqs.values())  # common channel draws across points, channels, SNRs
    assert len({next(iter(s)) for s in seqs.values()}) == 6  # distinct per (image, repeat)
    with pytest.raises(UsageError):
        build_jobs(points, ["awgn"], [0.0], ["a"], repeats=MAX_REPEATS + 1)


def test_store_resumes_same_config_and_refuses_another(tmp_path):
    store = RunStore(tmp_path, {"snr_db": [0, 5]})
    store.append({"key": "k1", "psnr_db": 20.0})
    with (tmp_path / "rows.jsonl").open("a") as f:
        f.write('{"key": "k2", "psn')  # an interrupted write
    again = RunStore(tmp_path, {"snr_db": [0, 5]})
    assert list(again.rows) == ["k1"]
    again.append({"key": "k3"})
    assert [json.loads(line)["key"] for line in (tmp_path / "rows.jsonl").read_text().splitlines()] == ["k1", "k3"]
    with pytest.raises(ConfigMismatch, match="snr_db"):
        RunStore(tmp_path, {"snr_db": [0, 10]})
    assert RunStore(tmp_path, {"snr_db": [0, 10]}, fresh=True).rows == {}


def test_store_without_rows_takes_a_new_config(tmp_path):
    RunStore(tmp_path, {"size": 64})
    assert RunStore(tmp_path, {"size": 128}).config == {"size": 128}


def test_folder_images_are_named_by_file_squared_and_limited(tmp_path):
    for i, name in enumerate(["b.png", "a.jpg", "c.png"]):
        cv2.imwrite(str(tmp_path / name), np.full((40, 60, 3), 50 * i, np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    images = load_images(f"folder:{tmp_path}", 32)
    assert list(images) == ["a.jpg", "b.png", "c.png"]
    assert all(img.shape == (32, 32, 3) and img.dtype == np.uint8 for img in images.values())
    assert list(load_images(f"folder:{tmp_path}", 32, limit=1)) == ["a.jpg"]
    with pytest.raises(UsageError):
        load_images("video:x.mp4", 32)
