"""Two-cut (`split2`) deployments: device -> edge box -> server.

A scenario whose edge -> server path crosses a relay with a compute profile (an *edge
box*) allows deployments with two cuts k1 < k2 among the candidate split points: the head
(up to k1) runs on the device, the middle segment (k1 to k2, `ModelGraph.middle`) on the
edge box, the tail on the server. Each hop carries its own payload in the same encoding.

The search is exact: `cut_pairs` lists every pair of candidates and every pair is
simulated (no heuristic, no pruning); `best_two_cut` is the minimum over all of them.

Latency of frame i:
    head (device) + encode + hop1_i + decode + middle (edge box) + encode + hop2_i
    + decode + tail (server)
with hop1_i and hop2_i read off ONE simulation of the whole network in which the edge
-> server flow is replaced by two flows, device -> edge box (per-frame hop-1 sizes) and
edge box -> server (per-frame hop-2 sizes), so both share links and queues with each other
and with the scenario's other flows. Approximation: libsim starts every flow's frames on
its own schedule (frame i at i / fps), so hop 2's frame i is sent at i / fps rather than
when hop 1's frame i has arrived and been processed; each hop's own network time is taken
from its own send time (see docs/cli.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.inference import Cancel
from sei_tui.core.evaluation.latency import LatencyParts, latency_parts

__all__ = [
    "TwoCut",
    "TwoCutResult",
    "best_two_cut",
    "build_two_cuts",
    "cut_pairs",
    "edge_box",
    "hop_roundtrip",
    "hop_frame_seconds",
    "simulate_two_cuts",
    "two_cut_network",
    "two_cut_results",
    "two_cut_row",
    "undominated",
    "two_cut_top1",
]


def edge_box(scenario: Any) -> Any | None:
    """The first relay with a compute profile on the edge -> server route, or None (the
    scenario then has no split2 deployments)."""
    edge, server = scenario.edge_node().name, scenario.server_node().name
    for name in (scenario.route(edge, server) or [])[1:-1]:
        node = scenario.node(name)
        if node.role == "relay" and node.compute is not None:
            return node
    return None


def cut_pairs(candidates: Sequence[Any]) -> list[tuple[Any, Any]]:
    """Every pair (a, b) of candidate split points with a.index < b.index: the exact
    search space, n (n - 1) / 2 pairs for n candidates."""
    points = sorted(candidates, key=lambda sp: sp.index)
    return [(a, b) for i, a in enumerate(points) for b in points[i + 1 :]]


@dataclass(frozen=True)
class TwoCut:
    """One split2 deployment before the network: cuts, the node of each segment, the
    encoding of both hops, each hop's per-frame sizes and the fixed per-frame costs."""

    cuts: tuple[int, int]
    nodes: tuple[str, str, str]  # device, edge box, server
    encoding: str  # the same on both hops
    hop_sizes: tuple[tuple[int, ...], tuple[int, ...]]  # per-image frame sizes per hop
    head_s: float
    middle_s: float
    tail_s: float
    encode_s: tuple[float, float] = (0.0, 0.0)  # hop 1 on the device, hop 2 on the box
    decode_s: tuple[float, float] = (0.0, 0.0)  # hop 1 on the box, hop 2 on the server

    @property
    def fixed_s(self) -> float:
        """Compute, encode and decode time of one frame (everything but the network)."""
        return self.head_s + self.middle_s + self.tail_s + sum(self.encode_s) + sum(self.decode_s)

    @property
    def payload_bytes(self) -> tuple[int, int]:
        """Each hop's mean frame size, rounded up (a `split2` row's per-hop list)."""
        return tuple(math.ceil(sum(s) / len(s)) for s in self.hop_sizes)  # type: ignore[return-value]


@dataclass(frozen=True)
class TwoCutResult:
    deployment: TwoCut
    hop1_s: tuple[float | None, ...]  # per frame; None: never arrived whole
    hop2_s: tuple[float | None, ...]
    parts: LatencyParts
    packets_lost: int = 0  # both hops' flows
    retransmissions: int = 0
    flows: tuple[Any, ...] = ()  # the hop flows' libsim FlowResults (hop 1, hop 2)
    protocol: str = ""  # the simulated transport: "udp" frames may arrive damaged

    def frame_losses(self) -> tuple[list, list] | None:
        """Each hop's lost byte ranges per frame (accuracy.frame_loss) when the transport
        is UDP and some frame lost bytes; None: every frame arrived whole as far as the
        decoders see (TCP repairs its losses)."""
        from sei_tui.core.evaluation.accuracy import frame_loss

        if self.protocol != "udp" or len(self.flows) != 2:
            return None
        hops = tuple([frame_loss(f) for f in flow.frames] for flow in self.flows)
        return hops if any(any(hop) for hop in hops) else None  # type: ignore[return-value]


def _sizes(sizes: Sequence[int]) -> int | list[int]:
    sizes = [int(s) for s in sizes]
    return sizes[0] if len(set(sizes)) == 1 else sizes


def two_cut_network(
    scenario: Any,
    box: str,
    hop1: Sequence[int],
    hop2: Sequence[int],
    frames: int | None = None,
    protocol: str | None = None,
) -> tuple[Any, int]:
    """The scenario's network with its edge -> server flow replaced by device -> `box`
    (frame f carrying hop1[f mod len]) and `box` -> server (hop2[f mod len]), at the flow's
    frame count and rate; the other flows carry hop1's sizes as `simulation` sends one
    payload on every flow. Returns (NetworkSpec, index of the hop-1 flow; hop 2 follows)."""
    from libsim.spec import FlowSpec

    net = scenario.to_network(
        payload_bytes=_sizes(hop1), frames=frames, protocol=protocol, cycle=True
    )
    edge, server = scenario.edge_node().name, scenario.server_node().name
    index = next((i for i, f in enumerate(net.flows) if f.src == edge and f.dst == server), None)
    if index is None:
        raise SeiInputError(f"{scenario.label}: flow: no flow from {edge!r} to {server!r}")
    flow = net.flows[index]
    sizes2 = _sizes(hop2)
    if isinstance(sizes2, list):  # frame f carries image f mod n's payload
        sizes2 = [sizes2[f % len(sizes2)] for f in range(flow.frames)]
    first = replace(flow, dst=box)
    second = FlowSpec(box, server, flow.frames, flow.fps, sizes2)
    flows = (*net.flows[:index], first, second, *net.flows[index + 1 :])
    return replace(net, flows=flows), index


def hop_frame_seconds(flow: Any) -> tuple[float | None, ...]:
    """Each frame's network time on one hop (libsim FlowResult); None: never delivered."""
    return tuple(f.latency_s if f.delivered_s is not None else None for f in flow.frames)


def _frame_network_s(hop1: Sequence[float | None], hop2: Sequence[float | None]) -> list:
    return [None if a is None or b is None else a + b for a, b in zip(hop1, hop2, strict=True)]


def simulate_two_cuts(
    deployments: Sequence[TwoCut],
    scenario: Any,
    frames: int | None = None,
    protocol: str | None = None,
    deadline: float | None = None,
    processes: int | None = None,
    cancel: Cancel | None = None,
    overrides: dict[str, float] | None = None,
) -> Iterator[TwoCutResult]:
    """Every deployment's frames over the network (with the swept link parameters
    `overrides`, as `simulation.apply_overrides`), one simulation per distinct pair of hop
    sizes (parallel worker processes), as simulations finish."""
    from sei_tui.core.evaluation.simulation import apply_overrides, simulate

    by_sizes: dict[tuple, list[TwoCut]] = {}
    for d in deployments:
        by_sizes.setdefault(d.hop_sizes, []).append(d)
    keys = list(by_sizes)
    nets = []
    for hop1, hop2 in keys:
        box = by_sizes[hop1, hop2][0].nodes[1]
        net, index = two_cut_network(scenario, box, hop1, hop2, frames, protocol)
        nets.append((apply_overrides(net, overrides or {}), index))
    for i, sim in simulate([n for n, _ in nets], processes, cancel, scenario.name):
        net, index = nets[i]
        yield from two_cut_results(by_sizes[keys[i]], sim, index, net.protocol, deadline)


def two_cut_results(
    deployments: Sequence[TwoCut], sim: Any, index: int, protocol: str, deadline: float | None
) -> Iterator[TwoCutResult]:
    """The results of `deployments` (all with the same hop sizes) read off one simulation
    `sim` of their `two_cut_network` (hop 1 is flow `index`, hop 2 the next)."""
    hop1 = hop_frame_seconds(sim.flows[index])
    hop2 = hop_frame_seconds(sim.flows[index + 1])
    network_s = _frame_network_s(hop1, hop2)
    flows = (sim.flows[index], sim.flows[index + 1])
    lost = sum(f.summary.packets_lost for f in flows)
    resent = sum(f.summary.retransmissions for f in flows)
    for d in deployments:
        parts = latency_parts(network_s, d.fixed_s, deadline)
        yield TwoCutResult(d, hop1, hop2, parts, lost, resent, flows, protocol)


def best_two_cut(
    results: Sequence[TwoCutResult], key: Callable[[TwoCutResult], float] | None = None
) -> TwoCutResult:
    """The result with the least `key` (default: p50 latency; ties: the lower cuts, then
    the encoding name), over every result given: the exact optimum of the search."""
    if not results:
        raise SeiInputError("two cuts: no deployment to choose from (fewer than 2 candidates)")
    key = key or (lambda r: r.parts.p50_latency)
    return min(results, key=lambda r: (key(r), r.deployment.cuts, r.deployment.encoding))


def two_cut_top1(
    graph: Any, images: Any, first: int, second: int, roundtrip: Callable[[list], list]
) -> Any:
    """Top-1 per image of head -> roundtrip -> middle -> roundtrip -> tail, where
    `roundtrip(tensors)` encodes and decodes one hop's payload (accuracy through both
    re-encodings; identity: the whole model's answer)."""
    import torch

    head, _ = graph.split(first)
    _, tail = graph.split(second)
    middle = graph.middle(first, second)
    with torch.inference_mode():
        hop1 = roundtrip(list(head(images)))
        hop2 = roundtrip(list(middle(hop1)))
        return tail(hop2).argmax(dim=1)


def build_two_cuts(
    graph: Any,
    scenario: Any,
    candidates: Sequence[Any],
    encodings: Sequence[Any],
    images: Any,
    *,
    time_codecs: bool = True,
) -> list[TwoCut]:
    """Every split2 deployment over every pair of `candidates` (`cut_pairs`) in every
    encoding (TensorEncoding), its hop sizes the images' real encoded frames; compute times
    from the device, edge box and server profiles. With `time_codecs`, each hop's encode
    and decode time is this machine's time per frame (first image) carried to the encoding
    and decoding node by its profile's host scale; without, they are 0. Empty when the
    scenario has no edge box."""
    import time

    from sei_tui.core.evaluation.encoding import decode_tensors, encode_tensors
    from sei_tui.core.model.capture import run_capturing
    from sei_tui.core.model.compute import ComputeModel

    box = edge_box(scenario)
    pairs = cut_pairs(candidates)
    if box is None or not pairs:
        return []
    nodes = (scenario.edge_node(), box, scenario.server_node())
    models = []
    for node in nodes:
        profile = scenario.compute_of(node)
        if profile is None:
            raise SeiInputError(
                f"{scenario.label}: node {node.name!r} has no compute profile; "
                "two cuts need one on the edge, the edge box and the server"
            )
        models.append(ComputeModel.from_profile(profile, graph))
    device, middle, server = models
    used = sorted({sp.index: sp for pair in pairs for sp in pair}.values(), key=lambda s: s.index)
    names = [t.name for sp in used for t in sp.tensors]
    values, _ = run_capturing(graph.graph_module, images, names, stop_early=True)
    sizes: dict[tuple[int, str], tuple[int, ...]] = {}
    codec: dict[tuple[int, str], tuple[float, float]] = {}
    for sp in used:
        tensors = [values[t.name] for t in sp.tensors]
        shapes = [(1, *t.shape[1:]) for t in tensors]
        for enc in encodings:
            frames = [
                encode_tensors([t[j : j + 1] for t in tensors], enc) for j in range(len(images))
            ]
            sizes[sp.index, enc.name] = tuple(len(f) for f in frames)
            if time_codecs:
                start = time.perf_counter()
                encode_tensors([t[:1] for t in tensors], enc)
                encoded = time.perf_counter() - start
                start = time.perf_counter()
                decode_tensors(frames[0], shapes)
                codec[sp.index, enc.name] = (encoded, time.perf_counter() - start)
            else:
                codec[sp.index, enc.name] = (0.0, 0.0)
    scale = [m.host_scale if time_codecs else 1.0 for m in models]
    names3 = tuple(n.name for n in nodes)
    out = []
    for a, b in pairs:
        for enc in encodings:
            (enc1, dec1), (enc2, dec2) = codec[a.index, enc.name], codec[b.index, enc.name]
            out.append(
                TwoCut(
                    cuts=(a.index, b.index),
                    nodes=names3,  # type: ignore[arg-type]
                    encoding=enc.name,
                    hop_sizes=(sizes[a.index, enc.name], sizes[b.index, enc.name]),
                    head_s=float(device.head_seconds(a.index)),
                    middle_s=float(middle.tail_seconds(a.index) - middle.tail_seconds(b.index)),
                    tail_s=float(server.tail_seconds(b.index)),
                    encode_s=(enc1 * scale[0], enc2 * scale[1]),
                    decode_s=(dec1 * scale[1], dec2 * scale[2]),
                )
            )
    return out


def hop_roundtrip(encoding: Any) -> Callable[[list], list]:
    """What the next node receives of a hop's payload (a list of batch-first tensors) in
    `encoding` (TensorEncoding): each image's frame encoded, then decoded, as the wire
    carries it; for `two_cut_top1`."""
    import torch

    from sei_tui.core.evaluation.encoding import decode_tensors, encode_tensors

    def roundtrip(tensors: list) -> list:
        shapes = [(1, *t.shape[1:]) for t in tensors]
        images = [
            decode_tensors(encode_tensors([t[j : j + 1] for t in tensors], encoding), shapes)
            for j in range(len(tensors[0]))
        ]
        return [torch.cat([torch.from_numpy(im[k]) for im in images]) for k in range(len(tensors))]

    return roundtrip


def segment_figures(graph: Any, first: int, second: int) -> dict[str, int]:
    """FLOPs, parameters and memory of each node of the cuts (`first`, `second`) as Row
    fields: the device's head (`edge_*`, as a single split's), the edge box's middle
    (`middle_*`) and the server's tail (`server_*`, as a single split's at k2:
    deployments.server_share). A segment's parameters are
    those whose uses span into it (the head's: first used in it, as SplitPoint counts them;
    the middle's: first used at or before k2 and last used after k1); its memory is their
    fp32 bytes + its peak live activation bytes (ModelGraph.activation_bytes over its
    positions, the payload it receives included)."""
    from sei_tui.core.evaluation.deployments import FLOAT_BYTES, server_share

    a, b = graph.split_points[first], graph.split_points[second]
    middle_params = int(a.tail_params) + int(b.head_params) - int(graph.total_params)
    peak = max(graph.activation_bytes[a.position + 1 : b.position + 1], default=0)
    return {
        "edge_flops": int(a.head_flops),
        "edge_params": int(a.head_params),
        "edge_memory_bytes": int(a.head_params) * FLOAT_BYTES + int(a.head_peak_activation_bytes),
        "middle_flops": int(b.head_flops) - int(a.head_flops),
        "middle_params": middle_params,
        "middle_memory_bytes": middle_params * FLOAT_BYTES + int(peak),
        "server_flops": int(b.tail_flops),
        **server_share(graph, b),
    }


def two_cut_row(
    result: TwoCutResult,
    graph: Any,
    top1: Any,
    labels: Any,
    whole_top1: Any,
    energy: Any = None,
) -> Any:
    """The `split2` Row of one simulated deployment (docs/cli.md, "Two cuts"): `split_index`
    k1, `payload_bytes` the largest hop (QoS, table), `hop_payload_bytes` each hop's,
    `tail_s` the edge box's and the server's compute (`middle_s` the box's part), per-node
    FLOPs and memory (`segment_figures`), accuracy and agreement of `top1` (each image's
    answer through both re-encodings, with the hops' losses: `tiers_accuracy`), energy from
    `energy` (energy.TwoCutEnergy; None: unknown)."""
    from sei_tui.core.evaluation.rows import SPLIT2, Row

    d = result.deployment
    first = graph.split_points[d.cuts[0]]
    hops = list(d.payload_bytes)
    complete = sum(
        1
        for a, b in zip(result.hop1_s, result.hop2_s, strict=True)
        if a is not None and b is not None
    )
    row = Row(
        strategy=SPLIT2,
        split_index=first.index,
        after=first.after,
        encoding=d.encoding,
        payload_bytes=max(hops),
        head_s=d.head_s,
        encode_s=sum(d.encode_s),
        decode_s=sum(d.decode_s),
        tail_s=d.middle_s + d.tail_s,
        frames=len(result.hop1_s),
        frames_complete=complete,
        packets_lost=result.packets_lost,
        retransmissions=result.retransmissions,
        accuracy=float((top1 == labels).float().mean()),
        agreement=float((top1 == whole_top1).float().mean()),
        compute=f"{d.nodes[0]}, {d.nodes[1]}, {d.nodes[2]} profiles",
        cuts=list(d.cuts),
        nodes=list(d.nodes),
        hop_payload_bytes=hops,
        middle_s=d.middle_s,
        **segment_figures(graph, *d.cuts),
        **result.parts.__dict__,
    )
    if energy is not None and len(result.flows) == 2:
        energy.fill(row, d, *result.flows)
    return row


# lower is better on these, higher on accuracy and agreement (docs/cli.md, "Two cuts"):
# every column a usual QoS bound or the ranking objectives test
_LOWER = (
    "p50_latency",
    "p95_latency",
    "p99_latency",
    "mean_latency",
    "deadline_miss",
    "payload_bytes",
    "edge_memory_bytes",
    "edge_flops",
    "edge_params",
    "middle_memory_bytes",
    "middle_flops",
    "middle_params",
    "server_flops",
    "server_memory_bytes",
    "server_params",
    "edge_energy_j",
    "total_energy_j",
    "edge_radio_energy_j",
)


def undominated(rows: Sequence[Any]) -> list[Any]:
    """The split2 rows (in their order) no other one dominates: b dominates a when b is at
    least as good on every column a QoS constraint of the usual direction may test (<= on
    the `_LOWER` columns, >= on accuracy and agreement, None/NaN the worst, feasible no
    worse than infeasible) and comes earlier in canonical order. A dominated row ranks
    after its dominator under any such QoS, so it is never the recommendation; leaving it
    out keeps the report short. The pairs are compared in numpy: with ~1000 split2 rows a
    Python double loop costs seconds per evaluation or sweep point."""
    import numpy as np

    from sei_tui.core.evaluation.ranking import canonical_key

    if len(rows) < 2:
        return list(rows)

    def lower(x: Any) -> float:
        return math.inf if x is None or x != x else float(x)

    def higher(x: Any) -> float:
        return -math.inf if x is None or x != x else float(x)

    # every column as "lower is better": accuracy and agreement negated
    table = np.array(
        [
            [lower(getattr(r, c)) for c in _LOWER]
            + [-higher(r.accuracy), -higher(r.agreement), float(bool(r.violations))]
            for r in rows
        ]
    )
    keys = [canonical_key(r) for r in rows]
    position = {k: i for i, k in enumerate(sorted(set(keys)))}
    order = np.array([position[k] for k in keys])
    return [
        r
        for a, r in enumerate(rows)
        if not ((table <= table[a]).all(axis=1) & (order < order[a])).any()
    ]
