"""Each stage of the evaluation on its own, against numbers worked out here: the prepared
inputs, the deployments, accuracy under loss, rows from a simulated flow, and the one
place libsim errors and cancellation meet the evaluation."""

import math
import struct
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.core.evaluation import simulation
from sei_tui.core.evaluation.accuracy import EVERYTHING, accuracy_under_loss, frame_loss
from sei_tui.core.evaluation.deployments import Deployment, DeploymentBuilder, candidate_splits
from sei_tui.core.evaluation.encoding import (
    RESULT_BYTES,
    TensorEncoding,
    decode_image,
    decode_tensors,
    encode_tensors,
    parse_input_encoding,
)
from sei_tui.core.evaluation.prepare import prepare_inputs
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.simulation import NetworkPlan, row_from_result
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import LoadedModel
from sei_tui.core.network.scenario import builtin_scenario

IMAGES = 6


def tiny_loaded() -> LoadedModel:
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 5),
    ).eval()
    return LoadedModel("tiny", module, (3, 16, 16), None, "tiny", None, 5, None)


@pytest.fixture(scope="module")
def inputs():
    loaded = tiny_loaded()
    graph = analyze_model(loaded)
    return prepare_inputs(loaded, graph, builtin_scenario("demo"), synthetic=IMAGES, saliency=False)


def test_prepared_inputs_are_the_whole_model_on_the_images(inputs):
    assert tuple(inputs.images.shape) == (IMAGES, 3, 16, 16)
    with torch.inference_mode():
        expected = inputs.loaded.module(inputs.images).argmax(dim=1)
    assert torch.equal(inputs.whole_top1, expected)
    # the synthetic shapes' classes are not the tiny model's 5 unnamed ones: no labels,
    # so accuracy is agreement with the whole model (1.0 for the whole model itself)
    assert not inputs.has_labels and torch.equal(inputs.labels, inputs.whole_top1)
    assert inputs.whole_accuracy == 1.0
    assert inputs.saliency is None and inputs.saliency_error == "" and inputs.cs(0) is None
    assert inputs.model_name == "tiny"


@pytest.fixture(scope="module")
def deployments(inputs):
    encodings = [TensorEncoding("fp32"), TensorEncoding("int8"), TensorEncoding("int8", "zlib")]
    builder = DeploymentBuilder(inputs, encodings, [parse_input_encoding("raw")])
    out = [builder.local(), *builder.remote()]
    candidates = candidate_splits(inputs.graph, None, all_splits=True)
    for group in builder.split_groups(candidates):
        out += builder.splits(group, None, lambda _f, _s: None)
    return out


def test_local_sends_the_result_of_every_image(inputs, deployments):
    local = deployments[0]
    assert local.strategy == "local" and local.payload_bytes == RESULT_BYTES == 13
    assert local.lossless_top1 is inputs.whole_top1
    probabilities = torch.softmax(inputs.whole_logits, dim=1)
    for j, frame in enumerate(local.frames):
        version, index, top1, probability = struct.unpack("<BIIf", frame)
        assert (version, index, top1) == (1, j, int(inputs.whole_top1[j]))
        assert probability == pytest.approx(float(probabilities[j].max()), rel=1e-6)


def test_remote_predicts_on_the_decoded_image(inputs, deployments):
    (remote,) = [d for d in deployments if d.strategy == "remote"]
    assert remote.payload_bytes == 3 + 8 * 3 + 3 * 16 * 16
    decoded = torch.stack([torch.from_numpy(decode_image(f, (3, 16, 16))) for f in remote.frames])
    with torch.inference_mode():
        expected = inputs.loaded.module(decoded).argmax(dim=1)
    assert torch.equal(remote.lossless_top1, expected)


def test_split_deployments_carry_the_head_output_in_each_encoding(inputs, deployments):
    graph = inputs.graph
    splits = [d for d in deployments if d.strategy == "split"]
    assert len(splits) == 3 * len(graph.split_points)
    for d in splits:
        sp = d.split
        elements = sum(math.prod(t.shape) for t in sp.tensors)
        head, tail = graph.split(sp.index)
        with torch.inference_mode():
            payload = list(head(inputs.images))
        if d.encoding == "fp32":
            assert d.payload_bytes == 4 + 4 * elements
            # fp32 is exact: the tail on it is the whole model
            assert torch.equal(d.lossless_top1, inputs.whole_top1)
        if d.encoding == "int8":
            assert d.payload_bytes == 4 + 5 * len(sp.tensors) + elements
        if d.encoding.startswith("int8"):
            # the tail on what a receiver dequantises, image by image
            decoded = [
                decode_tensors(
                    encode_tensors([t[j : j + 1] for t in payload], TensorEncoding("int8")),
                    [(1, *t.shape[1:]) for t in payload],
                )
                for j in range(IMAGES)
            ]
            batch = [
                torch.from_numpy(np.concatenate([x[t] for x in decoded]))
                for t in range(len(payload))
            ]
            with torch.inference_mode():
                assert torch.equal(d.lossless_top1, tail(batch).argmax(dim=1)), d.encoding
        assert len(d.frames) == IMAGES and d.encoded_frames() is d.frames


def fake_deployment(strategy, lossless, frames=None, shapes=(), tail=None):
    return Deployment(
        strategy=strategy,
        encoding="fp32",
        split=None,
        frames=frames,
        shapes=list(shapes),
        payload_bytes=13,
        encode_s=0.001,
        decode_s=0.002,
        head_s=0.01,
        tail_s=0.02,
        edge_flops=0,
        server_flops=0,
        edge_params=0,
        edge_memory_bytes=0,
        cs=None,
        compute="",
        tail=tail,
        lossless_top1=torch.tensor(lossless),
    )


def test_a_lost_local_result_is_a_wrong_answer():
    labels, whole = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 1, 0])
    local = fake_deployment("local", [0, 1, 2, 0])
    # lossless: right on images 0, 1, 2 of 4; agrees with the whole model on 0, 1, 3
    assert accuracy_under_loss(local, None, labels, whole) == (0.75, 0.75)
    # 2 frames, frame 1 lost: images 1 and 3 (j mod 2 == 1) have no answer
    assert accuracy_under_loss(local, [(), EVERYTHING], labels, whole) == (0.5, 0.25)


def test_a_split_reruns_its_tail_on_the_concealed_payload():
    # the payload is the logits themselves (identity tail): one-hot rows of 3 classes
    rows = [np.eye(3, dtype=np.float32)[[c]] for c in (2, 1, 2, 1)]
    frames = [encode_tensors([r], TensorEncoding("fp32")) for r in rows]
    split = fake_deployment("split", [2, 1, 2, 1], frames, [(1, 3)], tail=lambda p: p[0])
    labels = whole = torch.tensor([2, 1, 2, 1])
    # frame 0 (images 0 and 2) loses bytes 12..16: element 2 (bytes 4 + 8..12 of the body)
    # is zeroed, so those rows become all zeros and argmax picks class 0
    losses = [((12, 16),), ()]
    assert accuracy_under_loss(split, losses, labels, whole) == (0.5, 0.5)
    # losing element 0 instead (bytes 4..8) leaves the one-hot class 2 intact
    assert accuracy_under_loss(split, [((4, 8),), ()], labels, whole) == (1.0, 1.0)


def frame(index, latency, complete=True, lost_bytes=0, ranges=()):
    return SimpleNamespace(
        index=index,
        delivered_s=None if latency is None else index + latency,
        latency_s=latency,
        complete=complete,
        lost_bytes=lost_bytes,
        lost_ranges=ranges,
    )


def test_frame_loss_reads_libsim_frames():
    assert frame_loss(frame(0, 0.1)) == ()
    assert frame_loss(frame(0, None, complete=False, lost_bytes=13)) == EVERYTHING
    assert frame_loss(frame(0, 0.1, complete=False, lost_bytes=4, ranges=((2, 6),))) == ((2, 6),)
    assert frame_loss(frame(0, 0.1, complete=False, lost_bytes=4)) == EVERYTHING


def test_row_from_a_flow_adds_fixed_costs_and_marks_lost_frames():
    local = fake_deployment("local", [0, 1, 2])
    flow = SimpleNamespace(
        frames=(frame(0, 0.1), frame(1, 0.3), frame(2, None, complete=False, lost_bytes=13)),
        summary=SimpleNamespace(packets_lost=1, retransmissions=0),
    )
    inputs = SimpleNamespace(labels=torch.tensor([0, 1, 2]), whole_top1=torch.tensor([0, 1, 2]))
    row = row_from_result(local, flow, "udp", inputs, 0.2, parse_qos("accuracy>=0.9"))
    fixed = 0.01 + 0.001 + 0.002 + 0.02
    # nearest rank over [0.1, 0.3, inf]: p50 is the 2nd value, p95 and p99 the 3rd
    assert row.network_p50_s == 0.3 and math.isinf(row.network_p95_s)
    assert row.p50_latency == pytest.approx(fixed + 0.3) and math.isinf(row.p95_latency)
    assert row.deadline_miss == pytest.approx(2 / 3)  # 0.133 s is on time; 0.333 and inf miss
    assert (row.frames, row.frames_complete, row.packets_lost) == (3, 2, 1)
    assert row.accuracy == pytest.approx(2 / 3)  # image 2's result never arrived
    assert row.violations == ["accuracy>=0.9"] and not row.feasible
    # over TCP the same loss costs latency only
    assert row_from_result(local, flow, "tcp", inputs, None, parse_qos("")).accuracy == 1.0


def test_plan_finds_the_edge_to_server_flow():
    plan = NetworkPlan(builtin_scenario("demo"), frames=3, protocol="udp")
    net = plan.network(1000, {"bitrate": 1e6})
    flow = net.flows[plan.flow_index(net)]
    assert (flow.src, flow.dst) == ("camera", "server")
    assert flow.frames == 3 and flow.payload_bytes == 1000 and net.protocol == "udp"
    assert all(link.bitrate_bps == 1e6 for link in net.links)


def test_simulator_errors_and_cancellation(monkeypatch):
    import libsim

    def refuses(nets, processes=None, cancel=None):
        raise libsim.LibsimInputError("queue_packets must be positive", 1)
        yield

    monkeypatch.setattr(libsim, "simulate_many", refuses)
    with pytest.raises(SeiInputError, match="^lab: the simulator refused it: queue_packets"):
        list(simulation.simulate([object()], None, None, "lab"))
    # an error raised because the run was cancelled is a cancellation
    with pytest.raises(SeiCancelled):
        list(simulation.simulate([object()], None, lambda: True, "lab"))

    def interrupted(nets, processes=None, cancel=None):
        raise libsim.LibsimInterrupted("interrupted", 5)
        yield

    monkeypatch.setattr(libsim, "simulate_many", interrupted)
    with pytest.raises(SeiCancelled):
        list(simulation.simulate([object()], None, None, "lab"))

    def fails(nets, processes=None, cancel=None):
        raise libsim.LibsimInternalError("engine failed", 4)
        yield

    # an engine failure is not the user's input: it is not turned into SeiInputError
    monkeypatch.setattr(libsim, "simulate_many", fails)
    with pytest.raises(libsim.LibsimInternalError):
        list(simulation.simulate([object()], None, None, "lab"))

    def stops_early(nets, processes=None, cancel=None):
        yield 0, "first"  # then returns without error, as simulate_many does when cancelled

    monkeypatch.setattr(libsim, "simulate_many", stops_early)
    results = simulation.simulate([object(), object()], None, lambda: True, "lab")
    assert next(results) == (0, "first")
    with pytest.raises(SeiCancelled):
        next(results)
