"""The plots and the rest of the screen following each other.

- the CS curve under the model tree: its cursor is the tree's split point (moving either
  moves the other; ← → on the plot choose the split as Enter in the tree does);
- the results' latency-by-split chart and latency-vs-accuracy scatter (`g` cycles table →
  latency → accuracy): selecting a bar or a point selects its row in the table (and so its
  split in the tree and the detail below); moving in the table moves their cursor.
The charts are built from the core's figure data (`sei_tui.core.figures.data`), the same
the figure files draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widgets import ContentSwitcher

from sei_tui.core.figures.data import (
    cs_curve_from_saliency,
    latency_bars_from_report,
    pareto_from_report,
)
from sei_tui.tui.format import attr
from sei_tui.tui.plots.figures import Figure, cs_figure, latency_figure, pareto_figure
from sei_tui.tui.plots.timeline import timeline_data, timeline_figure
from sei_tui.tui.plots.widget import PlotView
from sei_tui.tui.widgets.model_tree import ModelTree
from sei_tui.tui.widgets.results import ResultsPane, row_key

if TYPE_CHECKING:
    from sei_tui.tui.app import SeiApp

RESULT_VIEWS = ("results-table", "latency-plot", "pareto-plot", "timeline-plot")
POLICY_MODES = ("row", "adaptive", "oracle")  # o cycles: the selected row's static run first
VIEW_TITLES = {
    "results-table": "Results",
    "latency-plot": "Results · latency by split",
    "pareto-plot": "Results · latency vs accuracy",
    "timeline-plot": "Results · timeline over the trace",
}


def report_data(ranking: Any, model: str, scenario: str, qos: str) -> dict:
    """The JSON report's dict of the rows on screen (what `sei analyze` would write)."""
    from sei_tui.core.evaluation.report import AnalysisReport

    report = AnalysisReport(
        model=model,
        scenario=scenario,
        qos=qos,
        rows=list(ranking.rows),
        recommendation=ranking.recommendation,
    )
    return report.to_dict()


class PlotViews:
    def __init__(self, app: SeiApp) -> None:
        self.app = app
        self.cs: Figure | None = None
        self.latency: Figure | None = None
        self.pareto: Figure | None = None
        self.row_keys: list[str] = []  # report row index -> table row key
        self.policies: list[Any] = []  # PolicyResults over `policy_rows`
        self.policy_rows: list[Any] = []
        self.policy_mode = POLICY_MODES[0]
        self.deadline: float | None = None
        self.timeline: Any = None  # the TimelineData shown

    # ------------------------------------------------------------------ the CS curve
    def show_saliency(self, graph: Any, saliency: Any | None) -> None:
        plot = self.app.view("#cs-plot", PlotView)
        if saliency is None or not attr(saliency, "points"):
            self.cs = None
            plot.set_chart(None)
            return
        curve = cs_curve_from_saliency(
            saliency, attr(graph, "split_points", []), title=str(attr(graph, "name", ""))
        )
        self.cs = cs_figure(curve)
        selected = self.app.view(ModelTree).selected
        plot.set_chart(self.cs.chart, None if selected is None else self.cs.index_of(selected))

    def clear(self) -> None:
        self.cs = self.latency = self.pareto = None
        self.row_keys = []
        self.policies, self.policy_rows = [], []
        for plot_id in ("#cs-plot", "#latency-plot", "#pareto-plot", "#timeline-plot"):
            self.app.view(plot_id, PlotView).set_chart(None)

    def tree_moved(self, split_index: int | None) -> None:
        """The tree's cursor is on `split_index` (None: not a split point)."""
        if self.cs is None or split_index is None:
            return
        index = self.cs.index_of(split_index)
        if index is not None:
            self.app.view("#cs-plot", PlotView).show_cursor(index)

    # ------------------------------------------------------------------ the results' charts
    def show_ranking(self, ranking: Any) -> None:
        app = self.app
        scenario = attr(app.scenario, "name", "") or ""
        data = report_data(ranking, app.model_spec, scenario, app.qos_text)
        self.row_keys = [row_key(r) for r in ranking.rows]
        self.latency = latency_figure(latency_bars_from_report(data))
        self.pareto = pareto_figure(pareto_from_report(data))
        cursor = app.view(ResultsPane).cursor_key()
        app.view("#latency-plot", PlotView).set_chart(self.latency.chart)
        app.view("#pareto-plot", PlotView).set_chart(self.pareto.chart)
        self.table_moved(cursor)
        bounds = self.latency.chart.across
        self.deadline = min((a.value for a in bounds), default=None)
        app.pipeline.policies(ranking, self.deadline)

    # ------------------------------------------------------------------ the timeline
    def show_policies(self, policies: list[Any], rows: list[Any]) -> None:
        self.policies, self.policy_rows = list(policies), list(rows)
        self.show_timeline()

    def cycle_policy(self) -> str:
        self.policy_mode = POLICY_MODES[(POLICY_MODES.index(self.policy_mode) + 1) % 3]
        self.show_timeline()
        return self.policy_mode

    def _policy(self) -> tuple[Any, str] | None:
        """The PolicyResult the timeline shows and its label."""
        if self.policy_mode == "row":
            key = self.app.view(ResultsPane).cursor_key()
            keys = [row_key(r) for r in self.policy_rows]
            row = keys.index(key) if key in keys else 0
            for p in self.policies:
                if p.policy == "static" and p.row == row:
                    return p, f"static {_row_label(self.policy_rows[row])}"
            return None
        for p in self.policies:
            if p.policy == self.policy_mode:
                label = "oracle (lower bound)" if p.policy == "oracle" else p.policy
                return p, label
        return None

    def show_timeline(self) -> None:
        plot = self.app.view("#timeline-plot", PlotView)
        scenario = self.app.scenario
        link = next((k for k in getattr(scenario, "links", []) if getattr(k, "trace", None)), None)
        chosen = self._policy() if self.policies else None
        if link is None or chosen is None:
            plot.set_chart(None)
            return
        result, label = chosen
        flows = getattr(scenario, "flows", [])
        fps = float(getattr(flows[0], "fps", 0.0) or 0.0) if flows else 0.0
        data = timeline_data(result, link.trace.data, link.name, fps, self.deadline, label)
        self.timeline = data
        rows = self.policy_rows
        cursor = plot.cursor
        plot.set_chart(
            timeline_figure(data, lambda r: _row_label(rows[r]) if r < len(rows) else "?"),
            cursor,
        )

    def table_moved(self, key: str | None) -> None:
        """The table's cursor is on the row `key`: the charts' cursors follow."""
        if key is None or key not in self.row_keys:
            return
        if self.policies and self.policy_mode == "row":
            self.show_timeline()
        row = self.row_keys.index(key)
        if self.pareto is not None:
            self.app.view("#pareto-plot", PlotView).show_cursor(self.pareto.index_of(row))
        if self.latency is not None:
            self.app.view("#latency-plot", PlotView).show_cursor(self._bar_of(key))

    def _bar_of(self, key: str) -> int | None:
        """The bar of the row's deployment group (its strategy and split)."""
        strategy, split = key.split(":")[:2]
        for i, row in enumerate(self.latency.keys if self.latency else []):
            other = self.row_keys[row].split(":")[:2]
            if other == [strategy, split]:
                return i
        return None

    # ------------------------------------------------------------------ a plot's cursor moved
    def selected(self, plot: PlotView, index: int) -> None:
        app = self.app
        if plot.id == "cs-plot" and self.cs is not None:
            split_index = self.cs.keys[index]
            app.view(ModelTree).show_split(split_index)
            app.selection.select_split(split_index)
            return
        if plot.id == "timeline-plot":
            return  # a frame: the legend line says which row it used
        figure = {"latency-plot": self.latency, "pareto-plot": self.pareto}.get(str(plot.id))
        if figure is None or index >= len(figure.keys):
            return
        key = self.row_keys[figure.keys[index]]
        app.view(ResultsPane).focus_key(key)

    # ------------------------------------------------------------------ table / charts
    def cycle_view(self) -> str:
        """Show the next of table → latency chart → accuracy scatter; its id."""
        switcher = self.app.view("#results-views", ContentSwitcher)
        views = RESULT_VIEWS if self.policies else RESULT_VIEWS[:-1]
        current = switcher.current or views[0]
        at = views.index(current) if current in views else -1
        following = views[(at + 1) % len(views)]
        switcher.current = following
        self.app.view(f"#{following}").focus()
        self.app.view(ResultsPane).border_title = VIEW_TITLES[following]
        return following


def _row_label(row: Any) -> str:
    where = attr(row, "strategy")
    if attr(row, "split_index") is not None:
        where += f" {attr(row, 'split_index')} {attr(row, 'after') or ''}".rstrip()
    return f"{where} {attr(row, 'encoding') or ''}".rstrip()
