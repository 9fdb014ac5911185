"""`?`: every key binding, from the binding data (so it can never drift from the keys)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sei_tui.tui.bindings import BINDING_SECTIONS


def help_text(key_display, keymap: dict[str, str] | None = None) -> Text:
    """Every binding by section; `keymap` (binding id -> keys) shows remapped keys."""
    keymap = keymap or {}
    text = Text()
    for title, bindings in BINDING_SECTIONS:
        text.append(f"{title}\n", style="bold underline")
        for binding in bindings:
            keys = ", ".join(key_display(b) for b in _split_keys(binding, keymap))
            text.append(f"  {keys:<8} ", style="bold")
            text.append(f"{binding.description:<14}")
            text.append(f" {binding.id}\n", style="dim")
        text.append("\n")
    text.append("Ctrl+P or : opens the command palette (open model, scenario, data, export, ")
    text.append("theme).\nRemap keys: SEI_KEYMAP=keys.toml with lines like ")
    text.append('"sei.split.next" = "n"', style="bold")
    text.append(".\nEscape, q or ? closes this screen.")
    return text


def _split_keys(binding: Binding, keymap: dict[str, str]) -> list[Binding]:
    remapped = binding.id in keymap
    keys = keymap[binding.id] if remapped else binding.key
    display = None if remapped else binding.key_display
    return [
        Binding(key.strip(), binding.action, binding.description, key_display=display)
        for key in keys.split(",")
    ]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="sei.help.close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            keymap = getattr(self.app, "_keymap", {})  # what App.set_keymap stored
            yield Static(help_text(self.app.get_key_display, keymap), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-body").border_title = "sei keys"
