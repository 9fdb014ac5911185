"""`m`: the sensitivity map. A small bitrate x loss sweep for the current model and scenario
runs in a worker thread (cancellable, progress shown); the grid is the core's
(`core.evaluation.sensitivity`), one letter per recommended deployment, `-` where nothing
meets the QoS; arrows move a cursor (drawn as [X], legible without colour) and the panel
below shows that point's recommended row."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from sei_tui.core.errors import SeiCancelled
from sei_tui.core.evaluation.sensitivity import (
    INFEASIBLE,
    MISSING,
    SensitivityGrid,
    format_axis_value,
    legend_lines,
    sensitivity_grids,
)
from sei_tui.core.figures.data import sweep_label
from sei_tui.core.units import format_duration
from sei_tui.tui.bindings import SENSITIVITY_BINDINGS

# A few values each: a map in seconds, not minutes (`sei analyze --sweep` for more).
DEFAULT_SWEEP = "bitrate=1e6:1e8:5,loss=0:0.04:3"

SweepRun = Callable[[Callable[[float, str], None], Callable[[], bool]], list[dict]]


def cell_marks(grid: SensitivityGrid) -> list[list[str]]:
    """[y][x] the mark of each cell: the legend letter, `-` infeasible, `?` missing."""
    return [
        [
            grid.letter(c) if s == "feasible" else (INFEASIBLE if s == "infeasible" else MISSING)
            for c, s in zip(cells, state, strict=True)
        ]
        for cells, state in zip(grid.cells, grid.state, strict=True)
    ]


def grid_text(grid: SensitivityGrid, cursor: tuple[int, int] | None) -> Text:
    """The grid with the cursor cell in brackets (and reversed where colour is on)."""
    heads = [format_axis_value(grid.x, v) for v in grid.x_values]
    ylabels = [format_axis_value(grid.y, v) for v in grid.y_values] if grid.y else [""]
    corner = f"{grid.y} \\ {grid.x}" if grid.y else grid.x
    left = max(len(corner), *(len(t) for t in ylabels))
    width = max(3, *(len(h) for h in heads))
    text = Text(corner.ljust(left) + " " + " ".join(h.rjust(width) for h in heads) + "\n")
    for yi, (label, marks) in enumerate(zip(ylabels, cell_marks(grid), strict=True)):
        text.append(label.ljust(left))
        for xi, mark in enumerate(marks):
            text.append(" ")
            if cursor == (xi, yi):
                text.append(" " * (width - 3))
                text.append(f"[{mark}]", style="bold reverse")
            else:
                text.append(f"{mark} ".rjust(width))
        text.append("\n")
    return text


def point_detail(grid: SensitivityGrid, point: Mapping | None, x: int, y: int) -> str:
    """The cell's values of the axes and its recommended row (or why there is none)."""
    where = [f"{grid.x} = {format_axis_value(grid.x, grid.x_values[x])}"]
    if grid.y:
        where.append(f"{grid.y} = {format_axis_value(grid.y, grid.y_values[y])}")
    lines = [", ".join(where)]
    if point is None:
        lines.append(f"{MISSING} not computed")
        return "\n".join(lines)
    label = sweep_label(point)
    if label is None:
        lines.append(f"{INFEASIBLE} infeasible: nothing meets the QoS")
        if point.get("why"):
            lines.append(str(point["why"]))
        return "\n".join(lines)
    p95 = point.get("p95_latency")
    accuracy = point.get("accuracy")
    lines.append(f"feasible: {label}")
    lines.append(
        "p95 "
        + (
            format_duration(float(f"{p95:.3g}"))
            if isinstance(p95, int | float) and math.isfinite(p95)
            else "—"
        )
        + "   accuracy "
        + (f"{accuracy:.3f}" if isinstance(accuracy, int | float) else "—")
    )
    return "\n".join(lines)


class SensitivityScreen(Screen[None]):
    BINDINGS = SENSITIVITY_BINDINGS

    def __init__(self, run: SweepRun, title: str) -> None:
        super().__init__()
        self._run = run
        self._title = title
        self.points: list[dict] = []
        self.grid: SensitivityGrid | None = None
        self.cursor = (0, 0)
        self._worker: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title, id="sens-title")
        yield ProgressBar(total=1.0, show_eta=False, id="sens-progress")
        yield Static("sweeping…", id="sens-status")
        yield Static("", id="sens-grid")
        yield Static("", id="sens-detail")
        yield Static("", id="sens-legend")
        yield Footer()

    def on_mount(self) -> None:
        self._worker = self.run_worker(
            self._sweep, name="sensitivity", group="sensitivity", thread=True, exit_on_error=False
        )

    def _sweep(self) -> list[dict]:
        worker = get_current_worker()

        def progress(fraction: float, label: str) -> None:
            if worker.is_cancelled:
                raise SeiCancelled()
            self.app.call_from_thread(self._progress, fraction, label)

        return self._run(progress, lambda: worker.is_cancelled)

    def _progress(self, fraction: float, label: str) -> None:
        self.query_one("#sens-progress", ProgressBar).update(progress=fraction)
        self.query_one("#sens-status", Static).update(f"sweeping… {label} {fraction:.0%}")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._worker:
            return
        status = self.query_one("#sens-status", Static)
        if event.state == WorkerState.SUCCESS:
            self.query_one("#sens-progress", ProgressBar).update(progress=1.0)
            self.show_points(event.worker.result or [])
        elif event.state == WorkerState.CANCELLED:
            status.update("sweep stopped (escape closes)")
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, SeiCancelled):
                status.update("sweep stopped (escape closes)")
            else:
                status.update(f"sweep failed: {error}")

    def show_points(self, points: Sequence[Mapping]) -> None:
        self.points = [dict(p) for p in points]
        grids = sensitivity_grids(self.points)
        status = self.query_one("#sens-status", Static)
        if not grids:
            status.update("the sweep gave no point")
            return
        self.grid = grids[0]
        self.cursor = (0, 0)
        status.update(f"{len(self.points)} points; arrows move, escape closes")
        self.query_one("#sens-legend", Static).update(
            "Legend:\n" + "\n".join(legend_lines(grids[:1]))
        )
        self._redraw()

    def point_at(self, x: int, y: int) -> dict | None:
        grid = self.grid
        if grid is None:
            return None
        xv = grid.x_values[x]
        yv = grid.y_values[y]
        for point in self.points:
            values = point["values"]
            if float(values[grid.x]) == xv and (grid.y is None or float(values[grid.y]) == yv):
                return point
        return None

    def detail_text(self) -> str:
        if self.grid is None:
            return ""
        x, y = self.cursor
        return point_detail(self.grid, self.point_at(x, y), x, y)

    def _redraw(self) -> None:
        if self.grid is None:
            return
        self.query_one("#sens-grid", Static).update(grid_text(self.grid, self.cursor))
        self.query_one("#sens-detail", Static).update(self.detail_text())

    def action_move(self, dx: int, dy: int) -> None:
        if self.grid is None:
            return
        x = min(max(self.cursor[0] + dx, 0), len(self.grid.x_values) - 1)
        y = min(max(self.cursor[1] + dy, 0), len(self.grid.y_values) - 1)
        self.cursor = (x, y)
        self._redraw()

    def action_cancel_sweep(self) -> None:
        if self._worker is not None and self._worker.is_running:
            self._worker.cancel()
            self.query_one("#sens-status", Static).update("stopping the sweep…")

    def action_close(self) -> None:
        self.action_cancel_sweep()
        self.app.pop_screen()
