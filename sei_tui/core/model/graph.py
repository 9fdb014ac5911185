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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from sei_tui.core.errors import SeiInputError
from sei_tui.core.model import flops as flop_counting
from sei_tui.core.model.flops import flop_counter
from sei_tui.core.model.inplace import disable_inplace_modules, make_functional
from sei_tui.core.model.measure import (
    OPAQUE,
    TENSOR,
    NodeValue,
    ValueMarker,
    example_input,
    first_line,
    foldable_values,
    measure_nodes,
)
from sei_tui.core.model.split import (
    VERIFY_TOLERANCE,
    Fold,
    SplitVerification,
    build_head,
    build_middle,
    build_tail,
    verify_splits,
)

# names other stages import from here (the graph's facade)
__all__ = [
    "VERIFY_TOLERANCE",
    "GraphTreeNode",
    "ModelGraph",
    "NodeInfo",
    "SplitPoint",
    "SplitVerification",
    "TensorSpec",
    "analyze_model",
    "flop_counter",
    "trace",
    "verify_splits",
]

Progress = Callable[[float, str], None] | None


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


@dataclass
class ModelGraph:
    name: str
    input_shape: tuple[int, int, int]
    graph_module: fx.GraphModule
    nodes: list[NodeInfo]
    split_points: list[SplitPoint]
    total_flops: int
    total_params: int
    _folds: dict[str, Fold] = field(default_factory=dict, repr=False)
    # set when analysed from a LoadedModel: keys caches that depend on the weights
    weights_digest: str | None = None
    # live activation bytes at each node position (as head_peak_activation_bytes counts
    # them): a segment's peak activation is their max over its positions
    activation_bytes: tuple[int, ...] = ()

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
            build_head(self.graph_module, point),
            build_tail(self.graph_module, point, self._folds),
        )

    def middle(self, first: int, second: int) -> fx.GraphModule:
        """The segment between split points `first` < `second`: middle(payload of `first`)
        returns the payload tuple of `second` (see `split` for the head and the tail)."""
        count = len(self.split_points)
        if not 0 <= first < second < count:
            raise SeiInputError(
                f"{self.name}: cuts = [{first}, {second}]: must satisfy 0 <= k1 < k2 <= {count - 1}"
            )
        points = self.split_points
        return build_middle(self.graph_module, points[first], points[second], self._folds)

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
    *,
    flop_cache: bool = True,
) -> ModelGraph:
    """Trace a model, measure every node at batch 1 and enumerate its split points.

    Accepts an nn.Module or a LoadedModel (anything with .module/.input_shape/.name).
    In-place activations are switched to out-of-place (same results) so that a tail
    never writes into the payload it was given. FLOPs per node come from the user cache
    when this graph was counted before (`flop_cache=False`: always count).
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
    disable_inplace_modules(module)
    graph_module = trace(module, name)
    _report(progress, 0.2, "measuring nodes")

    values, flops = _measure(module_or_loaded, name, input_shape, graph_module, flop_cache)
    folds: dict[str, Fold] = {}
    foldable = [
        n
        for n in graph_module.graph.nodes
        if not isinstance(values[n.name].value, ValueMarker) and n.op != "output"
    ]
    if any(n.op not in ("placeholder", "get_attr") for n in foldable):
        _report(progress, 0.6, "checking batch-dependent sizes")
        at_batch2 = foldable_values(graph_module, example_input(input_shape, batch=2))
        for n in foldable:
            # a model that only runs at batch 1 gets tails that only run at batch 1
            value = values[n.name].value
            folds[n.name] = Fold(value, value if at_batch2 is None else at_batch2[n.name])
    _report(progress, 0.8, "enumerating split points")
    graph = _build_model_graph(name, input_shape, graph_module, values, flops, folds)
    graph.weights_digest = getattr(module_or_loaded, "weights_digest", None)
    _report(progress, 1.0, "done")
    return graph


def _measure(
    module_or_loaded: Any,
    name: str,
    input_shape: tuple[int, ...],
    graph_module: fx.GraphModule,
    flop_cache: bool,
) -> tuple[dict[str, NodeValue], dict[str, int]]:
    """Every node's NodeValue at batch 1 and its FLOPs: counted in the same pass, or read
    from the cache (then the pass runs without the counter and torch._dynamo stays out)."""
    x = example_input(input_shape, batch=1)
    node_names = [n.name for n in graph_module.graph.nodes if n.op != "output"]
    key = None
    flops = None
    if flop_cache:
        digest = getattr(module_or_loaded, "weights_digest", None)
        if digest is None:
            from sei_tui.core.model.loading import state_dict_digest

            digest = state_dict_digest(getattr(module_or_loaded, "module", module_or_loaded))
        key = flop_counting.flops_cache_key(name, digest, input_shape, graph_module)
        flops = flop_counting.cached_node_flops(key, node_names)
    # the fast path is off in both cases so a warm pass sees exactly what a counted one did
    with flop_counting.attention_fast_path_off():
        if flops is not None:
            return measure_nodes(graph_module, x, name), flops
        with flop_counting.NodeFlopCounter() as counter:
            values = measure_nodes(graph_module, x, name, around=counter.around)
    flops = {n: counter.per_node.get(n, 0) for n in node_names}
    if key is not None:
        flop_counting.store_node_flops(key, name, flops)
    return values, flops


def _report(progress: Progress, fraction: float, label: str) -> None:
    if progress is not None:
        progress(fraction, label)


def trace(module: nn.Module, name: str = "model") -> fx.GraphModule:
    """Symbolically trace `module`, turning fx's failure into one clear line."""
    try:
        graph_module = fx.symbolic_trace(module)
    except Exception as exc:  # noqa: BLE001 - any tracing failure is the model's, not ours
        raise SeiInputError(
            f"{name}: cannot be traced by torch.fx ({type(exc).__name__}: {first_line(exc)}); "
            "this usually means Python control flow that depends on tensor values "
            "(if/for/while on a tensor): rewrite that branch with tensor ops such as "
            "torch.where, or wrap the function that holds it with torch.fx.wrap so it "
            "runs as one step, and pass the model as file.py:factory"
        ) from None
    make_functional(graph_module)
    return graph_module


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
    values: dict[str, NodeValue],
    flops: dict[str, int],
    folds: dict[str, Fold],
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
            attr = operator.attrgetter(node.target)(graph_module)
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
                flops=flops[node.name],
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
            node.op.startswith("call_") and k < last_compute and values[node.name].value is TENSOR
        ):
            continue
        crossing = sorted(live.values(), key=lambda n: position[n.name])
        tensors = tuple(
            TensorSpec(n.name, values[n.name].shape, values[n.name].dtype, values[n.name].bytes)
            for n in crossing
            if values[n.name].value is TENSOR
        )
        others = [n for n in crossing if values[n.name].value is not TENSOR]
        if not tensors or any(values[n.name].value is OPAQUE for n in others):
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
        activation_bytes=tuple(live_at),
    )
