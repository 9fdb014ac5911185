"""The network task a study worker runs: the simulations of a chunk of points.

Imports libsim and the scenario layer only (no torch): a worker receives the scenario
(`NetworkPlan`), the distinct frame-size sequences of the prepared deployments and the
points' link overrides, and sends back, per point and size sequence, the edge -> server
`FlowResult` (per-frame network times and lost byte ranges): compact sizes and loss
patterns cross the wire, never activations. libsim.simulate is called directly (a worker
is a process; libsim serialises runs inside one process with a lock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sei_tui.core.evaluation.simulation import NetworkPlan

__all__ = ["NetworkTask", "TaskResult", "run_task"]


@dataclass(frozen=True)
class NetworkTask:
    group: int  # which prepared (model, scenario)
    plan: NetworkPlan
    sizes: tuple[tuple[int, ...], ...]  # distinct frame-size sequences of the deployments
    points: tuple[tuple[str, dict[str, float]], ...]  # (point key, link overrides)


@dataclass(frozen=True)
class TaskResult:
    group: int
    # per point: (key, protocol, one FlowResult per entry of `sizes`)
    points: tuple[tuple[str, str, tuple[Any, ...]], ...]
    simulate_s: float  # worker seconds in building networks and simulating (benchmarks only)
    error: str | None = None  # libsim refused a network: the message


def run_task(task: NetworkTask) -> TaskResult:
    import libsim

    started = time.perf_counter()
    out = []
    for key, overrides in task.points:
        flows = []
        protocol = "tcp"
        for size in task.sizes:
            net = task.plan.network(size, overrides)
            protocol = net.protocol
            try:
                sim = libsim.simulate(net)
            except libsim.LibsimInputError as exc:
                return TaskResult(task.group, (), time.perf_counter() - started, str(exc))
            flows.append(sim.flows[task.plan.flow_index(net)])
        out.append((key, protocol, tuple(flows)))
    return TaskResult(task.group, tuple(out), time.perf_counter() - started)
