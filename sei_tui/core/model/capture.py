"""Run an fx graph and keep the values of chosen nodes: the one capturing pass that the
graph analysis, the saliency pass, profiling and the evaluation build on."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

__all__ = ["run_capturing"]


class _Captured(Exception):
    """Stops a capturing pass once every wanted value is in hand."""


def run_capturing(
    graph_module, batch, names: Sequence[str], *, stop_early: bool = False
) -> tuple[dict[str, Any], Any]:
    """The outputs of the fx nodes `names` for `batch`, and the whole graph's output.

    With `stop_early` the pass stops after the last wanted node and the output is None
    (the graph is functional: no later op overwrites a captured value)."""
    import torch
    import torch.fx as fx

    wanted = set(names)
    captured: dict[str, Any] = {}

    class Capturing(fx.Interpreter):
        def run_node(self, node):
            value = super().run_node(node)
            if node.name in wanted:
                captured[node.name] = value
                if stop_early and len(captured) == len(wanted):
                    raise _Captured()
            return value

    output = None
    with torch.inference_mode(), contextlib.suppress(_Captured):
        output = Capturing(graph_module).run(batch)
    return captured, output
