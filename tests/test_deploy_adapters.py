"""`sei export --early-exit / --bottleneck`: the programs load in plain torch and equal the
model with its exit or bottleneck; the payload is the bottleneck's code; early-exit
decisions on loopback are the evaluation's; a client and a server with different parts
are refused at connect time on both sides; sizes equal sei analyze's rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from test_deploy_serve import Running  # a TailServer in a thread, its log kept

from sei_tui.cli.main import main
from sei_tui.core.deploy import wire
from sei_tui.core.deploy.client import connect
from sei_tui.core.deploy.manifest import read_manifest
from sei_tui.core.evaluation.encoding import encode_tensors
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import load_model

EXIT_SPLIT, TAU = 18, 0.9  # demo, after features_17: (1, 96, 8, 8)
BN_SPLIT, WIDTH = 8, 8  # demo, after features_7: (1, 32, 16, 16) -> code (1, 8, 16, 16)
TRAIN = ["--synthetic", "16", "--train-images", "32"]  # exits: 30 epochs (cheap)
BN_TRAIN = [*TRAIN, "--train-epochs", "2"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Exits and bottlenecks trained by sei export (as analyze trains them), then the same
    parts re-exported from their files in other encodings."""
    root = tmp_path_factory.mktemp("adapted")
    runs = {
        "exit": ["--split", str(EXIT_SPLIT), "--early-exit", str(TAU), *TRAIN],
        "bn": ["--split", str(BN_SPLIT), "--bottleneck", str(WIDTH), *BN_TRAIN],
        "plain8": ["--split", str(BN_SPLIT)],
        "exit-seed1": [*["--split", str(EXIT_SPLIT), "--early-exit", str(TAU)], *TRAIN,
                       "--train-seed", "1"],
    }  # fmt: skip
    for name, argv in runs.items():
        assert main(["export", "demo", *argv, "--out", str(root / name)]) == 0
    adapters = root / "bn" / f"bottleneck-split{BN_SPLIT}-c{WIDTH}.pt"
    argv = ["--split", str(BN_SPLIT), "--bottleneck", str(WIDTH), "--adapters", str(adapters)]
    assert main(["export", "demo", *argv, "--encoding", "int8", "--out", str(root / "bn8")]) == 0
    exit_file = root / "exit" / f"exit-split{EXIT_SPLIT}.pt"
    argv = ["--split", str(EXIT_SPLIT), "--early-exit", str(TAU), "--adapters", str(exit_file)]
    assert main(["export", "demo", *argv, "--encoding", "int8", "--out", str(root / "exit8")]) == 0
    return root


@pytest.fixture(scope="module")
def demo():
    loaded = load_model("demo")
    return loaded, analyze_model(loaded)


@pytest.fixture
def serving(exports):
    started = []

    def start(name):
        started.append(Running(exports / name))
        return started[-1]

    yield start
    for running in started:
        running.close()


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


# Runs in a fresh interpreter that never imports sei.
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
out = {}
with torch.no_grad():
    got = head(x)
    got = got if isinstance(got, tuple) else (got,)
    if (manifest["adapters"] or {}).get("kind") == "early_exit":
        out["probabilities"], got = got[0].numpy(), got[1:]
    assert [list(t.shape) for t in got] == [t["shape"] for t in manifest["tensors"]]
    out["payload"] = got[0].numpy()
    out["logits"] = tail(*got).numpy()
np.savez(out_path, **out)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("sei_tui", "libsim"))
print(json.dumps({"leaked": leaked}))
"""


def _plain_torch(tmp_path, folder, x):
    np.save(tmp_path / "x.npy", x.numpy(), allow_pickle=False)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", _PLAIN_TORCH, str(folder), str(tmp_path / "x.npy"),
         str(tmp_path / "y.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["leaked"] == []
    return dict(np.load(tmp_path / "y.npz", allow_pickle=False))


def _bottleneck_reference(graph, state, x):
    """The split's head, a 1x1 encoder/decoder written out from the state, the tail."""
    head, tail = graph.split(BN_SPLIT)
    with torch.no_grad():
        (t,) = head(x)
        code = torch.einsum("bchw,kc->bkhw", t, state["encoder.weight"])
        code = code + state["encoder.bias"][None, :, None, None]
        restored = torch.einsum("bkhw,ck->bchw", code, state["decoder.weight"])
        restored = restored + state["decoder.bias"][None, :, None, None]
        return code, tail([restored])


def _exit_probabilities(graph, state, images):
    """The exit's softmax per image, from its state: average over H, W, standardise, linear."""
    head, _ = graph.split(EXIT_SPLIT)
    out = []
    with torch.no_grad():
        for j in range(len(images)):
            (t,) = head(images[j : j + 1])
            pooled = (t.mean(dim=(2, 3)) - state["mean"]) / state["std"]
            logits = pooled @ state["linear.weight"].T + state["linear.bias"]
            out.append(torch.softmax(logits, dim=1)[0])
    return torch.stack(out)


def test_bottleneck_programs_in_plain_torch_equal_the_model_with_its_bottleneck(
    tmp_path, exports, demo
):
    loaded, graph = demo
    folder = exports / "bn"
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["adapters"]
    assert entry["kind"] == "bottleneck" and entry["width"] == WIDTH and entry["channels"] == 32
    assert manifest["tensors"][0]["shape"] == [1, WIDTH, 16, 16]  # the code travels
    assert manifest["payload_bytes"] == 4 + 4 * WIDTH * 16 * 16  # fp32 header + code
    state = _state(folder / entry["file"])
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    got = _plain_torch(tmp_path, folder, x)
    code, logits = _bottleneck_reference(graph, state, x)
    assert float(np.abs(got["payload"] - code.numpy()).max()) <= 1e-5
    assert float(np.abs(got["logits"] - logits.numpy()).max()) <= 1e-5


def test_early_exit_head_returns_the_exits_probabilities_then_the_split_tensor(
    tmp_path, exports, demo
):
    loaded, graph = demo
    folder = exports / "exit"
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["adapters"]
    assert entry["kind"] == "early_exit" and entry["threshold"] == TAU
    assert manifest["tensors"][0]["shape"] == [1, 96, 8, 8]  # the split's own tensor
    assert manifest["payload_bytes"] == 4 + 4 * 96 * 8 * 8
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    got = _plain_torch(tmp_path, folder, x)
    expected = _exit_probabilities(graph, _state(folder / entry["file"]), x)
    assert float(np.abs(got["probabilities"] - expected.numpy()).max()) <= 1e-5
    with torch.no_grad():
        whole = loaded.module(x).numpy()
    assert float(np.abs(got["logits"] - whole).max()) <= 1e-5  # the tail: the plain split's


def test_the_manifest_digest_is_the_sha256_of_the_adapter_state(exports):
    import hashlib

    for name in ("exit", "bn", "bn8"):
        entry = json.loads((exports / name / "manifest.json").read_text())["adapters"]
        h = hashlib.sha256()
        for key, tensor in _state(exports / name / entry["file"]).items():
            h.update(key.encode() + str(tensor.dtype).encode() + repr(tuple(tensor.shape)).encode())
            h.update(tensor.contiguous().numpy().tobytes())
        assert entry["digest"] == h.hexdigest(), name
    same = [json.loads((exports / n / "manifest.json").read_text()) for n in ("bn", "bn8")]
    assert same[0]["adapters"]["digest"] == same[1]["adapters"]["digest"]  # one part, 2 files


def test_early_exit_decisions_on_loopback_are_the_evaluations_per_image(
    exports, serving, demo, capsys
):
    from sei_tui.core.deploy.adapters import adapter_of_manifest
    from sei_tui.core.deploy.predicted import adapter_evaluation, deployment_of

    loaded, graph = demo
    for name in ("exit", "exit8"):
        running = serving(name)
        argv = ["run", str(exports / name), "--server", f"127.0.0.1:{running.port}"]
        assert main([*argv, "--synthetic", "16", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        manifest = read_manifest(exports / name)
        adapter = adapter_of_manifest(manifest, graph, 8)
        evaluation = adapter_evaluation(loaded, graph, adapter, manifest.encoding.name,
                                        synthetic=16)  # fmt: skip
        deployment = deployment_of(evaluation, "early_exit")
        # independent: the exit's softmax written out from its state, image by image
        probabilities = _exit_probabilities(
            graph, _state(adapter_path(exports, name)), evaluation.images
        )
        confidence = probabilities.max(dim=1).values
        assert float((confidence - TAU).abs().min()) > 1e-5  # no image on the threshold
        decisions = [bool(c >= TAU) for c in confidence]
        assert report["exited"] == decisions == list(deployment.exited), name
        assert 0 < sum(decisions) < 16  # both paths taken
        assert report["early_exit_frames"] == sum(decisions)
        assert report["exit_rate"] == report["predicted"]["exit_rate"] == sum(decisions) / 16
        exit_top1 = probabilities.argmax(dim=1)
        for j, exited in enumerate(decisions):
            if exited:
                assert report["top1"][j] == int(exit_top1[j])
        assert report["top1"] == [int(c) for c in deployment.lossless_top1]
        assert report["accuracy"] == report["predicted"]["accuracy"]
        assert report["predicted"]["strategy"] == "early_exit"
        assert report["predicted"]["exit_threshold"] == TAU
        end = time.monotonic() + 5  # the server counts a frame just after answering it
        while running.server.served < 16 - sum(decisions) and time.monotonic() < end:
            time.sleep(0.01)
        assert running.server.served == 16 - sum(decisions)  # exited frames were never sent
        assert report["parts"]["head"] > 0 and report["parts"]["tail"] > 0


def adapter_path(exports, name):
    entry = json.loads((exports / name / "manifest.json").read_text())["adapters"]
    return exports / name / entry["file"]


def test_bottleneck_on_loopback_answers_as_the_model_with_its_bottleneck(
    exports, serving, demo, capsys
):
    from sei_tui.core.deploy.adapters import adapter_of_manifest
    from sei_tui.core.deploy.predicted import adapter_evaluation, deployment_of

    loaded, graph = demo
    for name, frame in (("bn", 4 + 4 * WIDTH * 16 * 16), ("bn8", 4 + 5 + WIDTH * 16 * 16)):
        running = serving(name)
        argv = ["run", str(exports / name), "--server", f"127.0.0.1:{running.port}"]
        assert main([*argv, "--synthetic", "16", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["payload_bytes"] == frame == report["predicted"]["payload_bytes"]
        assert report["accuracy"] == report["predicted"]["accuracy"]
        assert report["predicted"]["strategy"] == "bottleneck"
        assert report["predicted"]["bottleneck_channels"] == WIDTH
        assert report["early_exit_frames"] == 0 and report["exit_rate"] is None
        manifest = read_manifest(exports / name)
        adapter = adapter_of_manifest(manifest, graph, 8)
        evaluation = adapter_evaluation(loaded, graph, adapter, manifest.encoding.name,
                                        synthetic=16)  # fmt: skip
        if name == "bn":  # fp32: the model with its bottleneck, image by image
            state = _state(adapter_path(exports, name))
            expected = [int(_bottleneck_reference(graph, state, evaluation.images[j : j + 1])[1]
                            .argmax()) for j in range(16)]  # fmt: skip
        else:  # int8: the evaluation's predictions
            expected = [int(c) for c in deployment_of(evaluation, "bottleneck").lossless_top1]
        assert report["top1"] == expected


def test_the_server_limits_frames_to_the_bottleneck_code(exports, serving):
    running = serving("bn")
    manifest = read_manifest(exports / "bn")
    assert wire.frame_limit(manifest) == 4 + 4 + 4 * WIDTH * 16 * 16  # id + header + code
    uncoded = encode_tensors([torch.ones(1, 32, 16, 16)], manifest.encoding)
    with connect("127.0.0.1", running.port, manifest) as sock:
        wire.send_message(sock, wire.FRAME, wire.frame_body(1, uncoded))
        with pytest.raises((wire.WireError, OSError)):  # closed, maybe reset
            wire.recv_message(sock, {wire.ANSWER: wire.answer_limit()})
    (line,) = running.wait_for_log(1)
    assert "closed" in line and f"at most {4 + 4 + 4 * WIDTH * 16 * 16}" in line
    with connect("127.0.0.1", running.port, manifest) as sock:  # still serving
        code = encode_tensors([torch.ones(1, WIDTH, 16, 16)], manifest.encoding)
        wire.send_message(sock, wire.FRAME, wire.frame_body(2, code))
        _, body = wire.recv_message(sock, {wire.ANSWER: wire.answer_limit()})
    assert wire.parse_answer(body).frame_id == 2


@pytest.mark.parametrize(
    "client, server, needle",
    [
        ("exit-seed1", "exit", "adapters_digest"),  # the same split, another exit
        ("plain8", "bn", "adapters None vs 'bottleneck'"),  # no bottleneck on the device
    ],
)
def test_different_adapters_are_refused_at_connect_time_on_both_sides(
    exports, serving, capsys, client, server, needle
):
    running = serving(server)
    with pytest.raises(wire.Mismatch) as refused:
        connect("127.0.0.1", running.port, read_manifest(exports / client))
    assert needle in str(refused.value)
    assert "split_index" not in str(refused.value) and "encoding" not in str(refused.value)
    (line,) = running.wait_for_log(1)
    assert "refused" in line and needle in line
    argv = ["run", str(exports / client), "--server", f"127.0.0.1:{running.port}"]
    assert main([*argv, "--synthetic", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "refused" in err[-1] and needle in err[-1]
    assert not any("Traceback" in e for e in err)
    # the server keeps serving its own deployment
    manifest = read_manifest(exports / server)
    with connect("127.0.0.1", running.port, manifest) as sock:
        payload = encode_tensors([torch.ones(manifest.shapes[0])], manifest.encoding)
        wire.send_message(sock, wire.FRAME, wire.frame_body(3, payload))
        _, body = wire.recv_message(sock, {wire.ANSWER: wire.answer_limit()})
    assert wire.parse_answer(body).frame_id == 3


def test_a_client_that_predates_adapters_is_refused_by_an_adapter_server(exports, serving):
    import socket

    running = serving("bn")
    identity = {k: v for k, v in read_manifest(exports / "plain8").identity.items()
                if not k.startswith("adapters")}  # fmt: skip
    hello = json.dumps({"magic": wire.MAGIC, "protocol": wire.PROTOCOL_VERSION, **identity})
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        wire.recv_message(sock, {wire.OFFER: wire.MAX_HELLO_BYTES})
        wire.send_message(sock, wire.HELLO, hello.encode())
        kind, body = wire.recv_message(sock, {wire.REFUSE: wire.MAX_HELLO_BYTES})
    assert "adapters None vs 'bottleneck'" in body.decode()


def test_sei_analyze_measure_refuses_an_adapter_server(exports, serving, capsys):
    running = serving("bn")
    argv = ["analyze", "--strategies", "local", "--synthetic", "4"]
    assert main([*argv, "--measure", f"127.0.0.1:{running.port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--measure" in err[-1] and "sei run" in err[-1]


def test_sei_run_refuses_an_adapter_file_that_is_not_the_manifests(exports, tmp_path, capsys):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(exports / "exit", folder)
    entry = json.loads((folder / "manifest.json").read_text())["adapters"]
    shutil.copy(adapter_path(exports, "exit-seed1"), folder / entry["file"])
    assert main(["run", str(folder), "--server", "127.0.0.1:1", "--synthetic", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "digest" in err[-1] and "manifest" in err[-1] and "Traceback" not in "".join(err)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--split", "8", "--adapters", "x.pt"], "--adapters"),
        (["--split", "8", "--early-exit", "1.5"], "--early-exit"),
        (["--split", "8", "--bottleneck", "64"], "--bottleneck 64"),
        (["--split", "8", "--bottleneck", "0"], "--bottleneck"),
        (["--split", "8", "--train-epochs", "2"], "--train-epochs"),
        (["--split", "8", "--bottleneck", "8", "--adapters", "missing.pt"], "no such file"),
    ],
)
def test_bad_adapter_flags_are_one_line_and_exit_2(tmp_path, capsys, argv, needle):
    code = main(["export", "demo", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err.splitlines()[-1], err


def test_early_exit_and_bottleneck_together_are_a_usage_error(tmp_path, capsys):
    argv = ["export", "demo", "--split", "8", "--early-exit", "0.5", "--bottleneck", "4"]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--out", str(tmp_path / "o")])
    assert stopped.value.code == 2
    assert "not allowed with argument --early-exit" in capsys.readouterr().err


def test_adapters_of_the_wrong_kind_or_size_or_not_a_state_dict_are_refused(
    exports, tmp_path, capsys
):
    exit_file = adapter_path(exports, "exit")
    cases = [
        (["--split", "8", "--bottleneck", "8", "--adapters", str(exit_file)], "not a bottleneck"),
        (["--split", "8", "--early-exit", "0.9", "--adapters", str(exit_file)], "features"),
        (["--split", str(BN_SPLIT), "--bottleneck", "4", "--adapters",
          str(adapter_path(exports, "bn"))], "width 8, not 4"),
    ]  # fmt: skip
    pickled = tmp_path / "pickled.pt"
    torch.save({"encoder.weight": torch.ones(1), "other": threading.Lock}, pickled)
    cases.append(
        (["--split", "8", "--bottleneck", "8", "--adapters", str(pickled)], "not a state-dict")
    )
    for argv, needle in cases:
        assert main(["export", "demo", *argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err


@pytest.mark.slow
def test_export_matches_sei_analyze_parts_rows_and_payloads(tmp_path, capsys):
    """sei analyze trains, saves and rows the parts; export from its folder (and export
    training by itself) gives the same parts, analyze's payload figure and its rows."""
    saved = tmp_path / "saved"
    argv = ["analyze", "--strategies", "early_exit,bottleneck", "--encoding", "fp32,int8+zlib",
            "--exit-thresholds", str(TAU), "--bottleneck-channels", str(WIDTH), "--protocol",
            "tcp", *TRAIN, "--save-adapters", str(saved), "--json"]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]

    def row(strategy, split, encoding):
        (r,) = [r for r in rows if (r["strategy"], r["split_index"], r["encoding"])
                == (strategy, split, encoding)]  # fmt: skip
        return r

    for encoding in ("fp32", "int8+zlib"):
        out = tmp_path / f"bn-{encoding}"
        argv = ["--split", str(BN_SPLIT), "--bottleneck", str(WIDTH), "--adapters", str(saved)]
        assert main(["export", "demo", *argv, "--encoding", encoding, "--out", str(out),
                     "--synthetic", "16"]) == 0  # fmt: skip
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["payload_bytes"] == row("bottleneck", BN_SPLIT, encoding)["payload_bytes"]
    trained = tmp_path / "trained"
    argv = ["--split", str(EXIT_SPLIT), "--early-exit", str(TAU), *TRAIN]
    assert main(["export", "demo", *argv, "--out", str(trained)]) == 0
    capsys.readouterr()
    mine = _state(trained / f"exit-split{EXIT_SPLIT}.pt")
    theirs = _state(saved / f"exit-split{EXIT_SPLIT}.pt")
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    running = Running(trained)
    try:
        argv = ["run", str(trained), "--server", f"127.0.0.1:{running.port}"]
        assert main([*argv, "--synthetic", "16", "--json"]) == 0
    finally:
        running.close()
    predicted = json.loads(capsys.readouterr().out)["predicted"]
    expected = row("early_exit", EXIT_SPLIT, "fp32")
    for key in ("accuracy", "agreement", "exit_rate", "exit_threshold", "payload_bytes",
                "frames", "train_images", "eval_images", "edge_flops", "server_flops"):  # fmt: skip
        assert predicted[key] == expected[key], key


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"digest": "xyz"}, "adapters: digest"),
        ({"kind": "dropout"}, "adapters: expected null or an object"),
        ({"threshold": 1.5}, "adapters: threshold"),
        ({"file": "../elsewhere.pt"}, "adapters: file"),
    ],
)
def test_a_manifest_with_a_bad_adapters_entry_is_refused(exports, tmp_path, capsys, change, needle):
    import shutil

    folder = tmp_path / "bad"
    shutil.copytree(exports / "exit", folder)
    document = json.loads((folder / "manifest.json").read_text())
    document["adapters"].update(change)
    (folder / "manifest.json").write_text(json.dumps(document))
    assert main(["serve", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
