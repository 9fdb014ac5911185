"""Per-node latency measured on this machine, and the profile file `sei profile` writes.

A profile is measured where the model will run (e.g. on the edge board) and loaded
elsewhere; its fingerprint (graph structure + shapes, not weights) ties it to the model.
"""

from __future__ import annotations

import datetime
import json
import math
import operator
import os
import platform
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx

from sei_tui.core.errors import SeiCancelled, SeiInputError

PROFILE_FORMAT = "sei-profile"
PROFILE_VERSION = 1
DEFAULT_WARMUP = 3
DEFAULT_REPEATS = 10


@dataclass(frozen=True)
class LatencyProfile:
    """Median seconds per fx node at batch 1, and where they were measured."""

    model: str
    fingerprint: str
    input_shape: tuple[int, int, int]
    machine: dict[str, Any]
    torch_version: str
    threads: int
    warmup: int
    repeats: int
    node_seconds: dict[str, float]
    created: str
    source: Path | None = None

    @property
    def total_seconds(self) -> float:
        return sum(self.node_seconds.values())


def machine_description() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def measure_node_seconds(
    graph: Any,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Median wall time of every node over `repeats` whole passes (after `warmup`)."""
    if warmup < 0 or repeats < 1:
        raise SeiInputError(f"repeats = {repeats}, warmup = {warmup}: need repeats >= 1")
    graph_module: fx.GraphModule = graph.graph_module
    steps = _compile_steps(graph_module)
    x = torch.randn((1, *graph.input_shape), generator=torch.Generator().manual_seed(0))
    samples: dict[str, list[float]] = {name: [] for name, *_ in steps}
    total = warmup + repeats
    with torch.no_grad():
        for run in range(total):
            if cancel is not None and cancel():
                raise SeiCancelled()
            timings = _timed_pass(steps, x)
            if run >= warmup:
                for name, seconds in timings:
                    samples[name].append(seconds)
            if progress is not None:
                progress((run + 1) / total, "warm-up" if run < warmup else "measuring")
    return {name: statistics.median(values) for name, values in samples.items()}


def _compile_steps(graph_module: fx.GraphModule) -> list[tuple[str, fx.Node, Any]]:
    """(name, node, callable) per node, resolved once so timing covers only the op."""
    steps = []
    for node in graph_module.graph.nodes:
        if node.op == "output":
            continue
        if node.op == "call_module":
            fn = graph_module.get_submodule(node.target)
        elif node.op == "call_function":
            fn = node.target
        elif node.op == "get_attr":
            fn = operator.attrgetter(node.target)(graph_module)
        else:
            fn = None
        steps.append((node.name, node, fn))
    return steps


def _timed_pass(steps: list[tuple[str, fx.Node, Any]], x: torch.Tensor) -> list[tuple[str, float]]:
    env: dict[fx.Node, Any] = {}
    timings = []
    clock = time.perf_counter
    for name, node, fn in steps:
        if node.op == "placeholder":
            env[node] = x
            timings.append((name, 0.0))
            continue
        if node.op == "get_attr":
            env[node] = fn
            timings.append((name, 0.0))
            continue
        args = fx.node.map_arg(node.args, env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
        if node.op == "call_method":
            self_obj, *rest = args
            start = clock()
            value = getattr(self_obj, node.target)(*rest, **kwargs)
        else:
            start = clock()
            value = fn(*args, **kwargs)
        timings.append((name, clock() - start))
        env[node] = value
    return timings


def profile_model(
    graph: Any,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> LatencyProfile:
    node_seconds = measure_node_seconds(graph, warmup, repeats, progress, cancel)
    return LatencyProfile(
        model=graph.name,
        fingerprint=graph.fingerprint,
        input_shape=tuple(graph.input_shape),
        machine=machine_description(),
        torch_version=torch.__version__,
        threads=torch.get_num_threads(),
        warmup=warmup,
        repeats=repeats,
        node_seconds=node_seconds,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )


def profile_json(profile: LatencyProfile) -> dict[str, Any]:
    return {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "model": profile.model,
        "fingerprint": profile.fingerprint,
        "input_shape": list(profile.input_shape),
        "batch": 1,
        "machine": profile.machine,
        "torch": profile.torch_version,
        "threads": profile.threads,
        "warmup": profile.warmup,
        "repeats": profile.repeats,
        "statistic": "median",
        "created": profile.created,
        "total_seconds": profile.total_seconds,
        "nodes": [{"name": n, "seconds": s} for n, s in profile.node_seconds.items()],
    }


def save_profile(profile: LatencyProfile, path: str | os.PathLike[str]) -> None:
    from sei_tui.core.cache import atomic_write_bytes

    path = Path(path)
    check_profile_destination(path)
    text = json.dumps(profile_json(profile), indent=1) + "\n"
    try:
        atomic_write_bytes(path, text.encode())
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot write the profile ({exc.strerror or exc})") from None


def check_profile_destination(path: str | os.PathLike[str]) -> None:
    """Refuse an output path that cannot be a file, before minutes of measuring."""
    path = Path(path)
    if path.is_dir():
        raise SeiInputError(f"{path}: is a directory (name a file, e.g. {path / 'profile.json'})")
    if path.parent.exists() and not path.parent.is_dir():
        raise SeiInputError(f"{path}: {path.parent} is not a directory")


def load_profile(path: str | os.PathLike[str]) -> LatencyProfile:
    """Read and validate a profile written by `sei profile`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeiInputError(f"{path}: no such profile file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SeiInputError(f"{path}: cannot read the profile ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeiInputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise SeiInputError(f"{path}: format = {_get(data, 'format')!r}: not a sei profile")
    if data.get("version") != PROFILE_VERSION:
        raise SeiInputError(
            f"{path}: version = {data.get('version')!r}: this sei reads version {PROFILE_VERSION}"
        )

    def need(key: str, kind: type | tuple[type, ...]) -> Any:
        value = data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise SeiInputError(f"{path}: {key} = {value!r}: missing or of the wrong type")
        return value

    shape = need("input_shape", list)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise SeiInputError(f"{path}: input_shape = {shape!r}: expected [C, H, W]")
    node_seconds: dict[str, float] = {}
    for i, entry in enumerate(need("nodes", list)):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SeiInputError(f"{path}: nodes[{i}]: expected {{name, seconds}}")
        seconds = entry.get("seconds")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise SeiInputError(
                f"{path}: nodes[{i}].seconds = {seconds!r}: must be a finite number >= 0"
            )
        if entry["name"] in node_seconds:
            raise SeiInputError(f"{path}: nodes[{i}].name = {entry['name']!r}: duplicated")
        node_seconds[entry["name"]] = float(seconds)
    return LatencyProfile(
        model=need("model", str),
        fingerprint=need("fingerprint", str),
        input_shape=tuple(shape),
        machine=need("machine", dict),
        torch_version=need("torch", str),
        threads=need("threads", int),
        warmup=need("warmup", int),
        repeats=need("repeats", int),
        node_seconds=node_seconds,
        created=str(data.get("created", "")),
        source=path,
    )


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None
