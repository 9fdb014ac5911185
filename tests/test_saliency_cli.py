"""`sei saliency`: JSON shape, indices shared with the model graph, errors as exit 2."""

from __future__ import annotations

import json
import math

import pytest

from sei_tui.cli import main

FACTORY = """
import torch
from torch import nn


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 8)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def make():
    torch.manual_seed(0)
    model = Small()
    with torch.no_grad():
        model.fc.weight.abs_()
    return model
"""


@pytest.fixture
def factory(tmp_path, monkeypatch):
    monkeypatch.setenv("SEI_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "small_model.py"
    path.write_text(FACTORY)
    return f"{path}:make"


def _run_json(capsys, *argv) -> dict:
    assert main(["saliency", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_shape_and_indices_match_the_model_graph(factory, capsys):
    from sei_tui.core.model.graph import analyze_model
    from sei_tui.core.model.loading import load_model

    out = _run_json(capsys, factory, "--synthetic", "16", "--input-shape", "3,32,32", "--per-class")
    graph = analyze_model(load_model(factory, input_shape=(3, 32, 32)))
    assert out["images"] == 16
    assert [p["index"] for p in out["points"]] == [p.index for p in graph.split_points]
    assert [p["after"] for p in out["points"]] == [p.after for p in graph.split_points]
    for p in out["points"]:
        assert p["cs"] >= 0
        if p["cs"] > 0:
            assert p["log10_cs"] == pytest.approx(math.log10(p["cs"]))
        else:
            assert p["log10_cs"] is None
    assert set(out["maxima"]) <= {p["index"] for p in out["points"]}
    assert out["per_class"] and all(len(v) == len(out["points"]) for v in out["per_class"].values())
    assert isinstance(out["wall_s"], float) and out["cached"] is False
    again = _run_json(capsys, factory, "--synthetic", "16", "--input-shape", "3,32,32")
    assert again["cached"] is True and again["per_class"] == {}
    assert [p["cs"] for p in again["points"]] == [p["cs"] for p in out["points"]]


def test_image_folder_with_label_target(factory, capsys, tmp_path):
    import numpy as np
    from PIL import Image

    for k, name in enumerate(["a", "b"]):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(2):
            pixels = np.full((32, 32, 3), 60 * k + 20 * i, dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    out = _run_json(
        capsys,
        factory,
        "--data",
        str(tmp_path / "data"),
        "--input-shape",
        "3,32,32",
        "--target",
        "label",
        "--per-class",
    )
    assert out["images"] == 4 and out["target"] == "label"
    assert out["class_counts"] == {"0": 2, "1": 2}


def test_human_table(factory, capsys):
    assert (
        main(["saliency", factory, "--synthetic", "8", "--input-shape", "3,32,32", "--per-class"])
        == 0
    )
    text = capsys.readouterr().out
    assert "cumulative saliency" in text and "maxima" in text and "curve" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--synthetic", "0"], "--synthetic"),
        (["--synthetic", "x"], "--synthetic"),
        (["--synthetic", "4", "--batch", "0"], "--batch"),
        (["--data", "/nonexistent/folder"], "/nonexistent/folder"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(factory, capsys, argv, message):
    assert main(["saliency", factory, "--input-shape", "3,32,32", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--data", "{tmp}/missing"], "--data = {tmp}/missing: no such directory"),
        (["--data", "{tmp}/file.txt"], "--data = {tmp}/file.txt: not a directory"),
        (
            ["--synthetic", "4", "--input-shape", "3,8"],
            "--input-shape = 3,8: expected three positive integers",
        ),
    ],
)
def test_core_setting_errors_are_said_about_the_flag(tmp_path, capsys, args, line):
    # the core names the setting ("data folder = ..."); the CLI says it about its flag
    (tmp_path / "file.txt").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main(["saliency", "demo", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"sei saliency: error: {line.replace('{tmp}', str(tmp_path))}"), err
    assert len(err.strip().splitlines()) == 1
