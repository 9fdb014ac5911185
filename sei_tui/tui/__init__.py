"""The Textual front end: a thin client of sei_tui.core."""
