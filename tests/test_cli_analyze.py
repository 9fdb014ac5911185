"""`sei analyze` from the command line: bad input exits 2 with one clear line."""

import subprocess
import sys

import pytest


def sei(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sei_tui", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--qos", "latency<=0.1"], "--qos: QoS 'latency<=0.1': unknown column 'latency'"),
        (["--qos", "accuracy=>0.9"], "--qos: QoS 'accuracy=>0.9': bad operator '=>'"),
        (["--qos", "accuracy>=lots"], "--qos: QoS 'accuracy>=lots': 'lots' is not a finite"),
        (["--sweep", "bandwidth=1:2:3"], "--sweep: sweep axis 'bandwidth=1:2:3': unknown param"),
        (["--sweep", "bitrate=1e6:1e9"], "'bitrate=1e6:1e9': expected PARAMETER=START:STOP:COUNT"),
        (["--sweep", "fiber.bitrate=1e6:1e7:2"], "--sweep: fiber.bitrate: the scenario "),
        (["--encoding", "int4"], "--encoding: tensor encoding 'int4': expected one of"),
        (["--input-encoding", "png"], "--input-encoding: input encoding 'png': expected raw"),
        (["--input-shape", "3,64"], "--input-shape = 3,64: expected three positive integers"),
        (["--deadline", "-1"], "--deadline = -1: must be a positive duration"),
        (["--frames", "0"], "--frames = 0: must be at least 1"),
    ],
)
def test_bad_input_exits_2_with_a_clear_line(args, fragment):
    out = sei("analyze", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sei analyze: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.slow
def test_json_report_on_the_demo():
    import json

    out = sei(
        "analyze",
        "--format",
        "json",
        "--encoding",
        "fp32,int8",
        "--frames",
        "5",
        "--synthetic",
        "16",
        "--qos",
        "accuracy>=0.5, payload_bytes<=100000",
        "--deadline",
        "50ms",
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["model"] == "demo" and doc["qos"] == "accuracy>=0.5, payload_bytes<=100000"
    rows = doc["rows"]
    assert sorted(r["strategy"] for r in rows if r["strategy"] != "split") == [
        "local",
        "remote",
        "remote",
    ]
    assert {r["encoding"] for r in rows if r["strategy"] == "split"} == {"fp32", "int8"}
    for r in rows:
        assert r["feasible"] == (r["accuracy"] >= 0.5 and r["payload_bytes"] <= 100000)
        assert 0 <= r["deadline_miss"] <= 1

    # rows come in rank order: feasible first, then p95 latency up to the tie tolerance
    # (docs/cli.md: max(3 %, 0.5 ms) of the faster), ties by accuracy down
    def tolerance(p95):
        return max(0.03 * p95, 0.0005) + 1e-12

    feasible_flags = [not r["feasible"] for r in rows]
    assert feasible_flags == sorted(feasible_flags)
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            if a["feasible"] == b["feasible"]:
                assert b["p95_latency"] >= a["p95_latency"] - tolerance(b["p95_latency"])
    feasible = [i for i, r in enumerate(rows) if r["feasible"]]
    fastest = min(rows[i]["p95_latency"] for i in feasible)
    assert doc["recommendation"]["row"] == feasible[0] == 0
    assert rows[0]["p95_latency"] <= fastest + tolerance(fastest)
    tied = [rows[i] for i in feasible if rows[i]["p95_latency"] <= fastest + tolerance(fastest)]
    assert rows[0]["accuracy"] == max(r["accuracy"] for r in tied)
    assert any(r["pareto"] for r in rows)


@pytest.mark.slow
def test_markdown_report_is_also_written_to_out(tmp_path):
    out = sei(
        "analyze",
        "--format",
        "md",
        "--encoding",
        "int8",
        "--frames",
        "3",
        "--synthetic",
        "8",
        "--out",
        str(tmp_path / "report.md"),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("## demo on ")
    assert (tmp_path / "report.md").read_text() == out.stdout
    assert "Recommended: #" in out.stdout


@pytest.mark.slow
def test_user_image_folder_is_matched_to_the_model_classes_by_name(tmp_path):
    import json

    import numpy as np
    from PIL import Image

    from sei_tui.core.data.datasets import SyntheticShapes

    shapes = SyntheticShapes(16, seed=7)
    for i in range(len(shapes)):
        image, label = shapes.raw(i)
        folder = tmp_path / shapes.classes[label]  # sorted folder order != model order
        folder.mkdir(exist_ok=True)
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    out = sei(
        "analyze",
        "--data",
        str(tmp_path),
        "--encoding",
        "fp32",
        "--frames",
        "3",
        "--input-encoding",
        "raw",
        "--format",
        "json",
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["accuracy_kind"] == "labels" and doc["images"] == 16
    local = next(r for r in doc["rows"] if r["strategy"] == "local")
    assert local["strategy"] == "local"
    # the trained demo recognises these shapes; a wrong label order would give ~1/8
    assert local["accuracy"] == doc["whole_accuracy"] >= 0.75


def test_out_that_cannot_be_a_file_is_refused_before_the_run(tmp_path):
    (tmp_path / "plain").write_text("")
    for out_path, fragment in (
        (tmp_path, "is a directory"),
        (tmp_path / "plain" / "deeper" / "r.csv", "plain is not a folder"),
    ):
        out = sei("analyze", "--format", "csv", "--out", str(out_path))
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"sei analyze: error: {out_path}: ")
        assert fragment in lines[0]
        assert out.stdout == ""  # refused up front: no report was computed
    assert [p.name for p in tmp_path.iterdir()] == ["plain"]


def test_input_shape_reaches_the_model(tmp_path):
    import json

    (tmp_path / "tiny.py").write_text(
        "from torch import nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))\n"
    )
    out = sei(
        "analyze",
        "--model",
        f"{tmp_path / 'tiny.py'}:make",
        "--input-shape",
        "3,20,12",
        *("--synthetic", "4", "--frames", "2", "--encoding", "fp32", "--input-encoding", "raw"),
        *("--all-splits", "--format", "json"),
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    (remote,) = [r for r in rows if r["strategy"] == "remote"]
    # raw frame: 3 header bytes, (min, scale) f32 pair per channel, one byte per pixel channel
    assert remote["payload_bytes"] == 3 + 8 * 3 + 3 * 20 * 12
    # fp32 frame of the first conv's output (4 x 20 x 12): 4 header bytes + 4 per element
    conv = [r for r in rows if r["strategy"] == "split" and r["split_index"] == 0]
    assert conv and conv[0]["payload_bytes"] == 4 + 4 * 4 * 20 * 12


def test_scenario_without_compute_profiles_is_exit_2_naming_the_node(tmp_path):
    path = tmp_path / "bare.toml"
    path.write_text(
        'name = "bare"\n[[node]]\nname = "cam"\nrole = "edge"\n[[node]]\nname = "srv"\n'
        'role = "server"\n[[link]]\nname = "l"\nkind = "full_duplex"\nnodes = ["cam", "srv"]\n'
        'bitrate = "100Mbps"\n[[flow]]\nfrom = "cam"\nto = "srv"\nframes = 2\n'
    )
    out = sei("analyze", "--scenario", str(path))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert 'bare.toml: node[0].compute: the edge node "cam" has no compute profile' in lines[0]
