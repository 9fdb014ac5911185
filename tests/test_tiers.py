"""Two-cut (split2) deployments: the middle segment, the latency on a chain network worked
out by hand, and the exact search against brute force over every pair of cuts."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
import torch
from torch import nn

from sei_tui.core.evaluation.encoding import parse_tensor_encoding
from sei_tui.core.evaluation.tiers import (
    best_two_cut,
    build_two_cuts,
    cut_pairs,
    edge_box,
    simulate_two_cuts,
    two_cut_top1,
)
from sei_tui.core.model.capture import capture
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.network.builtin import builtin_scenario
from sei_tui.core.network.toml_io import parse_scenario

MTU, IP_UDP, OVERHEAD = 1500, 28, 38
RATES = {"dev": 2.0, "box": 10.0, "srv": 40.0}  # GFLOP/s
LINKS = ((10e6, 0.001), (4e6, 0.003))  # (bit/s, s) device-box, box-server

CHAIN = f"""
name = "chain"
[transport]
protocol = "udp"
mtu = {MTU}
seed = 1
[[node]]
name = "dev"
role = "edge"
compute = "dev"
[[node]]
name = "box"
role = "relay"
compute = "box"
[[node]]
name = "srv"
role = "server"
compute = "srv"
[[link]]
name = "l1"
kind = "full_duplex"
nodes = ["dev", "box"]
bitrate = {LINKS[0][0]}
delay = {LINKS[0][1]}
overhead_bytes = {OVERHEAD}
[[link]]
name = "l2"
kind = "full_duplex"
nodes = ["box", "srv"]
bitrate = {LINKS[1][0]}
delay = {LINKS[1][1]}
overhead_bytes = {OVERHEAD}
[[flow]]
from = "dev"
to = "srv"
frames = 3
fps = 0.5
payload_bytes = 1000
[compute.dev]
gflops = {RATES["dev"]}
[compute.box]
gflops = {RATES["box"]}
[compute.srv]
gflops = {RATES["srv"]}
"""


class SkipNet(nn.Module):
    """A random small DAG: conv blocks, some with a residual skip, some with a side branch
    concatenated back."""

    def __init__(self, seed: int):
        super().__init__()
        rng = random.Random(seed)
        channels = rng.choice([3, 4])
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = nn.ModuleList()
        self.kinds = []
        for _ in range(rng.randint(2, 4)):
            kind = rng.choice(["plain", "residual", "concat"])
            self.kinds.append(kind)
            if kind == "concat":
                self.blocks.append(nn.Conv2d(channels, channels, 3, padding=1))
                channels *= 2
            else:
                self.blocks.append(nn.Conv2d(channels, channels, 3, padding=1))
        self.head = nn.Linear(channels, 5)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        for kind, conv in zip(self.kinds, self.blocks, strict=True):
            y = torch.relu(conv(x))
            if kind == "residual":
                x = x + y
            elif kind == "concat":
                x = torch.cat([x, y], dim=1)
            else:
                x = y
        return self.head(x.mean(dim=(2, 3)))


def small_graph(seed: int):
    torch.manual_seed(seed)
    return analyze_model(SkipNet(seed).eval(), (3, 8, 8))


def udp_hop_seconds(payload: int, bitrate: float, delay: float) -> float:
    """Store and forward over one link: every datagram's bytes plus its IP/UDP and link
    headers at the link rate, then the propagation delay (the last datagram arrives)."""
    datagrams = math.ceil(payload / (MTU - IP_UDP))
    return (payload + datagrams * (IP_UDP + OVERHEAD)) * 8 / bitrate + delay


def frame_bytes(point, encoding: str) -> int:
    """The encoded frame size by the wire format: 4 header bytes, int8 adds 5 per tensor."""
    elements = sum(math.prod(t.shape) for t in point.tensors)
    if encoding == "fp32":
        return 4 + 4 * elements
    return 4 + 5 * len(point.tensors) + elements


def hand_latency(graph, k1: int, k2: int, encoding: str) -> float:
    """Segment compute from per-node FLOPs summed here, plus both hops by hand."""
    p1, p2 = graph.split_points[k1], graph.split_points[k2]
    flops = [n.flops for n in graph.nodes]
    head = sum(flops[: p1.position + 1])
    middle = sum(flops[p1.position + 1 : p2.position + 1])
    tail = sum(flops[p2.position + 1 :])
    compute = (
        head / (RATES["dev"] * 1e9) + middle / (RATES["box"] * 1e9) + tail / (RATES["srv"] * 1e9)
    )
    hop1 = udp_hop_seconds(frame_bytes(p1, encoding), *LINKS[0])
    hop2 = udp_hop_seconds(frame_bytes(p2, encoding), *LINKS[1])
    return compute + hop1 + hop2


def search(graph, candidates, encodings=("fp32",)):
    scenario = parse_scenario(CHAIN)
    images = torch.rand(2, *graph.input_shape)
    deployments = build_two_cuts(
        graph,
        scenario,
        candidates,
        [parse_tensor_encoding(e) for e in encodings],
        images,
        time_codecs=False,
    )
    return list(simulate_two_cuts(deployments, scenario, processes=1))


def test_middle_segment_returns_the_whole_models_tensors_at_the_second_cut():
    for seed in range(3):
        graph = small_graph(seed)
        pairs = cut_pairs(graph.split_points)
        through = set(random.Random(seed).sample(range(len(pairs)), min(4, len(pairs))))
        x = torch.rand(2, *graph.input_shape)
        with torch.inference_mode():
            recorded, expected = capture(
                graph.graph_module, x, keep=lambda _n, v: isinstance(v, torch.Tensor)
            )
            for p, (a, b) in enumerate(pairs):
                middle = graph.middle(a.index, b.index)
                out = middle([recorded[t.name] for t in a.tensors])
                assert len(out) == len(b.tensors)
                for spec, tensor in zip(b.tensors, out, strict=True):
                    assert torch.allclose(tensor, recorded[spec.name], atol=1e-6)
                if p in through:  # head -> middle -> tail, lossless: the whole model's answer
                    top1 = two_cut_top1(graph, x, a.index, b.index, lambda ts: ts)
                    assert torch.equal(top1, expected.argmax(dim=1))


def test_cut_pairs_are_every_ordered_pair():
    graph = small_graph(1)
    n = len(graph.split_points)
    pairs = cut_pairs(list(reversed(graph.split_points)))
    assert [(a.index, b.index) for a, b in pairs] == [
        (i, j) for i in range(n) for j in range(i + 1, n)
    ]
    with pytest.raises(Exception, match=r"cuts = \[2, 1\]"):
        graph.middle(2, 1)


def test_two_cut_latency_on_a_chain_equals_the_hand_sum():
    graph = small_graph(2)
    results = search(graph, graph.split_points)
    n = len(graph.split_points)
    assert len(results) == n * (n - 1) // 2
    for r in results:
        k1, k2 = r.deployment.cuts
        assert r.deployment.nodes == ("dev", "box", "srv")
        assert r.deployment.payload_bytes == tuple(
            frame_bytes(graph.split_points[k], "fp32") for k in (k1, k2)
        )
        expected = hand_latency(graph, k1, k2, "fp32")
        assert len(r.hop1_s) == 3
        assert r.parts.p50_latency == pytest.approx(expected, abs=1e-9)
        assert r.parts.p95_latency == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_brute_force_equals_the_search_on_random_dags(seed):
    graph = small_graph(10 + seed)
    encodings = ("fp32", "int8")
    results = search(graph, graph.split_points, encodings)
    n = len(graph.split_points)
    brute = min(
        hand_latency(graph, i, j, e) for i in range(n) for j in range(i + 1, n) for e in encodings
    )
    best = best_two_cut(results)
    assert best.parts.p50_latency == pytest.approx(brute, abs=1e-9)
    k1, k2 = best.deployment.cuts
    assert hand_latency(graph, k1, k2, best.deployment.encoding) == pytest.approx(brute, abs=1e-9)


def test_three_tier_has_an_edge_box_and_plain_scenarios_do_not():
    assert edge_box(builtin_scenario("three-tier")).name == "edgebox"
    for name in ("demo", "lan", "lte", "four-cameras"):
        assert edge_box(builtin_scenario(name)) is None
        graph = small_graph(0)
        assert (
            build_two_cuts(
                graph,
                builtin_scenario(name),
                graph.split_points,
                [parse_tensor_encoding("fp32")],
                torch.rand(1, 3, 8, 8),
            )
            == []
        )


def test_accuracy_goes_through_both_re_encodings():
    from sei_tui.core.evaluation.tiers import hop_roundtrip

    graph = small_graph(3)
    x = torch.rand(3, *graph.input_shape)
    with torch.inference_mode():
        recorded, expected = capture(
            graph.graph_module, x, keep=lambda _n, v: isinstance(v, torch.Tensor)
        )
    a, b = graph.split_points[1], graph.split_points[-2]
    lossless = two_cut_top1(
        graph, x, a.index, b.index, hop_roundtrip(parse_tensor_encoding("fp32"))
    )
    assert torch.equal(lossless, expected.argmax(dim=1))
    # int8: each value within half a quantisation step, (max - min) / 255 / 2, per image
    int8 = hop_roundtrip(parse_tensor_encoding("int8"))
    tensors = [recorded[t.name] for t in a.tensors]
    for original, received in zip(tensors, int8(tensors), strict=True):
        for j in range(len(x)):
            step = float(original[j].max() - original[j].min()) / 255
            assert float((original[j] - received[j]).abs().max()) <= step / 2 + 1e-6
    # the int8 answer is the tail of the middle of what the box received, re-encoded
    seen = []

    def spy(ts):
        out = int8(ts)
        seen.append(out)
        return out

    top1 = two_cut_top1(graph, x, a.index, b.index, spy)
    assert len(seen) == 2  # both hops re-encoded
    with torch.inference_mode():
        _, tail = graph.split(b.index)
        assert torch.equal(top1, tail(seen[1]).argmax(dim=1))
        middle_out = graph.middle(a.index, b.index)(seen[0])
    for hop2_in, out in zip(int8(list(middle_out)), seen[1], strict=True):
        assert torch.equal(hop2_in, out)


def test_split2_rows_of_an_evaluation_on_the_chain(tmp_path):
    """Evaluation on a scenario with an edge box: split2 rows with the documented keys, their
    latency the hand sum, ranked by p95 among the others; CSV carries the hop lists."""
    import csv
    import io

    from sei_tui.core.evaluation.engine import Evaluation
    from sei_tui.core.evaluation.ranking import rank, tie_tolerance
    from sei_tui.core.evaluation.report import to_csv
    from sei_tui.core.model.loading import LoadedModel

    torch.manual_seed(2)
    loaded = LoadedModel("skipnet", SkipNet(2).eval(), (3, 8, 8), None, "-", None, 5, None)
    path = tmp_path / "chain.toml"
    path.write_text(CHAIN)
    ev = Evaluation(
        loaded,
        scenario=str(path),
        synthetic=4,
        encodings=["fp32"],
        saliency=False,
        all_splits=True,
    )
    ev.prepare()
    # the hand sum has no codec wall times
    ev.two_cuts = [replace(d, encode_s=(0.0, 0.0), decode_s=(0.0, 0.0)) for d in ev.two_cuts]
    rows = list(ev.rows(processes=1))
    split2 = [r for r in rows if r.strategy == "split2"]
    assert split2
    g = ev.graph
    for r in split2:
        k1, k2 = r.cuts
        assert isinstance(r.cuts, list) and k1 < k2 and r.split_index == k1
        assert r.nodes == ["dev", "box", "srv"]
        hops = [frame_bytes(g.split_points[k], "fp32") for k in (k1, k2)]
        assert r.hop_payload_bytes == hops and r.payload_bytes == max(hops)
        d = r.to_dict()
        assert d["encoding"] == ["fp32", "fp32"] and d["payload_bytes"] == hops
        assert d["cuts"] == [k1, k2] and d["nodes"] == ["dev", "box", "srv"]
        assert r.p95_latency == pytest.approx(hand_latency(g, k1, k2, "fp32"), abs=1e-9)
        assert r.label == f"2-cut {k1}|{k2} fp32"
    ranking = rank(rows)
    assert ranking.recommended in ranking.rows
    p95 = [r.p95_latency for r in ranking.rows]
    for i, a in enumerate(p95):  # no row ranks after one slower by more than the tolerance
        for b in p95[i + 1 :]:
            assert b >= a - tie_tolerance(b) - 1e-12
    table = list(csv.DictReader(io.StringIO(to_csv(ranking.rows))))
    row = next(t for t in table if t["strategy"] == "split2")
    first = next(r for r in ranking.rows if r.strategy == "split2")
    assert row["encoding"] == "fp32|fp32"
    assert row["payload_bytes"] == "|".join(str(b) for b in first.hop_payload_bytes)
    assert row["cuts"] == f"{first.cuts[0]}|{first.cuts[1]}"
    assert row["nodes"] == "dev|box|srv"


def test_split2_table_and_markdown_cells_carry_the_hops():
    from sei_tui.core.evaluation.report import table_cells
    from sei_tui.core.evaluation.rows import Row

    row = Row("split2", 3, "conv", "int8", 2000, cuts=[3, 12], hop_payload_bytes=[2000, 500])
    cells = table_cells(0, row)
    assert cells[1:4] == ("2-cut 3|12", "int8|int8", "2.0 kB|500 B")
    assert row.to_dict()["encoding"] == ["int8", "int8"]
    plain = Row("split", 3, "conv", "int8", 2000)
    assert table_cells(0, plain)[2] == "int8" and plain.to_dict()["payload_bytes"] == 2000


def test_undominated_never_drops_the_best_split2_row_under_any_latency_limit():
    from sei_tui.core.evaluation.ranking import rank
    from sei_tui.core.evaluation.rows import Row
    from sei_tui.core.evaluation.tiers import undominated

    rng = random.Random(4)
    rows = []
    for k1 in range(6):
        for k2 in range(k1 + 1, 7):
            p95 = rng.choice([0.01, 0.02, 0.03, 0.05])
            rows.append(
                Row("split2", k1, "x", "int8", rng.choice([100, 200]), p95_latency=p95,
                    p50_latency=p95, p99_latency=p95, mean_latency=p95,
                    accuracy=rng.choice([0.5, 0.75, 1.0]), cuts=[k1, k2])
            )  # fmt: skip
    kept = undominated(rows)
    assert 0 < len(kept) < len(rows)
    for qos in ("", "p95_latency<=0.02", "payload_bytes<=100", "accuracy>=0.75"):
        full, short = rank(rows, qos), rank(kept, qos)
        assert (full.recommended is None) == (short.recommended is None)
        if full.recommended is not None:
            assert short.recommended is full.recommended


@pytest.mark.parametrize("seed", range(4))
def test_undominated_keeps_every_row_a_per_node_or_energy_bound_may_recommend(seed):
    """Rows differing in the edge box's memory and FLOPs, the server's FLOPs, parameters and
    memory, and energy too:
    under bounds on any of them, and ranked by energy, the pruned list recommends the row
    the full list does."""
    from sei_tui.core.evaluation.ranking import rank
    from sei_tui.core.evaluation.rows import Row
    from sei_tui.core.evaluation.tiers import undominated

    rng = random.Random(seed)
    rows = []
    for k1 in range(6):
        for k2 in range(k1 + 1, 7):
            p95 = rng.choice([0.01, 0.02, 0.03])
            row = Row(
                "split2", k1, "x", "int8", 100, p95_latency=p95, p50_latency=p95,
                p99_latency=p95, mean_latency=p95, accuracy=rng.choice([0.75, 1.0]),
                cuts=[k1, k2], middle_memory_bytes=rng.choice([1000, 2000, 4000]),
                middle_flops=rng.choice([10, 20]), server_flops=rng.choice([5, 50]),
                server_params=rng.choice([7, 70]),
                server_memory_bytes=rng.choice([3000, 6000, 9000]),
            )  # fmt: skip
            row.edge_energy_j = rng.choice([0.01, 0.02, 0.04, None])
            row.total_energy_j = rng.choice([0.1, 0.3])
            rows.append(row)
    kept = undominated(rows)
    assert 0 < len(kept) < len(rows)
    bounds = (
        "",
        "middle_memory_bytes<=1000",
        "middle_memory_bytes<=2000, p95_latency<=0.02",
        "middle_flops<=10",
        "server_flops<=5, accuracy>=1",
        "edge_energy_j<=0.01",
        "total_energy_j<=0.1, middle_memory_bytes<=2000",
        "server_memory_bytes<=3000",
        "server_memory_bytes<=6000, p95_latency<=0.02",
        "server_params<=7",
        "server_params<=7, middle_flops<=10, server_memory_bytes<=6000",
    )
    for qos in bounds:
        for objective in ("latency", "energy"):
            full = rank(rows, qos, objective=objective)
            short = rank(kept, qos, objective=objective)
            assert (full.recommended is None) == (short.recommended is None), qos
            if full.recommended is not None:
                assert short.recommended is full.recommended, (qos, objective)


def _dominates_by_definition(b, a) -> bool:
    """The documented rule written out pairwise (docs/cli.md, "Two cuts"): b no worse on
    every `_LOWER` column and on accuracy and agreement (None/NaN worst), feasible when a
    is, and earlier in canonical order."""
    import math

    from sei_tui.core.evaluation.ranking import canonical_key
    from sei_tui.core.evaluation.tiers import _LOWER

    def lower(x):
        return math.inf if x is None or x != x else x

    def higher(x):
        return -math.inf if x is None or x != x else x

    return (
        all(lower(getattr(b, c)) <= lower(getattr(a, c)) for c in _LOWER)
        and higher(b.accuracy) >= higher(a.accuracy)
        and higher(b.agreement) >= higher(a.agreement)
        and bool(b.violations) <= bool(a.violations)
        and canonical_key(b) < canonical_key(a)
    )


def test_undominated_keeps_the_rows_no_other_dominates_by_definition():
    """tiers.undominated (numpy) keeps exactly the rows the pairwise definition keeps, in
    order, on random split2 rows with ties, None and NaN in the compared columns and
    violations."""
    import math

    import numpy as np

    from sei_tui.core.evaluation.rows import Row
    from sei_tui.core.evaluation.tiers import _LOWER, undominated

    rng = np.random.default_rng(11)
    pruned = 0
    for _ in range(30):
        rows = []
        for _ in range(int(rng.integers(2, 40))):
            k1 = int(rng.integers(0, 5))
            row = Row("split2", k1, "x", str(rng.choice(["int8", "fp16"])), 0)
            row.cuts = [k1, k1 + 1 + int(rng.integers(0, 3))]
            for c in _LOWER:
                value = [1, 2, 3, None, math.nan, math.inf][int(rng.integers(0, 6))]
                setattr(row, c, value if c != "payload_bytes" or value is not None else 0)
            row.accuracy = [0.5, 1.0, None, math.nan][int(rng.integers(0, 4))]
            row.agreement = [0.5, 1.0, None][int(rng.integers(0, 3))]
            row.violations = ["p95_latency"] if rng.random() < 0.3 else []
            rows.append(row)
        expected = [
            a for a in rows if not any(_dominates_by_definition(b, a) for b in rows if b is not a)
        ]
        assert [id(r) for r in undominated(rows)] == [id(r) for r in expected]
        pruned += len(rows) - len(expected)
    assert pruned > 0
