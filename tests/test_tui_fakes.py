"""Deterministic stand-ins for the slow core services (model, saliency, simulation), for
the TUI tests: a fixed small CNN graph, fixed CS values, and an analytic network model.

The scenario, QoS, recommendation and report code are the real core ones. Latencies here
are worked out by hand from the scenario so the tests can check the numbers the table
shows: network = sum over the hops edge -> server of (payload * 8 / bitrate + delay);
head = head_flops / edge GFLOP/s; tail = tail_flops / server GFLOP/s.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sei_tui.core.errors import SeiCancelled
from sei_tui.core.evaluation.rows import Row
from sei_tui.tui.services import CoreServices


@dataclass(frozen=True)
class FakeNode:
    name: str
    op: str
    module_path: str
    group: str
    shape: tuple[int, ...]
    flops: int
    target: str = ""

    @property
    def bytes(self) -> int:
        n = 4
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class FakeSplit:
    index: int
    after: str
    payload_bytes: int
    head_flops: int
    tail_flops: int
    single_tensor: bool = True


@dataclass
class FakeGraph:
    name: str
    nodes: list[FakeNode]
    split_points: list[FakeSplit]
    total_flops: int

    @property
    def graph_module(self):
        """The modules the layers run (the shapes and FLOPs of _LAYERS are theirs)."""
        from torch import nn

        return nn.ModuleDict(
            {
                "features": nn.Sequential(
                    nn.Conv2d(3, 16, 3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.Conv2d(16, 32, 3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                ),
                "classifier": nn.Sequential(nn.Linear(2048, 128), nn.ReLU(), nn.Linear(128, 10)),
            }
        )


@dataclass(frozen=True)
class FakeSaliencyPoint:
    index: int
    after: str
    cs: float
    log10_cs: float


@dataclass
class FakeSaliency:
    points: list[FakeSaliencyPoint]
    maxima: list[int]
    per_class: dict = field(default_factory=dict)


# name, op, module path, group, output shape (batch 1), flops
_LAYERS = [
    ("x", "placeholder", "", "", (1, 3, 32, 32), 0),
    ("features_0", "call_module", "features.0", "features", (1, 16, 32, 32), 884_736),
    ("features_1", "call_module", "features.1", "features", (1, 16, 32, 32), 16_384),
    ("features_2", "call_module", "features.2", "features", (1, 16, 16, 16), 16_384),
    ("features_3", "call_module", "features.3", "features", (1, 32, 16, 16), 2_359_296),
    ("features_4", "call_module", "features.4", "features", (1, 32, 16, 16), 8_192),
    ("features_5", "call_module", "features.5", "features", (1, 32, 8, 8), 8_192),
    ("flatten", "call_function", "", "", (1, 2048), 0, "torch.flatten"),
    ("classifier_0", "call_module", "classifier.0", "classifier", (1, 128), 524_288),
    ("classifier_1", "call_module", "classifier.1", "classifier", (1, 128), 128),
    ("classifier_2", "call_module", "classifier.2", "classifier", (1, 10), 2_560),
    ("output", "output", "", "", (1, 10), 0),
]
# features_4 is not a split point here (as inside a residual block): the tree dims it.
_NOT_SPLITS = {"x", "features_4", "output"}
# CS per split point, in split order (log10 maxima at features_1 and classifier_0).
_CS = [1.0e-3, 4.0e-3, 2.0e-3, 1.5e-3, 5.0e-4, 2.5e-4, 6.0e-4, 3.0e-4, 1.0e-4]
ENCODINGS = {"fp32": 1.0, "fp16": 0.5}
ACCURACY = {"fp32": 0.9, "fp16": 0.875}


def fake_graph() -> FakeGraph:
    nodes = [FakeNode(*layer) for layer in _LAYERS]
    total = sum(n.flops for n in nodes)
    splits, head = [], 0
    for node in nodes:
        head += node.flops
        if node.name in _NOT_SPLITS:
            continue
        splits.append(FakeSplit(len(splits), node.name, node.bytes, head, total - head))
    return FakeGraph("tinynet", nodes, splits, total)


def fake_saliency(graph: FakeGraph) -> FakeSaliency:
    import math

    points = [
        FakeSaliencyPoint(sp.index, sp.after, cs, math.log10(cs))
        for sp, cs in zip(graph.split_points, _CS, strict=True)
    ]
    return FakeSaliency(points, maxima=[1, 6])


def network_seconds(scenario, payload_bytes: int, bitrate: float | None = None, loss=0.0) -> float:
    """Store-and-forward of the whole frame over each hop, plus propagation delay;
    `bitrate` replaces every link's, a loss rate p sends each frame 1/(1-p) times."""
    from sei_tui.tui.scenario_edit import edge_to_server_path

    return sum(
        payload_bytes * 8 / (bitrate or link.bitrate_bps) / (1 - loss) + link.delay_s
        for _, link, _ in edge_to_server_path(scenario)
    )


def fake_rows(
    graph: FakeGraph,
    saliency: FakeSaliency | None,
    scenario,
    bitrate: float | None = None,
    loss: float = 0.0,
) -> list[Row]:
    edge = scenario.compute_of(scenario.edge_node())
    server = scenario.compute_of(scenario.server_node())
    edge_rate, server_rate = edge.gflops * 1e9, server.gflops * 1e9
    cs = {p.index: p.cs for p in saliency.points} if saliency else {}
    input_bytes = 3 * 32 * 32  # 8-bit RGB image
    plans = [("local", None, "result", 4, graph.total_flops, 0)]
    plans.append(("remote", None, "raw", input_bytes, 0, graph.total_flops))
    for sp in graph.split_points:
        for encoding, scale in ENCODINGS.items():
            plans.append(
                ("split", sp, encoding, int(sp.payload_bytes * scale), sp.head_flops, sp.tail_flops)
            )
    rows = []
    for strategy, sp, encoding, payload, head_flops, tail_flops in plans:
        head_s, tail_s = head_flops / edge_rate, tail_flops / server_rate
        net = network_seconds(scenario, payload, bitrate, loss)
        rows.append(
            Row(
                strategy=strategy,
                split_index=None if sp is None else sp.index,
                after=None if sp is None else sp.after,
                encoding=encoding,
                payload_bytes=payload,
                head_s=head_s,
                network_p50_s=net,
                network_p95_s=net,
                tail_s=tail_s,
                p50_latency=head_s + net + tail_s,
                p95_latency=head_s + net + tail_s,
                accuracy=ACCURACY.get(encoding, 0.9),
                cs=None if sp is None else cs.get(sp.index),
                edge_flops=head_flops,
                server_flops=tail_flops,
            )
        )
    return rows + two_cut_rows(graph, saliency, scenario, bitrate, loss)


TWO_CUT_ENCODING = "fp16"


def hop_seconds(hops, payload_bytes: int, bitrate: float | None, loss: float) -> float:
    return sum(
        payload_bytes * 8 / (bitrate or link.bitrate_bps) / (1 - loss) + link.delay_s
        for _, link, _ in hops
    )


def two_cut_rows(graph, saliency, scenario, bitrate=None, loss=0.0) -> list[Row]:
    """On a scenario with an edge box (a relay with a compute profile on the path, as the
    built-in three-tier): a split2 row for every pair of split points k1 < k2 in fp16
    (half the fp32 bytes): head to k1 on the device, k1..k2 on the box, the rest on the
    server; each hop store-and-forward over its own links."""
    from sei_tui.core.evaluation.rows import SPLIT2
    from sei_tui.core.evaluation.tiers import edge_box
    from sei_tui.tui.scenario_edit import edge_to_server_path

    box = edge_box(scenario)
    if box is None:
        return []
    path = edge_to_server_path(scenario)
    at_box = next(i for i, (_, _, b) in enumerate(path) if b == box.name) + 1
    first_hops, second_hops = path[:at_box], path[at_box:]
    device, server = scenario.edge_node(), scenario.server_node()
    rate = {n.name: scenario.compute_of(n).gflops * 1e9 for n in (device, box, server)}
    cs = {p.index: p.cs for p in saliency.points} if saliency else {}
    scale = ENCODINGS[TWO_CUT_ENCODING]
    rows = []
    for a in graph.split_points:
        for b in graph.split_points[a.index + 1 :]:
            hop = [int(a.payload_bytes * scale), int(b.payload_bytes * scale)]
            head_s = a.head_flops / rate[device.name]
            middle_s = (b.head_flops - a.head_flops) / rate[box.name]
            tail_s = middle_s + b.tail_flops / rate[server.name]
            net = hop_seconds(first_hops, hop[0], bitrate, loss) + hop_seconds(
                second_hops, hop[1], bitrate, loss
            )
            rows.append(
                Row(
                    strategy=SPLIT2,
                    split_index=a.index,
                    after=a.after,
                    encoding=TWO_CUT_ENCODING,
                    payload_bytes=max(hop),
                    head_s=head_s,
                    network_p50_s=net,
                    network_p95_s=net,
                    tail_s=tail_s,
                    p50_latency=head_s + net + tail_s,
                    p95_latency=head_s + net + tail_s,
                    accuracy=ACCURACY[TWO_CUT_ENCODING],
                    cs=cs.get(a.index),
                    edge_flops=a.head_flops,
                    server_flops=b.tail_flops,
                    cuts=[a.index, b.index],
                    nodes=[device.name, box.name, server.name],
                    hop_payload_bytes=hop,
                    middle_s=middle_s,
                )
            )
    return rows


class FakeServices(CoreServices):
    """Real scenario/QoS/recommendation/report services; fake model, saliency, simulation.

    `row_delay_s` slows the sweep down (one sleep per row) so tests and the benchmark can
    act while it runs; `fail` names services that raise.
    """

    def __init__(
        self,
        row_delay_s: float = 0.0,
        fail: tuple[str, ...] = (),
        with_saliency: bool = True,
    ) -> None:
        super().__init__()
        self.row_delay_s = row_delay_s
        self.fail = fail
        self.with_saliency = with_saliency
        self.evaluations = 0
        self.max_rows: int | None = None  # a later run may bring fewer deployments
        self.evaluated_scenarios: list = []
        self.lock = threading.Lock()

    def _maybe_fail(self, what: str) -> None:
        if what in self.fail:
            raise RuntimeError(f"{what} exploded (injected by the test)")

    def open_model(self, spec, weights, progress, cancel):
        self._maybe_fail("model")
        progress(0.5, "building tinynet")
        return fake_graph()

    def saliency(self, graph, data_dir, progress, cancel):
        self._maybe_fail("saliency")
        if not self.with_saliency:
            return None, "no labelled images"
        return fake_saliency(graph), ""

    def evaluate(self, spec, weights, scenario, data_dir, qos, progress, cancel):
        self._maybe_fail("evaluate")
        with self.lock:
            self.evaluations += 1
            self.evaluated_scenarios.append(scenario)
        graph = fake_graph()
        rows = fake_rows(graph, fake_saliency(graph) if self.with_saliency else None, scenario)
        rows = rows[: self.max_rows]
        for i, row in enumerate(rows, 1):
            if cancel():
                raise SeiCancelled()
            if self.row_delay_s:
                time.sleep(self.row_delay_s)
            if qos is not None:
                row.violations = qos.check(row)
                row.feasible = not row.violations
            progress(i / len(rows), f"row {i}/{len(rows)}")
            yield row

    def sensitivity_sweep(self, spec, weights, scenario, data_dir, qos, axes, progress, cancel):
        """Every grid point ranked by the real core `rank` over the analytic rows there."""
        from sei_tui.core.evaluation.ranking import rank
        from sei_tui.core.evaluation.sweep import SweepPoint, grid

        self._maybe_fail("sweep")
        graph = fake_graph()
        saliency = fake_saliency(graph) if self.with_saliency else None
        points = grid(axes)
        out = []
        for i, values in enumerate(points, 1):
            if cancel():
                raise SeiCancelled()
            if self.row_delay_s:
                time.sleep(self.row_delay_s)
            rows = fake_rows(
                graph, saliency, scenario, values.get("bitrate"), values.get("loss", 0)
            )
            ranking = rank(rows, qos)  # checks the QoS on every row
            out.append(SweepPoint(values, ranking.recommended, ranking.recommendation).to_dict())
            progress(i / len(points), f"point {i}/{len(points)}")
        return out
