"""A traced model as data: nodes, every valid split point, and head/tail execution.

A split point is a cut in the fx graph's topological order after node k. Its payload is
every value produced at or before the cut and used after it:

- tensors cross the network: they are the payload, in topological order;
- `get_attr` parameters/buffers/constants never cross: the tail owns its own copy;
- shape-derived Python values (ints from `x.size()`, `torch.Size`, bools from asserts)
  are folded into the tail as constants. A value that changes with the batch size (found
  by evaluating the graph at batch 1 and batch 2) is rebuilt in the tail as
  `v1 + (v2 - v1) * (B - 1)` where B is the batch size of the first payload tensor, so a
  tail also runs on batches;
- a cut across which a Python container of tensors is live (the tuple returned by
  `chunk` or by `nn.MultiheadAttention` before its `getitem`) is not a split point.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from sei_tui.core.errors import SeiCancelled, SeiInputError

Progress = Callable[[float, str], None] | None
Cancel = Callable[[], bool] | None

# max |head->tail - whole| accepted by verify_splits (fp32, batch 1).
VERIFY_TOLERANCE = 1e-5

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
_INPLACE_OPERATORS = {
    operator.iadd: operator.add,
    operator.isub: operator.sub,
    operator.imul: operator.mul,
    operator.itruediv: operator.truediv,
    operator.ifloordiv: operator.floordiv,
}


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a payload; `name` is the fx node that produces it."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    bytes: int


@dataclass(frozen=True)
class NodeInfo:
    """One fx node with its output size and cost at batch 1.

    `target` is what runs: the module class for call_module (e.g. "Conv2d"; the path is
    in `module_path`), the qualified function ("torch.cat", "operator.add") or the method
    name ("view"); `shape`/`dtype` are None when the output is not a tensor.
    `flops` follows FlopCounterMode: 2 per multiply-add (a conv/linear's bias is free).
    """

    name: str
    op: str
    target: str
    module_path: str
    shape: tuple[int, ...] | None
    dtype: str | None
    bytes: int
    flops: int
    params: int
    position: int
    group: str


@dataclass(frozen=True)
class SplitPoint:
    """A cut after node `after` (at `position` in ModelGraph.nodes)."""

    index: int
    after: str
    position: int
    tensors: tuple[TensorSpec, ...]
    payload_bytes: int
    single_tensor: bool
    head_flops: int
    tail_flops: int
    head_params: int
    tail_params: int
    head_peak_activation_bytes: int


@dataclass
class GraphTreeNode:
    """A module in the hierarchy with the fx nodes it runs directly and its children."""

    path: str
    name: str
    nodes: list[NodeInfo] = field(default_factory=list)
    children: list[GraphTreeNode] = field(default_factory=list)
    flops: int = 0
    params: int = 0
    first_position: int = 0
    last_position: int = 0


@dataclass(frozen=True)
class SplitVerification:
    index: int
    max_abs_diff: float
    verified: bool


@dataclass
class _Fold:
    """A non-tensor value folded into tails: its value at batch 1 and at batch 2."""

    at_batch1: Any
    at_batch2: Any


@dataclass
class ModelGraph:
    name: str
    input_shape: tuple[int, int, int]
    graph_module: fx.GraphModule
    nodes: list[NodeInfo]
    split_points: list[SplitPoint]
    total_flops: int
    total_params: int
    _folds: dict[str, _Fold] = field(default_factory=dict, repr=False)
    # set when analysed from a LoadedModel: keys caches that depend on the weights
    weights_digest: str | None = None

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hash of the graph structure and shapes (not the weights): keys compute profiles."""
        h = hashlib.sha256()
        h.update(repr(tuple(self.input_shape)).encode())
        for node in self.graph_module.graph.nodes:
            args = fx.node.map_arg((node.args, node.kwargs), lambda n: f"%{n.name}")
            target = node.target if isinstance(node.target, str) else _target_name(node)
            h.update(f"{node.op}|{node.name}|{target}|{args!r}".encode())
            if node.op == "call_module":
                h.update(type(self.graph_module.get_submodule(node.target)).__name__.encode())
        for info in self.nodes:
            h.update(f"{info.name}:{info.shape}:{info.dtype}".encode())
        return h.hexdigest()[:16]

    def node(self, name: str) -> NodeInfo:
        for info in self.nodes:
            if info.name == name:
                return info
        raise KeyError(name)

    def split(self, index: int) -> tuple[fx.GraphModule, fx.GraphModule]:
        """Head and tail modules for split point `index`.

        head(x) returns the payload tuple in SplitPoint.tensors order;
        tail(payload) takes any sequence of tensors of those shapes/dtypes (any batch size)
        and returns the model's output.
        """
        if not 0 <= index < len(self.split_points):
            raise SeiInputError(
                f"{self.name}: split index = {index}: must be in 0..{len(self.split_points) - 1}"
            )
        point = self.split_points[index]
        return (
            _build_head(self.graph_module, point),
            _build_tail(self.graph_module, point, self._folds),
        )

    def tree(self) -> GraphTreeNode:
        """Nodes grouped by module hierarchy (the root has path '')."""
        root = GraphTreeNode(path="", name=self.name)
        by_path: dict[str, GraphTreeNode] = {"": root}

        def ensure(path: str) -> GraphTreeNode:
            if path in by_path:
                return by_path[path]
            parent_path, _, leaf = path.rpartition(".")
            parent = ensure(parent_path)
            tree_node = GraphTreeNode(path=path, name=leaf)
            parent.children.append(tree_node)
            by_path[path] = tree_node
            return tree_node

        for info in self.nodes:
            ensure(info.group).nodes.append(info)

        def total(tree_node: GraphTreeNode) -> None:
            positions = [n.position for n in tree_node.nodes]
            tree_node.flops = sum(n.flops for n in tree_node.nodes)
            tree_node.params = sum(n.params for n in tree_node.nodes)
            for child in tree_node.children:
                total(child)
                tree_node.flops += child.flops
                tree_node.params += child.params
                positions += [child.first_position, child.last_position]
            tree_node.first_position = min(positions, default=0)
            tree_node.last_position = max(positions, default=0)
            tree_node.children.sort(key=lambda c: c.first_position)

        total(root)
        return root


# ---------------------------------------------------------------------------------------
# analysis


def analyze_model(
    module_or_loaded: Any,
    input_shape: tuple[int, int, int] | None = None,
    name: str | None = None,
    progress: Progress = None,
) -> ModelGraph:
    """Trace a model, measure every node at batch 1 and enumerate its split points.

    Accepts an nn.Module or a LoadedModel (anything with .module/.input_shape/.name).
    In-place activations are switched to out-of-place (same results) so that a tail
    never writes into the payload it was given.
    """
    module = getattr(module_or_loaded, "module", module_or_loaded)
    if input_shape is None:
        input_shape = getattr(module_or_loaded, "input_shape", None)
    if name is None:
        name = getattr(module_or_loaded, "name", None) or type(module).__name__
    if input_shape is None:
        raise SeiInputError(f"{name}: input shape is unknown: pass input_shape=(C, H, W)")
    input_shape = tuple(int(d) for d in input_shape)
    if not isinstance(module, nn.Module):
        raise SeiInputError(f"{name}: not a torch.nn.Module (got {type(module).__name__})")

    _report(progress, 0.0, "tracing")
    module.eval()
    _disable_inplace_modules(module)
    graph_module = trace(module, name)
    _report(progress, 0.2, "measuring nodes")

    x = _example_input(input_shape, batch=1)
    values = _run_measuring(graph_module, x, name)
    folds: dict[str, _Fold] = {}
    foldable = [
        n
        for n in graph_module.graph.nodes
        if not isinstance(values[n.name].value, _ValueMarker) and n.op != "output"
    ]
    if any(n.op not in ("placeholder", "get_attr") for n in foldable):
        _report(progress, 0.6, "checking batch-dependent sizes")
        at_batch2 = _run_values(graph_module, _example_input(input_shape, batch=2))
        for n in foldable:
            # a model that only runs at batch 1 gets tails that only run at batch 1
            value = values[n.name].value
            folds[n.name] = _Fold(value, value if at_batch2 is None else at_batch2[n.name])
    _report(progress, 0.8, "enumerating split points")
    graph = _build_model_graph(name, input_shape, graph_module, values, folds)
    graph.weights_digest = getattr(module_or_loaded, "weights_digest", None)
    _report(progress, 1.0, "done")
    return graph


def trace(module: nn.Module, name: str = "model") -> fx.GraphModule:
    """Symbolically trace `module`, turning fx's failure into one clear line."""
    try:
        graph_module = fx.symbolic_trace(module)
    except Exception as exc:  # noqa: BLE001 - any tracing failure is the model's, not ours
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SeiInputError(
            f"{name}: cannot be traced by torch.fx ({type(exc).__name__}: {first}); "
            "this usually means Python control flow that depends on tensor values "
            "(if/for/while on a tensor): rewrite that branch with tensor ops such as "
            "torch.where, or wrap the function that holds it with torch.fx.wrap so it "
            "runs as one step, and pass the model as file.py:factory"
        ) from None
    _make_functional(graph_module)
    return graph_module


def _report(progress: Progress, fraction: float, label: str) -> None:
    if progress is not None:
        progress(fraction, label)


def _example_input(input_shape: tuple[int, ...], batch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn((batch, *input_shape), generator=generator)


def _disable_inplace_modules(module: nn.Module) -> None:
    for sub in module.modules():
        if isinstance(getattr(sub, "inplace", None), bool):
            sub.inplace = False


def _make_functional(graph_module: fx.GraphModule) -> None:
    """Rewrite in-place ops to out-of-place ones so recorded values and payloads stay intact."""
    changed = False
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and node.target in _INPLACE_OPERATORS:
            node.target = _INPLACE_OPERATORS[node.target]
            changed = True
        elif node.op in ("call_function", "call_method") and node.kwargs.get("inplace") is True:
            node.kwargs = {**node.kwargs, "inplace": False}
            changed = True
        elif (
            node.op == "call_method"
            and node.target.endswith("_")
            and not node.target.endswith("__")
            and hasattr(torch.Tensor, node.target[:-1])
        ):
            node.target = node.target[:-1]
            changed = True
    if changed:
        graph_module.recompile()


@dataclass
class _NodeValue:
    """What one run tells us about a node's output (the value itself only if not a tensor)."""

    value: Any
    shape: tuple[int, ...] | None
    dtype: str | None
    bytes: int
    flops: int
    alias_of: str | None = None  # the node whose storage this output views


def _storage_ptrs(value: Any) -> set[int]:
    if isinstance(value, torch.Tensor):
        return {value.untyped_storage().data_ptr()} - {0}
    if isinstance(value, list | tuple):
        return set().union(*(_storage_ptrs(v) for v in value))
    return set()


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _describe(value: Any) -> tuple[tuple[int, ...] | None, str | None, int]:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape), _dtype_name(value.dtype), _tensor_bytes(value)
    if isinstance(value, list | tuple):
        total = sum(_tensor_bytes(v) for v in value if isinstance(v, torch.Tensor))
        return None, None, total
    return None, None, 0


def flop_counter() -> Any:
    """A FlopCounterMode that also counts the CPU flash-attention kernel.

    torch has no FLOP formula for aten._scaled_dot_product_flash_attention_for_cpu (what
    scaled_dot_product_attention runs on CPU), so QK^T and AV would count as zero.
    """
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_flash_attention(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    mapping = {}
    cpu_flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_flash is not None:
        mapping[cpu_flash] = cpu_flash_attention
    return FlopCounterMode(display=False, custom_mapping=mapping)


def _run_measuring(graph_module: fx.GraphModule, x: torch.Tensor, name: str) -> dict:
    """One pass: output meta of every node, FLOPs per node from one FlopCounterMode."""
    results: dict[str, _NodeValue] = {}

    class Measuring(fx.Interpreter):
        def run_node(self, node: fx.Node) -> Any:
            before = counter.get_total_flops()
            value = super().run_node(node)
            shape, dtype, size = _describe(value)
            if isinstance(value, torch.Tensor):
                kept = _TENSOR
            elif _is_foldable(value):
                kept = value
            else:
                kept = _OPAQUE
            flops = counter.get_total_flops() - before
            alias_of = None
            ptrs = _storage_ptrs(value)
            if ptrs:
                for source in node.all_input_nodes:
                    if source in self.env and ptrs & _storage_ptrs(self.env[source]):
                        alias_of = results[source.name].alias_of or source.name
                        break
            results[node.name] = _NodeValue(kept, shape, dtype, size, flops, alias_of)
            return value

    counter = flop_counter()
    # field-notes: the fused attention fast path is invisible to FlopCounterMode.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), counter:
            Measuring(graph_module).run(x)
    except SeiInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing forward means a wrong input shape
        raise SeiInputError(
            f"{name}: input shape = {'x'.join(map(str, x.shape[1:]))}: "
            f"the model fails on it ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return results


class _ValueMarker:
    """Stands for a value that is not kept after the measuring pass."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


_TENSOR = _ValueMarker("<tensor>")
_OPAQUE = _ValueMarker("<container>")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _run_values(graph_module: fx.GraphModule, x: torch.Tensor) -> dict[str, Any] | None:
    """Non-tensor values of every node for input x (None if the model fails on it)."""
    values: dict[str, Any] = {}

    class Recording(fx.Interpreter):
        def run_node(self, node: fx.Node) -> Any:
            value = super().run_node(node)
            if _is_foldable(value):
                values[node.name] = value
            return value

    try:
        with torch.no_grad():
            Recording(graph_module).run(x)
    except Exception:  # noqa: BLE001 - e.g. a model hard-wired to batch 1
        return None
    return values


def _is_foldable(value: Any) -> bool:
    if isinstance(value, _FOLDABLE_SCALARS):
        return True
    if isinstance(value, torch.Size):
        return True
    if isinstance(value, list | tuple):
        return all(_is_foldable(v) for v in value)
    return False


def _target_name(node: fx.Node) -> str:
    target = node.target
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None) or ""
    qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))
    if module in ("_operator", "operator"):
        return f"operator.{qualname}"
    return f"{module}.{qualname}" if module else qualname


def _module_path_and_group(node: fx.Node) -> tuple[str, str]:
    stack = node.meta.get("nn_module_stack") or {}
    paths = [value[0] for value in stack.values()]
    if node.op == "call_module":
        module_path = str(node.target)
        group = module_path.rpartition(".")[0]
        return module_path, group
    if node.op == "get_attr":
        owner = str(node.target).rpartition(".")[0]
        return owner, owner
    module_path = paths[-1] if paths else ""
    return module_path, module_path


def _build_model_graph(
    name: str,
    input_shape: tuple[int, int, int],
    graph_module: fx.GraphModule,
    values: dict[str, _NodeValue],
    folds: dict[str, _Fold],
) -> ModelGraph:
    fx_nodes = [n for n in graph_module.graph.nodes if n.op != "output"]
    position = {n.name: i for i, n in enumerate(fx_nodes)}
    by_name = {n.name: n for n in fx_nodes}
    end = len(fx_nodes)  # the output node: a use there is "after every cut"

    def use_positions(n: fx.Node) -> list[int]:
        return [position.get(u.name, end) for u in n.users]

    # Parameters are attributed to the node that first uses them (dedup by identity);
    # a get_attr "uses" its parameter where its consumers run.
    first_use: dict[int, int] = {}
    last_use: dict[int, int] = {}
    numel: dict[int, int] = {}
    node_params = [0] * end
    for node in fx_nodes:
        params: list[torch.Tensor] = []
        where = [position[node.name]]
        if node.op == "call_module":
            params = list(graph_module.get_submodule(node.target).parameters())
        elif node.op == "get_attr":
            attr = _fetch_attr(graph_module, node.target)
            if isinstance(attr, nn.Parameter):
                params = [attr]
            where = use_positions(node) or where
        for p in params:
            key = id(p)
            if key not in numel:
                numel[key] = p.numel()
                node_params[position[node.name]] += p.numel()
            first_use[key] = min(first_use.get(key, end), min(where))
            last_use[key] = max(last_use.get(key, -1), max(where))

    nodes: list[NodeInfo] = []
    for node in fx_nodes:
        meta = values[node.name]
        module_path, group = _module_path_and_group(node)
        nodes.append(
            NodeInfo(
                name=node.name,
                op=node.op,
                target=type(graph_module.get_submodule(node.target)).__name__
                if node.op == "call_module"
                else _target_name(node),
                module_path=module_path,
                shape=meta.shape,
                dtype=meta.dtype,
                bytes=meta.bytes,
                flops=int(meta.flops),
                params=node_params[position[node.name]],
                position=position[node.name],
                group=group,
            )
        )
    total_flops = sum(n.flops for n in nodes)
    total_params = sum(numel.values())

    # Activation memory at step j = bytes of every storage produced at or before j and
    # still needed at j (a view keeps its base alive and adds nothing); independent of
    # the cut, so a head's peak is a prefix maximum.
    storage_end: dict[str, int] = {}
    for node in fx_nodes:
        owner = values[node.name].alias_of or node.name
        stop = max([position[node.name], *use_positions(node)])
        storage_end[owner] = max(storage_end.get(owner, 0), stop)
    live_delta = [0] * (end + 2)
    for owner, stop in storage_end.items():
        if by_name[owner].op == "get_attr":
            continue  # parameters and constants are not activations
        live_delta[position[owner]] += values[owner].bytes
        live_delta[min(stop, end) + 1] -= values[owner].bytes
    live_at = []
    running = 0
    for j in range(end):
        running += live_delta[j]
        live_at.append(running)

    param_first_at = [0] * (end + 1)
    param_last_at = [0] * (end + 1)
    for key, count in numel.items():
        param_first_at[first_use[key]] += count
        param_last_at[last_use[key]] += count

    last_compute = max((position[n.name] for n in fx_nodes if n.op.startswith("call_")), default=-1)
    live: dict[str, fx.Node] = {}
    split_points: list[SplitPoint] = []
    head_flops = 0
    head_params = 0
    params_ending = 0
    peak = 0
    for node in fx_nodes:
        k = position[node.name]
        head_flops += nodes[k].flops
        head_params += param_first_at[k]
        params_ending += param_last_at[k]
        peak = max(peak, live_at[k])
        if node.op != "get_attr":
            live[node.name] = node
        for done_name in [n for n, v in live.items() if max(use_positions(v), default=k) <= k]:
            del live[done_name]
        if not (
            node.op.startswith("call_") and k < last_compute and values[node.name].value is _TENSOR
        ):
            continue
        crossing = sorted(live.values(), key=lambda n: position[n.name])
        tensors = tuple(
            TensorSpec(n.name, values[n.name].shape, values[n.name].dtype, values[n.name].bytes)
            for n in crossing
            if values[n.name].value is _TENSOR
        )
        others = [n for n in crossing if values[n.name].value is not _TENSOR]
        if not tensors or any(values[n.name].value is _OPAQUE for n in others):
            continue
        split_points.append(
            SplitPoint(
                index=len(split_points),
                after=node.name,
                position=k,
                tensors=tensors,
                payload_bytes=sum(t.bytes for t in tensors),
                single_tensor=len(tensors) == 1,
                head_flops=head_flops,
                tail_flops=total_flops - head_flops,
                head_params=head_params,
                tail_params=total_params - params_ending,
                head_peak_activation_bytes=peak,
            )
        )
    return ModelGraph(
        name=name,
        input_shape=input_shape,
        graph_module=graph_module,
        nodes=nodes,
        split_points=split_points,
        total_flops=total_flops,
        total_params=total_params,
        _folds=folds,
    )


def _fetch_attr(root: nn.Module, target: str) -> Any:
    obj: Any = root
    for atom in target.split("."):
        obj = getattr(obj, atom)
    return obj


# ---------------------------------------------------------------------------------------
# head / tail


def _build_head(graph_module: fx.GraphModule, point: SplitPoint) -> fx.GraphModule:
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


def _build_tail(
    graph_module: fx.GraphModule, point: SplitPoint, folds: dict[str, _Fold]
) -> fx.GraphModule:
    graph = fx.Graph()
    payload = graph.placeholder("payload")
    env: dict[fx.Node, Any] = {}
    fx_nodes = list(graph_module.graph.nodes)
    by_name = {n.name: n for n in fx_nodes}
    for i, spec in enumerate(point.tensors):
        env[by_name[spec.name]] = graph.call_function(operator.getitem, (payload, i))
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
                first = env[by_name[point.tensors[0].name]]
                batch_node = graph.call_method("size", (first, 0))
            env[n] = graph.call_function(
                _scale_with_batch,
                (batch_node, _literal(fold.at_batch1), _literal(fold.at_batch2)),
            )
        return env[n]

    for i, node in enumerate(fx_nodes):
        if i <= point.position:
            continue
        if node.op == "get_attr":
            lookup(node)
            continue
        env[node] = graph.node_copy(node, lookup)
    return fx.GraphModule(graph_module, graph, class_name="Tail")


# ---------------------------------------------------------------------------------------
# verification


def verify_splits(
    graph: ModelGraph,
    indices: Sequence[int] | None = None,
    progress: Progress = None,
    cancel: Cancel = None,
) -> list[SplitVerification]:
    """Run head then tail for each split on one random input vs the whole model.

    The whole graph runs once, recording every tensor; each head's outputs are compared
    to the recorded ones and each tail's output (fed by the head) to the whole model's.
    """
    indices = list(range(len(graph.split_points))) if indices is None else list(indices)
    x = _example_input(graph.input_shape, batch=1)
    recorded: dict[str, torch.Tensor] = {}

    class Recording(fx.Interpreter):
        def run_node(self, node: fx.Node) -> Any:
            value = super().run_node(node)
            if isinstance(value, torch.Tensor):
                recorded[node.name] = value
            return value

    results: list[SplitVerification] = []
    with torch.inference_mode():
        expected = Recording(graph.graph_module).run(x)
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
            _report(progress, (done + 1) / len(indices), point.after)
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
