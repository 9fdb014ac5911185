"""Cumulative saliency (CS) of every split point: the stage's entry point and its names.

`cumulative_saliency` returns the CS curve of a ModelGraph's split points over a dataset:
from the disk cache (`result_cache`) when this analysis ran before, otherwise from the
one-pass Grad-CAM (`gradcam`: one forward and one backward per batch, the rules for each
tensor layout) reduced to a curve and its local maxima (`curve`).
"""

from __future__ import annotations

import time

from sei_tui.core.errors import setting_error
from sei_tui.core.saliency.curve import (
    MAXIMA_TOLERANCE,
    SaliencyPoint,
    SaliencyResult,
    local_maxima,
    log10_cs,
    result_from_accumulator,
)
from sei_tui.core.saliency.gradcam import (
    TARGETS,
    Cancel,
    Progress,
    SaliencyAccumulator,
    gradcam,
    per_image_view,
    saliency_pass,
    tensor_layout,
    tensor_of,
    to_channels_positions,
)
from sei_tui.core.saliency.result_cache import (
    cached_result,
    saliency_cache_key,
    store_result,
    weights_digest,
)

# the public names of the saliency stage (other stages and tests import them from here)
__all__ = [
    "MAXIMA_TOLERANCE",
    "TARGETS",
    "SaliencyAccumulator",
    "SaliencyPoint",
    "SaliencyResult",
    "cumulative_saliency",
    "gradcam",
    "local_maxima",
    "log10_cs",
    "per_image_view",
    "result_from_accumulator",
    "saliency_cache_key",
    "saliency_pass",
    "tensor_layout",
    "tensor_of",
    "to_channels_positions",
    "weights_digest",
]


def cumulative_saliency(
    graph,
    dataset,
    batch_size: int = 32,
    target: str = "top1",
    per_class: bool = False,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    cache: bool = True,
    weights_digest_hint: str | None = None,
) -> SaliencyResult:
    """The CS curve of every split point of `graph` (a ModelGraph) over `dataset`.

    Cached on disk keyed by model name, weights digest, graph, split points, dataset
    fingerprint and target (the batch size changes nothing but float rounding).
    """
    if target not in TARGETS:
        raise setting_error(
            "target", "saliency target", target, f"expected one of {', '.join(TARGETS)}"
        )
    key = None
    if cache:
        digest = (
            weights_digest_hint
            or getattr(graph, "weights_digest", None)
            or weights_digest(graph.graph_module)
        )
        key = saliency_cache_key(graph, dataset, target, digest)
        result = cached_result(key)
        if result is not None:
            result.cached = True
            if progress is not None:
                progress(1.0, "saliency: from cache")
            return _select(result, per_class)
    started = time.perf_counter()
    accumulator = saliency_pass(
        graph.graph_module,
        [[t.name for t in p.tensors] for p in graph.split_points],
        dataset,
        input_shape=graph.input_shape,
        batch_size=batch_size,
        target=target,
        progress=progress,
        cancel=cancel,
        cuts=[p.after for p in graph.split_points],
    )
    result = result_from_accumulator(graph, accumulator, target, time.perf_counter() - started)
    if key is not None:
        store_result(key, result)
    return _select(result, per_class)


def _select(result: SaliencyResult, per_class: bool) -> SaliencyResult:
    if not per_class:
        result.per_class = {}
        result.per_class_maxima = {}
    return result
