"""``semcom inspect``: the panel, the printed budget, the JSON and the one-line errors."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import skimage.data

from shared.inspect import main
from shared.sideinfo.maps import block_any


@pytest.fixture(scope="module")
def astronaut_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def test_inspect_writes_panel_budget_and_json(astronaut_file, tmp_path, capsys):
    out, js = tmp_path / "panel.png", tmp_path / "budget.json"
    assert main([str(astronaut_file), "-o", str(out), "--json", str(js), "--size", "128"]) == 0
    panel = cv2.imread(str(out))
    assert panel is not None and panel.shape[0] > 1000 and panel.shape[1] > 1000
    printed = capsys.readouterr().out
    assert "caption: a photo of" in printed and "total" in printed and "key_latent" in printed
    data = json.loads(js.read_text())
    parts = {r["part"]: r for r in data["budget"]}
    assert set(parts) == {"map", "classes", "mask", "caption", "lowres", "key_latent", "total"}
    assert parts["total"]["bits"] == sum(parts[p]["bits"] for p in ("map", "classes", "mask", "caption", "lowres"))
    assert all(parts[p]["bits"] > 0 for p in ("map", "mask", "caption", "lowres"))
    assert parts["key_latent"]["channel_uses"] > 0  # her face is a key region
    assert set(data["timings_s"]) >= {"segmenter", "key_regions", "captioner", "latent_encode"}


def test_key_latent_cells():
    mask = np.zeros((10, 12), bool)
    mask[0, 0] = mask[9, 11] = True
    cells = block_any(mask, 4)  # padded to 12x12 -> 3x3 cells
    assert cells.shape == (3, 3) and cells.sum() == 2 and cells[0, 0] and cells[2, 2]


@pytest.mark.parametrize("argv, message", [
    (["/no/such/image.png"], "image not found"),
    (["{img}", "--source", "oops"], "--source expects NAME=PATH"),
    (["{img}", "--segmenter", "nope"], "unknown model 'nope'"),
    (["{img}", "--captioner", "regions-slic"], "is a segmenter, not a captioner"),
    (["{img}", "--segmenter", "segformer-b0-ade", "--source", "segformer-b0-ade=/no/dir"], "semcom models fetch"),
])
def test_inspect_errors_are_one_line_exit_2(astronaut_file, capsys, argv, message):
    argv = [a.format(img=astronaut_file) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_models_cli_list_and_fetch(capsys):
    from shared.registry.cli import main as models_main

    assert models_main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("regions-slic", "segformer-b0-ade", "blip-base", "sd-vae", "taesd", "latent-conv-ae"):
        assert name in out
    assert models_main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["role"] for r in rows} == {"segmenter", "key_regions", "captioner", "latent_codec"}
    assert all(r["available"] for r in rows if r["default"])
    assert models_main(["fetch", "regions-slic"]) == 2
    assert "embedded" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        models_main(["frobnicate"])
    assert info.value.code == 2
