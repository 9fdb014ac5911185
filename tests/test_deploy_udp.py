"""`sei run --protocol udp` on loopback: without loss the answers are TCP's; with chunks
dropped by the client's test hook the server's answer is the evaluation's concealed
prediction for the same lost byte ranges (computed through `inference.decode_payload` and
the evaluation's tail); bad datagrams are dropped, a bad frame end closes the connection."""

from __future__ import annotations

import time

import pytest

from sei_tui.cli.main import main
from sei_tui.core.deploy import datagrams, wire
from sei_tui.core.deploy.client import connect, open_datagrams, run_frames
from sei_tui.core.deploy.manifest import read_manifest
from sei_tui.core.deploy.predicted import deployment_of, split_evaluation
from sei_tui.core.deploy.server import TailServer
from sei_tui.core.evaluation.inference import decode_payload, run_tail
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import load_model

SPLIT = 20  # demo, after features_19: one (1, 96, 8, 8) tensor
IMAGES = 12


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    for encoding in ("fp32", "int8", "int8+zlib"):
        argv = ["export", "demo", "--split", str(SPLIT), "--encoding", encoding]
        assert main([*argv, "--out", str(root / encoding)]) == 0
    return root


@pytest.fixture(scope="module")
def evaluations():
    loaded = load_model("demo")
    graph = analyze_model(loaded)
    return {
        e: split_evaluation(loaded, graph, SPLIT, e, synthetic=IMAGES)
        for e in ("fp32", "int8", "int8+zlib")
    }


@pytest.fixture
def server(exports):
    import threading

    started = []

    def start(encoding):
        lines: list[str] = []
        running = TailServer(read_manifest(exports / encoding), log=lines.append)
        thread = threading.Thread(target=running.serve_forever, daemon=True)
        thread.start()
        started.append((running, thread))
        return running, lines

    yield start
    for running, thread in started:
        running.stop()
        thread.join(5)
        running.join()


def _run(folder, port, images, drop=None, tcp=False):
    manifest = read_manifest(folder)
    with connect("127.0.0.1", port, manifest) as sock:
        sender = None if tcp else open_datagrams(sock, drop)
        try:
            return run_frames(sock, manifest, images, len(images), datagrams=sender)
        finally:
            if sender is not None:
                sender.close()


@pytest.mark.parametrize("encoding", ["fp32", "int8"])
def test_udp_without_loss_answers_as_tcp(exports, evaluations, server, encoding):
    running, lines = server(encoding)
    images = evaluations[encoding].images
    udp = _run(exports / encoding, running.address[1], images)
    tcp = _run(exports / encoding, running.address[1], images, tcp=True)
    assert [r.top1 for r in udp.records] == [r.top1 for r in tcp.records]
    expected = deployment_of(evaluations[encoding]).lossless_top1
    assert [r.top1 for r in udp.records] == [int(c) for c in expected]
    assert running.concealed == 0 and not lines


# chunks of 1200 B: int8 frame 4 + 5 + 6144 = 6153 B -> 6 chunks; int8+zlib varies
DROPS = {
    0: {0},  # the header: the frame decodes to zeros
    1: {1, 2, 3},  # the middle of the body
    2: {5},  # the short last chunk
    3: set(range(40)),  # every chunk: nothing arrives, not even the first datagram
    4: {2, 4},
    5: {1, 2, 3, 4},
}


@pytest.mark.parametrize("encoding", ["int8", "int8+zlib"])
def test_dropped_chunks_are_concealed_as_the_evaluation_does(
    exports, evaluations, server, encoding
):
    running, _ = server(encoding)
    evaluation = evaluations[encoding]
    result = _run(
        exports / encoding,
        running.address[1],
        evaluation.images,
        drop=lambda frame_id: DROPS.get(frame_id, ()),
    )
    deployment = deployment_of(evaluation)
    frames = deployment.encoded_frames()
    decoded, hit = [], 0
    for j in range(IMAGES):
        total = len(frames[j])
        count = -(-total // 1200)
        lost = tuple(
            (c * 1200, min((c + 1) * 1200, total)) for c in sorted(DROPS.get(j, ())) if c < count
        )
        hit += bool(lost)
        decoded.append(decode_payload(False, frames[j], deployment.shapes, lost))
    expected = [int(c) for c in run_tail(deployment.tail, decoded, False)]
    got = [r.top1 for r in result.records]
    assert got == expected
    lossless = [int(c) for c in deployment.lossless_top1]
    assert got[6:] == lossless[6:]  # frames with nothing dropped
    assert got[:6] != lossless[:6]  # the concealment changed some answers
    assert running.concealed == hit >= 5


def test_bad_datagrams_are_dropped_and_a_bad_frame_end_closes(exports, evaluations, server):
    running, lines = server("int8")
    manifest = read_manifest(exports / "int8")
    images = evaluations["int8"].images[:2]
    with connect("127.0.0.1", running.address[1], manifest) as sock:
        sender = open_datagrams(sock)
        head = datagrams.DATAGRAM_HEAD
        limit = manifest.max_frame_bytes
        bad = [
            b"\x01\x02",  # shorter than its header
            head.pack(0, 0, limit + 1) + bytes(1200),  # a frame larger than the manifest's
            head.pack(0, 7, 6153) + bytes(1200),  # offset not on a chunk boundary
            head.pack(0, 6000, 6153) + bytes(1200),  # past the frame's end
            head.pack(0, 0, 6153) + bytes(10),  # a short chunk that is not the last
        ]
        for datagram in bad:
            sender.sock.sendto(datagram, sender.address)
        result = run_frames(sock, manifest, images, 2, datagrams=sender)
        sender.close()
    expected = deployment_of(evaluations["int8"]).lossless_top1[:2]
    assert [r.top1 for r in result.records] == [int(c) for c in expected]
    assert running.concealed == 0
    log = "\n".join(lines)
    assert log.count("datagram dropped") == len(bad), log
    assert "shorter than its header" in log and f"at most {limit}" in log
    assert "does not fit" in log
    with connect("127.0.0.1", running.address[1], manifest) as sock:
        open_datagrams(sock).close()
        wire.send_message(sock, wire.FRAME_END, wire.frame_end_body(0, limit + 1))
        sock.settimeout(10)
        assert sock.recv(100) == b""  # closed, no answer
    assert "closed" in lines[-1] and f"declares {limit + 1} bytes" in lines[-1]


def test_chunk_ranges_merge_adjacent_chunks():
    assert datagrams.chunk_ranges(6153, [5, 1, 2]) == ((1200, 3600), (6000, 6153))
    assert datagrams.chunk_ranges(2400, []) == ()
    sizes = [len(d) - 12 for d in datagrams.chunks(3, bytes(2500))]
    assert sizes == [1200, 1200, 100]


def test_sei_run_protocol_udp_json(exports, server, capsys):
    import json

    running, _ = server("fp32")
    argv = ["run", str(exports / "fp32"), "--server", f"127.0.0.1:{running.address[1]}"]
    assert main([*argv, "--synthetic", "8", "--protocol", "udp", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"] == "udp" and report["frames"] == 8
    assert report["agreement"] == 1.0  # fp32 on loopback, nothing lost: the whole model
    end = time.monotonic() + 5  # `served` counts after the answer is sent
    while running.served < 8 and time.monotonic() < end:
        time.sleep(0.01)
    assert running.served == 8 and running.concealed == 0
    with pytest.raises(SystemExit) as bad:  # argparse: one line, exit 2
        main([*argv, "--synthetic", "8", "--protocol", "quic"])
    assert bad.value.code == 2
    assert "--protocol" in capsys.readouterr().err
