"""One answer for every front end: rank the rows, mark the Pareto front, recommend.

`rank(rows, qos)` is the only place that orders deployments. The CLI's reports, the TUI's
recommendation and its export, and each point of a sweep all call it, so the same rows
and the same QoS give the same order, front and recommendation everywhere.

The ranking (documented in docs/cli.md, "Ranking"):
1. rows that meet every QoS constraint first;
2. p95 latency up to measurement noise: within each of those two groups, rows are taken in
   order of p95 latency (a NaN or missing latency counts as infinitely late) and cut into
   tie classes: the fastest row not yet in a class leads the next one, and every row whose
   p95 is within `tie_tolerance(leader)` of the leader's joins it. Classes are ordered by
   their leader; within a class:
3. higher accuracy (missing counts as the worst);
4. the canonical deployment order as the final tie-break: local, remote, split,
   early_exit, bottleneck, split2; then the split index; then the cuts; then the
   encoding name; then the exit
   threshold and the bottleneck width. It depends only on the row, never on the order in
   which rows arrived from parallel simulations, so equal rows always rank the same.

The classes are a function of the rows' values alone (not of their order), so the ranking
is a sort by a key: a strict weak ordering, independent of input order. What it absorbs:
noise in the encode/decode times (wall times measured at each run) that moves rows within
the tolerance of the class leader. What it cannot: a row whose p95 lies about one tolerance
from its leader's may fall on either side between runs (a rule that turns continuous
values into an order always has such edges), and noise larger than the tolerance can
still reorder rows. Rows farther apart than tolerance + noise keep their order.

`rank(rows, qos, objective="energy")` does the same with the edge's energy per frame
(`edge_energy_j`, a missing one counting as infinite) in place of p95 latency: tie classes
of energies within TIE_RELATIVE of their leader's, then accuracy, then the canonical order;
the recommendation is then the feasible row with the least device energy.

The Pareto front uses the same classes (over all rows): a row is dominated by one in an
earlier class with no lower accuracy, or in its own class with higher accuracy. The
recommendation is the first row of the ranking when it is feasible; when no row is,
there is none, and `closest` is the row with the smallest total relative shortfall.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sei_tui.core.evaluation.qos import QoS, parse_qos
from sei_tui.core.evaluation.rows import STRATEGIES, Recommendation, Row

__all__ = [
    "OBJECTIVES",
    "TIE_ABSOLUTE_S",
    "TIE_RELATIVE",
    "Ranking",
    "canonical_key",
    "pareto_front",
    "rank",
    "recommend",
    "tie_classes",
    "tie_tolerance",
]

# p95 latencies within max(TIE_RELATIVE x the leader's, TIE_ABSOLUTE_S) of a class leader
# are ties: run-to-run noise of the demo's p95 on a busy 2-core host (docs/cli.md, "Ranking")
TIE_RELATIVE = 0.03
TIE_ABSOLUTE_S = 0.0005
# what the ranking minimises: p95 latency (the default), or the edge's energy per frame
OBJECTIVES = ("latency", "energy")

_STRATEGY_ORDER = {
    strategy: i for i, strategy in enumerate(STRATEGIES)
}  # local, remote, split, ...


def canonical_key(row: Row) -> tuple:
    """local, remote, split, early_exit, bottleneck, split2; then split index (k1); then
    the cuts; then encoding; then exit threshold and bottleneck width: a total order on
    deployments."""
    return (
        _STRATEGY_ORDER.get(row.strategy, len(_STRATEGY_ORDER)),
        row.strategy,
        -1 if row.split_index is None else row.split_index,
        tuple(getattr(row, "cuts", None) or ()),  # split2 rows: k1 (split_index), then k2
        row.encoding,
        # early_exit and bottleneck rows of one split and encoding differ in these only
        -1.0 if getattr(row, "exit_threshold", None) is None else row.exit_threshold,
        -1 if getattr(row, "bottleneck_channels", None) is None else row.bottleneck_channels,
    )


def _p95(row: Row) -> float:
    v = row.p95_latency
    return math.inf if v is None or math.isnan(v) else v


def _edge_energy(row: Row) -> float:
    v = getattr(row, "edge_energy_j", None)
    return math.inf if v is None or math.isnan(v) else v


def _objective(objective: str):
    """The value `objective` minimises, per row."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r}: must be one of {', '.join(OBJECTIVES)}")
    return _p95 if objective == "latency" else _edge_energy


def _accuracy(row: Row) -> float:
    v = row.accuracy
    return -math.inf if v is None or math.isnan(v) else v


def tie_tolerance(
    p95: float, relative: float = TIE_RELATIVE, absolute: float = TIE_ABSOLUTE_S
) -> float:
    """How far above a class leader's p95 (seconds) a row's p95 may be and still tie."""
    return max(relative * p95, absolute)


def tie_classes(
    rows: Sequence[Row],
    relative: float = TIE_RELATIVE,
    absolute: float = TIE_ABSOLUTE_S,
    objective: str = "latency",
) -> list[int]:
    """The tie class of each row (0 = fastest), a function of the rows' p95 values only:
    in order of p95, the fastest row not yet in a class leads the next class, and every row
    within `tie_tolerance` of the leader's p95 joins it. Infinite latencies tie together."""
    value = _objective(objective)
    if objective == "energy":
        absolute = 0.0  # seconds do not apply to joules: energies tie by `relative` only
    order = sorted(range(len(rows)), key=lambda i: value(rows[i]))
    classes = [0] * len(rows)
    current, limit = -1, -math.inf
    for i in order:
        p95 = value(rows[i])
        if not p95 <= limit:  # beyond the current leader's tolerance: a new class
            current += 1
            limit = math.inf if math.isinf(p95) else p95 + tie_tolerance(p95, relative, absolute)
        classes[i] = current
    return classes


def _rank_keys(
    rows: Sequence[Row], relative: float, absolute: float, objective: str = "latency"
) -> list[tuple]:
    """Each row's sort key: feasible first, tie class among rows of its feasibility,
    accuracy, canonical order."""
    keys: list[tuple] = [()] * len(rows)
    for infeasible in (False, True):
        group = [i for i, row in enumerate(rows) if bool(row.violations) == infeasible]
        classes = tie_classes([rows[i] for i in group], relative, absolute, objective)
        for i, cls in zip(group, classes, strict=True):
            keys[i] = (infeasible, cls, -_accuracy(rows[i]), canonical_key(rows[i]))
    return keys


def pareto_front(
    rows: Sequence[Row],
    relative: float = TIE_RELATIVE,
    absolute: float = TIE_ABSOLUTE_S,
    objective: str = "latency",
) -> list[int]:
    """Indices of rows no other row beats on both p95 latency (an earlier tie class) and
    accuracy (higher); sets `row.pareto` on every row. Rows in one tie class count as
    equally fast, so the front agrees with `rank`'s order."""
    classes = tie_classes(rows, relative, absolute, objective)
    front = []
    for i, a in enumerate(rows):
        dominated = any(
            classes[j] <= classes[i]
            and _accuracy(b) >= _accuracy(a)
            and (classes[j] < classes[i] or _accuracy(b) > _accuracy(a))
            for j, b in enumerate(rows)
            if j != i
        )
        a.pareto = not dominated
        if not dominated:
            front.append(i)
    return front


@dataclass
class Ranking:
    """Rows in rank order (`pareto`, `feasible` and `violations` set on each), the indices
    of the Pareto front in that list, and the recommendation (indices into `rows`)."""

    rows: list[Row]
    recommendation: Recommendation
    front: list[int] = field(default_factory=list)
    qos: QoS = field(default_factory=QoS)
    objective: str = "latency"  # what the order and the recommendation minimise

    @property
    def recommended(self) -> Row | None:
        r = self.recommendation.row
        return None if r is None else self.rows[r]


def rank(
    rows: Iterable[Row],
    qos: QoS | str | None = None,
    *,
    tie_relative: float = TIE_RELATIVE,
    tie_absolute: float = TIE_ABSOLUTE_S,
    objective: str = "latency",
) -> Ranking:
    """Check `qos` on every row, order them (see the module's doc), mark the Pareto front and
    recommend. The rows are updated in place and returned in a new list. `tie_relative` and
    `tie_absolute` set the tie tolerance (0 and 0: exact p95 order). `objective` is one of
    OBJECTIVES: what the order and the recommendation minimise."""
    qos = qos if isinstance(qos, QoS) else parse_qos(qos)
    rows = list(rows)
    for row in rows:
        row.violations = qos.check(row)
        row.feasible = not row.violations
    keys = _rank_keys(rows, tie_relative, tie_absolute, objective)
    ordered = [rows[i] for i in sorted(range(len(rows)), key=keys.__getitem__)]
    front = pareto_front(ordered, tie_relative, tie_absolute, objective)
    return Ranking(ordered, _recommend_ranked(ordered, qos, objective), front, qos, objective)


def recommend(
    rows: Sequence[Row], qos: QoS | str | None = None, objective: str = "latency"
) -> Recommendation:
    """The recommendation for `rows` in their given order (indices into `rows`): the same
    choice `rank` makes. Prefer `rank`, which also orders the rows and marks the front."""
    ranking = rank(rows, qos, objective=objective)
    position = {id(row): i for i, row in enumerate(rows)}
    rec = ranking.recommendation

    def back(i: int | None) -> int | None:
        return None if i is None else position[id(ranking.rows[i])]

    return Recommendation(
        row=back(rec.row),
        why=rec.why,
        binding=rec.binding,
        margin=rec.margin,
        runner_up=back(rec.runner_up),
        failing_everywhere=rec.failing_everywhere,
        closest=back(rec.closest),
    )


def _recommend_ranked(
    ranked: Sequence[Row], qos: QoS, objective: str = "latency"
) -> Recommendation:
    """The recommendation over rows already in rank order (violations set)."""
    least = "lowest p95 latency" if objective == "latency" else "least edge energy per frame"
    if not ranked:
        return Recommendation(row=None, why="no deployments to compare")
    feasible = [i for i, row in enumerate(ranked) if not row.violations]
    if feasible:
        best = feasible[0]
        runner_up = feasible[1] if len(feasible) > 1 else None
        if not qos:
            return Recommendation(
                row=best, why=f"{least} (no QoS constraints given)", runner_up=runner_up
            )
        row = ranked[best]
        binding = min(qos.constraints, key=lambda c: c.relative_slack(getattr(row, c.column)))
        return Recommendation(
            row=best,
            why=f"{least} that meets every constraint",
            binding=binding.column,
            margin=binding.slack(getattr(row, binding.column)),
            runner_up=runner_up,
        )
    everywhere = tuple(
        c.text for c in qos.constraints if all(c.text in row.violations for row in ranked)
    )

    def shortfall(i: int) -> float:
        row = ranked[i]
        return sum(
            -c.relative_slack(getattr(row, c.column))
            for c in qos.constraints
            if c.text in row.violations
        )

    closest = min(range(len(ranked)), key=lambda i: (shortfall(i), i))
    if everywhere:
        why = f"no deployment meets {' and '.join(everywhere)}"
    else:
        why = "no deployment meets every constraint at once"
    row = ranked[closest]
    why += f"; closest: {row.label} (violates {', '.join(row.violations)})"
    return Recommendation(row=None, why=why, failing_everywhere=everywhere, closest=closest)
