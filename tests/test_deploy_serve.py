"""`sei serve` / `sei run` on loopback: answers equal the whole model (fp32) and the
evaluation (int8); bad frames, a client leaving mid-frame and a mismatched manifest close
only their own connection; exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from sei_tui.cli.main import main
from sei_tui.core.deploy import wire
from sei_tui.core.deploy.client import connect, run_frames
from sei_tui.core.deploy.manifest import read_manifest
from sei_tui.core.deploy.predicted import deployment_of, split_evaluation
from sei_tui.core.deploy.server import TailServer
from sei_tui.core.evaluation.encoding import encode_tensors
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import load_model

SPLIT = 20  # demo, after features_19: one (1, 96, 8, 8) tensor


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    for name, split, encoding in (("fp32", SPLIT, "fp32"), ("int8", SPLIT, "int8"),
                                  ("other", 10, "fp32")):  # fmt: skip
        argv = ["export", "demo", "--split", str(split), "--encoding", encoding]
        assert main([*argv, "--out", str(root / name)]) == 0
    return root


@pytest.fixture(scope="module")
def demo():
    loaded = load_model("demo")
    return loaded, analyze_model(loaded)


class Running:
    """A TailServer on port 0 in a thread, its log lines kept."""

    def __init__(self, folder):
        self.lines: list[str] = []
        self.server = TailServer(read_manifest(folder), "127.0.0.1", 0, log=self.lines.append)
        self.port = self.server.address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_log(self, count: int, timeout: float = 10.0) -> list[str]:
        end = time.monotonic() + timeout
        while len(self.lines) < count and time.monotonic() < end:
            time.sleep(0.01)
        return self.lines

    def close(self):
        self.server.stop()
        self.thread.join(5)
        self.server.join()


@pytest.fixture
def fp32_server(exports):
    running = Running(exports / "fp32")
    yield running
    running.close()


def _round_trip(folder, port, loaded, graph, encoding, images=16):
    manifest = read_manifest(folder)
    evaluation = split_evaluation(loaded, graph, SPLIT, encoding, synthetic=images)
    with connect("127.0.0.1", port, manifest) as sock:
        result = run_frames(sock, manifest, evaluation.images, len(evaluation.images))
    return evaluation, result


def test_fp32_answers_equal_the_whole_model_on_every_image(exports, fp32_server, demo):
    evaluation, result = _round_trip(exports / "fp32", fp32_server.port, *demo, "fp32")
    got = [r.top1 for r in result.records]
    assert got == [int(c) for c in evaluation.whole_top1]
    assert [r.image for r in result.records] == list(range(16))
    assert all(r.payload_bytes == 4 + 4 * 96 * 8 * 8 for r in result.records)


def test_int8_answers_equal_the_evaluations_predictions(exports, demo):
    running = Running(exports / "int8")
    try:
        evaluation, result = _round_trip(exports / "int8", running.port, *demo, "int8")
    finally:
        running.close()
    expected = deployment_of(evaluation).lossless_top1
    assert [r.top1 for r in result.records] == [int(c) for c in expected]
    assert all(r.payload_bytes == 4 + 5 + 96 * 8 * 8 for r in result.records)


def _hello_then(port, manifest, payload: bytes, close: bool = True) -> bytes:
    """Say hello, send `payload` raw, and return whatever the server sends back."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    wire.recv_message(sock, {wire.OFFER: wire.MAX_HELLO_BYTES})
    wire.send_message(sock, wire.HELLO, wire.hello_body(manifest))
    wire.recv_message(sock, {wire.WELCOME: wire.MAX_HELLO_BYTES})
    received = b""
    try:  # the server may close before all of it is sent
        sock.sendall(payload)
        if close:
            sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except OSError:
        pass
    sock.close()
    return received


def _good_frame(manifest) -> bytes:
    import torch

    payload = encode_tensors([torch.ones(manifest.shapes[0])], manifest.encoding)
    return wire.frame_body(7, payload)


def _message(kind, body) -> bytes:
    return struct.pack("<IB", len(body) + 1, kind) + body


def _bad_inputs(manifest):
    good = _good_frame(manifest)
    wrong_count = bytearray(good)
    wrong_count[4 + 3] = 2  # the payload header's tensor count
    return {
        "truncated": _message(wire.FRAME, good)[:-100],
        "wrong tensor count": _message(wire.FRAME, bytes(wrong_count)),
        "huge declared size": struct.pack("<IB", 0x7FFFFFFF, wire.FRAME) + good[:64],
        "short payload": _message(wire.FRAME, good[:-4]),
        "unknown type": _message(99, b"x"),
    }


def _assert_serves(port, manifest):
    with connect("127.0.0.1", port, manifest) as sock:
        wire.send_message(sock, wire.FRAME, _good_frame(manifest))
        _, body = wire.recv_message(sock, {wire.ANSWER: wire.answer_limit()})
    answer = wire.parse_answer(body)
    assert answer.frame_id == 7 and len(answer.classes) == 5
    assert abs(sum(answer.probabilities) - 1.0) < 0.2  # top-5 of a softmax: most of the mass


def test_bad_frames_close_only_their_connection(exports, fp32_server):
    manifest = read_manifest(exports / "fp32")
    cases = _bad_inputs(manifest)
    for i, (what, data) in enumerate(cases.items(), 1):
        assert _hello_then(fp32_server.port, manifest, data) == b"", what  # no answer
        lines = fp32_server.wait_for_log(i)
        assert len(lines) == i and "closed" in lines[-1], (what, lines)
        _assert_serves(fp32_server.port, manifest)
    log = "\n".join(fp32_server.lines)
    assert "2 tensors" in log and "at most" in log and "unexpected message type 99" in log


def test_random_bytes_instead_of_a_hello_and_a_client_leaving_mid_frame(exports, fp32_server):
    manifest = read_manifest(exports / "fp32")
    with socket.create_connection(("127.0.0.1", fp32_server.port), timeout=10) as sock:
        sock.sendall(os.urandom(4096))
    fp32_server.wait_for_log(1)
    with connect("127.0.0.1", fp32_server.port, manifest) as sock:
        sock.sendall(_message(wire.FRAME, _good_frame(manifest))[:1000])  # then leaves
    lines = fp32_server.wait_for_log(2)
    assert len(lines) == 2 and all("closed" in line for line in lines), lines
    assert "peer closed the connection after" in lines[1]
    _assert_serves(fp32_server.port, manifest)


def test_a_mismatched_manifest_is_refused_naming_what_differs(exports, fp32_server):
    other = read_manifest(exports / "other")
    with pytest.raises(wire.Mismatch) as refused:
        connect("127.0.0.1", fp32_server.port, other)
    assert "split_index 10 vs 20" in str(refused.value)
    assert "encoding" not in str(refused.value) and "weights_digest" not in str(refused.value)
    (line,) = fp32_server.wait_for_log(1)
    assert "refused" in line and "split_index 10 vs 20" in line
    _assert_serves(fp32_server.port, read_manifest(exports / "fp32"))


def test_sei_run_json_measured_accuracy_equals_the_predicted_row(exports, fp32_server, capsys):
    argv = ["run", str(exports / "fp32"), "--server", f"127.0.0.1:{fp32_server.port}"]
    assert main([*argv, "--synthetic", "16", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("frames", "accuracy", "agreement", "p50_latency", "p95_latency",
                "p99_latency", "parts", "predicted"):  # fmt: skip
        assert key in report, key
    assert report["frames"] == 16
    assert report["accuracy"] == report["predicted"]["accuracy"]
    assert report["agreement"] == 1.0  # fp32: the whole model's answer on every image
    assert report["predicted"]["split_index"] == SPLIT
    assert report["predicted"]["encoding"] == "fp32"
    assert set(report["parts"]) == {"head", "encode", "network_server", "decode", "tail"}
    assert report["p50_latency"] <= report["p95_latency"] <= report["p99_latency"]


def test_sei_run_refused_by_a_mismatched_server_exits_2(exports, fp32_server, capsys):
    argv = ["run", str(exports / "other"), "--server", f"127.0.0.1:{fp32_server.port}"]
    assert main([*argv, "--synthetic", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "refused" in err[-1] and "split_index 10 vs 20" in err[-1]
    assert not any("Traceback" in line for line in err)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--server", "localhost", "--synthetic", "4"], "--server"),
        (["--server", "127.0.0.1:1", "--synthetic", "0"], "--synthetic"),
        (["--server", "127.0.0.1:1", "--synthetic", "4", "--fps", "-1"], "--fps"),
    ],
)
def test_sei_run_bad_input_exits_2(exports, capsys, argv, needle):
    assert main(["run", str(exports / "fp32"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_sei_serve_bad_folder_exits_2(tmp_path, capsys):
    assert main(["serve", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_sei_serve_prints_its_port_and_stops_cleanly(exports, sig, code):
    process = subprocess.Popen(
        [sys.executable, "-m", "sei_tui", "serve", str(exports / "fp32"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("sei serve: listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        _assert_serves(port, read_manifest(exports / "fp32"))
        process.send_signal(sig)
        assert process.wait(timeout=30) == code
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sei_analyze_measure_puts_the_measured_run_next_to_its_row(
    exports, fp32_server, capsys, tmp_path
):
    argv = ["analyze", "--strategies", "split", "--encoding", "fp32", "--synthetic", "16"]
    argv += ["--protocol", "tcp", "--measure", f"127.0.0.1:{fp32_server.port}"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    measured = report["measured"]
    (row,) = [r for r in report["rows"] if r["split_index"] == SPLIT]
    assert measured["predicted"] == row
    assert measured["frames"] == 16 == report["images"]
    assert measured["accuracy"] == row["accuracy"] and measured["agreement"] == 1.0
    out = tmp_path / "r.md"
    assert main([*argv, "--format", "md", "--out", str(out)]) == 0
    assert "### Measured against sei serve" in out.read_text()


def test_sei_analyze_measure_of_another_model_exits_2(tmp_path, fp32_server, capsys):
    argv = ["analyze", "--model", "resnet18", "--input-shape", "3,32,32", "--synthetic", "8"]
    argv += ["--strategies", "local", "--measure", f"127.0.0.1:{fp32_server.port}"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--measure" in err[-1] and "weights_digest" in err[-1]


def test_frames_cycle_over_the_images_and_fps_paces_them(exports, fp32_server):
    import torch

    manifest = read_manifest(exports / "fp32")
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with connect("127.0.0.1", fp32_server.port, manifest) as sock:
        start = time.perf_counter()
        result = run_frames(sock, manifest, images, 7, fps=40.0)
        wall = time.perf_counter() - start
    assert [r.image for r in result.records] == [0, 1, 2, 0, 1, 2, 0]
    assert wall >= 6 / 40.0  # frame i leaves no earlier than i / fps after the first
    by_image = {}
    for r in result.records:
        by_image.setdefault(r.image, set()).add(r.top1)
    assert all(len(v) == 1 for v in by_image.values())  # the same image, the same answer
