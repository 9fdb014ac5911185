"""The work a study worker does: simulate a chunk of points and turn each deployment's
simulated flow into its row (accuracy under the frame's loss pattern included).

Each worker receives, once, the `RowContext` of every prepared (model, scenario): the
deployments' encoded frames, their tails, their lossless predictions and the labels (what
accuracy under loss needs; no activations, no whole model, no data set). A task then
carries only the scenario (`NetworkPlan`), the distinct frame-size sequences and the
points' link overrides, and returns rows. libsim.simulate is called directly (a worker is
a process; libsim serialises runs inside one process with a lock); torch runs on one
thread per worker, so workers on one machine do not compete for its cores.

Accuracy under loss (`evaluation.accuracy.accuracy_under_loss`) is computed once per
(deployment, loss pattern of all its frames) per worker and reused where the pattern
recurs (every point without loss shares one; TCP never loses bytes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from sei_tui.core.evaluation.simulation import NetworkPlan, row_from_result

__all__ = ["NetworkTask", "RowContext", "TaskResult", "install_contexts", "run_task"]

_CONTEXTS: dict[int, RowContext] = {}  # this worker's contexts (pool: set at start)
_ACCURACY: dict[tuple, tuple[float, float]] = {}  # (group, deployment, losses) -> accuracy


@dataclass
class RowContext:
    """What a worker needs to make rows of one prepared (model, scenario)."""

    deployments: list  # Deployment, frames in memory, no re-encoding closure
    inputs: Any  # labels and whole_top1 (what row_from_result reads)
    sizes: tuple[tuple[int, ...], ...]  # distinct frame-size sequences, simulated in order
    by_size: dict  # size sequence -> deployment indices
    qos: Any
    deadline: float | None

    @classmethod
    def of(cls, evaluation: Any, sizes, by_size, qos, deadline) -> RowContext:
        from types import SimpleNamespace

        slim = [
            replace(d, frames=d.encoded_frames(), regenerate=None) for d in evaluation.deployments
        ]
        inputs = SimpleNamespace(
            labels=evaluation.inputs.labels, whole_top1=evaluation.inputs.whole_top1
        )
        return cls(slim, inputs, tuple(sizes), dict(by_size), qos, deadline)


@dataclass(frozen=True)
class NetworkTask:
    group: int  # which RowContext
    plan: NetworkPlan
    points: tuple[tuple[str, dict[str, float]], ...]  # (point key, link overrides)


@dataclass
class TaskResult:
    group: int
    points: list = field(default_factory=list)  # (key, [Row in deployment order])
    simulations: int = 0
    simulate_s: float = 0.0  # worker seconds building networks and in libsim (benchmarks)
    accuracy_s: float = 0.0  # worker seconds in accuracy under loss (torch) and rows
    accuracy_runs: int = 0  # (deployment, loss pattern) evaluated anew
    error: str | None = None  # libsim refused a network: the message


def install_contexts(contexts: dict[int, RowContext]) -> None:
    """Make `contexts` this process's (the pool's initializer; ignores SIGINT too)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver alone decides on Ctrl-C
    _use(contexts)


def _use(contexts: dict[int, RowContext]) -> None:
    import torch

    torch.set_num_threads(1)
    if _CONTEXTS is not contexts:
        _CONTEXTS.clear()
        _CONTEXTS.update(contexts)
        _ACCURACY.clear()


def run_task(task: NetworkTask, contexts: dict[int, RowContext] | None = None) -> TaskResult:
    import libsim

    if contexts is not None and _CONTEXTS.get(task.group) is not contexts.get(task.group):
        _use(contexts)
    context = _CONTEXTS[task.group]
    result = TaskResult(task.group)
    index = {id(d): i for i, d in enumerate(context.deployments)}

    def accuracy(deployment, losses, labels, whole_top1):
        from sei_tui.core.evaluation.accuracy import accuracy_under_loss

        lost = tuple(tuple(map(tuple, f)) for f in losses or ()) or None
        key = (task.group, index[id(deployment)], lost)
        if key not in _ACCURACY:
            result.accuracy_runs += 1
            _ACCURACY[key] = accuracy_under_loss(deployment, losses, labels, whole_top1)
        return _ACCURACY[key]

    for key, overrides in task.points:
        rows: dict[int, Any] = {}
        for size in context.sizes:
            started = time.perf_counter()
            net = task.plan.network(size, overrides)
            try:
                sim = libsim.simulate(net)
            except libsim.LibsimInputError as exc:
                result.error = str(exc)
                return result
            flow = sim.flows[task.plan.flow_index(net)]
            result.simulations += 1
            middle = time.perf_counter()
            result.simulate_s += middle - started
            for i in context.by_size[size]:
                rows[i] = row_from_result(
                    context.deployments[i],
                    flow,
                    net.protocol,
                    context.inputs,
                    context.deadline,
                    context.qos,
                    accuracy=accuracy,
                )
            result.accuracy_s += time.perf_counter() - middle
        result.points.append((key, [rows[i] for i in sorted(rows)]))
    return result
