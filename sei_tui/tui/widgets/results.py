"""The results pane: the live evaluation table, its progress, the recommendation, a detail."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Label, ProgressBar, Static

from sei_tui.tui.bindings import RESULTS_BINDINGS
from sei_tui.tui.format import (
    MISSING,
    attr,
    format_bytes,
    format_cs,
    format_fraction,
    format_seconds,
)
from sei_tui.tui.plots.widget import PlotView
from sei_tui.tui.widgets.model_tree import cut_labels

RECOMMENDED_MARK = "◆"
STRATEGY_ORDER = ("local", "split", "remote", "early_exit", "bottleneck")
# the strategy column is narrow: the trained strategies get short names
STRATEGY_SHORT = {"early_exit": "exit", "bottleneck": "bneck"}


class SortableText(Text):
    """A table cell that knows the value it sorts by."""

    def __init__(self, text: str, sort_key: Any, **kwargs: Any) -> None:
        super().__init__(text, **kwargs)
        self.sort_key = sort_key


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


COLUMNS: tuple[Column, ...] = (
    Column("strategy", "Strategy", 8),
    Column("split", "Split", 16),
    Column("encoding", "Enc", 6),
    Column("total_p95", "Total p95", 9),
    Column("accuracy", "Acc", 6),
    Column("qos", "QoS", 4),
    Column("payload", "Payload", 9),
    Column("head", "Head", 8),
    Column("net_p50", "Net p50", 8),
    Column("net_p95", "Net p95", 8),
    Column("tail", "Tail", 8),
    Column("cs", "CS", 8),
    Column("energy", "Edge J", 8),
)
# (column, label, best first = descending)
SORTS: tuple[tuple[str, str, bool], ...] = (
    ("total_p95", "total p95", False),
    ("accuracy", "accuracy", True),
    ("split", "split", False),
    ("payload", "payload", False),
    ("head", "head", False),
    ("net_p95", "network p95", False),
    ("cs", "CS", True),
    ("qos", "QoS", False),
    ("energy", "edge energy", False),
)


def row_key(row: Any) -> str:
    key = f"{attr(row, 'strategy')}:{attr(row, 'split_index')}:{attr(row, 'encoding')}"
    if attr(row, "exit_threshold") is not None:  # early exits: one row per threshold
        key += f":t{attr(row, 'exit_threshold')!r}"
    if attr(row, "bottleneck_channels") is not None:  # bottlenecks: one row per width
        key += f":c{attr(row, 'bottleneck_channels')}"
    if attr(row, "cuts"):  # split2: one row per pair of cuts
        key += ":cuts" + "|".join(str(k) for k in attr(row, "cuts"))
    return key


def row_cuts(row: Any) -> tuple[int, ...]:
    """The split indices a row cuts the model at: both cuts of a two-cut (split2) row, the
    split of a one-cut `split` row, none for the others."""
    if attr(row, "cuts"):
        return tuple(attr(row, "cuts"))
    if attr(row, "strategy") == "split" and attr(row, "split_index") is not None:
        return (attr(row, "split_index"),)
    return ()


def split_text(row: Any) -> str:
    """The split column: the index (with τ or c for trained strategies) and the node."""
    split_index = attr(row, "split_index")
    if attr(row, "cuts"):  # split2: both cuts
        return "2-cut " + "|".join(str(k) for k in attr(row, "cuts"))
    if split_index is None:
        return "–"
    where = f"{split_index}"
    if attr(row, "exit_threshold") is not None:
        where += f" τ{attr(row, 'exit_threshold'):.2g}"
    if attr(row, "bottleneck_channels") is not None:
        where += f" c{attr(row, 'bottleneck_channels')}"
    return f"{where} {attr(row, 'after') or ''}"


def _seconds_cell(s: float | None) -> SortableText:
    if s is None or (isinstance(s, float) and math.isinf(s)):
        return SortableText(MISSING if s is None else "lost", math.inf, justify="right")
    return SortableText(format_seconds(s), s, justify="right")


def row_cells(
    row: Any, violations: list[str], recommended: bool, colours: dict[str, str]
) -> list[SortableText]:
    strategy = attr(row, "strategy")
    split_index = attr(row, "split_index")
    shown_split = split_text(row)
    accuracy = attr(row, "accuracy")
    cs = attr(row, "cs")
    qos_ok = not violations
    by_column = {
        "strategy": SortableText(
            (RECOMMENDED_MARK + " " if recommended else "  ")
            + STRATEGY_SHORT.get(strategy, strategy),
            STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else len(STRATEGY_ORDER),
        ),
        "split": SortableText(shown_split[:16], -1 if split_index is None else split_index),
        "encoding": SortableText(attr(row, "encoding") or MISSING, attr(row, "encoding") or ""),
        "total_p95": _seconds_cell(attr(row, "p95_latency")),
        "accuracy": SortableText(
            format_fraction(accuracy), -1.0 if accuracy is None else accuracy, justify="right"
        ),
        "qos": SortableText(
            "pass" if qos_ok else "FAIL",
            0 if qos_ok else 1,
            style=Style(color=colours.get("success" if qos_ok else "error"), bold=not qos_ok),
        ),
        "payload": SortableText(
            format_bytes(attr(row, "payload_bytes")), attr(row, "payload_bytes"), justify="right"
        ),
        "head": _seconds_cell(attr(row, "head_s")),
        "net_p50": _seconds_cell(attr(row, "network_p50_s")),
        "net_p95": _seconds_cell(attr(row, "network_p95_s")),
        "tail": _seconds_cell(attr(row, "tail_s")),
        "cs": SortableText(format_cs(cs), -1.0 if cs is None else cs, justify="right"),
        "energy": SortableText(
            format_joules(attr(row, "edge_energy_j")),
            math.inf if attr(row, "edge_energy_j") is None else attr(row, "edge_energy_j"),
            justify="right",
        ),
    }
    cells = [by_column[column.key] for column in COLUMNS]
    if recommended:
        highlight = Style(bold=True, color=colours.get("success"))
        for column, cell in zip(COLUMNS, cells, strict=True):
            if column.key != "qos":
                cell.stylize(highlight)
    return cells


class ResultsTable(DataTable):
    BINDINGS = RESULTS_BINDINGS

    class ExitThresholdStep(Message):
        """Raise (+1) or lower (-1) the threshold of the early-exit row under the cursor."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    class ColumnsCut(Message):
        """How many columns the view cuts off on the left and on the right."""

        def __init__(self, left: int, right: int) -> None:
            super().__init__()
            self.left = left
            self.right = right

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.sort_index = 0
        self.sort_reverse = False
        self._cut: tuple[int, int] | None = None

    def columns_cut(self) -> tuple[int, int]:
        """(columns left of the view, columns not wholly in it on the right)."""
        view_lo = round(self.scroll_x)
        view_hi = view_lo + self.scrollable_content_region.width
        left = right = x = 0
        for column in self.ordered_columns:
            width = column.get_render_width(self)
            if x < view_lo:
                left += 1
            elif x + width > view_hi:
                right += 1
            x += width
        return left, right

    def _report_cut(self) -> None:
        cut = self.columns_cut()
        if cut != self._cut:
            self._cut = cut
            self.post_message(self.ColumnsCut(*cut))

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        self._report_cut()

    def on_resize(self, _event: Any) -> None:
        self.call_after_refresh(self._report_cut)

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.label, key=column.key, width=column.width)

    def apply_sort(self) -> None:
        column, _, descending = SORTS[self.sort_index]
        if self.row_count:
            self.sort(
                column, key=lambda cell: cell.sort_key, reverse=descending != self.sort_reverse
            )

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        keys = [key for key, _, _ in SORTS]
        column = str(event.column_key.value)
        if column not in keys:
            return
        index = keys.index(column)
        self.sort_reverse = not self.sort_reverse if index == self.sort_index else False
        self.sort_index = index
        self.apply_sort()

    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.apply_sort()
        self.notify(f"sorted by {SORTS[self.sort_index][1]}", timeout=2)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.apply_sort()

    def action_exit_threshold(self, step: int) -> None:
        self.post_message(self.ExitThresholdStep(step))


class ResultsPane(Vertical):
    """Rows are kept by key and updated in place; the view re-renders only changed cells."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: dict[str, Any] = {}
        self.order: list[str] = []  # arrival order (the ranking does not depend on it)
        self.violations: dict[str, list[str]] = {}
        self.recommended_key: str | None = None
        self.colours: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="sweep-line"):
            yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="sweep-progress")
            yield Label("waiting for the model and the scenario", id="sweep-status")
        with ContentSwitcher(initial="results-table", id="results-views"):
            yield ResultsTable(id="results-table")
            yield PlotView(id="latency-plot")
            yield PlotView(id="pareto-plot")
            yield PlotView(id="timeline-plot")
        yield Static("", id="recommendation")
        yield Static("Select a row to see its latency breakdown.", id="detail")

    @property
    def table(self) -> ResultsTable:
        return self.query_one(ResultsTable)

    def on_results_table_columns_cut(self, message: ResultsTable.ColumnsCut) -> None:
        self.border_subtitle = columns_hint(message.left, message.right)

    def set_progress(self, fraction: float, label: str) -> None:
        """The sweep's progress bar over the start of the pane's first row; once the work
        is done the bar goes and the status has the whole row."""
        bar = self.query_one("#sweep-progress", ProgressBar)
        bar.update(progress=fraction)
        bar.display = fraction < 1.0
        self.query_one("#sweep-status", Label).update(label, layout=False)

    def put_row(self, row: Any) -> None:
        """Add the row, or update its cells in place when its key is already shown."""
        key = row_key(row)
        self.rows[key] = row
        if key not in self.order:
            self.order.append(key)
        violations = self.violations.get(key, list(attr(row, "violations", []) or []))
        self.violations[key] = violations
        cells = row_cells(row, violations, key == self.recommended_key, self.colours)
        table = self.table
        if key in table.rows:
            shown = table.get_row(key)
            for column, cell, old in zip(COLUMNS, cells, shown, strict=True):
                # Any update re-renders the whole table: touch only cells that look
                # different; a new value that prints the same only changes the sort key.
                if cell != old or cell.style != old.style:
                    table.update_cell(key, column.key, cell)
                else:
                    old.sort_key = cell.sort_key
        else:
            table.add_row(*cells, key=key)

    def refresh_row(self, key: str) -> None:
        if key in self.rows:
            self.put_row(self.rows[key])

    def set_qos_result(self, violations: dict[str, list[str]], recommended_key: str | None):
        previous = self.recommended_key
        changed = {k for k, v in violations.items() if self.violations.get(k) != v}
        self.violations.update(violations)
        self.recommended_key = recommended_key
        with self.app.batch_update():
            for key in changed | {previous, recommended_key} - {None}:
                self.refresh_row(key)

    def show_ranking(self, ranking: Any) -> int | None:
        """Mark the QoS result and the recommendation (◆) of the core's Ranking, and say
        why; the split index of the recommended row (None: not a split, or none)."""
        best = ranking.recommended
        key = None if best is None else row_key(best)
        self.set_qos_result({row_key(r): list(r.violations) for r in ranking.rows}, key)
        row = self.rows.get(key) if key else None
        self.query_one("#recommendation", Static).update(
            layout=False, content=recommendation_text(ranking.recommendation, row)
        )
        return None if row is None else attr(row, "split_index")

    def recolour(self, colours: dict[str, str]) -> None:
        self.colours = colours
        with self.app.batch_update():
            for key in self.rows:
                self.refresh_row(key)

    def remove_key(self, key: str) -> None:
        self.rows.pop(key, None)
        self.violations.pop(key, None)
        if key in self.order:
            self.order.remove(key)
        if key == self.recommended_key:
            self.recommended_key = None
        if key in self.table.rows:
            self.table.remove_row(key)

    def clear_rows(self) -> None:
        self.rows.clear()
        self.order.clear()
        self.violations.clear()
        self.recommended_key = None
        self.table.clear()

    def rows_in_order(self) -> list[Any]:
        return [self.rows[key] for key in self.order]

    def focus_key(self, key: str) -> None:
        table = self.table
        if key in table.rows:
            table.move_cursor(row=table.get_row_index(key))

    def key_for_split(self, split_index: int) -> str | None:
        """The row to show for a split: the recommended one if it cuts there, else the
        fastest row that cuts there (a one-cut `split` row, or a two-cut row with the
        split as either cut)."""
        candidates = [k for k in self.order if split_index in row_cuts(self.rows[k])]
        best = self.rows.get(self.recommended_key) if self.recommended_key else None
        if best is not None and (
            split_index in row_cuts(best) or attr(best, "split_index") == split_index
        ):  # an early exit or bottleneck there too, when it is the recommendation
            return self.recommended_key
        if not candidates:
            return None
        return min(candidates, key=lambda k: _finite(attr(self.rows[k], "p95_latency")))

    def recommended_cuts(self) -> tuple[int, ...]:
        """The splits the recommended row cuts at (both of a two-cut row; none: local,
        remote or no recommendation)."""
        row = self.rows.get(self.recommended_key) if self.recommended_key else None
        return () if row is None else row_cuts(row)

    def cursor_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - an empty or shrinking table has no cursor row
            return None


def columns_hint(left: int, right: int) -> str:
    """The pane's subtitle: the columns the table cuts and the keys that show them."""
    parts = []
    if left:
        parts.append(f"← {left} column{'s' if left > 1 else ''}")
    if right:
        parts.append(f"→ {right} more column{'s' if right > 1 else ''}")
    hint = " · ".join(parts)
    if hint:
        hint += " (← → scroll) · "
    return hint + "g charts"


def _finite(x: float | None) -> float:
    return math.inf if x is None else x


def breakdown_bar(row: Any, width: int, colours: dict[str, str]) -> Text:
    """head / network / tail as one bar, each part with its own glyph (readable without
    colour) and theme colour. Encoding counts with the head (edge side), decoding with the
    tail (server side)."""
    parts = [
        ("head", edge_seconds(row), "█"),
        ("network", attr(row, "network_p95_s") or 0.0, "▓"),
        ("tail", server_seconds(row), "░"),
    ]
    finite = [(n, s if math.isfinite(s) else 0.0, g) for n, s, g in parts]
    total = sum(s for _, s, _ in finite)
    text = Text()
    if total <= 0:
        return Text("·" * width, style="dim")
    used = 0
    for i, (name, seconds, glyph) in enumerate(finite):
        cells = width - used if i == len(finite) - 1 else round(width * seconds / total)
        cells = max(0, min(cells, width - used))
        used += cells
        text.append(glyph * cells, style=Style(color=colours.get(f"sei-{name}")))
    return text


def edge_seconds(row: Any) -> float:
    return (attr(row, "head_s") or 0.0) + (attr(row, "encode_s") or 0.0)


def server_seconds(row: Any) -> float:
    return (attr(row, "decode_s") or 0.0) + (attr(row, "tail_s") or 0.0)


def _part(name: str, seconds: float, codec_name: str, codec_s: float | None) -> str:
    text = f"{name} {format_seconds(seconds)}"
    if codec_s:
        text += f" ({codec_name} {format_seconds(codec_s)})"
    return text


def detail_text(
    row: Any,
    violations: list[str],
    recommendation: Any,
    is_recommended: bool,
    colours,
    measured: dict | None = None,
) -> Text:
    text = Text()
    title = f"{attr(row, 'strategy')}"
    if attr(row, "cuts"):
        title += " cuts " + cut_labels(attr(row, "cuts"))
    elif attr(row, "split_index") is not None:
        title += f" after {attr(row, 'after')} (split {attr(row, 'split_index')})"
    hops = attr(row, "hop_payload_bytes")
    shown_bytes = (
        ", ".join(format_bytes(b) for b in hops)
        if hops
        else format_bytes(attr(row, "payload_bytes"))
    )
    title += f" · {attr(row, 'encoding')} · {shown_bytes}"
    text.append(title + "\n", style="bold")
    text.append_text(breakdown_bar(row, 40, colours))
    text.append(
        f"  total p95 {format_seconds(attr(row, 'p95_latency'))}\n"
        f"█ {_part('head', edge_seconds(row), 'enc', attr(row, 'encode_s'))}  "
        f"▓ network p95 {format_seconds(attr(row, 'network_p95_s'))}  "
        f"░ {_part('tail', server_seconds(row), 'dec', attr(row, 'decode_s'))}\n"
    )
    text.append_text(tiers_text(row))
    text.append_text(trained_text(row))
    text.append_text(energy_text(row))
    text.append(measured_text(row, measured))
    if violations:
        text.append("violates: " + ", ".join(violations), style=Style(color=colours.get("error")))
    else:
        text.append("meets every constraint", style=Style(color=colours.get("success")))
    if is_recommended and recommendation is not None:
        text.append(f"\n{RECOMMENDED_MARK} recommended: {attr(recommendation, 'why')}")
    # last: on a narrow screen it is what the detail box cuts
    text.append(codec_scale_text(row), style="dim")
    return text


def format_joules(value: float | None) -> str:
    if value is None:
        return MISSING
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} J"


def energy_text(row: Any) -> Text:
    """Energy per frame: the edge's (compute + encode, radio) and every node's; empty when
    the scenario gives the edge no power."""
    edge = attr(row, "edge_energy_j")
    if edge is None:
        return Text()
    radio = attr(row, "edge_radio_energy_j") or 0.0
    return Text(
        f"energy per frame: edge {format_joules(edge)} (compute+enc "
        f"{format_joules(edge - radio)}, radio {format_joules(radio)}) · all nodes "
        f"{format_joules(attr(row, 'total_energy_j'))}\n"
    )


def measured_text(row: Any, measured: dict | None) -> str:
    """The attached `sei run` figures (`sei tui --run FILE`) when they measured this row's
    deployment (strategy, split index, encoding, and the exit's threshold or the
    bottleneck's channels), one line; "" otherwise."""
    if not measured or not _measured_this(row, measured):
        return ""
    parts = measured.get("parts") or {}
    return (
        f"measured ({measured.get('frames')} frames): p50 "
        f"{format_seconds(measured.get('p50_latency'))}, p95 "
        f"{format_seconds(measured.get('p95_latency'))}, p99 "
        f"{format_seconds(measured.get('p99_latency'))}, accuracy "
        f"{format_fraction(measured.get('accuracy'))} · head "
        f"{format_seconds(parts.get('head'))}, enc {format_seconds(parts.get('encode'))}, "
        f"network+server {format_seconds(parts.get('network_server'))}\n"
    )


def _measured_this(row: Any, measured: dict) -> bool:
    """Whether a `sei run` report measured this row's deployment."""
    strategy = measured.get("strategy") or "split"
    if (
        attr(row, "strategy") != strategy
        or attr(row, "split_index") != measured.get("split_index")
        or attr(row, "encoding") != measured.get("encoding")
    ):
        return False
    part = measured.get("adapters") or {}
    if strategy == "early_exit":
        return attr(row, "exit_threshold") == part.get("threshold")
    if strategy == "bottleneck":
        return attr(row, "bottleneck_channels") == part.get("channels")
    return strategy == "split"


def codec_scale_text(row: Any) -> str:
    """The factors that carried enc/dec from this machine to the nodes (where they came
    from is the row's `codec_scale`, in the reports), or "" for a row without them."""
    if not attr(row, "codec_scale"):
        return ""
    encode, decode = attr(row, "encode_scale"), attr(row, "decode_scale")
    return f"  ·  this host's enc ×{encode:.3g} on the edge, dec ×{decode:.3g} on the server"


def tiers_text(row: Any) -> Text:
    """A two-cut row's compute per node (the tail above is the edge box's and the
    server's together); empty for the other strategies."""
    nodes, middle = attr(row, "nodes"), attr(row, "middle_s")
    if not nodes or len(nodes) != 3 or middle is None:
        return Text()
    server = (attr(row, "tail_s") or 0.0) - middle
    return Text(
        f"compute: {nodes[0]} {format_seconds(attr(row, 'head_s'))} · {nodes[1]} "
        f"{format_seconds(middle)} · {nodes[2]} {format_seconds(server)}\n"
    )


def trained_text(row: Any) -> Text:
    """The trained strategies' own line: an early exit's threshold, exit rate and the p95
    of each path; a bottleneck's width. Empty for the other strategies."""
    if attr(row, "strategy") == "early_exit":
        rate = attr(row, "exit_rate")
        return Text(
            f"exit at τ {attr(row, 'exit_threshold'):.3g} (< > change): "
            f"{format_fraction(rate)} answered on the edge, p95 "
            f"{format_seconds(attr(row, 'exit_path_p95_latency'))}; sent on, p95 "
            f"{format_seconds(attr(row, 'offload_path_p95_latency'))} · trained on "
            f"{attr(row, 'train_images')} images\n"
        )
    if attr(row, "strategy") == "bottleneck":
        return Text(
            f"bottleneck: {attr(row, 'bottleneck_channels')} channels travel · trained on "
            f"{attr(row, 'train_images')} images\n"
        )
    return Text()


def recommendation_text(recommendation: Any, row: Any) -> str:
    """One line: the recommended deployment and why, or why there is none."""
    if recommendation is None:
        return ""
    why = attr(recommendation, "why", "")
    if row is None:
        return f"No recommendation: {why}"
    where = attr(row, "strategy")
    if attr(row, "split_index") is not None:
        where = f"split after {attr(row, 'after')}"
    text = f"{RECOMMENDED_MARK} {where} · {attr(row, 'encoding')} — {why}"
    binding, margin = attr(recommendation, "binding"), attr(recommendation, "margin")
    if binding is not None and margin is not None:
        shown = format_seconds(margin) if binding.endswith(("latency", "_s")) else f"{margin:g}"
        text += f" (tightest: {binding}, margin {shown})"
    return text
