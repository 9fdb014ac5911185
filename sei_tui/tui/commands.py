"""Command palette: open model / scenario / data / study results, save scenario, export
report, theme.

They are offered as system commands (`SeiApp.get_system_commands`), so an empty palette
lists them among Textual's own in one alphabetical list instead of below them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sei_tui.tui.app import SeiApp


def sei_commands(app: SeiApp) -> list[tuple[str, Callable[[], object], str]]:
    """(title, callback, help) of every sei command in the palette."""
    commands: list[tuple[str, Callable[[], object], str]] = [
        ("Open model…", app.action_open_model, "torchvision name, 'demo' or file.py:factory"),
        ("Open scenario…", app.action_open_scenario, "a scenario TOML file"),
        ("Save scenario", app.action_save_scenario, "atomic save to the scenario's file"),
        ("Save scenario as…", app.action_save_scenario_as, "atomic save to a new file"),
        ("Load data folder…", app.action_load_data, "labelled images for CS and accuracy"),
        ("Export report…", app.action_export_report, "markdown, JSON or CSV by extension"),
        (
            "Sensitivity map (bitrate x loss)",
            app.action_sensitivity_map,
            "m: a small sweep in the background; arrows move over the cells",
        ),
        (
            "Open study results…",
            app.action_open_study,
            "a `sei study` results folder as a sensitivity map (finished or not)",
        ),
    ]
    commands.append(
        (
            "Rank by edge energy",
            partial(app.action_set_objective, "energy"),
            "recommend the feasible row with the least device energy per frame",
        )
    )
    commands.append(
        (
            "Rank by p95 latency",
            partial(app.action_set_objective, "latency"),
            "the default: recommend the fastest feasible row",
        )
    )
    for name in app.sei_theme_names:
        commands.append((f"Switch theme: {name}", partial(app.action_switch_theme, name), "theme"))
    return commands
