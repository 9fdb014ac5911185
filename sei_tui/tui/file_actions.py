"""The app's file actions: open and save the scenario, open a model, load a data folder,
export the report. Each asks for a path in a prompt and hands the slow part to the
pipeline's workers; a path that cannot work is refused in the prompt itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sei_tui.core.errors import SeiInputError
from sei_tui.tui import scenario_edit
from sei_tui.tui.format import attr
from sei_tui.tui.screens.prompt import PromptScreen
from sei_tui.tui.services import ReportContext, report_format

if TYPE_CHECKING:
    from sei_tui.tui.app import SeiApp


def check_folder(path: str) -> None:
    if not Path(path).is_dir():
        raise SeiInputError(f"{path}: not a folder")


def check_report_path(path: str) -> None:
    from sei_tui.core.evaluation.report import check_output_path

    report_format(path)
    check_output_path(path)  # a missing folder fails here, not after the export


class FileActions:
    def __init__(self, app: SeiApp) -> None:
        self.app = app

    def save_scenario(self) -> None:
        app = self.app
        if app.scenario is None:
            return
        source = attr(app.scenario, "source")
        if source is None:
            self.save_scenario_as()
            return
        app.pipeline.save(app.scenario, str(source))

    def save_scenario_as(self) -> None:
        app = self.app
        if app.scenario is None:
            return

        def save(path: str | None) -> None:
            if path:
                target = scenario_edit.with_source(app.scenario, Path(path))
                app.pipeline.save(target, path, adopt_path=True)

        app.push_screen(PromptScreen("Save scenario as", placeholder="path/to/scenario.toml"), save)

    def open_scenario(self) -> None:
        app = self.app

        def open_path(path: str | None) -> None:
            if path:
                app.scenario_path = path
                app.pipeline.load_scenario(path)

        app.push_screen(
            PromptScreen("Open scenario", placeholder="path/to/scenario.toml or a built-in name"),
            open_path,
        )

    def open_model(self) -> None:
        app = self.app

        def open_model(spec: str | None) -> None:
            if not spec:
                return
            app.model_spec, app.weights = spec, None
            app.reset_model_views()
            app.pipeline.open_model(spec, None)

        app.push_screen(
            PromptScreen("Open model", app.model_spec, "resnet18, demo, or file.py:factory"),
            open_model,
        )

    def load_data(self) -> None:
        app = self.app

        def load(path: str | None) -> None:
            if not path:
                return
            app.data_dir = path
            if app.graph is not None:
                app.saliency_done = False
                app.pipeline.saliency(app.graph, path)

        app.push_screen(
            PromptScreen("Load data folder", app.data_dir or "", check=check_folder), load
        )

    def export_report(self) -> None:
        app = self.app

        def export(path: str | None) -> None:
            if not path:
                return
            ranking = app.pipeline.ranking
            if ranking is None:
                app.notify("nothing to export yet: the evaluation has not finished")
                return
            context = ReportContext(
                model=str(attr(app.graph, "name", app.model_spec)),
                scenario=str(attr(app.scenario, "name", "")),
                qos=ranking.qos.text,  # the QoS the ranking was made under
                objective=ranking.objective,
            )
            app.pipeline.export(path, report_format(path), context, ranking)

        app.push_screen(
            PromptScreen(
                "Export report", placeholder="report.md | .json | .csv", check=check_report_path
            ),
            export,
        )
