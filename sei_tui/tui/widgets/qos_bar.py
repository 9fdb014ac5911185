"""The QoS bar: the constraints the user types, checked as they type, applied after a pause.

It owns its input, the validation (through the `parse` it is given: the core's
`parse_qos`), the debounce and the one-line status; the app hears only `QosBar.Changed`
(a new valid QoS) and `QosBar.Submitted` (Enter on a valid QoS: give the focus back).
A QoS that does not parse is never applied: the previous one stays and the status says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from sei_tui.core.errors import SeiInputError

DEBOUNCE_S = 0.3  # a burst of keystrokes applies one QoS, this long after the last
PLACEHOLDER = "e.g. p95_latency<=0.1, accuracy>=0.9   (/ to edit)"


class QosBar(Horizontal):
    class Changed(Message):
        """A valid QoS different from the one applied before."""

        def __init__(self, qos: Any, text: str) -> None:
            super().__init__()
            self.qos = qos
            self.text = text

    class Submitted(Message):
        """Enter pressed on a valid QoS."""

    def __init__(self, text: str, parse: Callable[[str], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parse = parse
        self.text = text  # the applied text (as given at start, until one is applied)
        self.qos: Any = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Label("QoS", id="qos-label")
        yield Input(self.text, placeholder=PLACEHOLDER, id="qos-input", compact=True)
        yield Static("", id="qos-status")

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = False

    def focus_input(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._stop_timer()
        text = event.value
        self._timer = self.set_timer(DEBOUNCE_S, lambda: self.apply_text(text))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._stop_timer()
        if self.apply_text(event.value, announce=True):
            self.post_message(self.Submitted())

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def apply_text(self, text: str, quiet: bool = False, announce: bool = False) -> bool:
        """Apply `text`; False (and the previous QoS kept) when it does not parse.

        `quiet`: post `Changed` even when the text is the one already applied (at start).
        `announce`: also show a refusal as a notification (the status line is cut short
        in 80 columns)."""
        status = self.query_one("#qos-status", Static)
        qos_input = self.query_one(Input)
        try:
            qos = self.parse(text)
        except SeiInputError as exc:
            qos_input.add_class("-invalid")
            status.add_class("-error")
            message = str(exc)  # the core names the term; the bar itself is the "field"
            status.update(f"{message} (keeping: {self.text or 'none'})")
            if announce:
                self.notify(message, title="QoS not applied", severity="error", timeout=8)
            return False
        qos_input.remove_class("-invalid")
        status.remove_class("-error")
        status.update("")
        if text.strip() == (self.text or "").strip() and self.qos is not None and not quiet:
            return True
        self.text = text.strip()
        self.qos = qos
        self.post_message(self.Changed(qos, self.text))
        return True
