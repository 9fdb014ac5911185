"""The sei Textual application: a thin client of sei_tui.core through `Services`.

Data flows one way: scenario + model -> split points -> saliency -> evaluation rows ->
QoS + recommendation -> views. Each stage runs in its own exclusive worker group and is
re-run only when its inputs change (a QoS edit never re-simulates; a link edit never
reloads the model).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Label, ProgressBar, Static, Tab, Tabs
from textual.worker import Worker, WorkerState, get_current_worker

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.tui import scenario_edit
from sei_tui.tui.bindings import APP_BINDINGS, load_keymap
from sei_tui.tui.commands import sei_commands
from sei_tui.tui.format import attr, format_seconds
from sei_tui.tui.heat import heat_gradient
from sei_tui.tui.messages import (
    ModelReady,
    RecommendationReady,
    ReportExported,
    RowReady,
    SaliencyReady,
    ScenarioLoaded,
    SweepFinished,
    SweepStarted,
    TaskFailed,
    TaskProgress,
)
from sei_tui.tui.screens.editors import LinkEditor, NodeEditor
from sei_tui.tui.screens.help import HelpScreen
from sei_tui.tui.screens.prompt import PromptScreen
from sei_tui.tui.services import CoreServices, ReportContext, Services, report_format
from sei_tui.tui.themes import DEFAULT_THEME, choose_theme, load_themes
from sei_tui.tui.widgets.model_tree import ModelTree, tree_header
from sei_tui.tui.widgets.network import NetworkPane
from sei_tui.tui.widgets.results import ResultsPane, detail_text, row_key

PANES = ("model", "network", "results")
NARROW_WIDTH = 120  # below this the three panes become tabs
NARROW_HEIGHT = 32
DEBOUNCE_S = 0.3
ROW_BATCH_S = 0.2  # rows and progress arriving within this window are drawn in one frame
INPUT_QUIET_S = 0.3  # a key pressed this recently defers the next batch (input first)
MAX_DEFER_S = 2.0  # but a batch never waits longer than this
UNDO_DEPTH = 50


def describe(exc: BaseException) -> str:
    if isinstance(exc, SeiInputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class SeiApp(App[None]):
    TITLE = "sei"
    SUB_TITLE = "Split-Et-Impera"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        model: str = "demo",
        weights: str | None = None,
        scenario: str | None = None,
        data: str | None = None,
        theme_name: str | None = None,
        qos: str = "",
        services: Services | None = None,
    ) -> None:
        super().__init__()
        self.services: Services = services if services is not None else CoreServices()
        self.model_spec = model
        self.weights = weights
        self.scenario_path = scenario
        self.data_dir = data
        self.qos_text = qos
        self.qos: Any = None
        self.scenario: Any = None
        self.graph: Any = None
        self.saliency: Any = None
        self.saliency_done = False
        self.recommendation: Any = None
        self.undo_stack: list[Any] = []
        self.clean_scenario: Any = None  # as last opened or saved: quitting loses nothing
        self._quit_warned_for: Any = None
        self.active_pane = "model"
        self.narrow = False
        self.generation = 0
        self.sweep_running = False
        self._evaluation_timer: Timer | None = None
        self._qos_timer: Timer | None = None
        self._syncing = False
        self._main_screen: Screen | None = None
        self._pending_rows: dict[str, Any] = {}  # by row key: a newer row replaces an older
        self._keys_this_run: set[str] = set()
        self._pending_progress: tuple[float, str] | None = None
        self._last_key_at = 0.0
        self._batch_started_at = 0.0
        self._row_flush: Timer | None = None
        self._startup_errors: list[str] = []
        self.sei_theme_names: list[str] = []
        try:
            for theme in load_themes():
                self.register_theme(theme)
                self.sei_theme_names.append(theme.name)
        except SeiInputError as exc:
            self._startup_errors.append(str(exc))
        keymap_path = os.environ.get("SEI_KEYMAP")
        if keymap_path:
            try:
                self.set_keymap(load_keymap(keymap_path))
            except SeiInputError as exc:
                self._startup_errors.append(str(exc))
        choice = choose_theme(theme_name)
        if choice.name in self.available_themes:
            self.theme = choice.name
        else:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
            if choice.origin != "default":
                self._startup_errors.append(
                    f"{choice.origin} = {choice.name}: unknown theme "
                    f"(known: {', '.join(sorted(self.available_themes))}); using {fallback}"
                )
            self.theme = fallback

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="qos-bar"):
            yield Label("QoS", id="qos-label")
            yield Input(
                self.qos_text,
                placeholder="e.g. p95_latency<=0.1, accuracy>=0.9   (/ to edit)",
                id="qos-input",
                compact=True,
            )
            yield Static("", id="qos-status")
        yield Tabs(
            Tab("1 Model", id="tab-model"),
            Tab("2 Network", id="tab-network"),
            Tab("3 Results", id="tab-results"),
            id="pane-tabs",
        )
        with Horizontal(id="panes"):
            with Vertical(id="model-pane", classes="pane"):
                with Horizontal(id="model-progress-line", classes="progress-line"):
                    yield ProgressBar(
                        total=1.0, show_eta=False, show_percentage=False, id="model-progress"
                    )
                    yield Label("waiting for the model", id="model-status")
                yield Static(tree_header(), id="tree-header", markup=False)
                yield ModelTree(id="model-tree")
            with Vertical(id="right"):
                yield NetworkPane(id="network-pane", classes="pane")
                yield ResultsPane(id="results-pane", classes="pane")
        yield Footer()

    def view(self, selector, expect_type=None):
        """A widget of the main screen. (App.query_one looks at the top screen, which may
        be a dialog while worker results arrive.)"""
        screen = self._main_screen if self._main_screen is not None else self.screen
        if expect_type is None:
            return screen.query_one(selector)
        return screen.query_one(selector, expect_type)

    @property
    def views_alive(self) -> bool:
        screen = self._main_screen
        return screen is not None and not (screen._closing or screen._closed)

    def on_mount(self) -> None:
        self._main_screen = self.screen
        self.view("#qos-input", Input).cursor_blink = False
        self.view("#model-pane").border_title = "Model"
        self.view("#network-pane").border_title = "Network"
        self.view("#results-pane").border_title = "Results"
        self.theme_changed_signal.subscribe(self, lambda _theme: self._apply_theme_colours())
        self._apply_theme_colours()
        self._apply_layout(self.size.width, self.size.height)
        self.view(ModelTree).focus()
        for message in self._startup_errors:
            self.notify(message, severity="error", timeout=10)
        if self.qos_text:
            self._apply_qos_text(self.qos_text, quiet=True)
        self.sub_title = f"{self.model_spec}"
        # Paint first: importing torch in a worker would compete with the first frame.
        self.call_after_refresh(self._start_loading)

    def _start_loading(self) -> None:
        gc.freeze()
        self.load_scenario_worker(self.scenario_path)
        self.open_model_worker(self.model_spec, self.weights)

    def on_resize(self, event: Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        self.narrow = width < NARROW_WIDTH or height < NARROW_HEIGHT
        self.screen.set_class(self.narrow, "-narrow")
        self.view("#pane-tabs").display = self.narrow
        show = {pane: (not self.narrow) or pane == self.active_pane for pane in PANES}
        self.view("#model-pane").display = show["model"]
        self.view("#network-pane").display = show["network"]
        self.view("#results-pane").display = show["results"]
        self.view("#right").display = show["network"] or show["results"]

    def action_show_pane(self, pane: str) -> None:
        self.active_pane = pane
        tabs = self.view("#pane-tabs", Tabs)
        if tabs.active != f"tab-{pane}":
            tabs.active = f"tab-{pane}"
        self._apply_layout(self.size.width, self.size.height)
        focus = {"model": "#model-tree", "network": "#links-table", "results": "#results-table"}
        self.view(focus[pane]).focus()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        pane = str(event.tab.id).removeprefix("tab-")
        if pane in PANES and pane != self.active_pane:
            self.action_show_pane(pane)

    def _apply_theme_colours(self) -> None:
        theme = self.current_theme
        variables = theme.variables
        colours = {
            "success": theme.success or "green",
            "error": theme.error or "red",
            "warning": theme.warning or "yellow",
            "primary": theme.primary,
        }
        for name in ("sei-head", "sei-network", "sei-tail"):
            colours[name] = variables.get(name, theme.primary)
        gradient = heat_gradient(
            variables.get("sei-heat-cold", theme.primary),
            variables.get("sei-heat-mid", theme.warning or theme.primary),
            variables.get("sei-heat-hot", theme.error or theme.primary),
        )
        self.colours = colours
        self.view(ModelTree).set_gradient(gradient)
        self.view(ResultsPane).recolour(colours)
        self._refresh_detail()

    # ------------------------------------------------------------------ workers
    def _reporter(self, task: str):
        """A progress callback for the core that also stops the work once the worker is
        cancelled (long core loops report progress more often than they check cancel)."""
        worker = get_current_worker()

        def report(fraction: float, label: str) -> None:
            if worker.is_cancelled:
                raise SeiCancelled()
            self.post_message(TaskProgress(task, fraction, label))

        return report

    @work(thread=True, exclusive=True, exit_on_error=False, group="scenario")
    def load_scenario_worker(self, path: str | None) -> None:
        try:
            scenario = self.services.load_scenario(path)
        except Exception as exc:  # noqa: BLE001 - any failure becomes a notification
            self.post_message(TaskFailed("scenario", describe(exc)))
            return
        self.post_message(ScenarioLoaded(scenario))

    @work(thread=True, exclusive=True, exit_on_error=False, group="model")
    def open_model_worker(self, spec: str, weights: str | None) -> None:
        worker = get_current_worker()
        try:
            graph = self.services.open_model(
                spec, weights, self._reporter("model"), lambda: worker.is_cancelled
            )
        except SeiCancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self.post_message(TaskFailed("model", describe(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(ModelReady(graph))

    @work(thread=True, exclusive=True, exit_on_error=False, group="saliency")
    def saliency_worker(self, graph: Any, data_dir: str | None) -> None:
        worker = get_current_worker()
        try:
            result, reason = self.services.saliency(
                graph, data_dir, self._reporter("saliency"), lambda: worker.is_cancelled
            )
        except SeiCancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self.post_message(TaskFailed("saliency", describe(exc)))
            self.post_message(SaliencyReady(None, f"saliency failed: {describe(exc)}"))
            return
        if not worker.is_cancelled:
            self.post_message(SaliencyReady(result, reason))

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluate")
    def evaluate_worker(self, generation: int, scenario: Any, qos: Any) -> None:
        worker = get_current_worker()
        start = time.perf_counter()
        self.post_message(SweepStarted(generation))
        done = 0
        try:
            for row in self.services.evaluate(
                self.model_spec,
                self.weights,
                scenario,
                self.data_dir,
                qos,
                self._reporter("evaluate"),
                lambda: worker.is_cancelled,
            ):
                if worker.is_cancelled:
                    return
                done += 1
                self.post_message(RowReady(generation, row, done, 0))
        except SeiCancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self.post_message(TaskFailed("evaluate", describe(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(SweepFinished(generation, time.perf_counter() - start))

    @work(thread=True, exclusive=True, exit_on_error=False, group="qos")
    def recommend_worker(self, generation: int, rows: list[Any], keys: list[str], qos: Any):
        try:
            violations = {
                k: self.services.check_qos(qos, r) for k, r in zip(keys, rows, strict=True)
            }
            recommendation = self.services.recommend(rows, qos) if rows else None
        except Exception as exc:  # noqa: BLE001
            self.post_message(TaskFailed("recommend", describe(exc)))
            return
        self.post_message(RecommendationReady(generation, violations, recommendation))
        self._recommended_rows = (keys, rows)

    @work(thread=True, exclusive=False, exit_on_error=False, group="save")
    def save_worker(self, scenario: Any, path: str, adopt_path: bool = False) -> None:
        try:
            self.services.save_scenario(scenario, path)
        except Exception as exc:  # noqa: BLE001
            self.post_message(TaskFailed("save", describe(exc)))
            return
        if adopt_path:
            self.call_from_thread(self._adopt_scenario_path, path)
        self.call_from_thread(setattr, self, "clean_scenario", scenario)
        self.call_from_thread(self.notify, f"scenario saved to {path}", timeout=4)

    def _adopt_scenario_path(self, path: str) -> None:
        # Only a save that succeeded makes `w` write there from now on.
        if self.scenario is not None:
            self.scenario = scenario_edit.with_source(self.scenario, Path(path))

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def export_worker(self, path: str, fmt: str, context, rows, recommendation) -> None:
        try:
            self.services.export_report(path, fmt, context, rows, recommendation)
        except Exception as exc:  # noqa: BLE001
            self.post_message(TaskFailed("export", describe(exc)))
            return
        self.post_message(ReportExported(path))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Last line of defence: a worker error not turned into TaskFailed by its body.
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.name} failed: {event.worker.error}", severity="error")

    # ------------------------------------------------------------------ messages
    def on_task_progress(self, message: TaskProgress) -> None:
        if not self.views_alive:
            return
        if message.task in ("model", "saliency"):
            self.view("#model-progress", ProgressBar).update(progress=message.fraction)
            self.view("#model-status", Label).update(
                layout=False, content=f"{message.task}: {message.label}"
            )
        elif message.task == "evaluate":
            self._pending_progress = (message.fraction, f"evaluating: {message.label}")
            self._schedule_flush()

    def on_task_failed(self, message: TaskFailed) -> None:
        if not self.views_alive:
            return
        self.notify(f"{message.task} failed: {message.error}", severity="error", timeout=10)
        if message.task == "model":
            self.view("#model-status", Label).update(
                layout=False, content=f"model failed: {message.error}"
            )
        elif message.task == "scenario":
            self.view(NetworkPane).set_status(f"scenario: {message.error}", error=True)
            if self.scenario is None:
                self.view(NetworkPane).show_no_scenario()
        elif message.task == "evaluate":
            self.sweep_running = False
            self.view(ResultsPane).set_progress(0.0, f"evaluation failed: {message.error}")

    def on_scenario_loaded(self, message: ScenarioLoaded) -> None:
        if not self.views_alive:
            return
        self.undo_stack.clear()
        self.clean_scenario = message.scenario
        self._set_scenario(message.scenario, record_undo=False, rerun_now=True)
        source = attr(message.scenario, "source")
        self.view(NetworkPane).set_status(f"opened {source or 'the built-in demo'}")

    def on_model_ready(self, message: ModelReady) -> None:
        if not self.views_alive:
            return
        self.graph = message.graph
        self.saliency = None
        self.saliency_done = False
        tree = self.view(ModelTree)
        tree.show_graph(message.graph, None)
        self.view("#model-status", Label).update(
            layout=False,
            content=f"{attr(message.graph, 'name')}: {len(attr(message.graph, 'split_points', []))} "
            "split points · measuring saliency",
        )
        self.sub_title = f"{attr(message.graph, 'name')}"
        self.saliency_worker(message.graph, self.data_dir)

    def on_saliency_ready(self, message: SaliencyReady) -> None:
        if not self.views_alive:
            return
        self.saliency = message.result
        self.saliency_done = True
        tree = self.view(ModelTree)
        selected = tree.selected
        tree.show_graph(self.graph, message.result)
        if selected is not None:
            tree.show_split(selected)
        status = f"{attr(self.graph, 'name')}: {len(tree.split_indices)} split points"
        if message.result is not None:
            status += f" · {len(tree.maxima)} CS maxima ★"
        else:
            status += f" · no CS ({message.reason})"
        self.view("#model-progress", ProgressBar).update(progress=1.0)
        self.view("#model-status", Label).update(layout=False, content=status)
        # The long-lived heap (Textual, torch, the model) never needs scanning again: a
        # full collection over it pauses the UI for hundreds of ms while rows stream in.
        gc.freeze()
        self._start_evaluation()

    def on_sweep_started(self, message: SweepStarted) -> None:
        if not self.views_alive:
            return
        if message.generation != self.generation:
            return
        self.sweep_running = True
        self.view(ResultsPane).set_progress(0.0, "evaluating: starting")

    def on_row_ready(self, message: RowReady) -> None:
        if not self.views_alive:
            return
        if message.generation != self.generation:
            return
        # Rows can arrive faster than frames: apply them in batches, one repaint each.
        key = row_key(message.row)
        self._pending_rows[key] = message.row
        self._keys_this_run.add(key)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._row_flush is None:
            self._batch_started_at = time.monotonic()
            self._row_flush = self.set_timer(ROW_BATCH_S, self._flush_rows)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key_at = time.monotonic()
        await super().on_event(event)

    def _flush_rows(self, force: bool = False) -> None:
        if self._row_flush is not None:
            self._row_flush.stop()
        self._row_flush = None
        now = time.monotonic()
        # Repainting the table costs a frame: while the user is typing, wait a little.
        typing = now - self._last_key_at < INPUT_QUIET_S
        if not force and typing and now - self._batch_started_at < MAX_DEFER_S:
            self._row_flush = self.set_timer(INPUT_QUIET_S, self._flush_rows)
            return
        rows, self._pending_rows = list(self._pending_rows.values()), {}
        progress, self._pending_progress = self._pending_progress, None
        if not self.views_alive:
            return
        results = self.view(ResultsPane)
        if progress is not None and self.sweep_running:
            results.set_progress(*progress)
        cursor_key = results.cursor_key()
        touched = False
        with self.batch_update():
            for row in rows:
                key = row_key(row)
                if self.qos is not None:
                    results.violations[key] = self.services.check_qos(self.qos, row)
                results.put_row(row)
                touched = touched or key == cursor_key
            if touched:
                self._refresh_detail()

    def on_sweep_finished(self, message: SweepFinished) -> None:
        if not self.views_alive:
            return
        if message.generation != self.generation:
            return
        self._flush_rows(force=True)
        self.sweep_running = False
        results = self.view(ResultsPane)
        # Deployments the finished run no longer has (another data folder, other
        # candidate splits) would otherwise linger with stale numbers.
        for key in [k for k in results.order if k not in self._keys_this_run]:
            results.remove_key(key)
        results.set_progress(1.0, f"{len(results.rows)} deployments evaluated")
        results.table.apply_sort()
        self._start_recommendation()

    def on_recommendation_ready(self, message: RecommendationReady) -> None:
        if not self.views_alive:
            return
        if message.generation != self.generation:
            return
        results = self.view(ResultsPane)
        keys, _rows = self._recommended_rows
        recommendation = message.recommendation
        self.recommendation = recommendation
        index = attr(recommendation, "row") if recommendation is not None else None
        recommended_key = keys[index] if index is not None else None
        results.set_qos_result(message.violations, recommended_key)
        recommended_row = results.rows.get(recommended_key) if recommended_key else None
        split = attr(recommended_row, "split_index") if recommended_row is not None else None
        self.view(ModelTree).set_recommended(split)
        results.query_one("#recommendation", Static).update(
            layout=False,
            content=recommendation_text(recommendation, recommended_row, results, keys),
        )
        self._refresh_detail()

    def on_report_exported(self, message: ReportExported) -> None:
        self.notify(f"report written to {message.path}", timeout=5)

    # ------------------------------------------------------------------ pipeline
    def _start_evaluation(self) -> None:
        """Run the evaluation now if everything it needs is there."""
        if self._evaluation_timer is not None:
            self._evaluation_timer.stop()
            self._evaluation_timer = None
        if self.scenario is None or self.graph is None or not self.saliency_done:
            return
        self.generation += 1
        self._keys_this_run = set()
        self._pending_rows.clear()
        self._pending_progress = None
        self.view(ResultsPane).set_progress(0.0, "evaluating: queued")
        self.evaluate_worker(self.generation, self.scenario, self.qos)

    def _schedule_evaluation(self) -> None:
        """Debounced: a burst of edits runs one evaluation, DEBOUNCE_S after the last."""
        if self._evaluation_timer is not None:
            self._evaluation_timer.stop()
        self._evaluation_timer = self.set_timer(DEBOUNCE_S, self._start_evaluation)

    def _start_recommendation(self) -> None:
        results = self.view(ResultsPane)
        keys = list(results.order)
        rows = [results.rows[k] for k in keys]
        self._recommended_rows = (keys, rows)
        qos = self.qos if self.qos is not None else self.services.parse_qos("")
        self.recommend_worker(self.generation, rows, keys, qos)

    def _set_scenario(self, scenario: Any, record_undo: bool, rerun_now: bool = False) -> None:
        if record_undo and self.scenario is not None:
            self.undo_stack.append(self.scenario)
            del self.undo_stack[:-UNDO_DEPTH]
        self.scenario = scenario
        self.view(NetworkPane).show_scenario(scenario)
        if rerun_now:
            self._start_evaluation()
        else:
            self.view(ResultsPane).set_progress(0.0, "scenario changed: re-running shortly")
            self._schedule_evaluation()

    # ------------------------------------------------------------------ QoS bar
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "qos-input":
            return
        if self._qos_timer is not None:
            self._qos_timer.stop()
        text = event.value
        self._qos_timer = self.set_timer(DEBOUNCE_S, lambda: self._apply_qos_text(text))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "qos-input":
            return
        if self._qos_timer is not None:
            self._qos_timer.stop()
        if self._apply_qos_text(event.value, announce=True):
            self.view(ModelTree).focus()

    def _apply_qos_text(self, text: str, quiet: bool = False, announce: bool = False) -> bool:
        """Apply the QoS bar's text; False (and the old QoS kept) when it does not parse."""
        status = self.view("#qos-status", Static)
        qos_input = self.view("#qos-input", Input)
        try:
            qos = self.services.parse_qos(text)
        except SeiInputError as exc:
            qos_input.add_class("-invalid")
            status.add_class("-error")
            message = str(exc).removeprefix("--qos: ")  # the CLI flag means nothing here
            status.update(f"{message} (keeping: {self.qos_text or 'none'})")
            if announce:  # the one-line status is cut in 80 columns: show it all once
                self.notify(message, title="QoS not applied", severity="error", timeout=8)
            return False
        qos_input.remove_class("-invalid")
        status.remove_class("-error")
        status.update("")
        if text.strip() == (self.qos_text or "").strip() and self.qos is not None and not quiet:
            return True
        self.qos_text = text.strip()
        self.qos = qos
        if self.view(ResultsPane).rows:
            self._start_recommendation()
        return True

    def action_focus_qos(self) -> None:
        self.view("#qos-input", Input).focus()

    # ------------------------------------------------------------------ split selection
    def on_model_tree_split_chosen(self, message: ModelTree.SplitChosen) -> None:
        self._select_split(message.split_index)

    def _select_split(self, split_index: int) -> None:
        results = self.view(ResultsPane)
        key = results.key_for_split(split_index)
        if key is None:
            self.view("#model-status", Label).update(
                layout=False,
                content=f"split {split_index}: no result yet"
                + (" (evaluating…)" if self.sweep_running else " (not a candidate split)"),
            )
            return
        self._syncing = True
        try:
            results.focus_key(key)
        finally:
            self._syncing = False
        self._refresh_detail()

    def action_jump_candidate(self, step: int) -> None:
        tree = self.view(ModelTree)
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
        self._select_split(target)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not self.views_alive or event.data_table.id != "results-table":
            return
        self._refresh_detail()
        if self._syncing:
            return
        results = self.view(ResultsPane)
        row = results.rows.get(event.row_key.value)
        if row is not None and attr(row, "split_index") is not None:
            self.view(ModelTree).show_split(attr(row, "split_index"))

    def _refresh_detail(self) -> None:
        results = self.view(ResultsPane)
        key = results.cursor_key()
        detail = results.query_one("#detail", Static)
        if key is None or key not in results.rows:
            detail.update("Select a row to see its latency breakdown.", layout=False)
            return
        detail.update(
            layout=False,
            content=detail_text(
                results.rows[key],
                results.violations.get(key, []),
                self.recommendation,
                key == results.recommended_key,
                self.colours,
            ),
        )

    # ------------------------------------------------------------------ scenario edits
    def on_network_pane_edit_requested(self, message: NetworkPane.EditRequested) -> None:
        if self.scenario is None:
            self.notify("no scenario yet", severity="warning")
            return
        if message.what == "edit_link":
            if message.name is None:
                return
            self.push_screen(LinkEditor(self.scenario, message.name), self._edited)
        elif message.what == "add_link":
            self.push_screen(LinkEditor(self.scenario, None), self._edited)
        elif message.what == "add_node":
            self.push_screen(NodeEditor(self.scenario), self._edited)
        elif message.what in ("remove_link", "remove_node") and message.name is not None:
            remove = (
                scenario_edit.without_link
                if message.what == "remove_link"
                else scenario_edit.without_node
            )
            try:
                scenario = remove(self.scenario, message.name)
            except SeiInputError as exc:
                self.view(NetworkPane).set_status(str(exc), error=True)
                self.notify(str(exc), severity="error", timeout=6)
                return
            self._edited(scenario)

    def _edited(self, scenario: Any) -> None:
        if scenario is None:
            return
        self._set_scenario(scenario, record_undo=True)
        self.view(NetworkPane).set_status("edited · u undoes · w saves")

    def action_toggle_protocol(self) -> None:
        if self.scenario is None:
            return
        try:
            scenario = scenario_edit.with_protocol(
                self.scenario, "udp" if scenario_edit.protocol(self.scenario) == "tcp" else "tcp"
            )
        except SeiInputError as exc:
            self.notify(str(exc), severity="error")
            return
        self._edited(scenario)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for title, callback, help_text in sei_commands(self):
            yield SystemCommand(title, help_text, callback)
        yield from super().get_system_commands(screen)

    async def action_quit(self) -> None:
        unsaved = self.scenario is not None and self.scenario != self.clean_scenario
        if unsaved and self._quit_warned_for is not self.scenario:
            # one warning per state of the scenario; a second q quits
            self._quit_warned_for = self.scenario
            self.notify(
                "the scenario has unsaved edits: w saves, q again quits without saving",
                title="Unsaved edits",
                severity="warning",
                timeout=6,
            )
            return
        self.exit()

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify("nothing to undo", timeout=2)
            return
        self._set_scenario(self.undo_stack.pop(), record_undo=False)
        self.view(NetworkPane).set_status("undone")

    def action_rerun(self) -> None:
        self._start_evaluation()

    # ------------------------------------------------------------------ files
    def action_save_scenario(self) -> None:
        if self.scenario is None:
            return
        source = attr(self.scenario, "source")
        if source is None:
            self.action_save_scenario_as()
            return
        self.save_worker(self.scenario, str(source))

    def action_save_scenario_as(self) -> None:
        if self.scenario is None:
            return

        def save(path: str | None) -> None:
            if path:
                target = scenario_edit.with_source(self.scenario, Path(path))
                self.save_worker(target, path, adopt_path=True)

        self.push_screen(
            PromptScreen("Save scenario as", placeholder="path/to/scenario.toml"), save
        )

    def action_open_scenario(self) -> None:
        def open_path(path: str | None) -> None:
            if path:
                self.scenario_path = path
                self.load_scenario_worker(path)

        self.push_screen(
            PromptScreen("Open scenario", placeholder="path/to/scenario.toml or a built-in name"),
            open_path,
        )

    def action_open_model(self) -> None:
        def open_model(spec: str | None) -> None:
            if not spec:
                return
            self.model_spec, self.weights = spec, None
            self._reset_model_views()
            self.open_model_worker(spec, None)

        self.push_screen(
            PromptScreen("Open model", self.model_spec, "resnet18, demo, or file.py:factory"),
            open_model,
        )

    def action_load_data(self) -> None:
        def load(path: str | None) -> None:
            if not path:
                return
            self.data_dir = path
            if self.graph is not None:
                self.saliency_done = False
                self.saliency_worker(self.graph, path)

        self.push_screen(
            PromptScreen("Load data folder", self.data_dir or "", check=_check_folder), load
        )

    def action_export_report(self) -> None:
        def export(path: str | None) -> None:
            if not path:
                return
            results = self.view(ResultsPane)
            keys, rows = self._recommended_rows
            context = ReportContext(
                model=str(attr(self.graph, "name", self.model_spec)),
                scenario=str(attr(self.scenario, "name", "")),
                qos=self.qos_text,
            )
            if not results.rows or self.recommendation is None:
                self.notify("nothing to export yet: the evaluation has not finished")
                return
            self.export_worker(path, report_format(path), context, rows, self.recommendation)

        def check(path: str) -> None:
            from sei_tui.core.evaluation.report import check_output_path

            report_format(path)
            check_output_path(path)  # a missing folder fails here, not after the export

        self.push_screen(
            PromptScreen("Export report", placeholder="report.md | .json | .csv", check=check),
            export,
        )

    def action_switch_theme(self, name: str) -> None:
        self.theme = name

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def _reset_model_views(self) -> None:
        self.graph = None
        self.saliency = None
        self.saliency_done = False
        self.recommendation = None
        self.generation += 1
        self.view(ModelTree).clear()
        self.view(ResultsPane).clear_rows()
        self.view("#model-progress", ProgressBar).update(progress=0.0)
        self.view("#model-status", Label).update(layout=False, content=f"loading {self.model_spec}")

    _recommended_rows: tuple[list[str], list[Any]] = ([], [])


def _check_folder(path: str) -> None:
    if not Path(path).is_dir():
        raise SeiInputError(f"{path}: not a folder")


def recommendation_text(recommendation, row, results: ResultsPane, keys: list[str]) -> str:
    if recommendation is None:
        return ""
    why = attr(recommendation, "why", "")
    if row is None:
        closest = attr(recommendation, "closest")
        return f"No recommendation: {why}" if closest is None else f"No recommendation: {why}"
    where = attr(row, "strategy")
    if attr(row, "split_index") is not None:
        where = f"split after {attr(row, 'after')}"
    text = f"◆ {where} · {attr(row, 'encoding')} — {why}"
    binding, margin = attr(recommendation, "binding"), attr(recommendation, "margin")
    if binding is not None and margin is not None:
        shown = format_seconds(margin) if binding.endswith(("latency", "_s")) else f"{margin:g}"
        text += f" (tightest: {binding}, margin {shown})"
    return text
