"""Editors for a link and a node: every field is checked as it is typed, and the whole
scenario is validated before the edit is accepted, so an invalid scenario never exists."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from sei_tui.core.errors import SeiInputError
from sei_tui.tui import scenario_edit
from sei_tui.tui.bindings import EDITOR_BINDINGS


class _FieldEditor(ModalScreen[Any]):
    """Shared form logic; subclasses give FIELDS, `check_field(field, text)` (raises
    SeiInputError) and `apply(values) -> new scenario` (raises SeiInputError)."""

    BINDINGS = EDITOR_BINDINGS
    FIELDS: tuple[tuple[str, str, str], ...] = ()  # (field, label, hint)

    def __init__(self, scenario: Any, title: str, values: dict[str, str]) -> None:
        super().__init__()
        self.scenario = scenario
        self.title_text = title
        self.initial = values

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="editor-box"):
            yield Label(self.title_text, classes="dialog-title")
            for field, label, hint in self.FIELDS:
                with Horizontal(classes="field-row"):
                    yield Label(label, classes="field-label")
                    yield Input(
                        self.initial.get(field, ""),
                        placeholder=hint,
                        id=f"field-{field}",
                        compact=True,
                    )
            yield Static("", id="editor-error", classes="field-error")
            yield Label("Enter applies · Escape cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        for field_input in self.query(Input):
            field_input.cursor_blink = False

    def values(self) -> dict[str, str]:
        return {
            field: self.query_one(f"#field-{field}", Input).value for field, _, _ in self.FIELDS
        }

    def field_errors(self) -> list[str]:
        errors = []
        for field, _, _ in self.FIELDS:
            field_input = self.query_one(f"#field-{field}", Input)
            try:
                self.check_field(field, field_input.value)
            except SeiInputError as exc:
                field_input.add_class("-invalid")
                errors.append(str(exc))
            else:
                field_input.remove_class("-invalid")
        return errors

    def show_error(self, message: str) -> None:
        error = self.query_one("#editor-error", Static)
        error.update(message)
        self.set_class(bool(message), "-has-error")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.show_error("\n".join(self.field_errors()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def action_apply(self) -> None:
        errors = self.field_errors()
        if errors:
            self.show_error("\n".join(errors))
            return
        try:
            scenario = self.apply(self.values())
        except SeiInputError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(scenario)

    def action_cancel(self) -> None:
        self.dismiss(None)


class LinkEditor(_FieldEditor):
    FIELDS = (
        ("name", "Name", "e.g. wifi"),
        ("nodes", "Nodes", "camera, ap"),
        ("kind", "Kind", "full_duplex | half_duplex | wireless"),
        ("bitrate", "Bitrate", "e.g. 54Mbps"),
        ("delay", "Delay", "e.g. 2ms"),
        ("loss", "Loss", "0 <= loss < 1"),
        ("queue", "Queue", "packets, e.g. 100"),
    )

    def __init__(self, scenario: Any, link_name: str | None) -> None:
        if link_name is None:
            values = scenario_edit.new_link_values(scenario)
            title = "New link"
        else:
            values = scenario_edit.link_display(scenario_edit.find_link(scenario, link_name))
            title = f"Link {link_name}"
        super().__init__(scenario, title, values)
        self.link_name = link_name

    def check_field(self, field: str, text: str) -> None:
        scenario_edit.parse_link_field(field, text)

    def apply(self, values: dict[str, str]) -> Any:
        return scenario_edit.with_link(self.scenario, self.link_name, values)


class NodeEditor(_FieldEditor):
    FIELDS = (
        ("name", "Name", "e.g. relay2"),
        ("role", "Role", "edge | relay | server"),
        ("compute", "Compute", "profile name (relays: empty, or an edge box's)"),
    )

    def __init__(self, scenario: Any) -> None:
        super().__init__(scenario, "New node", {"role": "relay"})

    def check_field(self, field: str, text: str) -> None:
        scenario_edit.parse_node_field(field, text)

    def apply(self, values: dict[str, str]) -> Any:
        return scenario_edit.with_node(self.scenario, values)
