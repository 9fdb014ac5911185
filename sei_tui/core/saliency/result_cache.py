"""Saliency results on disk: one JSON file per (model, weights, graph, split points,
dataset, target) in the user cache, so a second run of the same analysis is a file read."""

from __future__ import annotations

import hashlib
import json

from sei_tui.core.cache import atomic_write_json, cache_dir, digest_key
from sei_tui.core.model.loading import state_dict_digest
from sei_tui.core.saliency.curve import SaliencyResult

_CACHE_VERSION = 3

# a digest of every parameter and buffer (names, dtypes, shapes, bytes): keys the cache
weights_digest = state_dict_digest


def saliency_cache_key(graph, dataset, target: str, digest: str) -> str:
    code = hashlib.sha256(graph.graph_module.code.encode()).hexdigest()
    return digest_key(
        {
            "version": _CACHE_VERSION,
            "model": graph.name,
            "weights": digest,
            "graph": code,
            "input_shape": list(graph.input_shape) if graph.input_shape else None,
            "points": [[p.index, p.after, [t.name for t in p.tensors]] for p in graph.split_points],
            "dataset": dataset.fingerprint,
            "images": len(dataset),
            "target": target,
        }
    )


def cached_result(key: str) -> SaliencyResult | None:
    """The stored result for `key`, None when absent or unreadable (then recomputed)."""
    path = cache_dir("saliency") / f"{key}.json"
    if not path.is_file():
        return None
    try:
        return SaliencyResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_result(key: str, result: SaliencyResult) -> None:
    atomic_write_json(cache_dir("saliency") / f"{key}.json", result.to_json())
