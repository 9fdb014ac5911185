"""The TUI's plotting component: Textual-free charts on a character canvas (`charts`,
`canvas`) and the widget that shows one with a cursor (`widget.PlotView`)."""
