"""The server's share of each deployment (`server_params`, `server_memory_bytes`) counted by
hand on an analytic conv/linear model for remote, split, early exit, bottleneck and split2;
the parameters of device, edge box and server add up to the model's (and where they do not:
a parameter used on both sides of a cut); the new columns as QoS bounds."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from test_adapters import _outputs, _split_deployment
from test_tiers import small_graph
from test_tiers_nodes import C1_PARAMS, C2_PARAMS, C3_PARAMS, FC_PARAMS, B, Chain
from torch import nn

from sei_tui.core.adapters.bottleneck import Bottleneck
from sei_tui.core.adapters.deploy import (
    bottleneck_deployments,
    bottleneck_edge_share,
    bottleneck_server_share,
    early_exit_deployment,
)
from sei_tui.core.evaluation.deployments import server_share
from sei_tui.core.evaluation.encoding import parse_tensor_encoding
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.rows import Row
from sei_tui.core.evaluation.tiers import cut_pairs, segment_figures
from sei_tui.core.model.compute import ComputeModel
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import LoadedModel

# Chain (test_tiers_nodes) runs x c1 relu c2 relu_1 c3 relu_2 mean fc, each consuming the
# one before: the live bytes at a node are its input's + its output's (B: one fp32 8x8
# channel; mean gives 2 floats, fc 5).
LIVE = {
    "x": 3 * B,
    "c1": 3 * B + 4 * B,
    "relu": 4 * B + 4 * B,
    "c2": 4 * B + 6 * B,
    "relu_1": 6 * B + 6 * B,
    "c3": 6 * B + 2 * B,
    "relu_2": 2 * B + 2 * B,
    "mean": 2 * B + 4 * 2,
    "fc": 4 * 2 + 4 * 5,
}
ORDER = list(LIVE)
TOTAL_PARAMS = C1_PARAMS + C2_PARAMS + C3_PARAMS + FC_PARAMS
# parameters used after each cut
TAIL_PARAMS = {
    "c1": C2_PARAMS + C3_PARAMS + FC_PARAMS,
    "relu": C2_PARAMS + C3_PARAMS + FC_PARAMS,
    "c2": C3_PARAMS + FC_PARAMS,
    "relu_1": C3_PARAMS + FC_PARAMS,
    "c3": FC_PARAMS,
    "relu_2": FC_PARAMS,
    "mean": FC_PARAMS,
}


def tail_peak(after: str) -> int:
    return max(LIVE[n] for n in ORDER[ORDER.index(after) + 1 :])


@pytest.fixture(scope="module")
def chain():
    torch.manual_seed(0)
    module = Chain().eval()
    return module, analyze_model(module, (3, 8, 8))


def test_remote_and_every_splits_server_are_the_hand_counts(chain):
    _, graph = chain
    assert [n.name for n in graph.nodes] == ORDER
    # remote: every parameter, the peak over the whole model (the decoded image x included)
    assert server_share(graph) == {
        "server_params": TOTAL_PARAMS,
        "server_memory_bytes": 4 * TOTAL_PARAMS + 12 * B,
    }
    assert [sp.after for sp in graph.split_points] == list(TAIL_PARAMS)
    for sp in graph.split_points:
        params = TAIL_PARAMS[sp.after]
        assert server_share(graph, sp) == {
            "server_params": params,
            "server_memory_bytes": 4 * params + tail_peak(sp.after),
        }, sp.after
    # spot checks of the table: the received payload is part of the tail's live bytes
    at = {sp.after: sp for sp in graph.split_points}
    assert server_share(graph, at["c3"])["server_memory_bytes"] == 4 * FC_PARAMS + 4 * B
    assert server_share(graph, at["mean"])["server_memory_bytes"] == 4 * FC_PARAMS + 28


def test_split2s_server_is_the_tail_after_the_second_cut(chain):
    _, graph = chain
    at = {sp.after: sp.index for sp in graph.split_points}
    for first, second in (("c1", "relu_1"), ("relu", "c3"), ("c2", "mean")):
        figures = segment_figures(graph, at[first], at[second])
        params = TAIL_PARAMS[second]
        assert figures["server_params"] == params
        assert figures["server_memory_bytes"] == 4 * params + tail_peak(second)


def test_an_early_exits_server_is_its_splits(chain):
    _, graph = chain
    sp = graph.split_points[3]
    split = replace(_split_deployment(), **server_share(graph, sp))
    exit_ = early_exit_deployment(split, _outputs(), 0.9, 0.0005, 0.0001, 99)
    params = TAIL_PARAMS[sp.after]
    assert (exit_.server_params, exit_.server_memory_bytes) == (
        params,
        4 * params + tail_peak(sp.after),
    )
    # the exit's parameters are the device's
    assert exit_.edge_params == split.edge_params + 12


@pytest.mark.parametrize(
    ("after", "channels", "width", "peak"),
    [
        # after relu: 4 -> 2 channels; the decoder step (4B + 2B) < the tail's 12B
        ("relu", 4, 2, 12 * B),
        # after relu_1: 6 -> 5 channels; the decoder step (6B + 5B) > the tail's 8B
        ("relu_1", 6, 5, 11 * B),
    ],
)
def test_a_bottlenecks_server_holds_the_decoder_and_the_tail(chain, after, channels, width, peak):
    module, graph = chain
    sp = next(s for s in graph.split_points if s.after == after)
    model = Bottleneck("spatial", channels, width)
    decoder_params = width * channels + channels  # Linear(width, channels)
    params = TAIL_PARAMS[after] + decoder_params
    expected = {"server_params": params, "server_memory_bytes": 4 * params + peak}
    assert bottleneck_server_share(graph, sp, model, (channels, 8, 8)) == expected
    # and on the deployments built for it
    head, tail = graph.split(sp.index)
    with torch.inference_mode():
        payload = head(torch.rand(4, 3, 8, 8))[0]
    compute = ComputeModel.estimated(graph, 1.0)
    inputs = SimpleNamespace(
        graph=graph,
        edge_compute=compute,
        server_compute=compute,
        cs=lambda _i: None,
        compute_label="estimated",
    )
    encodings = [parse_tensor_encoding("int8")]
    (deployment,) = bottleneck_deployments(inputs, sp, model, tail, payload, encodings, 0)
    assert deployment.server_params == params
    assert deployment.server_memory_bytes == 4 * params + peak


class Widen(nn.Module):
    """conv 1->16 (1x1) then mean and linear 16->3 on 1x8x8: after the conv the split tensor
    is the largest tensor, so a bottleneck's encoder step outgrows the head's peak."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 1)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


@pytest.mark.parametrize(
    ("module", "image", "after", "channels", "width", "head_params", "peak"),
    [
        # Chain after relu_1: head peak 12B (relu_1's 6B in + 6B out) > encoder 6B + 5B
        (Chain, 3, "relu_1", 6, 5, C1_PARAMS + C2_PARAMS, 12 * B),
        # Widen after conv: head peak B + 16B = 17B < encoder step 16B + 15B = 31B
        (Widen, 1, "conv", 16, 15, 16 + 16, 31 * B),
    ],
)
def test_a_bottlenecks_device_holds_the_encoder_and_the_head(
    module, image, after, channels, width, head_params, peak
):
    torch.manual_seed(0)
    graph = analyze_model(module().eval(), (image, 8, 8))
    sp = next(s for s in graph.split_points if s.after == after)
    model = Bottleneck("spatial", channels, width)
    params = head_params + channels * width + width  # encoder: Linear(channels, width)
    assert bottleneck_edge_share(sp, model, (channels, 8, 8)) == {
        "edge_params": params,
        "edge_memory_bytes": 4 * params + peak,
    }


@pytest.mark.parametrize("seed", range(4))
def test_the_nodes_parameters_add_up_to_the_models(seed):
    """No parameter of these models is used on both sides of a cut: each is counted on
    exactly one node."""
    graph = small_graph(40 + seed)
    total = graph.total_params
    for sp in graph.split_points:
        assert sp.head_params + server_share(graph, sp)["server_params"] == total
    for a, b in cut_pairs(graph.split_points):
        f = segment_figures(graph, a.index, b.index)
        assert f["edge_params"] + f["middle_params"] + f["server_params"] == total


class Tied(nn.Module):
    """One Linear(4, 4) applied twice: its 20 parameters are used at `lin` and at `lin_1`."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.lin = nn.Linear(4, 4)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        x = torch.relu(self.c1(x)).mean(dim=(2, 3))
        x = torch.relu(self.lin(x))
        x = torch.relu(self.lin(x))
        return self.fc(x)


def test_a_parameter_used_on_both_sides_of_a_cut_is_held_by_both_nodes():
    """Each node holds every parameter it uses (a shared one counted on every node its uses
    span), so the sum exceeds the model's by the shared parameters once per extra node."""
    graph = analyze_model(Tied().eval(), (3, 8, 8))
    shared = 4 * 4 + 4
    first, last = graph.node("lin").position, graph.node("lin_1").position
    assert graph.total_params == (4 * 27 + 4) + shared + (4 * 5 + 5)  # counted once
    spanned = 0
    for sp in graph.split_points:
        inside = first <= sp.position < last  # the cut falls between the two uses
        spanned += inside
        extra = shared if inside else 0
        total = sp.head_params + server_share(graph, sp)["server_params"]
        assert total == graph.total_params + extra, sp.after
    assert spanned >= 2  # after lin and after its relu
    for a, b in cut_pairs(graph.split_points):
        f = segment_figures(graph, a.index, b.index)
        # segments the span [first, last] touches, beyond one
        touched = sum(
            lo <= last and first <= hi
            for lo, hi in ((0, a.position), (a.position + 1, b.position), (b.position + 1, 1e9))
        )
        expected = graph.total_params + shared * (touched - 1)
        assert f["edge_params"] + f["middle_params"] + f["server_params"] == expected


def test_the_server_columns_bound_the_rows_of_an_evaluation(chain):
    """Rows of the whole pipeline carry the hand counts (0 on local) and a QoS bound on
    them marks exactly the rows over it."""
    from sei_tui.core.evaluation.engine import Evaluation

    module, _ = chain
    loaded = LoadedModel("chain", module, (3, 8, 8), None, "-", None, 5, None)
    bound = 4 * FC_PARAMS + 4 * B  # the tail after c3
    ev = Evaluation(
        loaded, synthetic=4, encodings=["fp32"], saliency=False, all_splits=True, frames=2,
        strategies=["local", "remote", "split"],
    )  # fmt: skip
    rows = list(ev.rows(qos=f"server_memory_bytes<={bound}", processes=1))
    seen = set()
    for row in rows:
        if row.strategy == "local":
            expected = (0, 0)
        elif row.strategy == "remote":
            expected = (TOTAL_PARAMS, 4 * TOTAL_PARAMS + 12 * B)
        else:
            params = TAIL_PARAMS[row.after]
            expected = (params, 4 * params + tail_peak(row.after))
        assert (row.server_params, row.server_memory_bytes) == expected, row.label
        assert row.feasible == (expected[1] <= bound), row.label
        assert row.to_dict()["server_memory_bytes"] == expected[1]
        seen.add(row.strategy if row.strategy != "split" else row.after)
    assert seen == {"local", "remote", *TAIL_PARAMS}
    feasible = {r.after for r in rows if r.feasible and r.strategy == "split"}
    assert feasible == {"c3", "relu_2", "mean"}
    assert parse_qos("server_params<=15").check(Row("local", None, None, "result", 1)) == []
