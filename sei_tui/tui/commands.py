"""Command palette: open model / scenario / data, save scenario, export report, theme."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from sei_tui.tui.app import SeiApp


class SeiCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: SeiApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, Callable[[], object], str]] = [
            ("Open model…", app.action_open_model, "torchvision name, 'demo' or file.py:factory"),
            ("Open scenario…", app.action_open_scenario, "a scenario TOML file"),
            ("Save scenario", app.action_save_scenario, "atomic save to the scenario's file"),
            ("Save scenario as…", app.action_save_scenario_as, "atomic save to a new file"),
            ("Load data folder…", app.action_load_data, "labelled images for CS and accuracy"),
            ("Export report…", app.action_export_report, "markdown, JSON or CSV by extension"),
        ]
        for name in app.sei_theme_names:
            commands.append(
                (f"Switch theme: {name}", partial(app.action_switch_theme, name), "theme")
            )
        return commands

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
