"""The work a study worker does: simulate a chunk of points and turn each deployment's
simulated flow into its row (accuracy under the frame's loss pattern included).

Each worker receives, once, the `RowContext` of every prepared (model, scenario): the
deployments' encoded frames, their tails, their lossless predictions and the labels (what
accuracy under loss needs; no activations, no whole model, no data set). A task then
carries only the scenario (`NetworkPlan`), the distinct frame-size sequences and the
points' link overrides, and returns rows. libsim.simulate is called directly (a worker is
a process; libsim serialises runs inside one process with a lock); torch runs on one
thread per worker, so workers on one machine do not compete for its cores.

Accuracy under loss is `evaluation.accuracy.accuracy_under_loss`, computed image by image:
an image's top-1 under loss depends only on (deployment, image, the byte ranges its frame
lost), and libsim draws packet losses in packet order from a per-link stream, so the same
ranges recur across bitrates (wherever no queue overflows) and across loss rates (a
higher rate loses a superset of the packets). A worker runs the tail once per such key,
in batches over every point of the task, and assembles each row's accuracy from the
per-image answers: the same top-1s, so the same accuracy, as the whole-pattern function.

split2 deployments (a scenario with an edge box): the context carries them
(`TwoCutContext`: each one's cuts, hop sizes and fixed times, its lossless top-1s, and the
graph and images that accuracy through both hops under loss needs); a task names the
distinct hop-size pairs of its part, each simulated once per point on the two-hop network
(`tiers.two_cut_network`), and returns every split2 row (the driver keeps the undominated
ones, as `Evaluation.rows` does, once every part of a point is in). Their top-1 under loss
is `tiers_accuracy.lossy_top1` on the same arguments as `Evaluation.rows` gives it, once
per (deployment, both hops' loss patterns) per worker.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

from sei_tui.core.evaluation.accuracy import frame_loss
from sei_tui.core.evaluation.simulation import NetworkPlan, apply_overrides, row_from_result

__all__ = [
    "NetworkTask",
    "RowContext",
    "TwoCutContext",
    "TaskResult",
    "install_contexts",
    "run_task",
    "start_worker",
]

# torch picks other kernels for batches of 1-3 images (logits differ in the last bits):
# every tail batch is padded to this size, so an image's top-1 never depends on its batch
MIN_BATCH = 8
TAIL_BATCH = 64  # images per tail call at most

_CONTEXTS: dict[int, RowContext] = {}  # this worker's contexts (pool: set at start)
_TOP1: dict[tuple, int] = {}  # (group, deployment, image, lost ranges) -> top-1 under loss
_ACCURACY: dict[tuple, tuple[float, float]] = {}  # (group, deployment, losses) -> accuracy
_NETWORKS: dict[tuple, Any] = {}  # (group, frame sizes) -> the network before overrides
_TWO_CUT_TOP1: dict[tuple, Any] = {}  # (group, two-cut index, both hops' losses) -> top-1s
_SEGMENTS: dict[int, Any] = {}  # group -> tiers_accuracy.Segments (modules built once)


@dataclass
class TwoCutContext:
    """What a worker needs to make the split2 rows of one prepared (model, scenario)."""

    two_cuts: list  # tiers.TwoCut, the evaluation's order
    top1: dict  # (cuts, encoding) -> top-1 per image without loss
    by_hops: dict  # hop sizes -> indices into two_cuts
    box: str  # the edge box node
    graph: Any  # ModelGraph and images: accuracy through both hops under loss
    images: Any
    encodings: dict  # name -> TensorEncoding
    energy: Any  # energy.TwoCutEnergy

    @classmethod
    def of(cls, evaluation: Any) -> TwoCutContext | None:
        from sei_tui.core.evaluation.energy import TwoCutEnergy
        from sei_tui.core.evaluation.tiers import edge_box

        box = edge_box(evaluation.scenario)
        if not evaluation.two_cuts or box is None:
            return None
        by_hops: dict = {}
        for j, d in enumerate(evaluation.two_cuts):
            by_hops.setdefault(d.hop_sizes, []).append(j)
        return cls(
            list(evaluation.two_cuts),
            dict(evaluation.two_cut_top1),
            by_hops,
            box.name,
            evaluation.inputs.graph,
            evaluation.inputs.images,
            {e.name: e for e in evaluation.encodings},
            TwoCutEnergy.of(evaluation.scenario, box.name),
        )


@dataclass
class RowContext:
    """What a worker needs to make rows of one prepared (model, scenario)."""

    deployments: list  # Deployment, frames in memory, no re-encoding closure
    inputs: Any  # labels and whole_top1 (what row_from_result reads)
    sizes: tuple[tuple[int, ...], ...]  # distinct frame-size sequences, simulated in order
    by_size: dict  # size sequence -> deployment indices
    qos: Any
    deadline: float | None
    energy: Any = None  # EnergyModel of the scenario (None: no energy columns)
    two_cuts: TwoCutContext | None = None  # split2 deployments (an edge box), else None

    @classmethod
    def of(cls, evaluation: Any, sizes, by_size, qos, deadline, energy=None) -> RowContext:
        from types import SimpleNamespace

        slim = [
            replace(d, frames=d.encoded_frames(), regenerate=None) for d in evaluation.deployments
        ]
        inputs = SimpleNamespace(
            labels=evaluation.inputs.labels, whole_top1=evaluation.inputs.whole_top1
        )
        two_cuts = TwoCutContext.of(evaluation)
        return cls(slim, inputs, tuple(sizes), dict(by_size), qos, deadline, energy, two_cuts)


@dataclass(frozen=True)
class NetworkTask:
    group: int  # which RowContext
    plan: NetworkPlan
    points: tuple[tuple[str, dict[str, float]], ...]  # (point key, link overrides)
    sizes: tuple[tuple[int, ...], ...] | None = None  # this part's frame sizes (None: all)
    part: int = 0  # which part of the deployments: executors keep a part on one worker
    hop_sizes: tuple = ()  # this part's split2 hop-size pairs (TwoCutContext.by_hops keys)


@dataclass
class TaskResult:
    group: int
    points: list = field(default_factory=list)  # (key, {deployment index: Row})
    simulations: int = 0
    simulate_s: float = 0.0  # worker seconds building networks and in libsim
    accuracy_s: float = 0.0  # worker seconds decoding lost frames and in the tail (torch)
    rows_s: float = 0.0  # worker seconds assembling rows (accuracies, latencies, QoS)
    accuracy_runs: int = 0  # images run through a tail anew (per worker, once per key)
    worker: int = 0  # the process that ran it, and when (time.time()): for benchmarks
    started_at: float = 0.0
    ended_at: float = 0.0
    error: str | None = None  # libsim refused a network: the message


def start_worker() -> None:
    """A pool worker's start: ignore SIGINT (the driver alone decides on Ctrl-C) and load
    what tasks use, while the driver prepares the models."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    import libsim  # noqa: F401
    from sei_tui.core.evaluation import inference  # noqa: F401

    torch.set_num_threads(1)


def install_contexts(contexts: dict[int, RowContext] | bytes) -> None:
    """Make `contexts` (or their pickle) this process's."""
    import pickle

    _use(pickle.loads(contexts) if isinstance(contexts, bytes) else contexts)


def _use(contexts: dict[int, RowContext]) -> None:
    import torch

    torch.set_num_threads(1)
    if _CONTEXTS is not contexts:
        _CONTEXTS.clear()
        _CONTEXTS.update(contexts)
        _TOP1.clear()
        _ACCURACY.clear()
        _NETWORKS.clear()
        _TWO_CUT_TOP1.clear()
        _SEGMENTS.clear()


def _ranges(lost: Any) -> tuple:
    return tuple(tuple(r) for r in lost)


def _tail_top1(deployment: Any, decoded: list, remote: bool) -> list[int]:
    """Top-1 of the deployment's tail on each decoded payload (one batch, padded)."""
    from sei_tui.core.evaluation.inference import run_tail

    padded = decoded + [decoded[-1]] * max(0, MIN_BATCH - len(decoded))
    return run_tail(deployment.tail, padded, remote, batch=len(padded))[: len(decoded)].tolist()


def _evaluate_lost_images(group: int, context: RowContext, flows: list) -> int:
    """Run the tail on every (deployment, image, lost ranges) of `flows` (per point: size ->
    (FlowResult, protocol)) not yet in this worker's cache; the number of images run."""
    from sei_tui.core.evaluation.inference import decode_payload

    pending: dict[int, dict[tuple, Any]] = {}
    for per_size in flows:
        for size, (flow, protocol) in per_size.items():
            if protocol != "udp":
                continue  # TCP: loss only costs latency
            losses = [frame_loss(f) for f in flow.frames]
            if not any(losses):
                continue
            for i in context.by_size[size]:
                d = context.deployments[i]
                if d.strategy == "local":
                    continue  # no tail: a lost result is no answer
                for j in range(len(d.lossless_top1)):
                    lost = losses[j % len(losses)]
                    if not lost or (d.exited is not None and d.exited[j]):
                        continue
                    key = (j, _ranges(lost))
                    if (group, i, *key) not in _TOP1:
                        pending.setdefault(i, {})[key] = lost
    runs = 0
    for i, wanted in pending.items():
        d = context.deployments[i]
        remote = d.strategy == "remote"
        frames = d.encoded_frames()
        items = list(wanted.items())
        for start in range(0, len(items), TAIL_BATCH):
            chunk = items[start : start + TAIL_BATCH]
            decoded = [decode_payload(remote, frames[j], d.shapes, lost) for (j, _), lost in chunk]
            for (key, _), top1 in zip(chunk, _tail_top1(d, decoded, remote), strict=True):
                _TOP1[(group, i, *key)] = top1
            runs += len(chunk)
    return runs


def _accuracy_from_images(group: int, index: dict) -> Any:
    """`accuracy_under_loss`'s result from the per-image cache (filled beforehand)."""
    import torch

    def accuracy(deployment, losses, labels, whole_top1):
        i = index[id(deployment)]
        pattern = tuple(_ranges(f) for f in losses or ()) or None
        key = (group, i, pattern)
        if key in _ACCURACY:
            return _ACCURACY[key]
        top1 = deployment.lossless_top1.clone()
        if pattern:
            hit = [j for j in range(len(top1)) if pattern[j % len(pattern)]]
            answers = [
                -1
                if deployment.strategy == "local"
                or (deployment.exited is not None and deployment.exited[j])
                else _TOP1[(group, i, j, pattern[j % len(pattern)])]
                for j in hit
            ]
            if hit:
                top1[hit] = torch.tensor(answers, dtype=top1.dtype)
        _ACCURACY[key] = (
            float((top1 == labels).float().mean()),
            float((top1 == whole_top1).float().mean()),
        )
        return _ACCURACY[key]

    return accuracy


def run_task(task: NetworkTask, contexts: dict[int, RowContext] | None = None) -> TaskResult:
    import libsim

    if contexts is not None and _CONTEXTS.get(task.group) is not contexts.get(task.group):
        _use(contexts)
    context = _CONTEXTS[task.group]
    sizes = task.sizes if task.sizes is not None else context.sizes
    result = TaskResult(task.group, worker=os.getpid(), started_at=time.time())
    started = time.perf_counter()
    flows: list[dict] = []  # per point: frame sizes -> (FlowResult, protocol)
    for _, overrides in task.points:
        per_size: dict = {}
        for size in sizes:
            base = _NETWORKS.get((task.group, size))
            if base is None:
                base = _NETWORKS[task.group, size] = task.plan.network(size)
            net = apply_overrides(base, overrides)
            try:
                sim = libsim.simulate(net)
            except libsim.LibsimInputError as exc:
                result.error = str(exc)
                return result
            per_size[size] = (sim.flows[task.plan.flow_index(net)], net.protocol)
            result.simulations += 1
        flows.append(per_size)
    simulated = time.perf_counter()
    result.simulate_s = simulated - started
    result.accuracy_runs = _evaluate_lost_images(task.group, context, flows)
    evaluated = time.perf_counter()
    result.accuracy_s = evaluated - simulated
    index = {id(d): i for i, d in enumerate(context.deployments)}
    accuracy = _accuracy_from_images(task.group, index)
    for (key, _), per_size in zip(task.points, flows, strict=True):
        rows: dict[int, Any] = {}
        for size in sizes:
            flow, protocol = per_size[size]
            for i in context.by_size[size]:
                rows[i] = row_from_result(
                    context.deployments[i],
                    flow,
                    protocol,
                    context.inputs,
                    context.deadline,
                    context.qos,
                    context.energy,
                    accuracy=accuracy,
                )
        result.points.append((key, rows))
    result.rows_s = time.perf_counter() - evaluated
    if task.hop_sizes and not _two_cut_rows(task, context, result):
        return result  # libsim refused a network: result.error says why
    result.ended_at = time.time()
    return result


def _two_cut_top1(group: int, tc: TwoCutContext, j: int, losses: Any) -> Any:
    """Deployment j's top-1 per image through both hops (`lossy_top1` when some frame lost
    bytes under UDP, as `Evaluation.rows` computes it), once per loss pattern."""
    from sei_tui.core.evaluation.tiers_accuracy import Segments, lossy_top1

    d = tc.two_cuts[j]
    lossless = tc.top1[d.cuts, d.encoding]
    if losses is None:
        return lossless
    key = (group, j, tuple(tuple(_ranges(f) for f in hop) for hop in losses))
    if key not in _TWO_CUT_TOP1:
        segments = _SEGMENTS.get(group)
        if segments is None:
            segments = _SEGMENTS[group] = Segments(tc.graph)
        _TWO_CUT_TOP1[key] = lossy_top1(
            tc.graph, tc.images, d.cuts, tc.encodings[d.encoding], lossless, losses, segments
        )
    return _TWO_CUT_TOP1[key]


def _two_cut_rows(task: NetworkTask, context: RowContext, result: TaskResult) -> bool:
    """Add the split2 rows of the task's hop-size pairs to each point of `result` (keyed
    len(deployments) + two-cut index); False when libsim refused a network."""
    import libsim
    from sei_tui.core.evaluation.tiers import two_cut_network, two_cut_results, two_cut_row

    tc = context.two_cuts
    if tc is None:
        return True
    base = len(context.deployments)
    for (_, overrides), (_, rows) in zip(task.points, result.points, strict=True):
        for hops in task.hop_sizes:
            started = time.perf_counter()
            cached = _NETWORKS.get((task.group, "split2", hops))
            if cached is None:
                plan = task.plan
                cached = _NETWORKS[task.group, "split2", hops] = two_cut_network(
                    plan.scenario, tc.box, *hops, plan.frames, plan.protocol
                )
            net = apply_overrides(cached[0], overrides)
            try:
                sim = libsim.simulate(net)
            except libsim.LibsimInputError as exc:
                result.error = str(exc)
                return False
            result.simulations += 1
            simulated = time.perf_counter()
            result.simulate_s += simulated - started
            members = [tc.two_cuts[j] for j in tc.by_hops[hops]]
            found = two_cut_results(members, sim, cached[1], net.protocol, context.deadline)
            for j, found_result in zip(tc.by_hops[hops], found, strict=True):
                top1 = _two_cut_top1(task.group, tc, j, found_result.frame_losses())
                row = two_cut_row(
                    found_result,
                    tc.graph,
                    top1,
                    context.inputs.labels,
                    context.inputs.whole_top1,
                    tc.energy,
                )
                row.violations = context.qos.check(row)
                row.feasible = not row.violations
                rows[base + j] = row
            result.accuracy_s += time.perf_counter() - simulated
    return True
