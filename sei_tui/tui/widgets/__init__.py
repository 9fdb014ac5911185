"""The panes of the sei screen."""
