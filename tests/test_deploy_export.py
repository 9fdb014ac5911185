"""`sei export`: head and tail load in a process that never imports sei and reproduce the
whole model; the manifest has exactly its documented keys and analyze's payload size."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from sei_tui.cli.main import main
from sei_tui.core.deploy.manifest import MANIFEST_KEYS, OPTIONAL_KEYS, read_manifest
from sei_tui.core.model.loading import load_model

# Runs in a fresh interpreter with only torch importable from sei's point of view.
_PLAIN_TORCH = r"""
import json, sys
import numpy as np
import torch
folder, x_path, out_path = sys.argv[1:4]
manifest = json.load(open(f"{folder}/manifest.json"))
def load(entry):
    path = f"{folder}/{entry['file']}"
    if entry["format"] == "torch.export":
        return torch.export.load(path).module()
    return torch.jit.load(path)
head, tail = load(manifest["head"]), load(manifest["tail"])
x = torch.from_numpy(np.load(x_path, allow_pickle=False))
with torch.no_grad():
    payload = head(x)
    payload = payload if isinstance(payload, tuple) else (payload,)
    assert [list(t.shape) for t in payload] == [t["shape"] for t in manifest["tensors"]]
    logits = tail(*payload)
np.save(out_path, logits.numpy(), allow_pickle=False)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("sei_tui", "libsim"))
print(json.dumps({"leaked": leaked}))
"""


def _export_and_compare(tmp_path, model, split, shape=None, extra=()):
    out = tmp_path / f"{model}-{split}"
    argv = ["export", model, "--split", str(split), "--out", str(out), *extra]
    if shape:
        argv += ["--input-shape", shape]
    assert main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    loaded = load_model(model, input_shape=tuple(manifest["model"]["input_shape"]))
    x = torch.randn(1, *loaded.input_shape, generator=torch.Generator().manual_seed(3))
    np.save(tmp_path / "x.npy", x.numpy(), allow_pickle=False)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", _PLAIN_TORCH, str(out), str(tmp_path / "x.npy"),
         str(tmp_path / "y.npy")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["leaked"] == []
    with torch.no_grad():
        expected = loaded.module(x).numpy()
    got = np.load(tmp_path / "y.npy", allow_pickle=False)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= 1e-5
    return manifest


def test_demo_head_then_tail_in_plain_torch_equals_the_whole_model(tmp_path):
    manifest = _export_and_compare(tmp_path, "demo", 20)
    assert set(manifest) == set(MANIFEST_KEYS) | set(OPTIONAL_KEYS)
    assert manifest["adapters"] is None  # a plain split: no exit, no bottleneck
    assert manifest["head"]["format"] == "torch.export"
    assert manifest["split_index"] == 20 and manifest["encoding"] == "fp32"
    # fp32: 4 header bytes + 4 bytes per element of the one tensor crossing the cut
    (tensor,) = manifest["tensors"]
    assert manifest["payload_bytes"] == 4 + 4 * int(np.prod(tensor["shape"]))
    assert read_manifest(tmp_path / "demo-20").identity["split_index"] == 20


@pytest.mark.slow
def test_resnet18_two_tensor_cut_in_plain_torch_equals_the_whole_model(tmp_path):
    # split 4 (after layer1_0_conv1) carries two tensors: the conv output and the skip
    manifest = _export_and_compare(tmp_path, "resnet18", 4, shape="3,64,64")
    assert len(manifest["tensors"]) == 2
    assert manifest["payload_bytes"] == 4 + 4 * sum(
        int(np.prod(t["shape"])) for t in manifest["tensors"]
    )


def test_payload_bytes_equal_sei_analyze_for_a_compressed_encoding(tmp_path, capsys):
    out = tmp_path / "e"
    assert (
        main(["export", "demo", "--split", "20", "--encoding", "int8+zlib", "--out", str(out)]) == 0
    )
    capsys.readouterr()
    argv = ["analyze", "--strategies", "split", "--encoding", "int8,int8+zlib", "--all-splits"]
    assert main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    figure = {r["encoding"]: r["payload_bytes"] for r in rows if r["split_index"] == 20}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["payload_bytes"] == figure["int8+zlib"]
    assert manifest["payload_bytes"] < figure["int8"]  # compressed, so image-dependent


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--split", "99"], "--split 99"),
        (["--split", "x"], "--split"),
        (["--split", "3", "--encoding", "fp8"], "--encoding"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, needle):
    assert main(["export", "demo", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["export", "demo", "--split", "3", "--out", str(target)]) == 2
    assert "--out" in capsys.readouterr().err


def test_torchscript_fallback_is_said_in_the_manifest_and_loads_in_plain_torch(
    tmp_path, monkeypatch
):
    def refuse(*_args, **_kwargs):
        raise RuntimeError("export refused for this test")

    monkeypatch.setattr(torch.export, "export", refuse)
    manifest = _export_and_compare(tmp_path, "demo", 12)
    for side in ("head", "tail"):
        assert manifest[side]["format"] == "torchscript"
        assert manifest[side]["file"].endswith(".ts")
        assert "export refused" in manifest[side]["fallback_reason"]
