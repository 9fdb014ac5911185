"""The TUI's figures as charts, from the same data as the figure files
(`sei_tui.core.figures.data`): the CS curve, latency by split, latency against accuracy.

Each builder takes the core's figure data and returns a chart whose items are in a known
order, plus that order (`keys`) so a selected item maps back to a split or a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sei_tui.core.figures.data import CsCurve, LatencyBars, ParetoData, SensitivityMap
from sei_tui.core.units import display_bytes, display_seconds
from sei_tui.tui.plots.charts import Across, HeatGrid, Segment, Series, StackedBars, XYChart

CS_GLYPH, MAXIMUM_GLYPH, PAYLOAD_GLYPH = "•", "★", "▫"
# head / network / tail: the detail bar's glyphs (readable without colour)
LATENCY_SEGMENTS = (
    Segment("edge", "█", "head"),
    Segment("net p95", "▓", "network"),
    Segment("server", "░", "tail"),
)
DEADLINE_GLYPH = "╌"
STRATEGY_GLYPHS = {"local": "■", "remote": "▲", "split": "●"}
OTHER_GLYPH = "◆"
FRONT_GLYPH = "◇"


def _seconds(s: float) -> str:
    return display_seconds(s, "–")


def _cs(v: float) -> str:
    return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _bytes(v: float) -> str:
    return display_bytes(v, "–").replace(" ", "")


@dataclass
class Figure:
    chart: Any
    keys: list[Any]  # what each item of the chart is: a split index or a row index

    def index_of(self, key: Any) -> int | None:
        try:
            return self.keys.index(key)
        except ValueError:
            return None


def cs_figure(curve: CsCurve) -> Figure:
    """CS (log, left) at every split point in network order, maxima as ★; the payload
    bytes (log, right) of the first payload series; items are split indices."""
    n = len(curve.indices)
    positions = list(range(n))
    maxima = {i: MAXIMUM_GLYPH for i, index in enumerate(curve.indices) if index in curve.maxima}
    series = [
        Series("CS", positions, list(curve.cs), CS_GLYPH, "s0", line=True, marks=maxima),
    ]
    payload_at: dict[int, float] = {}
    if curve.payloads:
        first = curve.payloads[0]
        payload_at = dict(zip(first.indices, first.payload_bytes, strict=True))
        xs = [i for i, index in enumerate(curve.indices) if index in payload_at]
        series.append(
            Series(
                f"payload ({first.name}, right)",
                xs,
                [payload_at[curve.indices[i]] for i in xs],
                PAYLOAD_GLYPH,
                "s1",
                right=True,
            )
        )
    step = max(1, math.ceil(n / 12))
    labels = {float(i): str(curve.indices[i]) for i in range(0, n, step)}

    def describe(i: int) -> str:
        index = curve.indices[i]
        text = f"split {index} {curve.afters[i]} · CS {curve.cs[i]:.2e}"
        if index in curve.maxima:
            text += f" {MAXIMUM_GLYPH} maximum"
        if index in payload_at:
            text += f" · {_bytes(payload_at[index])}"
        return text

    chart = XYChart(
        series,
        y_log=True,
        right_log=True,
        y_format=_cs,
        right_format=_bytes,
        x_labels=labels,
        describe_point=describe,
        title="split",
    )
    chart.legend_extra = f"{MAXIMUM_GLYPH} maximum"
    return Figure(chart, list(curve.indices))


def _deadline(bounds: tuple[tuple[str, float], ...], deadline: float | None) -> list[Across]:
    if deadline is not None:
        return [Across(deadline, DEADLINE_GLYPH, "deadline", f"deadline {_seconds(deadline)}")]
    return [Across(value, DEADLINE_GLYPH, "deadline", text) for text, value in bounds]


def latency_figure(bars: LatencyBars) -> Figure:
    """edge / network p95 / server stacked per deployment (the best encoding of each
    split), the deadline (or the QoS latency bound) across; items are report rows."""

    def short(bar) -> str:
        if bar.strategy == "local":
            return "L"
        if bar.strategy == "remote":
            return "R"
        return bar.label.split(" ")[1] if " " in bar.label else bar.label[:2]

    def describe(i: int) -> str:
        bar = bars.bars[i]
        return (
            f"{bar.label} {bar.encoding}: edge {_seconds(bar.edge_s)} + net "
            f"{_seconds(bar.network_s)} + server {_seconds(bar.server_s)}"
            f" · p95 {_seconds(bar.p95_s)}"
        )

    chart = StackedBars(
        labels=[short(b) for b in bars.bars],
        segments=list(LATENCY_SEGMENTS),
        values=[[b.edge_s, b.network_s, b.server_s] for b in bars.bars],
        across=_deadline(bars.latency_bounds, bars.deadline_s),
        y_format=_seconds,
        describe_bar=describe,
    )
    return Figure(chart, [b.row for b in bars.bars])


def pareto_figure(data: ParetoData) -> Figure:
    """Every deployment with a finite p95 latency and an accuracy, by latency (the order
    ← → steps through); the front as a line; a glyph per strategy, hollow ◇ on the front's
    line; items are report rows."""
    points = sorted(data.points, key=lambda p: (p.p95_s, -p.accuracy, p.row))
    marks = {
        i: STRATEGY_GLYPHS.get(p.strategy, OTHER_GLYPH) if p.feasible else "○"
        for i, p in enumerate(points)
    }
    front = Series(
        "front",
        [p.p95_s for p in data.front],
        [p.accuracy for p in data.front],
        FRONT_GLYPH,
        "front",
        line=True,
    )
    everything = Series(
        "deployments",
        [p.p95_s for p in points],
        [p.accuracy for p in points],
        "●",
        "s0",
        marks=marks,
    )

    def describe(i: int) -> str:
        p = points[i]
        text = f"{p.label} {p.encoding}: p95 {_seconds(p.p95_s)} · acc {p.accuracy:.1%}"
        if p.on_front:
            text += " · on the front"
        if not p.feasible:
            text += " · fails QoS"
        return text

    accuracies = [p.accuracy for p in points] + [v for _, v in data.accuracy_bounds]
    lo, hi = (min(accuracies), max(accuracies)) if accuracies else (0.0, 1.0)
    if hi - lo < 0.02:
        lo, hi = lo - 0.01, hi + 0.01
    across = _deadline(data.latency_bounds, data.deadline_s)
    across = [Across(a.value, "┆", "deadline", a.name, vertical=True) for a in across]
    chart = XYChart(
        [front, everything],
        across=across,
        x_format=_seconds,
        y_format=lambda v: f"{v:.0%}" if hi - lo > 0.05 else f"{v:.1%}",
        y_range=(lo, hi),
        selectable=1,
        describe_point=describe,
        title="p95 latency",
    )
    bound = "  ┆ " + across[0].name if across else ""
    chart.legend_text = f"{FRONT_GLYPH} front  ■ local  ▲ remote  ● split  ○ fails QoS{bound}"
    return Figure(chart, [p.row for p in points])


def sensitivity_figure(sweep: SensitivityMap) -> Figure:
    """The sweep's grid (rows: the other axes' values, columns: the last axis's), a letter
    per recommended deployment (the legend keys them), · where none is feasible; items are
    (row, column) cells in reading order."""
    last = sweep.axes[-1]
    rows = [
        " ".join(f"{k}={v:g}" for k, v in labels.items()) or last.key for labels in sweep.row_labels
    ]
    chart = HeatGrid(
        row_labels=rows,
        column_labels=[f"{v:g}" for v in last.values],
        cells=[list(r) for r in sweep.cells],
        categories=list(sweep.categories),
    )
    keys = [(r, c) for r in range(len(sweep.cells)) for c in range(len(last.values))]
    return Figure(chart, keys)
