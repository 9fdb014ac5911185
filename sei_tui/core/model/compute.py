"""How long the head and the tail of a split take on a node: measured or estimated.

- kind "gflops": every node takes flops / (gflops * 1e9) seconds; labelled "estimated";
- kind "profile": per-node medians from a `sei profile` file (x slowdown); "measured";
- kind "host": per-node medians measured now on this machine (x slowdown); "measured".
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch

from sei_tui.core.errors import SeiInputError

# Host measurements are reused within a process: latency depends on structure, not weights.
_HOST_CACHE: dict[tuple[str, int], dict[str, float]] = {}


class ComputeModel:
    """Head/tail/whole seconds per split, from per-node seconds in graph order."""

    def __init__(self, graph: Any, node_seconds: list[float], label: str, kind: str) -> None:
        if len(node_seconds) != len(graph.nodes):
            raise ValueError("node_seconds must have one entry per graph node")
        self.graph = graph
        self.kind = kind
        self.label = label
        self.node_seconds = list(node_seconds)
        self._prefix = [0.0, *itertools.accumulate(self.node_seconds)]

    @classmethod
    def from_profile(cls, profile: Any, graph: Any) -> ComputeModel:
        """`profile` is a scenario ComputeProfile (name, kind, gflops, profile_path, slowdown)."""
        kind = getattr(profile, "kind", None)
        name = getattr(profile, "name", "compute")
        slowdown = float(getattr(profile, "slowdown", 1.0) or 1.0)
        if not math.isfinite(slowdown) or slowdown <= 0:
            raise SeiInputError(f"compute {name}: slowdown = {slowdown}: must be > 0")
        if kind == "gflops":
            gflops = getattr(profile, "gflops", None)
            if gflops is None or not math.isfinite(gflops) or gflops <= 0:
                raise SeiInputError(f"compute {name}: gflops = {gflops}: must be > 0")
            return cls.estimated(graph, float(gflops))
        if kind == "profile":
            from sei_tui.core.model.profiling import load_profile

            path = getattr(profile, "profile_path", None)
            if path is None:
                raise SeiInputError(f"compute {name}: profile: no file given")
            recorded = load_profile(path)
            if recorded.fingerprint != graph.fingerprint:
                raise SeiInputError(
                    f"{path}: fingerprint = {recorded.fingerprint}: measured for "
                    f"{recorded.model} {'x'.join(map(str, recorded.input_shape))}, not for "
                    f"{graph.name} {'x'.join(map(str, graph.input_shape))} "
                    f"({graph.fingerprint}); run `sei profile` for this model"
                )
            return cls.measured(graph, recorded.node_seconds, slowdown, path)
        if kind == "host":
            return cls.measured(graph, host_node_seconds(graph), slowdown)
        raise SeiInputError(f"compute {name}: kind = {kind!r}: must be gflops, profile or host")

    @classmethod
    def estimated(cls, graph: Any, gflops: float) -> ComputeModel:
        rate = gflops * 1e9
        return cls(graph, [n.flops / rate for n in graph.nodes], "estimated", "gflops")

    @classmethod
    def measured(
        cls,
        graph: Any,
        node_seconds: dict[str, float],
        slowdown: float = 1.0,
        source: Any = None,
    ) -> ComputeModel:
        missing = [n.name for n in graph.nodes if n.name not in node_seconds]
        if missing:
            where = f"{source}: " if source is not None else ""
            raise SeiInputError(
                f"{where}the profile does not match model {graph.name} "
                f"({len(missing)} nodes missing, e.g. {missing[0]}); "
                "run `sei profile` for this model and input shape"
            )
        label = "measured" if slowdown == 1.0 else f"measured x{slowdown}"
        seconds = [node_seconds[n.name] * slowdown for n in graph.nodes]
        return cls(graph, seconds, label, "profile" if source is not None else "host")

    def _cut(self, split_index: int) -> int:
        points = self.graph.split_points
        if not 0 <= split_index < len(points):
            raise SeiInputError(f"split index = {split_index}: must be in 0..{len(points) - 1}")
        return points[split_index].position + 1

    def head_seconds(self, split_index: int) -> float:
        return self._prefix[self._cut(split_index)]

    def tail_seconds(self, split_index: int) -> float:
        return self._prefix[-1] - self._prefix[self._cut(split_index)]

    def whole_seconds(self) -> float:
        return self._prefix[-1]


def host_node_seconds(graph: Any) -> dict[str, float]:
    """Per-node medians on this machine, measured once per graph structure per process."""
    from sei_tui.core.model.profiling import measure_node_seconds

    key = (graph.fingerprint, torch.get_num_threads())
    if key not in _HOST_CACHE:
        _HOST_CACHE[key] = measure_node_seconds(graph)
    return _HOST_CACHE[key]
