"""The sei Textual application."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import Footer, Header, Static


class SeiApp(App):
    TITLE = "sei"
    SUB_TITLE = "Split-Et-Impera"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(
        self,
        model: str = "demo",
        weights: str | None = None,
        scenario: str | None = None,
        data: str | None = None,
        theme_name: str | None = None,
    ) -> None:
        super().__init__()
        self.model_spec = model
        self.weights = weights
        self.scenario_path = scenario
        self.data_dir = data

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield Static(
                f"Model: {self.model_spec}\n\nThe layer tree arrives with issue #4/#5.",
                id="model-pane",
            )
            yield Static(
                "Network\n\nThe topology editor arrives with issue #3/#7.", id="network-pane"
            )
            yield Static(
                "Results\n\nThe latency/accuracy table arrives with issue #6.", id="results-pane"
            )
        yield Footer()
