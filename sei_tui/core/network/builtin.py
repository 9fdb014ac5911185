"""The scenarios shipped in the package (``sei_tui/scenarios/*.toml``), and resolving a
command-line argument that is either a file or a built-in name."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.model import Scenario
from sei_tui.core.network.schema import _toml_value
from sei_tui.core.network.toml_io import load_scenario


def builtin_scenario_names() -> list[str]:
    folder = resources.files("sei_tui") / "scenarios"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def builtin_scenario(name: str = "demo") -> Scenario:
    """A scenario shipped with the package (``demo``, ``lan``, ``lte``, ``four-cameras``, ``three-tier``)."""
    names = builtin_scenario_names()
    if name not in names:
        raise SeiInputError(
            f"scenario = {_toml_value(name)}: no such built-in scenario "
            f"(built-in: {', '.join(names)})"
        )
    entry = resources.files("sei_tui") / "scenarios" / f"{name}.toml"
    with resources.as_file(entry) as path:
        return load_scenario(path)


def resolve_scenario(spec: str | os.PathLike[str]) -> Scenario:
    """A scenario file path, or the name of a built-in scenario when no such file exists."""
    path = Path(spec)
    if path.is_file():
        return load_scenario(path)
    if os.fspath(spec) in builtin_scenario_names():
        return builtin_scenario(os.fspath(spec))
    if path.exists():
        return load_scenario(path)  # not a regular file: its read error says why
    raise SeiInputError(
        f"{path}: no such file, and not a built-in scenario "
        f"(built-in: {', '.join(builtin_scenario_names())})"
    )
