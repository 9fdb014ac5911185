"""How long the head and the tail of a split take on a node: measured or estimated.

- kind "gflops": every node takes flops / (gflops * 1e9) seconds; labelled "estimated";
- kind "profile": per-node medians from a `sei profile` file (x slowdown); "measured";
- kind "host": per-node medians measured now on this machine (x slowdown); "measured".

`host_scale` carries a time measured on this machine (the evaluation's encode and decode)
to the node: node whole-model seconds / this machine's whole-model seconds (both as
`sei profile` measures them: the sum of per-node medians), i.e. `slowdown` for "host", the
profile's total over this machine's for "profile", and this machine's effective GFLOP/s on
the model over the node's for "gflops". This machine's time is measured once per machine
and model structure and kept in the cache folder.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
from typing import Any

import torch

from sei_tui.core.errors import SeiInputError

# Host measurements are reused within a process: latency depends on structure, not weights.
_HOST_CACHE: dict[tuple[str, int], dict[str, float]] = {}
# This machine's one-thread whole-model seconds per fingerprint: host_scale's denominator
# (also kept on disk, see host_whole_seconds).
_HOST_WHOLE_CACHE: dict[str, float] = {}
HOST_CACHE_VERSION = 1
# A few passes are enough for a whole-model total: its per-node medians' noise averages out.
HOST_WHOLE_WARMUP = 1
HOST_WHOLE_REPEATS = 5


class ComputeModel:
    """Head/tail/whole seconds per split, from per-node seconds in graph order."""

    def __init__(
        self,
        graph: Any,
        node_seconds: list[float],
        label: str,
        kind: str,
        slowdown: float = 1.0,
        gflops: float | None = None,
    ) -> None:
        if len(node_seconds) != len(graph.nodes):
            raise ValueError("node_seconds must have one entry per graph node")
        self.graph = graph
        self.kind = kind
        self.label = label
        self.slowdown = slowdown
        self.gflops = gflops
        self.node_seconds = list(node_seconds)
        self._prefix = [0.0, *itertools.accumulate(self.node_seconds)]
        self._host_scale: tuple[float, str] | None = None

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
        seconds = [n.flops / rate for n in graph.nodes]
        return cls(graph, seconds, "estimated", "gflops", gflops=gflops)

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
        kind = "profile" if source is not None else "host"
        return cls(graph, seconds, label, kind, slowdown=slowdown)

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

    @property
    def host_scale(self) -> float:
        """Factor from a time measured on this machine to the same work on this node."""
        return self._scale()[0]

    @property
    def host_scale_label(self) -> str:
        """Where `host_scale` came from, e.g. "host x1", "profile/host x3.2"."""
        return self._scale()[1]

    def _scale(self) -> tuple[float, str]:
        if self._host_scale is None:
            self._host_scale = self._measure_scale()
        return self._host_scale

    def _measure_scale(self) -> tuple[float, str]:
        if self.kind == "host":  # this machine, slowed down: exactly the slowdown
            return self.slowdown, f"host x{self.slowdown:.3g}"
        host = host_whole_seconds(self.graph)
        node = self.whole_seconds()
        if not host > 0 or not math.isfinite(host):  # nothing measurable: keep host times
            return 1.0, "host x1 (nothing to measure)"
        scale = node / host
        if self.kind == "gflops":
            flops = float(self.graph.total_flops)
            return scale, (
                f"host {flops / host / 1e9:.3g} GFLOP/s -> node {self.gflops:.3g} GFLOP/s "
                f"x{scale:.3g}"
            )
        return scale, f"profile/host x{scale:.3g}"


def host_node_seconds(graph: Any) -> dict[str, float]:
    """Per-node medians on this machine, measured once per graph structure per process."""
    from sei_tui.core.model.profiling import measure_node_seconds

    key = (graph.fingerprint, torch.get_num_threads())
    if key not in _HOST_CACHE:
        _HOST_CACHE[key] = measure_node_seconds(graph)
    return _HOST_CACHE[key]


def host_whole_seconds(graph: Any) -> float:
    """This machine's whole-model seconds for `graph` at batch 1 on one thread, measured as
    `sei profile` measures (the sum of per-node medians over a few passes).

    Measured once per machine, graph structure and torch version, then read from the cache
    folder (`host/`): a scale that moved with the load at each run would move every encode
    and decode time with it. One thread: the encoders and decoders it is compared with run
    on one, and on a loaded machine a parallel region waits for descheduled threads (seen
    here: one run in five measured the demo 30x slower with 2 threads on 2 busy cores)."""
    key = graph.fingerprint
    if key not in _HOST_WHOLE_CACHE:
        cache_key = _host_cache_key(graph)
        seconds = _cached_whole_seconds(cache_key)
        if seconds is None:
            seconds = _measure_whole_seconds(graph)
            _store_whole_seconds(cache_key, graph, seconds)
        _HOST_WHOLE_CACHE[key] = seconds
    return _HOST_WHOLE_CACHE[key]


def _measure_whole_seconds(graph: Any) -> float:
    from sei_tui.core.model.profiling import measure_node_seconds

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seconds = measure_node_seconds(graph, HOST_WHOLE_WARMUP, HOST_WHOLE_REPEATS)
    finally:
        torch.set_num_threads(previous)
    return sum(seconds.values())


def _host_cache_key(graph: Any) -> str:
    from sei_tui.core.cache import digest_key
    from sei_tui.core.model.profiling import machine_description

    return digest_key(
        {
            "version": HOST_CACHE_VERSION,
            "fingerprint": graph.fingerprint,
            "machine": machine_description(),
            "torch": torch.__version__,
            "threads": 1,
        }
    )


def _cached_whole_seconds(key: str) -> float | None:
    """The cached measurement for `key`, or None (absent, unreadable or damaged)."""
    from sei_tui.core.cache import cache_dir

    try:
        data = json.loads((cache_dir("host") / f"{key}.json").read_text())
        seconds = data["whole_seconds"]
        if data.get("version") != HOST_CACHE_VERSION or isinstance(seconds, bool):
            return None
        seconds = float(seconds)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # measured again and rewritten
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _store_whole_seconds(key: str, graph: Any, seconds: float) -> None:
    from sei_tui.core.cache import atomic_write_json, cache_dir

    entry = {
        "version": HOST_CACHE_VERSION,
        "model": str(graph.name),
        "fingerprint": graph.fingerprint,
        "whole_seconds": seconds,
        "warmup": HOST_WHOLE_WARMUP,
        "repeats": HOST_WHOLE_REPEATS,
        "threads": 1,
        "load": _load_average(),  # a busy machine measures slow: delete the entry to redo
    }
    with contextlib.suppress(OSError):  # an unwritable cache only costs measuring again
        atomic_write_json(cache_dir("host") / f"{key}.json", entry)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None
