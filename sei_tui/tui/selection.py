"""Split selection: the model tree and the results table follow each other.

Choosing a split in the tree (or jumping between candidates with [ and ]) moves the
table's cursor to the fastest row that cuts there; moving the cursor in the table shows
its split in the tree, both cuts (① ②) of a two-cut row. The detail under the table
describes the row under the cursor, and the network pane draws its deployment along the
path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Label, Static

from sei_tui.tui.format import attr
from sei_tui.tui.widgets.model_tree import ModelTree
from sei_tui.tui.widgets.network import NetworkPane
from sei_tui.tui.widgets.results import ResultsPane, detail_text

if TYPE_CHECKING:
    from sei_tui.tui.app import SeiApp


class SplitSelection:
    def __init__(self, app: SeiApp) -> None:
        self.app = app
        self._syncing = False  # the cursor moves because the tree asked: do not echo back

    def select_split(self, split_index: int) -> None:
        app = self.app
        results = app.view(ResultsPane)
        key = results.key_for_split(split_index)
        if key is None:
            why = " (evaluating…)" if app.sweep_running else " (not a candidate split)"
            app.view("#model-status", Label).update(
                layout=False, content=f"split {split_index}: no result yet" + why
            )
            return
        self._syncing = True
        try:
            results.focus_key(key)
        finally:
            self._syncing = False
        # the tree's cursor stays on the split chosen, which may be the row's second cut
        app.view(ModelTree).mark_cuts(attr(results.rows[key], "cuts") or ())
        self.refresh_detail()

    def jump_candidate(self, step: int) -> None:
        """The next (step 1) or previous (-1) CS maximum, or split point when there are
        no maxima; wraps around."""
        tree = self.app.view(ModelTree)
        candidates = tree.maxima or tree.split_indices
        if not candidates:
            return
        current = tree.selected
        if current is None:
            target = candidates[0] if step > 0 else candidates[-1]
        elif step > 0:
            target = next((c for c in candidates if c > current), candidates[0])
        else:
            target = next((c for c in reversed(candidates) if c < current), candidates[-1])
        tree.show_split(target)
        self.select_split(target)

    def row_highlighted(self, key: str | None) -> None:
        self.refresh_detail()
        if self._syncing:
            return
        row = self.app.view(ResultsPane).rows.get(key)
        if row is None:
            return
        tree = self.app.view(ModelTree)
        cuts = tuple(attr(row, "cuts") or ())
        if cuts and tree.selected in cuts:
            # the tree's split is one of the row's cuts (perhaps chosen there, its second
            # cut: the highlight arrives after `_syncing` is over): the cursor stays
            tree.mark_cuts(cuts)
        elif cuts:
            tree.show_split(cuts[0], cuts)
        elif attr(row, "split_index") is not None:
            tree.show_split(attr(row, "split_index"))
        else:
            tree.mark_cuts(())

    def refresh_detail(self) -> None:
        app = self.app
        results = app.view(ResultsPane)
        key = results.cursor_key()
        detail = results.query_one("#detail", Static)
        if key is None or key not in results.rows:
            detail.update("Select a row to see its latency breakdown.", layout=False)
            app.view(NetworkPane).show_deployment(None)
            return
        app.view(NetworkPane).show_deployment(results.rows[key])
        detail.update(
            layout=False,
            content=detail_text(
                results.rows[key],
                results.violations.get(key, []),
                app.recommendation,
                key == results.recommended_key,
                app.colours,
                getattr(app, "measured_run", None),
            ),
        )
