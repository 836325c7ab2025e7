"""``semcom eval`` end to end on two small photos, its resume, and its one-line errors."""
from __future__ import annotations

import csv
import json

import pytest

from shared.evaluate.cli import main

# 64x64 photos, WebP (JPEG's own headers outgrow so small a budget) and short LDPC blocks: seconds, not minutes.
SMALL = ["--limit", "2", "--size", "64", "--snr-db", "0,20", "--channel", "awgn",
         "--param", "digital:cbr=0.2", "--param", "digital:codec=webp", "--param", "digital:link.ldpc_k=1024"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    assert main([*SMALL, "--out", str(out)]) == 0
    return out


def test_small_run_writes_every_output(small_run):
    for name in ("results.csv", "results.json", "summary.csv", "rows.jsonl", "run.json",
                 "snr_awgn.png", "contact_awgn.png"):
        assert (small_run / name).stat().st_size > 0, name
    assert not (small_run / "cbr_awgn.png").exists()  # one rate: no rate plot
    with (small_run / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2  # 2 images x 2 SNRs
    doc = json.loads((small_run / "results.json").read_text())
    assert len(doc["rows"]) == 4 and doc["config"]["size"] == 64
    assert "ms_ssim" in doc["unavailable_metrics"]  # 64x64 is below MS-SSIM's minimum size
    for image in ("astronaut", "chelsea"):
        low, high = (next(r for r in doc["rows"] if r["image"] == image and r["snr_db"] == snr) for snr in (0.0, 20.0))
        assert high["decode_ok"] and not low["decode_ok"]
        assert high["psnr_db"] > low["psnr_db"] + 5
        assert high["cbr"] == low["cbr"] > 0 and high["bpp"] > 0 and high["decode_ms"] > 0
        assert {"ssim", "effnet_dist", "semantic_top1", "encode_ms"} <= set(high)


def test_rerun_resumes_without_new_rows_and_refuses_a_changed_config(small_run, capsys):
    before = (small_run / "rows.jsonl").read_text()
    assert main([*SMALL, "--out", str(small_run)]) == 0
    assert (small_run / "rows.jsonl").read_text() == before
    assert "4 already in" in capsys.readouterr().out
    assert main([*SMALL, "--snr-db", "0,10", "--out", str(small_run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("semcom eval: error:") and "snr_db" in err and "--fresh" in err and "\n" not in err


def _exit_code(argv: list[str]) -> int:
    """main's return value, or the status of argparse's own exit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("argv, words", [
    (["--schemes", "nosuch"], "unknown 'nosuch'"),
    (["--channel", "fog"], "unknown 'fog'"),
    (["--snr-db", "20:0:5"], "--snr-db"),
    (["--images", "folder:/no/such/dir"], "folder not found"),
    (["--images", "webcam:0"], "builtin, folder:PATH or corpus:PATH"),
    (["--param", "digital:cbr=0.001", "--limit", "1", "--size", "64"], "raise cbr"),
    (["--param", "digital:cbr=-1"], "cbr"),
    (["--size", "many"], "invalid int"),
    (["--erasure", "2"], "erasure"),
    (["--images", "corpus:{tmp}@nosuchset"], "no validation photo in set 'nosuchset'"),
])
def test_errors_are_one_line_and_exit_2(argv, words, tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert _exit_code([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and words in err and err.startswith("semcom eval: error:")


def test_interrupted_run_resumes_the_missing_rows_with_the_same_results(small_run, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    for name in ("run.json", "rows.jsonl"):
        (out / name).write_bytes((small_run / name).read_bytes())
    lines = (out / "rows.jsonl").read_text().splitlines(keepends=True)
    (out / "rows.jsonl").write_text("".join(lines[:2]) + lines[2][:20])  # killed while writing row 3
    assert main([*SMALL, "--out", str(out)]) == 0
    redone = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    original = [json.loads(line) for line in lines]
    assert [r["key"] for r in redone] == [r["key"] for r in original]
    for new, old in zip(redone[2:], original[2:]):  # seeded by (image, repeat): the same channel, the same result
        assert (new["decode_ok"], new["psnr_db"]) == (old["decode_ok"], old["psnr_db"])


def test_images_named_after_a_synset_are_scored_against_their_true_label(tmp_path):
    import cv2
    import numpy as np

    from shared.metrics.imagenet_label import true_class

    assert true_class("imagenet-sample-n01440764_tench.jpg") == 0 and true_class("n15075141_toilet_tissue.jpg") == 999
    assert true_class("astronaut") is None and true_class("n99999999_nothing.jpg") is None
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("n01443537_goldfish.png", "plain.png"):
        cv2.imwrite(str(photos / name), np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    out = tmp_path / "out"
    assert main([*SMALL, "--images", f"folder:{photos}", "--snr-db", "20", "--out", str(out)]) == 0
    rows = {r["image"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    fish, plain = rows["n01443537_goldfish.png"], rows["plain.png"]
    assert fish["imagenet_top1"] in (0.0, 1.0) and fish["imagenet_top5"] >= fish["imagenet_top1"]
    assert "imagenet_top1" not in plain


def test_a_metric_asked_for_but_not_computable_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEMCOM_HUB_DIR", str(tmp_path / "no-hub"))  # YuNet (psnr_key's key mask) is nowhere
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-cache"))
    argv = ["--schemes", "deepjscc", "--limit", "1", "--size", "64", "--snr-db", "10", "--channel", "awgn"]
    assert main([*argv, "--metric", "psnr_key", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "--metric psnr_key was not computed" in err and "yunet" in err
    assert "--metric psnr_key cannot be computed here" in err  # also said before the runs start
    assert "ms_ssim" not in err  # a default metric's reason stays in results.json only
