"""What a layer is, in one short line: its kind and main parameters (`Conv2d 64→128 3×3/2`,
`Linear 4096→10`, `MaxPool 2×2/2`, `Add`) and its output shape (`128×16×16`).

Reads only attributes of the modules and the graph's NodeInfo (no torch import here), so
views can call it on any loaded ModelGraph.
"""

from __future__ import annotations

from typing import Any

__all__ = ["describe_layer", "describe_module", "layer_descriptions", "shape_text"]

# fx functions and methods by the last part of their qualified name
_FUNCTIONS = {
    "add": "Add",
    "iadd": "Add",
    "mul": "Mul",
    "imul": "Mul",
    "sub": "Sub",
    "truediv": "Div",
    "matmul": "MatMul",
    "cat": "Concat",
    "stack": "Stack",
    "flatten": "Flatten",
    "view": "View",
    "reshape": "Reshape",
    "permute": "Permute",
    "transpose": "Transpose",
    "relu": "ReLU",
    "sigmoid": "Sigmoid",
    "softmax": "Softmax",
    "getitem": "Item",
    "mean": "Mean",
    "adaptive_avg_pool2d": "AvgPool",
    "max_pool2d": "MaxPool",
    "avg_pool2d": "AvgPool",
    "chunk": "Chunk",
    "size": "Size",
}


def _pair(value: Any) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


def _kernel(kernel: Any, stride: Any) -> str:
    k = _pair(kernel)
    text = "×".join(str(v) for v in k)
    s = _pair(stride) if stride is not None else k
    if any(v != 1 for v in s):
        text += "/" + (str(s[0]) if len(set(s)) == 1 else "×".join(str(v) for v in s))
    return text


def describe_module(module: Any) -> str:
    """`Conv2d 64→128 3×3/2`, `Linear 4096→10`, `BatchNorm 64`, `MaxPool 2×2/2`, `ReLU`...:
    the class name and the parameters that set the layer's size (stride 1 is left out)."""
    kind = type(module).__name__
    if hasattr(module, "in_channels") and hasattr(module, "kernel_size"):
        text = f"{kind} {module.in_channels}→{module.out_channels} "
        text += _kernel(module.kernel_size, getattr(module, "stride", 1))
        groups = getattr(module, "groups", 1)
        if groups and groups > 1:
            text += " dw" if groups == module.in_channels else f" g{groups}"
        return text
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return f"{kind} {module.in_features}→{module.out_features}"
    if kind.startswith("BatchNorm") and hasattr(module, "num_features"):
        return f"BatchNorm {module.num_features}"
    if "Pool" in kind and hasattr(module, "kernel_size"):
        return f"{kind.removesuffix('2d')} {_kernel(module.kernel_size, module.stride)}"
    if "Adaptive" in kind and hasattr(module, "output_size"):
        size = module.output_size
        shown = "×".join(str(v) for v in _pair(size)) if size is not None else ""
        return f"{kind.removeprefix('Adaptive').removesuffix('2d')}→{shown}"
    if kind.startswith("Dropout") and hasattr(module, "p"):
        return f"Dropout {module.p:g}"
    if hasattr(module, "embed_dim") and hasattr(module, "num_heads"):
        return f"{kind} {module.embed_dim} h{module.num_heads}"
    if hasattr(module, "normalized_shape"):
        return f"{kind} {'×'.join(str(v) for v in module.normalized_shape)}"
    return kind


def describe_layer(node: Any, module: Any | None = None) -> str:
    """One fx node (a NodeInfo): its module's description for `call_module`, else the
    function or method's short name (`operator.add` → `Add`, `torch.cat` → `Concat`)."""
    op = getattr(node, "op", "")
    if op == "call_module" and module is not None:
        return describe_module(module)
    target = str(getattr(node, "target", "") or "")
    if op == "placeholder":
        return "Input"
    last = target.rsplit(".", 1)[-1].strip("_")
    if op == "call_module":
        return target or last
    return _FUNCTIONS.get(last, last or op)


def shape_text(shape: Any) -> str:
    """The output shape without the batch: `128×16×16`; `–` when the output is no tensor."""
    if not shape:
        return "–"
    dims = tuple(shape)[1:] if len(shape) > 1 else tuple(shape)
    return "×".join(str(d) for d in dims)


def layer_descriptions(graph: Any) -> dict[str, str]:
    """Node name → its description, for every node of a ModelGraph (modules looked up in
    `graph.graph_module`, when the graph has one)."""
    graph_module = getattr(graph, "graph_module", None)
    descriptions: dict[str, str] = {}
    for node in getattr(graph, "nodes", []):
        module = None
        if getattr(node, "op", "") == "call_module" and graph_module is not None:
            try:
                module = graph_module.get_submodule(node.module_path)
            except (AttributeError, TypeError):  # a path the module no longer has
                module = None
        descriptions[node.name] = describe_layer(node, module)
    return descriptions
