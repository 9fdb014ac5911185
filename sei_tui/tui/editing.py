"""Edits of the scenario from the network pane: each goes on the undo stack and re-runs
the evaluation (debounced, so a burst of edits runs once); quitting with unsaved edits
warns once per state of the scenario."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sei_tui.core.errors import SeiInputError
from sei_tui.tui import scenario_edit
from sei_tui.tui.format import attr
from sei_tui.tui.screens.editors import LinkEditor, NodeEditor
from sei_tui.tui.widgets.network import NetworkPane
from sei_tui.tui.widgets.results import ResultsPane

if TYPE_CHECKING:
    from sei_tui.tui.app import SeiApp

UNDO_DEPTH = 50


class ScenarioEdits:
    def __init__(self, app: SeiApp) -> None:
        self.app = app
        self.undo_stack: list[Any] = []
        self.clean: Any = None  # the scenario as last opened or saved: quitting loses nothing
        self._quit_warned_for: Any = None

    def set_scenario(self, scenario: Any, record_undo: bool, rerun_now: bool = False) -> None:
        app = self.app
        if record_undo and app.scenario is not None:
            self.undo_stack.append(app.scenario)
            del self.undo_stack[:-UNDO_DEPTH]
        app.scenario = scenario
        app.view(NetworkPane).show_scenario(scenario)
        if rerun_now:
            app.pipeline.start_evaluation()
        else:
            app.view(ResultsPane).set_progress(0.0, "scenario changed: re-running shortly")
            app.pipeline.schedule_evaluation()

    def loaded(self, scenario: Any) -> None:
        """A scenario opened from a file or the built-ins: a fresh start, nothing to undo."""
        self.undo_stack.clear()
        self.clean = scenario
        self.set_scenario(scenario, record_undo=False, rerun_now=True)
        source = attr(scenario, "source")
        builtin = f"the built-in {self.app.scenario_path or 'demo'}"
        self.app.view(NetworkPane).set_status(f"opened {source or builtin}")

    def saved(self, scenario: Any, path: str, adopt_path: bool) -> None:
        app = self.app
        # Only a save that succeeded makes `w` write there from now on.
        if adopt_path and app.scenario is not None:
            app.scenario = scenario_edit.with_source(app.scenario, Path(path))
        self.clean = scenario
        app.notify(f"scenario saved to {path}", timeout=4)

    def request(self, message: NetworkPane.EditRequested) -> None:
        app = self.app
        if app.scenario is None:
            app.notify("no scenario yet", severity="warning")
            return
        if message.what == "edit_link":
            if message.name is None:
                return
            app.push_screen(LinkEditor(app.scenario, message.name), self.edited)
        elif message.what == "add_link":
            app.push_screen(LinkEditor(app.scenario, None), self.edited)
        elif message.what == "add_node":
            app.push_screen(NodeEditor(app.scenario), self.edited)
        elif message.what in ("remove_link", "remove_node") and message.name is not None:
            remove = (
                scenario_edit.without_link
                if message.what == "remove_link"
                else scenario_edit.without_node
            )
            try:
                scenario = remove(app.scenario, message.name)
            except SeiInputError as exc:
                app.view(NetworkPane).set_status(str(exc), error=True)
                app.notify(str(exc), severity="error", timeout=6)
                return
            self.edited(scenario)

    def edited(self, scenario: Any) -> None:
        if scenario is None:
            return
        self.set_scenario(scenario, record_undo=True)
        self.app.view(NetworkPane).set_status("edited · u undoes · w saves")

    def toggle_protocol(self) -> None:
        app = self.app
        if app.scenario is None:
            return
        other = "udp" if scenario_edit.protocol(app.scenario) == "tcp" else "tcp"
        try:
            scenario = scenario_edit.with_protocol(app.scenario, other)
        except SeiInputError as exc:
            app.notify(str(exc), severity="error")
            return
        self.edited(scenario)

    def undo(self) -> None:
        if not self.undo_stack:
            self.app.notify("nothing to undo", timeout=2)
            return
        self.set_scenario(self.undo_stack.pop(), record_undo=False)
        self.app.view(NetworkPane).set_status("undone")

    def may_quit(self) -> bool:
        """False (and a warning) the first time quitting would lose unsaved edits."""
        app = self.app
        unsaved = app.scenario is not None and app.scenario != self.clean
        if unsaved and self._quit_warned_for is not app.scenario:
            self._quit_warned_for = app.scenario  # one warning per state; a second q quits
            app.notify(
                "the scenario has unsaved edits: w saves, q again quits without saving",
                title="Unsaved edits",
                severity="warning",
                timeout=6,
            )
            return False
        return True
