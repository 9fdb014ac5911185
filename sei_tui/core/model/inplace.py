"""In-place ops in fx graphs: the one table of them, which nodes write into an input, and
the rewrite that makes a traced graph functional (so recorded values and payloads stay
intact whatever runs after them)."""

from __future__ import annotations

import operator

# augmented assignment -> the out-of-place operator with the same result
INPLACE_OPERATORS = {
    operator.iadd: operator.add,
    operator.isub: operator.sub,
    operator.imul: operator.mul,
    operator.itruediv: operator.truediv,
    operator.ifloordiv: operator.floordiv,
    operator.imod: operator.mod,
    operator.ipow: operator.pow,
    operator.imatmul: operator.matmul,
    operator.iand: operator.and_,
    operator.ior: operator.or_,
    operator.ixor: operator.xor,
    operator.ilshift: operator.lshift,
    operator.irshift: operator.rshift,
}

# ops that return a view of their input: an in-place op on the view changes the input too
VIEW_OPS = {
    "view",
    "reshape",
    "flatten",
    "permute",
    "transpose",
    "t",
    "expand",
    "squeeze",
    "unsqueeze",
    "narrow",
    "select",
    "chunk",
    "split",
    "unbind",
    "view_as",
    "contiguous",
    "getitem",
    "unflatten",
    "movedim",
}


def _is_trailing_underscore(name: str) -> bool:
    """`add_`, `relu_`: torch's in-place spelling (not a dunder such as `__add__`)."""
    return name.endswith("_") and not name.endswith("__")


def op_name(node) -> str:
    """The function or method name a node calls ('' for modules and other ops)."""
    if node.op not in ("call_function", "call_method"):
        return ""
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", "")


def is_in_place(graph_module, node) -> bool:
    """Whether running `node` writes into its first input."""
    if node.op == "call_module":
        submodule = graph_module.get_submodule(str(node.target))
        return bool(getattr(submodule, "inplace", False))
    if node.op in ("call_function", "call_method"):
        if node.op == "call_function" and node.target in INPLACE_OPERATORS:
            return True
        if _is_trailing_underscore(op_name(node)):
            return True
        return bool(node.kwargs.get("inplace", False))
    return False


def modified_in_place_later(graph_module, name: str) -> bool:
    """Whether an in-place op later writes into node `name`'s value (or a view of it)."""
    start = next(n for n in graph_module.graph.nodes if n.name == name)
    frontier, seen = [start], set()
    while frontier:
        node = frontier.pop()
        for user in node.users:
            if user in seen:
                continue
            seen.add(user)
            if is_in_place(graph_module, user) and user.args and user.args[0] is node:
                return True
            if op_name(user) in VIEW_OPS:
                frontier.append(user)
    return False


def disable_inplace_modules(module) -> None:
    """Switch modules with an `inplace` flag (ReLU(inplace=True)...) to out-of-place."""
    for sub in module.modules():
        if isinstance(getattr(sub, "inplace", None), bool):
            sub.inplace = False


def make_functional(graph_module) -> None:
    """Rewrite in-place ops to their out-of-place forms (same results)."""
    import torch

    changed = False
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and node.target in INPLACE_OPERATORS:
            node.target = INPLACE_OPERATORS[node.target]
            changed = True
        elif node.op in ("call_function", "call_method") and node.kwargs.get("inplace") is True:
            node.kwargs = {**node.kwargs, "inplace": False}
            changed = True
        elif (
            node.op == "call_method"
            and _is_trailing_underscore(node.target)
            and hasattr(torch.Tensor, node.target[:-1])
        ):
            node.target = node.target[:-1]
            changed = True
    if changed:
        graph_module.recompile()
