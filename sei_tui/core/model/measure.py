"""What one run of a traced graph tells about each node: output shape, dtype and size,
which earlier node's storage it views, and its value when that value is a shape-like
Python constant (the graph analysis folds those into tails)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx

from sei_tui.core.errors import SeiInputError
from sei_tui.core.model.capture import capture, run_nodes

_FOLDABLE_SCALARS = (
    int,
    float,
    bool,
    str,
    type(None),
    torch.dtype,
    torch.device,
    torch.memory_format,
)


class ValueMarker:
    """Stands for a value that is not kept after the measuring pass."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


TENSOR = ValueMarker("<tensor>")
OPAQUE = ValueMarker("<container>")


@dataclass
class NodeValue:
    """What one run tells us about a node's output (the value itself only if not a tensor)."""

    value: Any
    shape: tuple[int, ...] | None
    dtype: str | None
    bytes: int
    alias_of: str | None = None  # the node whose storage this output views


def example_input(input_shape: tuple[int, ...], batch: int) -> torch.Tensor:
    """The seeded random input every analysis and verification runs on."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn((batch, *input_shape), generator=generator)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_foldable(value: Any) -> bool:
    """A Python value that can be written into a tail as a constant."""
    if isinstance(value, _FOLDABLE_SCALARS):
        return True
    if isinstance(value, torch.Size):
        return True
    if isinstance(value, list | tuple):
        return all(is_foldable(v) for v in value)
    return False


def _storage_ptrs(value: Any) -> set[int]:
    if isinstance(value, torch.Tensor):
        return {value.untyped_storage().data_ptr()} - {0}
    if isinstance(value, list | tuple):
        return set().union(*(_storage_ptrs(v) for v in value))
    return set()


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _describe(value: Any) -> tuple[tuple[int, ...] | None, str | None, int]:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape), str(value.dtype).removeprefix("torch."), _tensor_bytes(value)
    if isinstance(value, list | tuple):
        total = sum(_tensor_bytes(v) for v in value if isinstance(v, torch.Tensor))
        return None, None, total
    return None, None, 0


def measure_nodes(
    graph_module: fx.GraphModule,
    x: torch.Tensor,
    name: str,
    around: Callable[[fx.Node, Callable[[], Any]], Any] | None = None,
) -> dict[str, NodeValue]:
    """One pass at input `x`: a NodeValue per node. `around(node, run)` (when given) runs
    each node (e.g. to count its FLOPs). A failing forward is a wrong input shape."""
    results: dict[str, NodeValue] = {}

    def step(node: fx.Node, run: Callable[[], Any], env: dict) -> Any:
        value = run() if around is None else around(node, run)
        shape, dtype, size = _describe(value)
        if isinstance(value, torch.Tensor):
            kept = TENSOR
        elif is_foldable(value):
            kept = value
        else:
            kept = OPAQUE
        alias_of = None
        ptrs = _storage_ptrs(value)
        if ptrs:
            for source in node.all_input_nodes:
                if source in env and ptrs & _storage_ptrs(env[source]):
                    alias_of = results[source.name].alias_of or source.name
                    break
        results[node.name] = NodeValue(kept, shape, dtype, size, alias_of)
        return value

    try:
        with torch.no_grad():
            run_nodes(graph_module, x, step=step)
    except SeiInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing forward means a wrong input shape
        raise SeiInputError(
            f"{name}: input shape = {'x'.join(map(str, x.shape[1:]))}: "
            f"the model fails on it ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    return results


def foldable_values(graph_module: fx.GraphModule, x: torch.Tensor) -> dict[str, Any] | None:
    """Non-tensor values of every node for input x (None if the model fails on it)."""
    try:
        with torch.no_grad():
            values, _ = capture(graph_module, x, keep=lambda _node, value: is_foldable(value))
    except Exception:  # noqa: BLE001 - e.g. a model hard-wired to batch 1
        return None
    return values
