"""Compute cost: per-node profiles, their files, and head/tail seconds per split."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from sei_tui.core.errors import SeiInputError
from sei_tui.core.model.compute import ComputeModel
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.profiling import (
    load_profile,
    measure_node_seconds,
    profile_json,
    profile_model,
    save_profile,
)


@dataclass
class Profile:
    """Duck-typed stand-in with the attributes interfaces.md gives ComputeProfile."""

    name: str
    kind: str
    gflops: float | None = None
    profile_path: Path | None = None
    slowdown: float = 1.0


def small_graph(side=16):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()
    return analyze_model(model, (3, side, side), name="small")


@pytest.fixture(scope="module")
def graph():
    return small_graph()


@pytest.fixture(scope="module")
def profile_file(graph, tmp_path_factory):
    path = tmp_path_factory.mktemp("profiles") / "small.json"
    save_profile(profile_model(graph, warmup=1, repeats=3), path)
    return path


def test_estimate_is_flops_over_rate(graph):
    compute = ComputeModel.from_profile(Profile("edge", "gflops", gflops=2.0), graph)
    assert compute.label == "estimated"
    for point in graph.split_points:
        assert compute.head_seconds(point.index) == pytest.approx(point.head_flops / 2e9)
        assert compute.tail_seconds(point.index) == pytest.approx(point.tail_flops / 2e9)
    assert compute.whole_seconds() == pytest.approx(graph.total_flops / 2e9)


def test_scenario_compute_profile_is_accepted(graph):
    from sei_tui.core.network.scenario import ComputeProfile

    compute = ComputeModel.from_profile(ComputeProfile("server", "gflops", gflops=100.0), graph)
    assert compute.whole_seconds() == pytest.approx(graph.total_flops / 1e11)


def test_profile_file_round_trip(graph, profile_file):
    data = json.loads(profile_file.read_text())
    assert data["format"] == "sei-profile" and data["batch"] == 1
    assert data["torch"] == torch.__version__
    assert data["threads"] == torch.get_num_threads()
    assert data["machine"]["cpu_count"] >= 1
    loaded = load_profile(profile_file)
    assert loaded.fingerprint == graph.fingerprint
    assert list(loaded.node_seconds) == [n.name for n in graph.nodes]
    assert all(s >= 0 for s in loaded.node_seconds.values())
    assert loaded.node_seconds[graph.nodes[0].name] == 0.0  # the input placeholder


def test_measured_sums_node_times_and_scales(graph, profile_file):
    times = load_profile(profile_file).node_seconds
    compute = ComputeModel.from_profile(
        Profile("edge", "profile", profile_path=profile_file, slowdown=4.0), graph
    )
    assert compute.label == "measured x4.0"
    for point in graph.split_points:
        head = sum(times[n.name] for n in graph.nodes[: point.position + 1])
        tail = sum(times[n.name] for n in graph.nodes[point.position + 1 :])
        assert compute.head_seconds(point.index) == pytest.approx(4.0 * head)
        assert compute.tail_seconds(point.index) == pytest.approx(4.0 * tail)
    plain = ComputeModel.from_profile(Profile("edge", "profile", profile_path=profile_file), graph)
    assert plain.label == "measured"
    assert plain.whole_seconds() == pytest.approx(sum(times.values()))


def test_profile_of_another_model_is_refused(profile_file):
    other = small_graph(side=24)
    with pytest.raises(SeiInputError, match="fingerprint = .*run `sei profile`"):
        ComputeModel.from_profile(Profile("edge", "profile", profile_path=profile_file), other)


def test_host_measures_now(graph):
    compute = ComputeModel.from_profile(Profile("here", "host", slowdown=2.0), graph)
    assert compute.label == "measured x2.0"
    assert compute.whole_seconds() > 0
    last = len(graph.split_points) - 1
    assert compute.head_seconds(last) + compute.tail_seconds(last) == pytest.approx(
        compute.whole_seconds()
    )


def pause(x):
    time.sleep(PAUSE_S)
    return x


torch.fx.wrap("pause")
PAUSE_S = 0.02


class Pausing(nn.Module):
    def forward(self, x):
        return pause(x * 2) + 1


def test_measurement_attributes_time_to_the_node_that_spends_it():
    graph = analyze_model(Pausing(), (1, 4, 4))
    seconds = measure_node_seconds(graph, warmup=1, repeats=3)
    assert seconds["pause"] >= PAUSE_S  # sleep never returns early
    assert seconds["mul"] < seconds["pause"] and seconds["add"] < seconds["pause"]


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.update(format="other"), "not a sei profile"),
        (lambda d: d.update(version=99), "version = 99"),
        (lambda d: d["nodes"][1].update(seconds=-1), r"nodes\[1\].seconds = -1"),
        (lambda d: d["nodes"][1].update(seconds="fast"), r"nodes\[1\].seconds = 'fast'"),
        (lambda d: d.update(input_shape=[3, 16]), "input_shape"),
        (lambda d: d["nodes"].append(dict(d["nodes"][0])), "duplicated"),
        (lambda d: d.pop("fingerprint"), "fingerprint = None"),
    ],
)
def test_load_profile_validates(profile_file, tmp_path, mutate, match):
    data = json.loads(profile_file.read_text())
    mutate(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(SeiInputError, match=match):
        load_profile(bad)


def test_load_profile_unreadable(tmp_path):
    with pytest.raises(SeiInputError, match="no such profile file"):
        load_profile(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": ')
    with pytest.raises(SeiInputError, match="broken.json: not JSON"):
        load_profile(broken)


def test_profile_json_total_is_the_sum(graph):
    profile = profile_model(graph, warmup=0, repeats=1)
    data = profile_json(profile)
    assert data["total_seconds"] == pytest.approx(sum(n["seconds"] for n in data["nodes"]))


def test_bad_compute_kinds(graph):
    with pytest.raises(SeiInputError, match="gflops = 0"):
        ComputeModel.from_profile(Profile("edge", "gflops", gflops=0.0), graph)
    with pytest.raises(SeiInputError, match="kind = 'magic'"):
        ComputeModel.from_profile(Profile("edge", "magic"), graph)
    with pytest.raises(SeiInputError, match="split index = 99"):
        ComputeModel.from_profile(Profile("edge", "gflops", gflops=1.0), graph).head_seconds(99)
