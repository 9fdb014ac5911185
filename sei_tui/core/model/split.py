"""Head and tail modules of a split point, and their verification against the whole model.

The head keeps only the nodes its payload depends on; the tail takes the payload tensors
and rebuilds every non-tensor value it needs from folds (see `sei_tui.core.model.graph`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx

from sei_tui.core.errors import SeiCancelled
from sei_tui.core.model.capture import capture
from sei_tui.core.model.measure import example_input

# max |head->tail - whole| accepted by verify_splits (fp32, batch 1).
VERIFY_TOLERANCE = 1e-5


@dataclass
class Fold:
    """A non-tensor value folded into tails: its value at batch 1 and at batch 2."""

    at_batch1: Any
    at_batch2: Any


@dataclass(frozen=True)
class SplitVerification:
    index: int
    max_abs_diff: float
    verified: bool


def build_head(graph_module: fx.GraphModule, point: Any) -> fx.GraphModule:
    """Only the nodes the payload depends on (checks such as torch._assert are dropped)."""
    by_name = {n.name: n for n in graph_module.graph.nodes}
    outputs = [by_name[t.name] for t in point.tensors]
    needed: set[fx.Node] = set()
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(node.all_input_nodes)
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in graph_module.graph.nodes:
        if node in needed or node.op == "placeholder":
            env[node] = graph.node_copy(node, env.__getitem__)
    graph.output(tuple(env[n] for n in outputs))
    return fx.GraphModule(graph_module, graph, class_name="Head")


def _scale_with_batch(batch: int, at_batch1: Any, at_batch2: Any) -> Any:
    """Rebuild a shape value for batch size `batch` from its values at batch 1 and 2."""
    if isinstance(at_batch1, list | tuple):
        rebuilt = [
            _scale_with_batch(batch, a, b) for a, b in zip(at_batch1, at_batch2, strict=True)
        ]
        return (
            type(at_batch1)(rebuilt)
            if not isinstance(at_batch1, torch.Size)
            else torch.Size(rebuilt)
        )
    if at_batch1 == at_batch2 or isinstance(at_batch1, bool):
        return at_batch1
    return at_batch1 + (at_batch2 - at_batch1) * (batch - 1)


def _literal(value: Any) -> Any:
    """A value fx can write into generated code."""
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    if isinstance(value, list | tuple):
        return type(value)(_literal(v) for v in value)
    return value


def _lookup(
    graph: fx.Graph, env: dict[fx.Node, Any], folds: dict[str, Fold], first_input: fx.Node
) -> Callable[[fx.Node], Any]:
    """How a copied node finds its inputs in a segment's new `graph`: a value already in
    `env` (a payload tensor or a copied node), a parameter (get_attr), or a fold written
    as a literal, or rebuilt for the running batch size (read off `first_input`) when it
    depends on the batch."""
    batch_node: fx.Node | None = None

    def lookup(n: fx.Node) -> Any:
        nonlocal batch_node
        if n in env:
            return env[n]
        if n.op == "get_attr":
            env[n] = graph.get_attr(n.target)
            return env[n]
        fold = folds[n.name]
        if _literal(fold.at_batch1) == _literal(fold.at_batch2):
            env[n] = _literal(fold.at_batch1)
        else:
            if batch_node is None:
                batch_node = graph.call_method("size", (first_input, 0))
            env[n] = graph.call_function(
                _scale_with_batch,
                (batch_node, _literal(fold.at_batch1), _literal(fold.at_batch2)),
            )
        return env[n]

    return lookup


def build_tail(graph_module: fx.GraphModule, point: Any, folds: dict[str, Fold]) -> fx.GraphModule:
    graph = fx.Graph()
    payload = graph.placeholder("payload")
    env: dict[fx.Node, Any] = {}
    fx_nodes = list(graph_module.graph.nodes)
    by_name = {n.name: n for n in fx_nodes}
    for i, spec in enumerate(point.tensors):
        env[by_name[spec.name]] = graph.call_function(operator.getitem, (payload, i))
    lookup = _lookup(graph, env, folds, env[by_name[point.tensors[0].name]])
    for i, node in enumerate(fx_nodes):
        if i <= point.position:
            continue
        if node.op == "get_attr":
            lookup(node)
            continue
        env[node] = graph.node_copy(node, lookup)
    return fx.GraphModule(graph_module, graph, class_name="Tail")


def build_middle(
    graph_module: fx.GraphModule, first: Any, second: Any, folds: dict[str, Fold]
) -> fx.GraphModule:
    """The segment between two cuts: takes `first`'s payload tensors (a sequence, in
    `first.tensors` order) and returns `second`'s payload tuple (`second.tensors` order).

    Only the nodes after `first` that `second`'s tensors depend on are copied; a value from
    before `first` is one of its payload tensors, a parameter (get_attr) or a fold, as in
    a tail. A tensor live across both cuts passes straight through."""
    fx_nodes = list(graph_module.graph.nodes)
    by_name = {n.name: n for n in fx_nodes}
    graph = fx.Graph()
    payload = graph.placeholder("payload")
    env: dict[fx.Node, Any] = {}
    for i, spec in enumerate(first.tensors):
        env[by_name[spec.name]] = graph.call_function(operator.getitem, (payload, i))
    order = {n: i for i, n in enumerate(fx_nodes)}
    needed: set[fx.Node] = set()
    stack = [by_name[t.name] for t in second.tensors]
    while stack:
        node = stack.pop()
        if node in needed or node in env or order[node] <= first.position:
            continue
        needed.add(node)
        stack.extend(node.all_input_nodes)
    lookup = _lookup(graph, env, folds, env[by_name[first.tensors[0].name]])

    for node in fx_nodes:
        if node in needed:
            env[node] = graph.node_copy(node, lookup)
    graph.output(tuple(lookup(by_name[t.name]) for t in second.tensors))
    return fx.GraphModule(graph_module, graph, class_name="Middle")


def verify_splits(
    graph: Any,
    indices: Sequence[int] | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[SplitVerification]:
    """Run head then tail for each split on one random input vs the whole model.

    The whole graph runs once, recording every tensor; each head's outputs are compared
    to the recorded ones and each tail's output (fed by the head) to the whole model's.
    """
    indices = list(range(len(graph.split_points))) if indices is None else list(indices)
    x = example_input(graph.input_shape, batch=1)
    results: list[SplitVerification] = []
    with torch.inference_mode():
        recorded, expected = capture(
            graph.graph_module, x, keep=lambda _node, value: isinstance(value, torch.Tensor)
        )
        for done, index in enumerate(indices):
            if cancel is not None and cancel():
                raise SeiCancelled()
            point = graph.split_points[index]
            head, tail = graph.split(index)
            payload = head(x)
            diff = 0.0
            ok = len(payload) == len(point.tensors)
            for spec, tensor in zip(point.tensors, payload, strict=False):
                reference = recorded[spec.name]
                if tensor.shape != reference.shape:
                    ok = False
                    continue
                diff = max(diff, _max_abs_diff(tensor, reference))
            diff = max(diff, _output_diff(tail(payload), expected))
            ok = ok and diff <= VERIFY_TOLERANCE
            results.append(SplitVerification(index, diff, ok))
            if progress is not None:
                progress((done + 1) / len(indices), point.after)
    return results


def _max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.numel() == 0:
        return 0.0
    return float((a.double() - b.double()).abs().max())


def _output_diff(got: Any, expected: Any) -> float:
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return float("inf")
        return _max_abs_diff(got, expected)
    if isinstance(expected, list | tuple):
        if not isinstance(got, list | tuple) or len(got) != len(expected):
            return float("inf")
        return max((_output_diff(g, e) for g, e in zip(got, expected, strict=True)), default=0.0)
    if isinstance(expected, dict):
        return max((_output_diff(got[k], v) for k, v in expected.items()), default=0.0)
    return 0.0 if got == expected else float("inf")
