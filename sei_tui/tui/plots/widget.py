"""`PlotView`: shows one chart, steps a cursor through its items (points, bars, cells) with
plain keys and says which item is selected (`PlotView.Selected`)."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from sei_tui.tui.bindings import PLOT_BINDINGS
from sei_tui.tui.plots.palette import plot_styles


class PlotView(Widget, can_focus=True):
    """A chart (`sei_tui.tui.plots.charts`) drawn to the widget's size in the theme's
    styles; the cursor moves with ← → Home End and posts `Selected`."""

    BINDINGS = PLOT_BINDINGS
    DEFAULT_CSS = """
    PlotView { height: 1fr; }
    PlotView:focus { background-tint: $foreground 4%; }
    """
    cursor: reactive[int | None] = reactive(None)

    class Selected(Message):
        def __init__(self, plot: PlotView, index: int) -> None:
            super().__init__()
            self.plot = plot
            self.index = index

        @property
        def control(self) -> PlotView:
            return self.plot

    def __init__(self, chart: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chart = chart
        self.styles_by_role: dict[str, Style] = {}

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())
        self._restyle()

    def _restyle(self) -> None:
        self.styles_by_role = plot_styles(self.app.current_theme)
        self.refresh()

    def set_chart(self, chart: Any, cursor: int | None = None) -> None:
        self.chart = chart
        items = chart.items if chart is not None else 0
        self.set_reactive(
            PlotView.cursor, cursor if cursor is not None and cursor < items else None
        )
        self.refresh()

    def show_cursor(self, index: int | None) -> None:
        """Move the cursor without posting `Selected` (the selection came from elsewhere)."""
        self.set_reactive(PlotView.cursor, index)
        self.refresh()

    def render(self) -> Text:
        if self.chart is None:
            return Text("no data yet", style="dim")
        width, height = self.content_size.width, self.content_size.height
        lines = self.chart.draw(width, height, self.cursor).lines(self.styles_by_role)
        return Text("\n", no_wrap=True, end="").join(lines)

    def watch_cursor(self, index: int | None) -> None:
        self.refresh()
        if index is not None:
            self.post_message(self.Selected(self, index))

    def action_step(self, step: int) -> None:
        items = self.chart.items if self.chart is not None else 0
        if not items:
            return
        if self.cursor is None:
            self.cursor = 0 if step > 0 else items - 1
        else:
            self.cursor = max(0, min(items - 1, self.cursor + step))

    def action_jump(self, index: int) -> None:
        items = self.chart.items if self.chart is not None else 0
        if items:
            self.cursor = index % items
