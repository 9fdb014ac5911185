"""`sei analyze --strategies` with early exits and bottlenecks: bad input is exit 2 with
one line naming the flag, and the demo shows the trade-off the strategies exist for."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def sei(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sei_tui", *args], capture_output=True, text=True, timeout=900
    )


def _refused(out: subprocess.CompletedProcess, fragment: str) -> None:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sei analyze: error: "), out.stderr
    assert fragment in lines[0]
    assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--strategies", "local,exits"], "--strategies: unknown strategy 'exits'"),
        (["--strategies", "early_exit", "--exit-thresholds", "0"], "--exit-thresholds: 0 is"),
        (["--strategies", "early_exit", "--exit-thresholds", "0.5,1.5"], "1.5 is outside (0, 1]"),
        (["--strategies", "early_exit", "--exit-thresholds", "high"], "'high' is not a number"),
        (["--strategies", "bottleneck", "--bottleneck-channels", "0"], "0 must be at least 1"),
        (["--strategies", "all", "--train-images", "4"], "--train-images = 4: too few images"),
        (["--strategies", "all", "--train-epochs", "0"], "--train-epochs = 0: must be at least"),
    ],
)
def test_bad_training_flags_exit_2_before_any_work(args, fragment):
    _refused(sei("analyze", *args), fragment)


@pytest.mark.slow
def test_a_bottleneck_wider_than_the_tensor_is_refused():
    out = sei(
        "analyze", "--strategies", "bottleneck", "--bottleneck-channels", "4,999",
        "--synthetic", "8", "--images", "8",
    )  # fmt: skip
    _refused(out, "--bottleneck-channels: 999 is wider than split")


def _shape_folder(root, count: int, names=None) -> None:
    import numpy as np
    from PIL import Image

    from sei_tui.core.data.datasets import SyntheticShapes

    shapes = SyntheticShapes(count, seed=7)
    for i in range(count):
        image, label = shapes.raw(i)
        folder = root / (names[label % len(names)] if names else shapes.classes[label])
        folder.mkdir(exist_ok=True)
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")


@pytest.mark.slow
def test_too_few_images_left_to_train_on_names_the_flags(tmp_path):
    _shape_folder(tmp_path, 20)
    out = sei("analyze", "--strategies", "early_exit", "--data", str(tmp_path), "--images", "16")
    _refused(out, "--train-images: only 4 images of --data")


@pytest.mark.slow
def test_a_class_with_only_evaluation_images_is_refused(tmp_path):
    _shape_folder(tmp_path, 40)
    # 'bars' (the first folder) keeps one image, image 0, which the evaluation takes
    for extra in sorted((tmp_path / "bars").iterdir())[1:]:
        extra.unlink()
    out = sei("analyze", "--strategies", "early_exit", "--data", str(tmp_path), "--images", "8")
    _refused(out, "no training image of class 'bars'")


@pytest.mark.slow
def test_the_demo_shows_the_trade_off(tmp_path):
    """At least one early exit answers half the images on the device at accuracy >= 0.9,
    and at least one bottleneck at accuracy >= 0.9 sends less than every int8 split row
    at its split point; trained parts can be saved as state dicts."""
    import torch

    out = sei(
        "analyze", "--strategies", "all", "--encoding", "int8,int8+zlib", "--json",
        "--save-adapters", str(tmp_path / "parts"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    exits = [r for r in rows if r["strategy"] == "early_exit"]
    assert any(r["exit_rate"] >= 0.5 and r["accuracy"] >= 0.9 for r in exits)
    for r in exits:
        assert r["train_images"] == 512 and r["eval_images"] == 64
        assert r["exit_threshold"] in (0.5, 0.9, 0.99) and 0 <= r["exit_rate"] <= 1
    int8 = {}
    for r in rows:
        if r["strategy"] == "split" and r["encoding"].startswith("int8"):
            int8.setdefault(r["split_index"], []).append(r["payload_bytes"])
    assert any(
        r["strategy"] == "bottleneck"
        and r["accuracy"] >= 0.9
        and r["payload_bytes"] < min(int8[r["split_index"]])
        for r in rows
    )
    saved = sorted(p.name for p in (tmp_path / "parts").iterdir())
    assert "exit-split18.pt" in saved and any(n.startswith("bottleneck-split") for n in saved)
    state = torch.load(tmp_path / "parts" / "exit-split18.pt", weights_only=True)
    assert set(state) == {"mean", "std", "linear.weight", "linear.bias"}
