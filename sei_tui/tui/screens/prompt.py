"""A one-line prompt for a path or a name, with a check run before it is accepted."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from sei_tui.core.errors import SeiInputError


class PromptScreen(ModalScreen[str | None]):
    """Returns the accepted text, or None on escape. `check` raises SeiInputError."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sei.prompt.cancel")]

    def __init__(
        self,
        title: str,
        value: str = "",
        placeholder: str = "",
        check: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-error", classes="field-error")

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if self.check is not None:
            try:
                self.check(text)
            except SeiInputError as exc:
                self.query_one("#prompt-error", Static).update(str(exc))
                return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
