"""Run an fx graph node by node and look at (or keep) the values: the one capturing
mechanism that the graph analysis, split verification, the saliency pass and the
evaluation build on.

`run_nodes` is the interpreter: every node runs through a `step(node, run, env)` callback
that calls `run()` to compute the node's value and returns the value the graph goes on
with (the same one, or a copy); raising `StopRun` ends the pass early. `capture` and
`run_capturing` are the common case: keep the values a predicate picks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Step", "StopRun", "capture", "run_capturing", "run_nodes"]

# step(node, run, env) -> the node's value; `env` maps the nodes run so far to their values
Step = Callable[[Any, Callable[[], Any], dict], Any]


class StopRun(Exception):
    """Raised by a step to end the pass: `run_nodes` then returns None."""


def run_nodes(graph_module, *args: Any, step: Step) -> Any:
    """Run `graph_module` on `args`, every node through `step`; the graph's output, or
    None when a step raised StopRun. The caller picks the grad mode."""
    import torch.fx as fx

    class Stepping(fx.Interpreter):
        def run_node(self, node):
            return step(node, lambda: super(Stepping, self).run_node(node), self.env)

    interpreter = Stepping(graph_module)
    # fx decorates an exception leaving a node (StopRun too) with a structured-trace record
    # whose stack summary imports torch._dynamo (~1.1 s); our exceptions need none of it.
    interpreter.extra_traceback = False
    try:
        return interpreter.run(*args)
    except StopRun:
        return None


def capture(
    graph_module,
    *args: Any,
    keep: Callable[[Any, Any], bool],
    until: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[dict[str, Any], Any]:
    """The values of the nodes for which `keep(node, value)` holds, by node name, and the
    graph's output (None when `until(captured)` stopped the pass early)."""
    captured: dict[str, Any] = {}

    def step(node, run, _env):
        value = run()
        if keep(node, value):
            captured[node.name] = value
            if until is not None and until(captured):
                raise StopRun()
        return value

    output = run_nodes(graph_module, *args, step=step)
    return captured, output


def run_capturing(
    graph_module, batch, names: Sequence[str], *, stop_early: bool = False
) -> tuple[dict[str, Any], Any]:
    """The outputs of the fx nodes `names` for `batch`, and the whole graph's output.

    With `stop_early` the pass stops after the last wanted node and the output is None
    (the graph is functional: no later op overwrites a captured value)."""
    import torch

    wanted = set(names)
    with torch.inference_mode():
        return capture(
            graph_module,
            batch,
            keep=lambda node, _value: node.name in wanted,
            until=(lambda got: len(got) == len(wanted)) if stop_early else None,
        )
