"""Sweeps: the recommended deployment at every point of a grid of link parameters.

`parse_sweep("bitrate=1e6:1e9:7,loss=0:0.05:6")`: `bitrate` axes are log-spaced
(geometric: they span decades), every other axis (`loss`, `delay`) is evenly spaced. An
axis applies to every link of the scenario, or to one link with `LINK.bitrate=...`.
Each point's rows are ranked by `ranking.rank`, as a plain run's are; with `extra` (the
split2 rows of a scenario with an edge box: `engine.Evaluation.sweep`) its rows are too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.deployments import Deployment
from sei_tui.core.evaluation.inference import Cancel, Progress, check_cancel
from sei_tui.core.evaluation.prepare import EvaluationInputs
from sei_tui.core.evaluation.qos import QoS
from sei_tui.core.evaluation.ranking import rank
from sei_tui.core.evaluation.rows import Recommendation, Row
from sei_tui.core.evaluation.simulation import NetworkPlan, simulate_rows

__all__ = [
    "SWEEP_PARAMETERS",
    "PointRows",
    "SweepAxis",
    "SweepPoint",
    "grid",
    "parse_sweep",
    "sweep",
]

SWEEP_PARAMETERS = ("bitrate", "loss", "delay")


@dataclass(frozen=True)
class SweepAxis:
    parameter: str  # one of SWEEP_PARAMETERS
    link: str | None  # None: every link
    values: tuple[float, ...]

    @property
    def key(self) -> str:
        return self.parameter if self.link is None else f"{self.link}.{self.parameter}"


@dataclass(frozen=True)
class PointRows:
    """More rows to rank at each point beside the deployments' (`rows(overrides)`), and how
    many simulations one call runs (its share of the progress bar)."""

    rows: Callable[[dict[str, float]], Iterable[Row]]
    simulations: int


@dataclass
class SweepPoint:
    values: dict[str, float]
    row: Row | None  # the recommended deployment at this point, if any is feasible
    recommendation: Recommendation

    def to_dict(self) -> dict:
        r = self.row
        return {
            "values": self.values,
            "strategy": None if r is None else r.strategy,
            "split_index": None if r is None else r.split_index,
            "after": None if r is None else r.after,
            "cuts": None if r is None else r.cuts,  # split2: [k1, k2]
            "encoding": None if r is None else r.encoding,
            "p95_latency": None if r is None or not math.isfinite(r.p95_latency) else r.p95_latency,
            "accuracy": None if r is None else r.accuracy,
            "why": self.recommendation.why,
        }


def parse_sweep(text: str) -> list[SweepAxis]:
    """`bitrate=1e6:1e9:7,loss=0:0.05:6` -> axes (bitrate log-spaced, others linear)."""
    axes: list[SweepAxis] = []
    for term in text.split(","):
        where = f"sweep axis {term.strip()!r}"
        m = re.fullmatch(r"\s*(?:([\w.-]+)\.)?(\w+)\s*=\s*([^:]+):([^:]+):(\d+)\s*", term)
        if m is None:
            raise SeiInputError(
                f"{where}: expected PARAMETER=START:STOP:COUNT, e.g. bitrate=1e6:1e9:7"
            )
        link, parameter, start_text, stop_text, count_text = m.groups()
        if parameter not in SWEEP_PARAMETERS:
            raise SeiInputError(
                f"{where}: unknown parameter {parameter!r} (one of {', '.join(SWEEP_PARAMETERS)})"
            )
        try:
            start, stop = float(start_text), float(stop_text)
        except ValueError:
            raise SeiInputError(f"{where}: START and STOP must be numbers") from None
        count = int(count_text)
        if count < 1 or not (math.isfinite(start) and math.isfinite(stop)):
            raise SeiInputError(f"{where}: need finite bounds and COUNT >= 1")
        if parameter == "bitrate":
            if start <= 0 or stop <= 0:
                raise SeiInputError(f"{where}: bitrates must be positive")
            values = np.geomspace(start, stop, count)
        else:
            if start < 0 or stop < 0:
                raise SeiInputError(f"{where}: values must not be negative")
            if parameter == "loss" and max(start, stop) >= 1:
                raise SeiInputError(f"{where}: loss must be below 1")
            values = np.linspace(start, stop, count)
        axes.append(SweepAxis(parameter, link, tuple(float(v) for v in values)))
    return axes


def grid(axes: Sequence[SweepAxis]) -> list[dict[str, float]]:
    """Every combination of the axes' values, the last axis varying fastest."""
    points: list[dict[str, float]] = [{}]
    for axis in axes:
        points = [{**p, axis.key: v} for p in points for v in axis.values]
    return points


def sweep(
    deployments: Sequence[Deployment],
    inputs: EvaluationInputs,
    plan: NetworkPlan,
    axes: Sequence[SweepAxis],
    qos: QoS,
    deadline: float | None = None,
    processes: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    extra: PointRows | None = None,
) -> list[SweepPoint]:
    """The recommended deployment at every point of the grid spanned by `axes`, among the
    `deployments` and the rows `extra` gives at that point."""
    points = grid(axes)
    rows_at: list[list[Row]] = [[] for _ in points]
    extra_total = 0 if extra is None else extra.simulations * len(points)
    main_total = 0  # the deployments' simulations in all, once the first one is in
    results = simulate_rows(deployments, inputs, plan, points, qos, deadline, processes, cancel)
    for p, finished, main_total, row in results:
        rows_at[p].append(row)
        if progress is not None:
            progress(finished / max(main_total + extra_total, 1), "sweep")
    if extra is not None:
        for p, point in enumerate(points):
            check_cancel(cancel)
            rows_at[p].extend(extra.rows(point))
            if progress is not None:
                done = main_total + (p + 1) * extra.simulations
                progress(done / max(main_total + extra_total, 1), "sweep: two cuts")
    out = []
    for p, rows in enumerate(rows_at):
        ranking = rank(rows, qos)
        out.append(SweepPoint(points[p], ranking.recommended, ranking.recommendation))
    return out
