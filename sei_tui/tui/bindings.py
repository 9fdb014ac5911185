"""Every key binding as data, with an id so a keymap can remap it (`App.set_keymap`)."""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS: list[Binding] = [
    Binding("question_mark", "help", "Help", id="sei.help", key_display="?"),
    Binding("q", "quit", "Quit", id="sei.quit"),
    # The tab bar already shows 1/2/3; off the footer so ] Next split fits in 80 columns.
    Binding("1", "show_pane('model')", "Model", id="sei.pane.model", show=False),
    Binding("2", "show_pane('network')", "Network", id="sei.pane.network", show=False),
    Binding("3", "show_pane('results')", "Results", id="sei.pane.results", show=False),
    Binding(
        "left_square_bracket",
        "jump_candidate(-1)",
        "Prev split",
        id="sei.split.previous",
        key_display="[",
    ),
    Binding(
        "right_square_bracket",
        "jump_candidate(1)",
        "Next split",
        id="sei.split.next",
        key_display="]",
    ),
    Binding("slash", "focus_qos", "QoS", id="sei.qos.focus", key_display="/"),
    Binding("u", "undo", "Undo", id="sei.scenario.undo"),
    Binding("w", "save_scenario", "Save", id="sei.scenario.save"),
    Binding("t", "toggle_protocol", "TCP/UDP", id="sei.scenario.protocol"),
    Binding("r", "rerun", "Re-run", id="sei.rerun", show=False),
    # off the footer (it is full at 80 columns); the results pane's subtitle names g
    Binding("g", "cycle_results_view", "Table/charts", id="sei.results.view", show=False),
    Binding("p", "toggle_cs_plot", "CS plot", id="sei.model.cs_plot", show=False),
    Binding("o", "cycle_policy", "Policy", id="sei.results.policy", show=False),
    Binding("colon", "command_palette", "Commands", id="sei.palette", key_display=":"),
]

MODEL_TREE_BINDINGS: list[Binding] = [
    Binding("enter", "select_cursor", "Select split", id="sei.tree.select"),
    Binding("space", "toggle_node", "Fold", id="sei.tree.fold", show=False),
]

NETWORK_BINDINGS: list[Binding] = [
    Binding("e", "edit_link", "Edit link", id="sei.network.edit_link"),
    Binding("a", "add_link", "Add link", id="sei.network.add_link"),
    Binding("d", "remove_link", "Del link", id="sei.network.remove_link"),
    Binding("n", "add_node", "Add node", id="sei.network.add_node"),
    Binding("x", "remove_node", "Del node", id="sei.network.remove_node"),
]

RESULTS_BINDINGS: list[Binding] = [
    Binding("s", "cycle_sort", "Sort", id="sei.results.sort"),
    Binding("v", "reverse_sort", "Reverse", id="sei.results.reverse", show=False),
    Binding(
        "greater_than_sign",
        "exit_threshold(1)",
        "Exit τ up",
        id="sei.results.exit_threshold_up",
        key_display=">",
        show=False,
    ),
    Binding(
        "less_than_sign",
        "exit_threshold(-1)",
        "Exit τ down",
        id="sei.results.exit_threshold_down",
        key_display="<",
        show=False,
    ),
]

PLOT_BINDINGS: list[Binding] = [
    Binding("left", "step(-1)", "Prev point", id="sei.plot.previous", key_display="←"),
    Binding("right", "step(1)", "Next point", id="sei.plot.next", key_display="→"),
    Binding("home", "jump(0)", "First point", id="sei.plot.first", show=False),
    Binding("end", "jump(-1)", "Last point", id="sei.plot.last", show=False),
]

# `m` is an app key (App.BINDINGS adds it); kept in its own section so `?` lists it there.
SENSITIVITY_OPEN_BINDINGS: list[Binding] = [
    Binding("m", "sensitivity_map", "Sensitivity", id="sei.sensitivity.open", show=False),
]

SENSITIVITY_BINDINGS: list[Binding] = [
    # the status line says "arrows move": off the footer, which needs room at 80 columns
    Binding(
        "left",
        "move(-1, 0)",
        "Cell left",
        id="sei.sensitivity.left",
        key_display="←",
        show=False,
    ),
    Binding(
        "right",
        "move(1, 0)",
        "Cell right",
        id="sei.sensitivity.right",
        key_display="→",
        show=False,
    ),
    Binding(
        "up",
        "move(0, -1)",
        "Cell up",
        id="sei.sensitivity.up",
        key_display="↑",
        show=False,
    ),
    Binding(
        "down",
        "move(0, 1)",
        "Cell down",
        id="sei.sensitivity.down",
        key_display="↓",
        show=False,
    ),
    Binding("c", "cancel_sweep", "Stop sweep", id="sei.sensitivity.cancel"),
    Binding("escape", "close", "Close", id="sei.sensitivity.close"),
    Binding("a", "next_axes", "Axes", id="sei.sensitivity.axes"),
    Binding("f", "next_fixed", "Fixed values", id="sei.sensitivity.fixed"),
    Binding("o", "open_study", "Open study", id="sei.sensitivity.open_study"),
    Binding("r", "reload_study", "Reload", id="sei.sensitivity.reload"),
]

EDITOR_BINDINGS: list[Binding] = [
    Binding("escape", "cancel", "Cancel", id="sei.editor.cancel"),
    Binding("enter", "apply", "Apply", id="sei.editor.apply"),
]

# Sections of the help screen, in the order shown.
BINDING_SECTIONS: list[tuple[str, list[Binding]]] = [
    ("Everywhere", APP_BINDINGS),
    ("Model tree", MODEL_TREE_BINDINGS),
    ("Network", NETWORK_BINDINGS),
    ("Results", RESULTS_BINDINGS),
    ("Plots (CS curve, latency, accuracy)", PLOT_BINDINGS),
    ("Link / node editor", EDITOR_BINDINGS),
    (
        "Sensitivity map (m: bitrate x loss sweep; or a study: sei tui --study DIR)",
        SENSITIVITY_OPEN_BINDINGS + SENSITIVITY_BINDINGS,
    ),
]


def binding_ids() -> set[str]:
    return {b.id for _, bindings in BINDING_SECTIONS for b in bindings if b.id}


def load_keymap(path: str) -> dict[str, str]:
    """A TOML file of `binding id = "keys"` (e.g. `"sei.split.next" = "n,right_square_bracket"`),
    checked against the known ids; raises SeiInputError naming the bad entry."""
    import tomllib

    from sei_tui.core.errors import SeiInputError

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SeiInputError(f"{path}: cannot read keymap: {exc}") from exc
    known = binding_ids()
    for binding_id, keys in data.items():
        if binding_id not in known:
            raise SeiInputError(f"{path}: {binding_id}: unknown binding id (see the ? screen)")
        if not isinstance(keys, str) or not keys.strip():
            raise SeiInputError(f"{path}: {binding_id} = {keys!r}: expected keys as a string")
    return dict(data)
