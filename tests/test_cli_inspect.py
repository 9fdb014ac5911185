"""`sei inspect` and `sei profile` from the command line: JSON contract, tables, exit codes."""

import json
import subprocess
import sys

import pytest
import torch

from sei_tui.cli import main
from sei_tui.core.model.profiling import load_profile

FACTORY = """
from torch import nn

def tiny():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5),
    )

def broken():
    raise RuntimeError("weights server unreachable")
"""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Batch-1 forwards on a shared 2-core machine run faster without intra-op threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def factory_file(tmp_path):
    path = tmp_path / "tinymodel.py"
    path.write_text(FACTORY)
    return path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_json_contract_with_verify(capsys):
    code, out, err = run_cli(
        capsys, "inspect", "squeezenet1_0", "--input-shape", "3,64,64", "--verify", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"] == "squeezenet1_0"
    assert doc["input_shape"] == [3, 64, 64]
    assert {"total_flops", "total_params", "nodes", "split_points"} <= set(doc)
    node_keys = {"name", "op", "module_path", "shape", "bytes", "flops", "params"}
    assert all(node_keys <= set(n) for n in doc["nodes"])
    assert doc["total_flops"] == sum(n["flops"] for n in doc["nodes"])
    split_keys = {
        "index",
        "after",
        "payload_bytes",
        "tensors",
        "single_tensor",
        "head_flops",
        "tail_flops",
        "head_params",
        "verified",
        "max_abs_diff",
    }
    points = doc["split_points"]
    assert points and all(split_keys <= set(s) for s in points)
    assert [s["index"] for s in points] == list(range(len(points)))
    assert all(s["verified"] is True and s["max_abs_diff"] <= 1e-5 for s in points)
    features_0 = next(s for s in points if s["after"] == "features_0")
    # squeezenet1_0: conv 96 x 7x7 stride 2 on 64x64 -> 96 x 29 x 29, float32
    assert features_0["tensors"] == [
        {
            "name": "features_0",
            "shape": [1, 96, 29, 29],
            "dtype": "float32",
            "bytes": 96 * 29 * 29 * 4,
        }
    ]
    assert features_0["payload_bytes"] == 96 * 29 * 29 * 4


def test_inspect_without_verify_leaves_nulls(capsys, factory_file):
    code, out, _ = run_cli(
        capsys, "inspect", f"{factory_file}:tiny", "--input-shape", "3,8,8", "--json"
    )
    assert code == 0
    points = json.loads(out)["split_points"]
    assert all(s["verified"] is None and s["max_abs_diff"] is None for s in points)


def test_inspect_table_for_humans(capsys, factory_file):
    code, out, _ = run_cli(
        capsys, "inspect", f"{factory_file}:tiny", "--input-shape", "3,8,8", "--verify"
    )
    assert code == 0
    assert "tinymodel:tiny" in out
    assert "split points" in out
    assert "max |diff|" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["inspect", "resnet05"], "did you mean resnet50"),
        (["inspect", "resnet18", "--input-shape", "3,8"], "--input-shape = 3,8"),
        (["inspect", "resnet18", "--input-shape", "1,64,64"], "input shape = 1,64,64"),
        (["inspect", "resnet18", "--weights", "/no/such/w.pth"], "no such weights file"),
        (["profile", "resnet18", "--repeats", "0"], "--repeats = 0"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_factory_that_raises_exit_2(capsys, factory_file):
    code, _, err = run_cli(capsys, "inspect", f"{factory_file}:broken")
    assert code == 2
    assert "broken() raised RuntimeError: weights server unreachable" in err
    assert len(err.strip().splitlines()) == 1


def test_truncated_checkpoint_exit_2(capsys, factory_file, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("tinymodel_for_test", factory_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    whole = tmp_path / "tiny.pth"
    torch.save(module.tiny().state_dict(), whole)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole.read_bytes()[:600])
    code, _, err = run_cli(capsys, "inspect", f"{factory_file}:tiny", "--weights", str(cut))
    assert code == 2
    assert "cut.pth: not a readable PyTorch checkpoint" in err
    assert len(err.strip().splitlines()) == 1


def test_profile_writes_a_loadable_file(capsys, factory_file, tmp_path):
    out_file = tmp_path / "edge.json"
    code, out, err = run_cli(
        capsys,
        "profile",
        f"{factory_file}:tiny",
        "--input-shape",
        "3,8,8",
        "--out",
        str(out_file),
        "--repeats",
        "2",
        "--warmup",
        "1",
        "--threads",
        "1",
    )
    assert code == 0, err
    assert "profile written to" in out
    profile = load_profile(out_file)
    assert profile.repeats == 2 and profile.warmup == 1 and profile.threads == 1
    assert profile.model == "tinymodel:tiny"
    code, out, _ = run_cli(
        capsys, "inspect", f"{factory_file}:tiny", "--input-shape", "3,8,8", "--json"
    )
    assert json.loads(out)["fingerprint"] == profile.fingerprint


def test_console_script_end_to_end(factory_file):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sei_tui",
            "inspect",
            f"{factory_file}:tiny",
            "--input-shape",
            "3,8,8",
            "--verify",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert all(s["verified"] for s in json.loads(out.stdout)["split_points"])


def test_profile_out_directory_is_refused_before_measuring(capsys, factory_file, tmp_path):
    code, out, err = run_cli(
        capsys, "profile", f"{factory_file}:tiny", "--input-shape", "3,8,8", "--out", str(tmp_path)
    )
    assert code == 2, err
    assert f"{tmp_path}: is a directory" in err
    assert len(err.strip().splitlines()) == 1
    # refused up front: no progress of a measurement was printed
    assert "profiling" not in err


def test_profile_out_under_a_file_is_one_line(capsys, factory_file, tmp_path):
    blocker = tmp_path / "plain"
    blocker.write_text("x")
    code, _, err = run_cli(
        capsys,
        "profile",
        f"{factory_file}:tiny",
        "--input-shape",
        "3,8,8",
        "--out",
        str(blocker / "edge.json"),
        "--repeats",
        "1",
        "--warmup",
        "0",
    )
    assert code == 2, err
    assert "is not a directory" in err
    assert len(err.strip().splitlines()) == 1
