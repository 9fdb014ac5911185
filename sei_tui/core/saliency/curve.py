"""The CS curve of a model's split points, its local maxima, and the result record.

CS values are |mean| of dataset-averaged Grad-CAM maps (see `sei_tui.core.saliency.gradcam`);
the curve is their log10 along the network and its local maxima are the recommended splits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SaliencyPoint:
    index: int
    after: str
    cs: float
    log10_cs: float


@dataclass
class SaliencyResult:
    model: str
    points: list[SaliencyPoint]
    maxima: list[int]
    per_class: dict[int, list[float]]
    per_class_maxima: dict[int, list[int]]
    images: int
    wall_s: float
    target: str = "top1"
    class_counts: dict[int, int] = field(default_factory=dict)
    cached: bool = False

    def curve(self) -> list[float]:
        return [p.log10_cs for p in self.points]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "images": self.images,
            "target": self.target,
            "points": [
                {
                    "index": p.index,
                    "after": p.after,
                    "cs": p.cs,
                    "log10_cs": p.log10_cs if math.isfinite(p.log10_cs) else None,
                }
                for p in self.points
            ],
            "maxima": list(self.maxima),
            "per_class": {str(k): list(v) for k, v in self.per_class.items()},
            "per_class_maxima": {str(k): list(v) for k, v in self.per_class_maxima.items()},
            "class_counts": {str(k): v for k, v in self.class_counts.items()},
            "wall_s": self.wall_s,
            "cached": self.cached,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SaliencyResult:
        points = [
            SaliencyPoint(
                index=int(p["index"]),
                after=str(p["after"]),
                cs=float(p["cs"]),
                log10_cs=log10_cs(float(p["cs"])),
            )
            for p in data["points"]
        ]
        return cls(
            model=str(data["model"]),
            points=points,
            maxima=[int(i) for i in data["maxima"]],
            per_class={int(k): [float(x) for x in v] for k, v in data["per_class"].items()},
            per_class_maxima={
                int(k): [int(x) for x in v] for k, v in data["per_class_maxima"].items()
            },
            images=int(data["images"]),
            wall_s=float(data["wall_s"]),
            target=str(data.get("target", "top1")),
            class_counts={int(k): int(v) for k, v in data.get("class_counts", {}).items()},
            cached=bool(data.get("cached", False)),
        )


def log10_cs(value: float) -> float:
    return math.log10(value) if value > 0 else float("-inf")


# log10 units: float32 sums over large tensors differ in the 6th-7th digit, and a linear
# chain of vector points (gradient x activation) is near-equal along the chain.
MAXIMA_TOLERANCE = 1e-5


def local_maxima(
    values: Sequence[float | None], endpoints: bool = True, tolerance: float = MAXIMA_TOLERANCE
) -> list[int]:
    """Indices of the local maxima of a curve (of log10 CS values).

    - Values within `tolerance` of each other are equal.
    - Interior: above both neighbours.
    - Plateau: a run of equal values (each within `tolerance` of the run's first value)
      above the values on both sides counts once, at its first index (the earliest split:
      least computation on the edge).
    - Endpoints (when `endpoints`): the first/last point (or a plateau touching it) counts
      when above its only neighbour.
    - A curve that is flat everywhere has no maximum; a single finite point is one.
    - None, NaN and -inf are never maxima (and are below any finite value).
    """
    curve = [
        float("-inf") if v is None or not math.isfinite(float(v)) else float(v) for v in values
    ]
    n = len(curve)
    maxima: list[int] = []
    start = 0
    while start < n:
        value = curve[start]
        end = start
        while end + 1 < n and (curve[end + 1] == value or abs(curve[end + 1] - value) <= tolerance):
            end += 1
        if math.isfinite(value):
            left = curve[start - 1] < value - tolerance if start > 0 else None
            right = curve[end + 1] < value - tolerance if end < n - 1 else None
            if left is not None and right is not None:
                if left and right:
                    maxima.append(start)
            elif endpoints:
                neighbours = [lower for lower in (left, right) if lower is not None]
                if (neighbours and all(neighbours)) or n == 1:
                    maxima.append(start)
        start = end + 1
    return maxima


def result_from_accumulator(graph, accumulator: Any, target: str, wall_s: float) -> SaliencyResult:
    values = accumulator.point_cs()
    points = [
        SaliencyPoint(index=p.index, after=p.after, cs=cs, log10_cs=log10_cs(cs))
        for p, cs in zip(graph.split_points, values, strict=True)
    ]
    per_class = accumulator.class_point_cs()
    return SaliencyResult(
        model=graph.name,
        points=points,
        maxima=[points[i].index for i in local_maxima([p.log10_cs for p in points])],
        per_class=per_class,
        per_class_maxima={
            k: [points[i].index for i in local_maxima([log10_cs(v) for v in curve])]
            for k, curve in per_class.items()
        },
        images=accumulator.images,
        wall_s=wall_s,
        target=target,
        class_counts={
            k: int(c) for k, c in enumerate(accumulator.class_counts.tolist()) if int(c) > 0
        },
    )
