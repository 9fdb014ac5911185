"""Running a study: preparation once per model x scenario, then the network grid on an
executor, each finished point ranked and stored.

Work split (so that expensive steps run once):
- model load, graph and saliency: once per model (the Evaluation's per-process model
  cache, the saliency disk cache); deployments (payload encodings of real activations,
  lossless predictions): once per model x scenario, in this process, before the grid;
- codec times: one cached measurement per key (`codec_times`), before the grid;
- simulations and rows: per network point, on the executor's workers (`tasks`): each
  worker receives every deployment's encoded frames and tail once (`RowContext`), then
  tasks carry only link overrides and return rows; accuracy under loss runs there, the
  tail once per (deployment, image, lost byte ranges) per worker;
- split2 deployments (a scenario whose route crosses an edge box): built, with their
  lossless top-1s through both re-encodings, in the preparation (`Evaluation.prepare`);
  each part of the workers also takes a share of their distinct hop-size pairs, one
  two-hop simulation per pair and point, accuracy under both hops' losses there;
- ranking and storing: here, as results arrive (split2 rows first pruned to the
  undominated ones over every part, as `Evaluation.rows` prunes them).
The numbers of a point therefore depend only on its inputs, not on the executor, the
chunking or the order in which tasks finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.core.study.spec import Study
from sei_tui.core.study.store import StudyStore, point_key
from sei_tui.core.study.tasks import NetworkTask, RowContext, TaskResult

__all__ = ["StudyOutcome", "run_study"]

FLUSH_SECONDS = 2.0  # finished points are written at least this often
MAX_CHUNK = 32  # points per task at most


@dataclass
class StudyOutcome:
    total: int
    skipped: int  # points already in the folder
    computed: int = 0  # points simulated and stored by this run
    simulations: int = 0
    prepare_s: float = 0.0  # model, data, saliency, encodings (torch), before the grid
    grid_s: float = 0.0  # wall time of the grid
    simulate_s: float = 0.0  # worker seconds building networks and simulating
    accuracy_s: float = 0.0  # worker seconds decoding lost frames and in tails (torch)
    rows_s: float = 0.0  # worker seconds assembling rows
    store_s: float = 0.0  # seconds here ranking points and writing them
    workers: dict = field(default_factory=dict)  # process -> [first start, last end, busy s]
    grid_started_at: float = 0.0  # time.time() when the executor was asked to start
    accuracy_runs: int = 0  # images run through a tail (once per key per worker)
    executor: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class _Group:
    """One prepared (model, scenario): its deployments grouped by frame sizes."""

    model: str
    scenario: str
    evaluation: Any
    sizes: tuple[tuple[int, ...], ...]
    by_size: dict
    parts: tuple[tuple[tuple[int, ...], ...], ...] = ()  # the sizes split between workers
    hop_parts: tuple[tuple, ...] = ()  # split2 hop-size pairs, one tuple per part


def _parts(group: _Group, count: int) -> tuple:
    """The group's frame sizes in `count` parts of about equal work, each part's sizes in
    the group's order: a worker that keeps to one part runs each (deployment, image, lost
    ranges) tail once for the whole study, instead of every worker running it again.

    Work per size: simulation (about its bytes) and tails of lost images (about the
    server FLOPs of its deployments), each normalised to the group's total, weighed
    0.4 : 0.6 (the simulator's and torch's shares of worker time on the demo's benchmark);
    executors even out the rest by giving an idle worker another part's task."""
    count = max(1, min(count, len(group.sizes)))
    deployments = group.evaluation.deployments
    volume = {s: sum(s) / len(s) for s in group.sizes}
    flops = {s: sum(deployments[i].server_flops for i in group.by_size[s]) for s in group.sizes}
    total_volume = sum(volume.values()) or 1.0
    total_flops = sum(flops.values()) or 1.0
    cost = {s: 0.4 * volume[s] / total_volume + 0.6 * flops[s] / total_flops for s in volume}
    loads = [0.0] * count
    members: list[list] = [[] for _ in range(count)]
    for s in sorted(group.sizes, key=lambda s: (-cost[s], s)):
        k = loads.index(min(loads))
        loads[k] += cost[s]
        members[k].append(s)
    order = {s: n for n, s in enumerate(group.sizes)}
    return tuple(tuple(sorted(m, key=order.__getitem__)) for m in members if m)


def _hop_parts(group: _Group, count: int) -> tuple[tuple, ...]:
    """The group's split2 hop-size pairs in `count` parts (heaviest first to the least
    loaded part; work about the bytes both hops carry), each in first-seen order."""
    two_cuts = group.evaluation.two_cuts
    pairs = list(dict.fromkeys(d.hop_sizes for d in two_cuts))
    cost = {p: sum(sum(h) / len(h) for h in p) for p in pairs}
    loads = [0.0] * count
    members: list[list] = [[] for _ in range(count)]
    for p in sorted(pairs, key=lambda p: -cost[p]):
        k = loads.index(min(loads))
        loads[k] += cost[p]
        members[k].append(p)
    order = {p: n for n, p in enumerate(pairs)}
    return tuple(tuple(sorted(m, key=order.__getitem__)) for m in members)


def _scenario_key(scenario: Any) -> str:
    from sei_tui.core.cache import digest_key

    return digest_key(repr(scenario))


def _manifest(study: Study, total: int) -> dict:
    return {
        "study": study.path,
        "models": [m.label for m in study.models],
        "scenarios": [s.name for s in study.loaded_scenarios],
        # a list: JSON objects are written with sorted keys, the axes keep the study's order
        "axes": [[a.key, list(a.values)] for a in study.axes],
        "qos": study.qos,
        "settings": study.settings(),
        "total": total,
    }


def _prepare(study: Study, m: int, s: int, progress: Callable | None) -> _Group:
    from sei_tui.core.evaluation.engine import Evaluation
    from sei_tui.core.evaluation.simulation import deployment_sizes
    from sei_tui.core.study.codec_times import fix_codec_times, fix_two_cut_codec_times

    entry = study.models[m]
    scenario = study.loaded_scenarios[s]
    evaluation = Evaluation(
        model=entry.model,
        weights=entry.weights,
        scenario=scenario,
        data=study.data,
        synthetic=study.synthetic,
        encodings=list(study.encodings),
        input_encodings=list(study.input_encodings),
        all_splits=study.all_splits,
        max_images=study.images,
        frames=study.frames,
        protocol=study.protocol,
        input_shape=entry.input_shape,
        strategies=study.strategies,
        adapters=study.adapter_options(),  # exits and bottlenecks: trained or read from cache
    )
    evaluation.prepare(progress=progress)
    fix_codec_times(evaluation.deployments, entry.key(), study.settings())
    fix_two_cut_codec_times(evaluation, entry.key(), study.settings())
    by_size: dict = {}
    for i, d in enumerate(evaluation.deployments):
        by_size.setdefault(deployment_sizes(d), []).append(i)
    return _Group(entry.label, scenario.name, evaluation, tuple(sorted(by_size)), by_size)


def _chunks(points: list, chunk: int | None) -> list[tuple]:
    """Tasks of points that share every axis but the bitrates (up to MAX_CHUNK, or `chunk`
    points each): libsim draws packet losses in packet order, so such points lose the
    same packets, and a worker measures accuracy under each loss pattern once."""
    if chunk is not None:
        return [tuple(points[i : i + chunk]) for i in range(0, len(points), chunk)]
    groups: dict[tuple, list] = {}
    for key, values in points:
        rest = tuple((k, v) for k, v in values.items() if k.rpartition(".")[2] != "bitrate")
        groups.setdefault(rest, []).append((key, values))
    out = []
    for members in groups.values():
        out += [tuple(members[i : i + MAX_CHUNK]) for i in range(0, len(members), MAX_CHUNK)]
    # heaviest first (more loss, more images through tails), so that the last tasks, the
    # ones an idle worker takes from another's part, are short and the workers end together
    return sorted(out, key=lambda c: -sum(v for _, p in c for k, v in p.items() if _is_loss(k)))


def _is_loss(key: str) -> bool:
    return key.rpartition(".")[2] == "loss"


def run_study(
    study: Study,
    out: str | Path,
    executor: Any,
    *,
    chunk: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    prepare_progress: Callable[[str], None] | None = None,
    stop_after: int | None = None,
    announce: Callable[[str], None] | None = None,
) -> StudyOutcome:
    """Run every point of `study` not yet in `out` on `executor` (closed on return).

    `progress(done, total)` after each stored point; `stop_after` k: raise SeiCancelled
    once k points were computed (as a SIGINT would), for tests. KeyboardInterrupt and
    SeiCancelled end the workers; the points finished are on disk."""
    from sei_tui.core.evaluation.qos import parse_qos

    points = study.points()
    model_keys = [m.key() for m in study.models]
    scenario_keys = [_scenario_key(s) for s in study.loaded_scenarios]
    settings = study.settings()
    keyed = [
        (point_key(settings, model_keys[p.model], scenario_keys[p.scenario], p.values), p)
        for p in points
    ]
    if len({k for k, _ in keyed}) != len(keyed):
        raise SeiInputError(f"{study.path}: two points of the study are the same")
    manifest = _manifest(study, len(points))
    manifest["keys"] = [k for k, _ in keyed]  # the report shows only this study's points
    store = StudyStore(out, manifest, tuple(a.key for a in study.axes))
    done = store.done
    pending = [(k, p) for k, p in keyed if k not in done]
    outcome = StudyOutcome(total=len(points), skipped=len(points) - len(pending))
    outcome.executor = getattr(executor, "name", "")
    if announce is not None:
        announce(f"skipped {outcome.skipped} of {outcome.total} points already done")
    qos = parse_qos(study.qos)
    try:
        if not pending:
            store.write_summary()
            return outcome
        started = time.perf_counter()
        if hasattr(executor, "start"):
            executor.start()  # the workers start up while the models are prepared
        groups: dict[int, _Group] = {}
        tasks: list[NetworkTask] = []
        contexts: dict[int, RowContext] = {}
        pairs = list(dict.fromkeys((p.model, p.scenario) for _, p in pending))
        for gi, (m, s) in enumerate(pairs):
            if prepare_progress is not None:
                prepare_progress(f"preparing {study.models[m].label} on {study.scenarios[s]}")
            group = _prepare(study, m, s, None)
            groups[gi] = group
            mine = [(k, p.values) for k, p in pending if (p.model, p.scenario) == (m, s)]
            from sei_tui.core.evaluation.energy import EnergyModel
            from sei_tui.core.evaluation.simulation import NetworkPlan

            plan = NetworkPlan(group.evaluation.scenario, study.frames, study.protocol)
            group.parts = _parts(group, getattr(executor, "parts", lambda: 1)())
            group.hop_parts = _hop_parts(group, len(group.parts))
            for points in _chunks(mine, chunk):
                for k, sizes in enumerate(group.parts):
                    tasks.append(NetworkTask(gi, plan, points, sizes, k, group.hop_parts[k]))
            energy = EnergyModel.of(group.evaluation.scenario)
            contexts[gi] = RowContext.of(
                group.evaluation, group.sizes, group.by_size, qos, study.deadline, energy
            )
        outcome.prepare_s = time.perf_counter() - started
        lookup = dict(pending)
        partial: dict[str, tuple[int, dict]] = {}  # point key -> (parts in, rows so far)
        grid_started = time.perf_counter()
        outcome.grid_started_at = time.time()
        last_flush = time.perf_counter()
        for result in executor.run(tasks, contexts):
            storing = time.perf_counter()
            _store_result(result, groups, lookup, partial, store, qos, study.objective, outcome)
            if progress is not None:
                progress(outcome.skipped + outcome.computed, outcome.total)
            if time.perf_counter() - last_flush >= FLUSH_SECONDS:
                store.flush()
                last_flush = time.perf_counter()
            outcome.store_s += time.perf_counter() - storing
            if stop_after is not None and outcome.computed >= stop_after:
                raise SeiCancelled(f"stopped after {outcome.computed} points")
        outcome.grid_s = time.perf_counter() - grid_started
        return outcome
    finally:
        executor.close()
        store.flush()


def _store_result(
    result: TaskResult,
    groups: dict,
    lookup: dict,
    partial: dict,
    store: StudyStore,
    qos: Any,
    objective: str,
    outcome: StudyOutcome,
) -> None:
    from sei_tui.core.evaluation.ranking import rank
    from sei_tui.core.evaluation.rows import SPLIT2
    from sei_tui.core.evaluation.tiers import undominated

    group = groups[result.group]
    if result.error is not None:
        raise SeiInputError(f"{group.scenario}: the simulator refused a point: {result.error}")
    outcome.simulate_s += result.simulate_s
    outcome.accuracy_s += result.accuracy_s
    outcome.rows_s += result.rows_s
    outcome.accuracy_runs += result.accuracy_runs
    outcome.simulations += result.simulations
    seen = outcome.workers.setdefault(result.worker, [result.started_at, result.ended_at, 0.0])
    seen[0], seen[1] = min(seen[0], result.started_at), max(seen[1], result.ended_at)
    seen[2] += result.ended_at - result.started_at
    for key, part in result.points:
        count, rows = partial.pop(key, (0, {}))
        rows.update(part)
        if count + 1 < len(group.parts):  # a point is ranked once every part is in
            partial[key] = (count + 1, rows)
            continue
        ordered = [rows[i] for i in sorted(rows)]
        single = [r for r in ordered if r.strategy != SPLIT2]
        two_cuts = undominated([r for r in ordered if r.strategy == SPLIT2])
        ranking = rank(single + two_cuts, qos, objective=objective)
        store.add(key, group.model, group.scenario, lookup[key].values, ranking)
        outcome.computed += 1
