"""Latency of a deployment: fixed per-frame costs plus each frame's network time.

Per deployment, per frame:
    latency = head compute (edge profile) + encode + network (libsim) + decode
              + tail compute (server profile)
A frame that never arrived has infinite latency. Percentiles are nearest-rank over the
frames (libsim's `percentile`), so they add up part by part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from libsim import percentile

__all__ = ["LatencyParts", "latency_parts", "nearest_rank", "path_p95"]


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `percent`% at or below it;
    infinite over no values."""
    if not len(values):
        return math.inf
    return float(percentile(sorted(values), percent))


@dataclass(frozen=True)
class LatencyParts:
    network_p50_s: float
    network_p95_s: float
    network_p99_s: float
    network_mean_s: float
    p50_latency: float
    p95_latency: float
    p99_latency: float
    mean_latency: float
    deadline_miss: float | None


def latency_parts(
    network_s: Sequence[float | None],
    fixed_s: float | Sequence[float],
    deadline: float | None = None,
) -> LatencyParts:
    """Per-frame totals = `fixed_s` (compute + encode + decode) + each frame's network time.

    `fixed_s` is one term for every frame, or one per image: frame f then takes term
    f mod len (frame f carries image f mod n, see `simulation`), as early exits do.
    A frame with no network time (None: never arrived) is infinitely late.
    """
    net = [math.inf if v is None else float(v) for v in network_s]
    finite = [v for v in net if math.isfinite(v)]
    mean_net = sum(net) / len(net) if net and len(finite) == len(net) else math.inf
    if not isinstance(fixed_s, int | float):
        terms = [float(t) for t in fixed_s]
        total = [terms[f % len(terms)] + v for f, v in enumerate(net)]
        mean_total = sum(total) / len(total) if total and math.isfinite(mean_net) else math.inf
    else:
        total = [fixed_s + v for v in net]
        mean_total = fixed_s + mean_net
    miss = None
    if deadline is not None and total:
        miss = sum(1 for v in total if v > deadline) / len(total)
    return LatencyParts(
        network_p50_s=nearest_rank(net, 50),
        network_p95_s=nearest_rank(net, 95),
        network_p99_s=nearest_rank(net, 99),
        network_mean_s=mean_net,
        p50_latency=nearest_rank(total, 50),
        p95_latency=nearest_rank(total, 95),
        p99_latency=nearest_rank(total, 99),
        mean_latency=mean_total,
        deadline_miss=miss,
    )


def path_p95(
    network_s: Sequence[float | None], fixed_s: Sequence[float], exited: Sequence[bool]
) -> tuple[float | None, float | None]:
    """(p95 latency of the frames whose image exited on the device, p95 of the others)
    for an early exit: frame f carries image f mod n; None for a path no frame took."""
    paths: dict[bool, list[float]] = {True: [], False: []}
    for f, v in enumerate(network_s):
        j = f % len(exited)
        paths[bool(exited[j])].append(fixed_s[j] + (math.inf if v is None else float(v)))
    return tuple(nearest_rank(paths[k], 95) if paths[k] else None for k in (True, False))
