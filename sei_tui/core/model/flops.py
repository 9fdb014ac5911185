"""FLOPs per fx node, counted with torch's FlopCounterMode and cached on disk.

Counting needs torch.utils.flop_counter, whose first use imports torch._dynamo (about 1.5 s
on 2 cores), so the counts of an analysed graph are kept in the user cache, keyed by model
name, weights digest, input shape, graph code, its leaf modules and the torch version: a
warm analysis reads them and never imports torch._dynamo.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx

from sei_tui.core.cache import atomic_write_json, cache_dir, digest_key

FLOP_CACHE_VERSION = 1


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


class NodeFlopCounter:
    """Counts each node's FLOPs during one pass: `with counter:` around the pass, and
    `counter.around(node, run)` to run each node (the measuring pass's hook)."""

    def __init__(self) -> None:
        self.per_node: dict[str, int] = {}
        self._counter = flop_counter()

    def around(self, node: fx.Node, run: Callable[[], Any]) -> Any:
        before = self._counter.get_total_flops()
        value = run()
        self.per_node[node.name] = int(self._counter.get_total_flops() - before)
        return value

    def __enter__(self) -> NodeFlopCounter:
        self._counter.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._counter.__exit__(*exc)


@contextlib.contextmanager
def attention_fast_path_off() -> Iterator[None]:
    """The fused attention fast path is invisible to FlopCounterMode: measure without it."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def flops_cache_key(
    name: str, weights_digest: str, input_shape: tuple[int, ...], graph_module: fx.GraphModule
) -> str:
    """What the counts depend on: the graph's code, its leaf modules (whose hyperparameters,
    e.g. a conv's stride, are not in the code) and the bytecode of the Python functions it
    calls, the input shape, the weights, torch."""
    leaves = hashlib.sha256()
    for node in graph_module.graph.nodes:
        if node.op == "call_module":
            leaves.update(f"{node.target}={graph_module.get_submodule(node.target)!r}\n".encode())
        code = getattr(node.target, "__code__", None)
        if node.op == "call_function" and code is not None:
            # a function kept whole (torch.fx.wrap) appears in the graph code by name only
            _hash_code(code, leaves)
    return digest_key(
        {
            "version": FLOP_CACHE_VERSION,
            "model": name,
            "weights": weights_digest,
            "input_shape": list(input_shape),
            "graph": hashlib.sha256(graph_module.code.encode()).hexdigest(),
            "modules": leaves.hexdigest(),
            "torch": torch.__version__,
        }
    )


def _hash_code(code: types.CodeType, digest: Any) -> None:
    """Bytecode and constants, nested code included, without addresses or set order."""
    digest.update(code.co_code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code(const, digest)
        elif isinstance(const, frozenset):
            digest.update(repr(sorted(map(repr, const))).encode())
        else:
            digest.update(repr(const).encode())


def _cache_path(key: str) -> Path:
    return cache_dir("flops") / f"{key}.json"


def cached_node_flops(key: str, node_names: list[str]) -> dict[str, int] | None:
    """The cached counts for `key` if present, readable and over exactly `node_names`."""
    try:
        path = _cache_path(key)
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        flops = data["flops"]
        if (
            data.get("version") != FLOP_CACHE_VERSION
            or not isinstance(flops, dict)
            or sorted(flops) != sorted(node_names)
            or not all(type(v) is int and v >= 0 for v in flops.values())
        ):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged entry is recounted and rewritten
    return {name: flops[name] for name in node_names}


def store_node_flops(key: str, model: str, flops: dict[str, int]) -> None:
    with contextlib.suppress(OSError):  # a read-only cache only costs a recount next time
        atomic_write_json(
            _cache_path(key), {"version": FLOP_CACHE_VERSION, "model": model, "flops": flops}
        )
