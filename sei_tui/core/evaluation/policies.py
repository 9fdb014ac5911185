"""Policies over a stream: which deployment each frame uses when the network changes.

The stream is the rows' own: every flow of the scenario sends its frames at its fps (the
scenario's frame count, or the evaluation's `frames`), frame f carrying image f mod n's
frame of the deployment in use (see `simulation`). The candidates are all the report's
rows; three policies choose among them, each one consistent simulation:

- static: one row for the whole run (one entry per row; the row's own simulation, run
  again here: the same network, the same per-frame latencies);
- adaptive: libsim's flow policy (libsim.h, libsim_set_flow_policy) on every flow: before
  each frame the device predicts each row's latency as its compute time (edge + encode +
  decode + server) + the path's propagation delay + bits / estimated throughput, and keeps
  its row unless another is predicted at least `margin` faster for `hold_frames` frames in
  a row. The estimate comes from the deliveries of earlier frames only (closed loop);
- oracle: per frame the smallest latency over the static runs (a lower bound, labelled so:
  the best row in hindsight for each frame, each frame meeting the channel as that row's
  static run left it; no policy of the same candidates that cannot see the future can do
  better per frame, up to the queueing one policy's earlier frames leave for the next).

Reported per policy: p50/p95/p99 latency (nearest rank, a frame that never arrived is
infinitely late), the deadline-miss rate, accuracy (frame f scores its row's lossless answer
on image f mod n against the labels; a frame that lost bytes scores wrong), switches (the
times the row changes between consecutive frames), regret (mean per-frame latency above the
oracle's, seconds; infinite when a frame the oracle got through never arrived).
See docs/policies.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sei_tui.core.evaluation.deployments import Deployment
from sei_tui.core.evaluation.inference import Cancel, check_cancel
from sei_tui.core.evaluation.latency import nearest_rank
from sei_tui.core.evaluation.prepare import EvaluationInputs
from sei_tui.core.evaluation.rows import Row
from sei_tui.core.evaluation.simulation import NetworkPlan, deployment_sizes, simulate

__all__ = [
    "POLICIES",
    "PolicyResult",
    "PolicySettings",
    "evaluate_policies",
    "has_trace",
    "path_links",
]

POLICIES = ("static", "adaptive", "oracle")


@dataclass(frozen=True)
class PolicySettings:
    """The adaptive policy's estimator and hysteresis (libsim.FlowPolicy's fields).

    Default: the harmonic mean of the last 5 frames' throughput (as FESTIVE and MPC do for
    video bitrates: one fast sample cannot inflate it), and a switch needs a predicted gain
    of 10 % on 2 frames in a row (one odd frame cannot flip the choice)."""

    estimator: str = "harmonic"
    alpha: float = 0.3
    window: int = 5
    margin: float = 0.1
    hold_frames: int = 2


@dataclass
class PolicyResult:
    """One policy over the stream; `choices` and `latencies` are per frame (row index,
    seconds) for views that draw the run, not part of the JSON."""

    policy: str  # one of POLICIES
    row: int | None  # static: the row, an index into the report's rows
    p50_latency: float
    p95_latency: float
    p99_latency: float
    deadline_miss: float | None
    accuracy: float | None
    switches: int
    regret: float
    choices: list[int] = field(default_factory=list, repr=False)
    latencies: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        out = {
            "policy": self.policy,
            "row": self.row,
            "p50_latency": self.p50_latency,
            "p95_latency": self.p95_latency,
            "p99_latency": self.p99_latency,
            "deadline_miss": self.deadline_miss,
            "accuracy": self.accuracy,
            "switches": self.switches,
            "regret": self.regret,
        }
        return {
            k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in out.items()
        }


def has_trace(net: Any) -> bool:
    """Whether any link of the NetworkSpec `net` follows a trace."""
    return any(getattr(link, "trace", None) is not None for link in net.links)


def path_links(net: Any, src: str, dst: str) -> list[Any]:
    """The links of a shortest (fewest hops) path from `src` to `dst` in `net`."""
    previous: dict[str, tuple[str, Any] | None] = {src: None}
    frontier = [src]
    while frontier and dst not in previous:
        following = []
        for node in frontier:
            for link in net.links:
                if node not in link.nodes:
                    continue
                for other in link.nodes:
                    if other not in previous:
                        previous[other] = (node, link)
                        following.append(other)
        frontier = following
    links: list[Any] = []
    node = dst
    while previous.get(node) is not None:
        node, link = previous[node]  # type: ignore[misc]
        links.append(link)
    return links[::-1]


def _link_rate(link: Any) -> float:
    trace = getattr(link, "trace", None)
    return trace.mean_bps() if trace is not None else float(link.bitrate_bps)


def _deployment_key(d: Any, split_index: int | None) -> tuple:
    """What tells a deployment (or a row) apart: early exits and bottlenecks of one split
    and encoding differ in their threshold or width."""
    return (
        d.strategy,
        split_index,
        d.encoding,
        getattr(d, "exit_threshold", None),
        getattr(d, "bottleneck_channels", None),
    )


def _frame_payload(sizes: tuple[int, ...], frames: int) -> int | tuple[int, ...]:
    return sizes[0] if len(sizes) == 1 else tuple(sizes[f % len(sizes)] for f in range(frames))


def _summary(
    name: str,
    row: int | None,
    latencies: list[float],
    correct: list[bool],
    choices: list[int],
    oracle: list[float] | None,
    deadline: float | None,
) -> PolicyResult:
    n = len(latencies)
    regret = 0.0
    if oracle is not None and n:
        # A frame no static run got through has no oracle latency: it adds no excess.
        excess = [
            0.0 if not math.isfinite(b) else a - b for a, b in zip(latencies, oracle, strict=True)
        ]
        regret = sum(excess) / n
    return PolicyResult(
        policy=name,
        row=row,
        p50_latency=nearest_rank(latencies, 50),
        p95_latency=nearest_rank(latencies, 95),
        p99_latency=nearest_rank(latencies, 99),
        deadline_miss=None
        if deadline is None or not n
        else sum(v > deadline for v in latencies) / n,
        accuracy=sum(correct) / n if n else None,
        switches=sum(1 for a, b in zip(choices, choices[1:], strict=False) if a != b),
        regret=regret,
        choices=choices,
        latencies=latencies,
    )


def evaluate_policies(
    deployments: Sequence[Deployment],
    rows: Sequence[Row],
    inputs: EvaluationInputs,
    plan: NetworkPlan,
    deadline: float | None = None,
    settings: PolicySettings = PolicySettings(),
    processes: int | None = None,
    cancel: Cancel | None = None,
) -> list[PolicyResult]:
    """static (one per candidate row, in row order), adaptive and oracle over `plan`'s
    stream; the candidates are the `rows` of one-flow deployments (each matched to its
    deployment; a two-cut `split2` row has two flows, and a policy switches the one stream
    between candidates). Rows, choices and `PolicyResult.row` are indices into `rows`."""
    import libsim

    by_key = {
        _deployment_key(d, None if d.split is None else d.split.index): d for d in deployments
    }
    candidates = [i for i, r in enumerate(rows) if _deployment_key(r, r.split_index) in by_key]
    if not candidates:
        return []
    chosen = [by_key[_deployment_key(rows[i], rows[i].split_index)] for i in candidates]
    sizes = [deployment_sizes(d) for d in chosen]
    fixed = [d.head_s + d.encode_s + d.decode_s + d.tail_s for d in chosen]
    labels = inputs.labels
    right = [[bool(v) for v in (d.lossless_top1 == labels).tolist()] for d in chosen]
    distinct = sorted(set(sizes))
    static_nets = [plan.network(s) for s in distinct]
    net = static_nets[0]
    flow_index = plan.flow_index(net)
    stream = net.flows[flow_index]
    flows = []
    for flow in net.flows:
        path = path_links(net, flow.src, flow.dst)
        policy = libsim.FlowPolicy(
            candidates=tuple(
                libsim.Candidate(_frame_payload(s, flow.frames), f)
                for s, f in zip(sizes, fixed, strict=True)
            ),
            estimator=settings.estimator,
            alpha=settings.alpha,
            window=settings.window,
            margin=settings.margin,
            hold_frames=settings.hold_frames,
            prior_bps=min(_link_rate(link) for link in path),
            base_delay_s=sum(float(link.delay_s) for link in path),
        )
        flows.append(replace(flow, policy=policy))
    adaptive_net = replace(net, flows=tuple(flows))
    results: dict[int, Any] = {}
    for i, sim in simulate([*static_nets, adaptive_net], processes, cancel, plan.scenario.name):
        check_cancel(cancel)
        results[i] = sim.flows[flow_index]

    def network_times(flow: Any) -> list[float]:
        return [math.inf if f.delivered_s is None else float(f.latency_s) for f in flow.frames]

    def frame_right(r: int, f: int, frame: Any) -> bool:
        return frame.complete and right[r][f % len(right[r])]

    frames = stream.frames
    static_latency = []
    static_right = []
    for r in range(len(chosen)):
        flow = results[distinct.index(sizes[r])]
        static_latency.append([fixed[r] + t for t in network_times(flow)])
        static_right.append([frame_right(r, f, fr) for f, fr in enumerate(flow.frames)])
    oracle_choice = [
        min(range(len(chosen)), key=lambda r, f=f: static_latency[r][f]) for f in range(frames)
    ]
    oracle = [static_latency[r][f] for f, r in enumerate(oracle_choice)]
    row = candidates  # candidate position -> index into `rows`
    out = [
        _summary(
            "static",
            row[r],
            static_latency[r],
            static_right[r],
            [row[r]] * frames,
            oracle,
            deadline,
        )  # fmt: skip
        for r in range(len(chosen))
    ]
    adaptive = results[len(distinct)]
    choices = list(adaptive.choices)
    latency = [fixed[c] + t for c, t in zip(choices, network_times(adaptive), strict=True)]
    correct = [
        frame_right(c, f, fr)
        for f, (c, fr) in enumerate(zip(choices, adaptive.frames, strict=True))
    ]
    out.append(
        _summary("adaptive", None, latency, correct, [row[c] for c in choices], oracle, deadline)
    )
    correct = [static_right[r][f] for f, r in enumerate(oracle_choice)]
    oracle_rows = [row[r] for r in oracle_choice]
    out.append(_summary("oracle", None, oracle, correct, oracle_rows, None, deadline))
    return out
