"""The sei Textual application: the coordinator that wires the views to the core.

Data flows one way: scenario + model -> split points -> saliency -> evaluation rows ->
ranking (QoS, Pareto front, recommendation) -> views. The parts live apart:
- `pipeline.Pipeline`: the stage workers, generations, debounced re-runs, row batching;
- `widgets.qos_bar.QosBar`: the QoS input, its validation and debounce;
- `file_actions.FileActions`: open/save scenario, open model, load data, export;
- `editing.ScenarioEdits`: network-pane edits, undo, quitting with unsaved edits;
- `selection.SplitSelection`: the model tree and the results table following each other;
- `themes`: theme files, choosing one, the colours the views use.
`SeiApp` composes the screen, holds what the stages share (model, scenario, QoS) and
routes each message or action to the part that owns it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from importlib import resources
from typing import Any

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Static, Tab, Tabs
from textual.worker import Worker, WorkerState

from sei_tui.core.errors import SeiInputError
from sei_tui.tui.bindings import APP_BINDINGS, SENSITIVITY_OPEN_BINDINGS, load_keymap
from sei_tui.tui.commands import sei_commands
from sei_tui.tui.editing import ScenarioEdits
from sei_tui.tui.file_actions import FileActions
from sei_tui.tui.format import attr
from sei_tui.tui.messages import (
    ModelReady,
    PoliciesReady,
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
from sei_tui.tui.pipeline import DEBOUNCE_S, Pipeline, describe
from sei_tui.tui.plot_views import PlotViews
from sei_tui.tui.plots.widget import PlotView
from sei_tui.tui.screens.help import HelpScreen
from sei_tui.tui.selection import SplitSelection
from sei_tui.tui.services import AnalysisSettings, CoreServices, Services
from sei_tui.tui.themes import set_up_themes, view_colours
from sei_tui.tui.widgets.model_tree import ModelTree, tree_header
from sei_tui.tui.widgets.network import NetworkPane
from sei_tui.tui.widgets.qos_bar import QosBar
from sei_tui.tui.widgets.results import ResultsPane, ResultsTable

__all__ = ["DEBOUNCE_S", "SeiApp", "describe"]

PANES = ("model", "network", "results")
NARROW_WIDTH = 120  # below this the three panes become tabs
NARROW_HEIGHT = 32


class SeiApp(App[None]):
    # About 450 lines, over the ~300 guide: nearly every method is a few lines routing one
    # message or action to the part that owns it (listed above); splitting the routing
    # itself would only hide which message goes where.
    TITLE = "sei"
    SUB_TITLE = "Split-Et-Impera"
    # Package data read through importlib.resources: an installed wheel finds it too.
    CSS = resources.files("sei_tui.tui").joinpath("app.tcss").read_text(encoding="utf-8")
    BINDINGS = APP_BINDINGS + SENSITIVITY_OPEN_BINDINGS

    def __init__(
        self,
        model: str = "demo",
        weights: str | None = None,
        scenario: str | None = None,
        data: str | None = None,
        theme_name: str | None = None,
        qos: str = "",
        services: Services | None = None,
        strategies: tuple[str, ...] | None = None,
        measured_run: dict | None = None,
        study: Any = None,
    ) -> None:
        super().__init__()
        self.measured_run = measured_run  # a `sei run --json` document (`sei tui --run`)
        # a core StudyReport (`sei tui --study DIR`): its map opens first, and the model and
        # scenario load only once it is closed
        self.study = study
        if services is None:
            services = CoreServices(AnalysisSettings(strategies=strategies))
        self.services: Services = services
        self.pipeline = Pipeline(self, self.services)
        self.files = FileActions(self)
        self.edits = ScenarioEdits(self)
        self.selection = SplitSelection(self)
        self.plots = PlotViews(self)
        self.model_spec = model
        self.weights = weights
        self.scenario_path = scenario
        self.data_dir = data
        self.qos_text = qos
        self.qos: Any = None
        self.objective = "latency"  # what the ranking minimises (palette: "Rank by ...")
        self.scenario: Any = None
        self.graph: Any = None
        self.saliency: Any = None
        self.saliency_done = False
        self.active_pane = "model"
        self.narrow = False
        self._main_screen: Screen | None = None
        self._loading_started = False
        self.sei_theme_names, self._startup_errors = set_up_themes(self, theme_name)
        keymap_path = os.environ.get("SEI_KEYMAP")
        if keymap_path:
            try:
                self.set_keymap(load_keymap(keymap_path))
            except SeiInputError as exc:
                self._startup_errors.append(str(exc))

    @property
    def sweep_running(self) -> bool:
        return self.pipeline.sweep_running

    @property
    def recommendation(self) -> Any:
        ranking = self.pipeline.ranking
        return None if ranking is None else ranking.recommendation

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield QosBar(self.qos_text, self.services.parse_qos, id="qos-bar")
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
                yield PlotView(id="cs-plot")
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
        if screen is None or self._exit or self._closing:  # the app is shutting down
            return False
        return not (screen._closing or screen._closed or getattr(screen, "_pruning", False))

    def on_mount(self) -> None:
        self._main_screen = self.screen
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
            self.view(QosBar).apply_text(self.qos_text, quiet=True)
        self.sub_title = f"{self.model_spec}"
        if self.study is not None:
            from sei_tui.tui.screens.sensitivity import SensitivityScreen

            self.push_screen(
                SensitivityScreen.for_study(self.study), lambda _: self._start_loading()
            )
            return
        # Paint first: importing torch in a worker would compete with the first frame.
        self.call_after_refresh(self._start_loading)

    def _start_loading(self) -> None:
        if self._loading_started:
            return
        self._loading_started = True
        gc.freeze()
        self.pipeline.load_scenario(self.scenario_path)
        self.pipeline.open_model(self.model_spec, self.weights)

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
        self.colours, gradient = view_colours(self.current_theme)
        self.view(ModelTree).set_gradient(gradient)
        self.view(ResultsPane).recolour(self.colours)
        self.refresh_detail()

    # ------------------------------------------------------------------ worker messages
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.pipeline.key_pressed()
        await super().on_event(event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Last line of defence: a worker error not turned into TaskFailed by its body.
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.name} failed: {event.worker.error}", severity="error")

    def on_task_progress(self, message: TaskProgress) -> None:
        if not self.views_alive:
            return
        if message.task in ("model", "saliency"):
            self._model_progress(message.fraction)
            self._model_status(f"{message.task}: {message.label}")
        elif message.task == "evaluate":
            self.pipeline.progress(message)

    def on_task_failed(self, message: TaskFailed) -> None:
        if not self.views_alive:
            return
        self.notify(f"{message.task} failed: {message.error}", severity="error", timeout=10)
        if message.task == "model":
            self._model_status(f"model failed: {message.error}")
        elif message.task == "scenario":
            self.view(NetworkPane).set_status(f"scenario: {message.error}", error=True)
            if self.scenario is None:
                self.view(NetworkPane).show_no_scenario()
        elif message.task == "evaluate":
            self.pipeline.evaluation_failed()
            self.view(ResultsPane).set_progress(0.0, f"evaluation failed: {message.error}")

    def on_scenario_loaded(self, message: ScenarioLoaded) -> None:
        if not self.views_alive:
            return
        self.edits.loaded(message.scenario)

    def on_model_ready(self, message: ModelReady) -> None:
        if not self.views_alive:
            return
        self.graph = message.graph
        self.saliency = None
        self.saliency_done = False
        self.view(ModelTree).show_graph(message.graph, None)
        split_points = len(attr(message.graph, "split_points", []))
        self._model_status(
            f"{attr(message.graph, 'name')}: {split_points} split points · measuring saliency"
        )
        self.sub_title = f"{attr(message.graph, 'name')}"
        self.pipeline.saliency(message.graph, self.data_dir)

    def on_saliency_ready(self, message: SaliencyReady) -> None:
        if not self.views_alive:
            return
        self.saliency = message.result
        self.saliency_done = True
        tree = self.view(ModelTree)
        selected = tree.selected
        tree.show_graph(self.graph, message.result)
        if selected is not None:
            tree.show_split(selected, tree.cuts)
        status = f"{attr(self.graph, 'name')}: {len(tree.split_indices)} split points"
        if message.result is not None:
            status += f" · {len(tree.maxima)} CS maxima ★"
        else:
            status += f" · no CS ({message.reason})"
        self._model_progress(1.0)
        self._model_status(status)
        self.plots.show_saliency(self.graph, message.result)
        # The long-lived heap (Textual, torch, the model) never needs scanning again: a
        # full collection over it pauses the UI for hundreds of ms while rows stream in.
        gc.freeze()
        self.pipeline.start_evaluation()

    def on_sweep_started(self, message: SweepStarted) -> None:
        if self.views_alive:
            self.pipeline.sweep_started(message)

    def on_row_ready(self, message: RowReady) -> None:
        if self.views_alive:
            self.pipeline.row_ready(message)

    def on_sweep_finished(self, message: SweepFinished) -> None:
        if self.views_alive:
            self.pipeline.sweep_finished(message)

    def on_recommendation_ready(self, message: RecommendationReady) -> None:
        if not self.views_alive or not self.pipeline.is_current(message.generation):
            return
        self.pipeline.ranking = message.ranking
        results = self.view(ResultsPane)
        split = results.show_ranking(message.ranking)
        self.view(ModelTree).set_recommended(split, results.recommended_cuts())
        self.plots.show_ranking(message.ranking)
        self.refresh_detail()

    def on_policies_ready(self, message: PoliciesReady) -> None:
        if self.views_alive and self.pipeline.is_current(message.generation):
            self.plots.show_policies(message.policies, message.rows)

    def on_report_exported(self, message: ReportExported) -> None:
        self.notify(f"report written to {message.path}", timeout=5)

    def _model_progress(self, fraction: float) -> None:
        """The bar over the start of the pane's first row, gone once the work is done."""
        bar = self.view("#model-progress", ProgressBar)
        bar.update(progress=fraction)
        bar.display = fraction < 1.0

    def _model_status(self, text: str) -> None:
        self.view("#model-status", Label).update(layout=False, content=text)

    # ------------------------------------------------------------------ QoS bar
    def on_qos_bar_changed(self, message: QosBar.Changed) -> None:
        self.qos_text, self.qos = message.text, message.qos
        if self.view(ResultsPane).rows:
            self.pipeline.start_ranking()

    def on_qos_bar_submitted(self, _message: QosBar.Submitted) -> None:
        self.view(ModelTree).focus()

    def action_focus_qos(self) -> None:
        self.view(QosBar).focus_input()

    # ------------------------------------------------------------------ split selection
    def on_model_tree_split_chosen(self, message: ModelTree.SplitChosen) -> None:
        self.selection.select_split(message.split_index)

    def action_jump_candidate(self, step: int) -> None:
        self.selection.jump_candidate(step)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.views_alive and event.data_table.id == "results-table":
            self.selection.row_highlighted(event.row_key.value)
            self.plots.table_moved(event.row_key.value)

    def on_tree_node_highlighted(self, event: ModelTree.NodeHighlighted) -> None:
        data = event.node.data
        if self.views_alive and data is not None and data.kind == "split":
            self.plots.tree_moved(data.split_index)

    def on_model_tree_layout_changed(self, message: ModelTree.LayoutChanged) -> None:
        self.view("#tree-header", Static).update(tree_header(message.layout))

    def on_plot_view_selected(self, message: PlotView.Selected) -> None:
        if self.views_alive:
            self.plots.selected(message.plot, message.index)

    def action_cycle_results_view(self) -> None:
        if self.narrow and self.active_pane != "results":
            self.action_show_pane("results")
        self.plots.cycle_view()

    def action_cycle_policy(self) -> None:
        """The timeline's policy: the selected row's static run → adaptive → oracle."""
        if not self.plots.policies:
            self.notify("the timeline needs a link that follows a trace", timeout=3)
            return
        self.plots.cycle_policy()

    def action_toggle_cs_plot(self) -> None:
        plot = self.view("#cs-plot", PlotView)
        plot.display = not plot.display

    def refresh_detail(self) -> None:
        self.selection.refresh_detail()

    def on_results_table_exit_threshold_step(self, message: ResultsTable.ExitThresholdStep):
        self.pipeline.retune_exit(message.step)

    # ------------------------------------------------------------------ scenario edits
    @property
    def undo_stack(self) -> list[Any]:
        return self.edits.undo_stack

    def on_network_pane_edit_requested(self, message: NetworkPane.EditRequested) -> None:
        self.edits.request(message)

    def action_toggle_protocol(self) -> None:
        self.edits.toggle_protocol()

    def action_undo(self) -> None:
        self.edits.undo()

    def action_rerun(self) -> None:
        self.pipeline.start_evaluation()

    async def action_quit(self) -> None:
        if self.edits.may_quit():
            self.exit()

    # ------------------------------------------------------------------ files, palette
    def action_save_scenario(self) -> None:
        self.files.save_scenario()

    def action_save_scenario_as(self) -> None:
        self.files.save_scenario_as()

    def action_open_scenario(self) -> None:
        self.files.open_scenario()

    def action_open_model(self) -> None:
        self.files.open_model()

    def action_load_data(self) -> None:
        self.files.load_data()

    def action_export_report(self) -> None:
        self.files.export_report()

    def reset_model_views(self) -> None:
        """A new model is loading: nothing of the old one stays on screen."""
        self.graph = None
        self.saliency = None
        self.saliency_done = False
        self.pipeline.forget_results()
        self.view(ModelTree).clear()
        self.view(ResultsPane).clear_rows()
        self.plots.clear()
        self._model_progress(0.0)
        self._model_status(f"loading {self.model_spec}")

    def action_switch_theme(self, name: str) -> None:
        self.theme = name

    def action_set_objective(self, objective: str) -> None:
        """Rank by p95 latency or by the edge's energy per frame (as `sei analyze
        --objective`), and rank the rows again."""
        self.objective = objective
        self.notify(f"ranking by {'edge energy' if objective == 'energy' else 'p95 latency'}")
        self.pipeline.start_ranking()

    def action_sensitivity_map(self) -> None:
        """A small bitrate x loss sweep of the current model and scenario, as a map."""
        from sei_tui.core.evaluation.sweep import parse_sweep
        from sei_tui.tui.screens.sensitivity import DEFAULT_SWEEP, SensitivityScreen

        if self.scenario is None:
            self.notify("sensitivity map: no scenario loaded yet", severity="warning")
            return
        axes = parse_sweep(DEFAULT_SWEEP)
        spec, weights, scenario, data_dir, qos = (
            self.model_spec,
            self.weights,
            self.scenario,
            self.data_dir,
            self.qos,
        )

        def run(progress, cancel) -> list[dict]:
            return self.services.sensitivity_sweep(
                spec, weights, scenario, data_dir, qos, axes, progress, cancel
            )

        title = f"Sensitivity map: {spec} on {getattr(scenario, 'name', '?')}"
        if getattr(qos, "text", ""):
            title += f", QoS {qos.text}"
        self.push_screen(SensitivityScreen(run, title))

    def action_open_study(self) -> None:
        """A study's results folder as a sensitivity map (the open map's own `o` when one
        is showing)."""
        from sei_tui.tui.screens.sensitivity import SensitivityScreen, prompt_for_study

        if isinstance(self.screen, SensitivityScreen):
            self.screen.action_open_study()
            return
        prompt_for_study(
            self, "", lambda study: self.push_screen(SensitivityScreen.for_study(study))
        )

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for title, callback, help_text in sei_commands(self):
            yield SystemCommand(title, help_text, callback)
        yield from super().get_system_commands(screen)
