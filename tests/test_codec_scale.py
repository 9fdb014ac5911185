"""Encode and decode on the device that runs them: each compute kind's `host_scale` against
factors worked out by hand, the cached host measurement, the median-of-repeats codec timer,
and deployments/rows carrying host time x scale."""

from __future__ import annotations

import json
import statistics
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from sei_tui.core.evaluation import deployments
from sei_tui.core.evaluation.deployments import (
    TIMED_FRAMES,
    TIMING_REPEATS,
    DeploymentBuilder,
    _timed_map,
)
from sei_tui.core.evaluation.encoding import TensorEncoding, parse_input_encoding
from sei_tui.core.evaluation.prepare import prepare_inputs
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.report import AnalysisReport, render
from sei_tui.core.evaluation.simulation import row_from_result
from sei_tui.core.model import compute
from sei_tui.core.model.compute import ComputeModel
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import LoadedModel
from sei_tui.core.model.profiling import LatencyProfile, save_profile
from sei_tui.core.network.scenario import builtin_scenario


def small_graph():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 4)
    ).eval()
    return analyze_model(model, (3, 8, 8), name="small")


@pytest.fixture(scope="module")
def graph():
    return small_graph()


def profile(kind, **kw):
    return SimpleNamespace(name="node", kind=kind, **kw)


def host_at(monkeypatch, seconds):
    """This machine's whole-model time, injected: (graph) -> seconds."""
    calls = []

    def whole(graph):
        calls.append(graph.fingerprint)
        return seconds

    monkeypatch.setattr(compute, "host_whole_seconds", whole)
    return calls


def test_gflops_scale_is_host_speed_over_node_speed(graph, monkeypatch):
    flops = graph.total_flops
    assert flops > 0
    # this machine runs the model at 40 GFLOP/s; the node is rated 5 GFLOP/s: 8x slower
    host_at(monkeypatch, flops / 40e9)
    node = ComputeModel.from_profile(profile("gflops", gflops=5.0), graph)
    assert node.host_scale == pytest.approx(8.0, rel=1e-12)
    assert node.host_scale_label == "host 40 GFLOP/s -> node 5 GFLOP/s x8"
    fast = ComputeModel.from_profile(profile("gflops", gflops=8000.0), graph)
    assert fast.host_scale == pytest.approx(0.005, rel=1e-12)


def test_host_scale_is_the_slowdown_without_measuring(graph, monkeypatch):
    calls = host_at(monkeypatch, 1.0)
    node = ComputeModel.measured(graph, {n.name: 1e-4 for n in graph.nodes}, slowdown=3.0)
    assert node.kind == "host"
    assert node.host_scale == 3.0 and node.host_scale_label == "host x3"
    plain = ComputeModel.measured(graph, {n.name: 1e-4 for n in graph.nodes})
    assert plain.host_scale == 1.0 and plain.host_scale_label == "host x1"
    assert calls == []  # this machine's own speed needs no comparison


def test_profile_scale_is_the_profile_total_over_this_machine(graph, monkeypatch, tmp_path):
    # a device 2.5x slower than this machine on every node, recorded with slowdown 2 on top
    here = {n.name: 1e-5 * (i + 1) for i, n in enumerate(graph.nodes)}
    host_at(monkeypatch, sum(here.values()))
    recorded = LatencyProfile(
        model="small",
        fingerprint=graph.fingerprint,
        input_shape=tuple(graph.input_shape),
        machine={},
        torch_version=torch.__version__,
        threads=1,
        warmup=0,
        repeats=1,
        node_seconds={name: 2.5 * s for name, s in here.items()},
        created="",
    )
    path = tmp_path / "device.json"
    save_profile(recorded, path)
    node = ComputeModel.from_profile(profile("profile", profile_path=path, slowdown=2.0), graph)
    assert node.host_scale == pytest.approx(5.0, rel=1e-12)
    assert node.host_scale_label == "profile/host x5"


def test_host_whole_time_is_measured_once_on_one_thread_and_cached(graph, monkeypatch, tmp_path):
    monkeypatch.setenv("SEI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(compute, "_HOST_WHOLE_CACHE", {})
    threads = []

    def measure(g, warmup, repeats):
        threads.append(torch.get_num_threads())
        return {n.name: 0.001 for n in g.nodes}

    monkeypatch.setattr("sei_tui.core.model.profiling.measure_node_seconds", measure)
    before = torch.get_num_threads()
    assert compute.host_whole_seconds(graph) == pytest.approx(0.001 * len(graph.nodes))
    assert threads == [1] and torch.get_num_threads() == before
    (entry,) = (tmp_path / "cache" / "host").glob("*.json")
    assert json.loads(entry.read_text())["whole_seconds"] == pytest.approx(0.001 * len(graph.nodes))
    # a new process (empty in-process cache) reads the file instead of measuring
    monkeypatch.setattr(compute, "_HOST_WHOLE_CACHE", {})
    assert compute.host_whole_seconds(graph) == pytest.approx(0.001 * len(graph.nodes))
    assert threads == [1]
    # a damaged entry is measured again
    entry.write_text('{"version": 1, "whole_seconds": "fast"}')
    monkeypatch.setattr(compute, "_HOST_WHOLE_CACHE", {})
    compute.host_whole_seconds(graph)
    assert threads == [1, 1]


def test_codec_timer_is_a_median_of_medians_over_the_first_frames():
    # call k of item i takes durations[i][k] seconds on a scripted clock
    durations = [[0.010, 0.001, 0.002], [0.004, 0.003, 0.050], [0.002, 0.002, 0.002]]
    durations += [[0.001 * (i + 1)] * TIMING_REPEATS for i in range(3, 12)]
    now = [0.0]
    calls = []

    def fn(item):
        calls.append(item)
        now[0] += durations[item][sum(1 for c in calls if c == item) - 1]
        return item * 10

    out, seconds = _timed_map(fn, list(range(12)), clock=lambda: now[0])
    assert out == [i * 10 for i in range(12)]  # every item, once in the output
    # per item medians over its 3 calls: 0.002, 0.004, 0.002, then 0.004 .. 0.008
    per_item = [0.002, 0.004, 0.002] + [0.001 * (i + 1) for i in range(3, TIMED_FRAMES)]
    assert seconds == pytest.approx(statistics.median(per_item))
    assert len(calls) == TIMED_FRAMES * TIMING_REPEATS + (12 - TIMED_FRAMES)
    assert _timed_map(fn, []) == ([], 0.0)


def test_deployments_and_rows_carry_host_time_times_the_node_scales(monkeypatch):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten()).eval()
    module = nn.Sequential(module, nn.Linear(4 * 8 * 8, 3)).eval()
    loaded = LoadedModel("tiny", module, (3, 8, 8), None, "tiny", None, 3, None)
    graph = analyze_model(loaded)
    # this machine at 20 GFLOP/s: the demo's edge (8 GFLOP/s) is 2.5x slower, its server
    # (8100 GFLOP/s) 405x faster
    host_at(monkeypatch, graph.total_flops / 20e9)
    monkeypatch.setattr(deployments, "_timed_map", lambda fn, items: ([fn(x) for x in items], 1e-3))
    inputs = prepare_inputs(loaded, graph, builtin_scenario("demo"), synthetic=4, saliency=False)
    builder = DeploymentBuilder(inputs, [TensorEncoding("fp16")], [parse_input_encoding("raw")])
    built = [builder.local(), *builder.remote()]
    built += builder.splits(graph.split_points[:1], None, lambda _f, _s: None)
    for d in built:
        assert d.encode_s == pytest.approx(1e-3 * 2.5, rel=1e-12), d.strategy
        assert d.decode_s == pytest.approx(1e-3 * 20 / 8100, rel=1e-12) or d.strategy == "local"
        assert (d.encode_scale, d.decode_scale) == pytest.approx((2.5, 20 / 8100), rel=1e-12)
        assert d.codec_scale == (
            "edge host 20 GFLOP/s -> node 8 GFLOP/s x2.5, "
            "server host 20 GFLOP/s -> node 8.1e+03 GFLOP/s x0.00247"
        )
    frame = SimpleNamespace(index=0, delivered_s=0.01, latency_s=0.01, complete=True)
    flow = SimpleNamespace(
        frames=(frame,), summary=SimpleNamespace(packets_lost=0, retransmissions=0)
    )
    split = built[-1]
    row = row_from_result(split, flow, "tcp", inputs, None, parse_qos(""))
    assert (row.encode_scale, row.decode_scale, row.codec_scale) == (
        split.encode_scale,
        split.decode_scale,
        split.codec_scale,
    )
    fixed = split.head_s + 2.5e-3 + 1e-3 * 20 / 8100 + split.tail_s
    assert row.p95_latency == pytest.approx(fixed + 0.01, rel=1e-12)
    report = AnalysisReport("tiny", "demo", "", [row], SimpleNamespace(row=None, why="x"))
    doc = row.to_dict()
    assert doc["encode_scale"] == pytest.approx(2.5) and doc["codec_scale"] == split.codec_scale
    shown = "Encode/decode times measured here, scaled to the nodes: " + split.codec_scale
    assert shown in render(report, "table") and shown in render(report, "md")


def test_the_tui_row_detail_shows_the_scales():
    from sei_tui.core.evaluation.rows import Row
    from sei_tui.tui.widgets.results import detail_text

    row = Row("split", 1, "x", "int8", 10, encode_s=0.002, decode_s=1e-6, p95_latency=0.01)
    plain = detail_text(row, [], None, False, {}).plain
    assert "×" not in plain  # a row without scales (e.g. from an older report) shows none
    row.encode_scale, row.decode_scale, row.codec_scale = 4.0, 0.0025, "edge host x4, ..."
    plain = detail_text(row, [], None, False, {}).plain
    assert "this host's enc ×4 on the edge, dec ×0.0025 on the server" in plain
