"""Stage 3b: the network. One libsim simulation per distinct sequence of frame sizes (and
per sweep point), every flow of the scenario carrying those frames, so queueing and
contention show; each deployment's row is read off the edge -> server flow of its
simulation.

Frames carry the real sizes of the frames the deployment encoded: frame f of every flow
carries evaluation image (f mod n)'s encoded frame (n images), each flow keeping its own
frame count. Deployments whose images all encode to one size (no compression) send that
size in every frame, and deployments with the same sizes share one simulation. Accuracy
under loss maps image j to frame j mod F (F frames: see `accuracy`), the frame that
carried image j's own payload whenever j < F.

The network time of frame f is libsim's latency for frame f of that flow, all frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.core.evaluation.accuracy import accuracy_under_loss, frame_loss
from sei_tui.core.evaluation.deployments import Deployment
from sei_tui.core.evaluation.energy import EnergyModel
from sei_tui.core.evaluation.inference import Cancel, check_cancel
from sei_tui.core.evaluation.latency import latency_parts, path_p95
from sei_tui.core.evaluation.prepare import EvaluationInputs
from sei_tui.core.evaluation.qos import QoS
from sei_tui.core.evaluation.rows import Row

__all__ = [
    "NetworkPlan",
    "apply_overrides",
    "deployment_sizes",
    "frame_sizes_key",
    "row_from_result",
    "simulate",
    "simulate_rows",
]


def apply_overrides(net: Any, overrides: dict[str, float]) -> Any:
    """A NetworkSpec with swept link parameters replaced (`loss` also drops burst loss; on a
    link that follows a trace, `bitrate` replaces the trace, `loss` and `delay` its column).

    Keys are `bitrate`, `loss`, `delay` (every link) or `LINK.bitrate` ... (one link)."""
    if not overrides:
        return net
    names = {link.name for link in net.links}
    links = []
    for link in net.links:
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            target, _, parameter = key.rpartition(".")
            if target and target not in names:
                raise SeiInputError(f"sweep axis {key!r}: the scenario has no link {target!r}")
            if target and target != link.name:
                continue
            trace = changes.get("trace", getattr(link, "trace", None))
            if parameter == "bitrate":
                changes["bitrate_bps"] = float(value)
                changes["trace"] = None  # a swept bitrate replaces the link's trace
            elif parameter == "loss":
                changes["loss"] = float(value)
                changes["burst"] = None
                if getattr(trace, "loss", None) is not None:  # ... and a trace's loss column
                    changes["trace"] = replace(trace, loss=None)
            elif parameter == "delay":
                changes["delay_s"] = float(value)
                if getattr(trace, "delay_s", None) is not None:  # ... and its delay column
                    changes["trace"] = replace(trace, delay_s=None)
        links.append(replace(link, **changes) if changes else link)
    return replace(net, links=tuple(links))


@dataclass(frozen=True)
class NetworkPlan:
    """The scenario a deployment is simulated on, with the run's frame count and transport
    (None: the scenario's own)."""

    scenario: Any  # Scenario
    frames: int | None = None
    protocol: str | None = None

    def network(
        self, payload_bytes: int | Sequence[int], overrides: dict[str, float] | None = None
    ) -> Any:
        """The scenario's network with every flow carrying `payload_bytes` per frame, or,
        given one size per image, frame f of every flow carrying size f mod len."""
        sizes = frame_sizes_key(payload_bytes)
        payload: int | list[int] = sizes[0] if len(sizes) == 1 else list(sizes)
        net = self.scenario.to_network(
            payload_bytes=payload, frames=self.frames, protocol=self.protocol, cycle=True
        )
        return apply_overrides(net, overrides or {})

    def flow_index(self, net: Any) -> int:
        """The edge -> server flow of `net` (the first flow when there is none)."""
        edge = self.scenario.edge_node().name
        server = self.scenario.server_node().name
        for i, flow in enumerate(net.flows):
            if flow.src == edge and flow.dst == server:
                return i
        return 0


def frame_sizes_key(sizes: int | Sequence[int]) -> tuple[int, ...]:
    """Per-image sizes as one simulation sends them: one size when they are all equal."""
    sizes = (int(sizes),) if isinstance(sizes, int) else tuple(int(s) for s in sizes)
    return sizes[:1] if len(set(sizes)) == 1 else sizes


def deployment_sizes(deployment: Deployment) -> tuple[int, ...]:
    """The sizes `deployment`'s frames are simulated with (see the module's doc)."""
    return frame_sizes_key(deployment.frame_sizes or deployment.payload_bytes)


def simulate(
    nets: list, processes: int | None, cancel: Cancel | None, scenario_name: str
) -> Iterator[tuple[int, Any]]:
    """(index, SimResult) as simulations finish; SeiCancelled when `cancel` stops them.

    The one place a libsim error becomes a sei error."""
    import libsim

    try:
        yield from libsim.simulate_many(nets, processes=processes, cancel=cancel)
    except libsim.LibsimInputError as exc:
        check_cancel(cancel)  # refused because the user cancelled: a cancellation
        raise SeiInputError(f"{scenario_name}: the simulator refused it: {exc}") from None
    except libsim.LibsimInterrupted:
        raise SeiCancelled(f"{scenario_name}: simulation interrupted") from None
    # LibsimInternalError is not caught: front ends report it as an internal failure (exit 1)
    check_cancel(cancel)  # simulate_many ends early, without an error, when cancelled


def row_from_result(
    deployment: Deployment,
    flow: Any,
    protocol: str,
    inputs: EvaluationInputs,
    deadline: float | None,
    qos: QoS,
    energy: EnergyModel | None = None,
    accuracy: Any = None,
) -> Row:
    """The row of `deployment` whose frames crossed the network as libsim's `flow`
    (a FlowResult), its energy from `energy` (None: unknown), QoS checked. `accuracy`
    replaces `accuracy_under_loss` (same arguments), e.g. a cache of it keyed by loss
    pattern (`sei study`)."""
    network_s = [f.latency_s if f.delivered_s is not None else None for f in flow.frames]
    fixed = deployment.head_s + deployment.encode_s + deployment.decode_s + deployment.tail_s
    if deployment.frame_fixed_s:  # early exits: each image's own path
        fixed = deployment.frame_fixed_s
    parts = latency_parts(network_s, fixed, deadline)
    losses = [frame_loss(f) for f in flow.frames] if protocol == "udp" else None
    measure = accuracy or accuracy_under_loss
    accuracy, agreement = measure(deployment, losses, inputs.labels, inputs.whole_top1)
    sp = deployment.split
    row = Row(
        strategy=deployment.strategy,
        split_index=None if sp is None else sp.index,
        after=None if sp is None else sp.after,
        encoding=deployment.encoding,
        payload_bytes=deployment.payload_bytes,
        head_s=deployment.head_s,
        encode_s=deployment.encode_s,
        decode_s=deployment.decode_s,
        tail_s=deployment.tail_s,
        frames=len(flow.frames),
        frames_complete=sum(1 for f in flow.frames if f.complete),
        packets_lost=flow.summary.packets_lost,
        retransmissions=flow.summary.retransmissions,
        accuracy=accuracy,
        agreement=agreement,
        cs=deployment.cs,
        edge_flops=deployment.edge_flops,
        server_flops=deployment.server_flops,
        edge_params=deployment.edge_params,
        edge_memory_bytes=deployment.edge_memory_bytes,
        compute=deployment.compute,
        encode_scale=deployment.encode_scale,
        decode_scale=deployment.decode_scale,
        codec_scale=deployment.codec_scale,
        exit_threshold=deployment.exit_threshold,
        exit_rate=deployment.exit_rate,
        bottleneck_channels=deployment.bottleneck_channels,
        train_images=deployment.train_images,
        eval_images=deployment.eval_images,
        server_params=deployment.server_params,
        server_memory_bytes=deployment.server_memory_bytes,
        **parts.__dict__,
    )
    if deployment.exited is not None:
        row.exit_path_p95_latency, row.offload_path_p95_latency = path_p95(
            network_s, deployment.frame_fixed_s, deployment.exited
        )
    if energy is not None:
        energy.fill(row, flow)
    row.violations = qos.check(row)
    row.feasible = not row.violations
    return row


def simulate_rows(
    deployments: Sequence[Deployment],
    inputs: EvaluationInputs,
    plan: NetworkPlan,
    points: Sequence[dict[str, float]],
    qos: QoS,
    deadline: float | None = None,
    processes: int | None = None,
    cancel: Cancel | None = None,
) -> Iterator[tuple[int, int, int, Row]]:
    """Every deployment at every point (link overrides) of `points`, simulations run in
    parallel worker processes: (point index, simulations finished, simulations in all, row)
    as simulations complete; cancellable between rows."""
    by_size: dict[tuple[int, ...], list[Deployment]] = {}
    for d in deployments:
        by_size.setdefault(deployment_sizes(d), []).append(d)
    sizes = sorted(by_size)
    jobs = [(p, size) for p in range(len(points)) for size in sizes]
    nets = [plan.network(size, points[p]) for p, size in jobs]
    name = plan.scenario.name
    energy = EnergyModel.of(plan.scenario)
    for finished, (i, sim) in enumerate(simulate(nets, processes, cancel, name), 1):
        check_cancel(cancel)
        p, size = jobs[i]
        net = nets[i]
        flow = sim.flows[plan.flow_index(net)]
        for deployment in by_size[size]:
            row = row_from_result(deployment, flow, net.protocol, inputs, deadline, qos, energy)
            yield p, finished, len(jobs), row
