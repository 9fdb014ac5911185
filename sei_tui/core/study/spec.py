"""The study file: which models, scenarios, encodings, QoS and link-parameter grid.

Read strictly and validated before any slow work: every error is one `SeiInputError`
naming the file, the key and the value. The format is documented in docs/study-format.md.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.sweep import SWEEP_PARAMETERS, SweepAxis, grid
from sei_tui.core.units import parse_bitrate, parse_duration

__all__ = ["ModelEntry", "Study", "StudyPoint", "load_study", "parse_study"]

TOP_KEYS = (
    "models",
    "scenarios",
    "encodings",
    "input_encodings",
    "strategies",
    "qos",
    "deadline",
    "data",
    "synthetic",
    "images",
    "frames",
    "protocol",
    "all_splits",
    "objective",
    "exit_thresholds",
    "bottleneck_channels",
    "train_images",
    "train_epochs",
    "train_seed",
    "traces",
    "sweep",
)
MODEL_KEYS = ("model", "weights", "input_shape")
RANGE_KEYS = ("start", "stop", "count")
STUDY_STRATEGIES = ("local", "remote", "split")  # the default
ADAPTED = ("early_exit", "bottleneck")  # trained once per model before the grid


@dataclass(frozen=True)
class ModelEntry:
    """One model of the study: a spec as on the command line, optional weights and shape."""

    model: str
    weights: str | None = None
    input_shape: tuple[int, int, int] | None = None

    @property
    def label(self) -> str:
        return self.model if self.weights is None else f"{self.model}[{Path(self.weights).name}]"

    def key(self) -> dict:
        weights = None
        if self.weights is not None:
            from sei_tui.core.cache import digest_key

            # the weights' content changes the result, not their path
            weights = digest_key(Path(self.weights).read_bytes().hex())
        return {"model": self.model, "weights": weights, "input_shape": self.input_shape}


@dataclass(frozen=True)
class StudyPoint:
    """One network point: a model, a scenario and one value per sweep axis."""

    model: int  # index into Study.models
    scenario: int  # index into Study.scenarios
    values: dict[str, float]


@dataclass
class Study:
    path: str
    models: tuple[ModelEntry, ...]
    scenarios: tuple[str, ...]
    encodings: tuple[str, ...]
    input_encodings: tuple[str, ...]
    strategies: tuple[str, ...]
    qos: str
    deadline: float | None
    data: str | None
    synthetic: int | None
    images: int
    frames: int | None
    protocol: str | None
    all_splits: bool
    axes: tuple[SweepAxis, ...]
    loaded_scenarios: list = field(default_factory=list, repr=False)
    objective: str = "latency"  # what each point's ranking minimises (ranking.OBJECTIVES)
    # early_exit / bottleneck training, as `sei analyze`'s flags (None: their defaults)
    exit_thresholds: tuple[float, ...] | None = None
    bottleneck_channels: tuple[int, ...] | None = None
    train_images: int | None = None
    train_epochs: int | None = None
    train_seed: int = 0
    traces: tuple[str, ...] = ()  # per scenario variant: "LINK=TRACE; ..." ("" for none)

    def points(self) -> list[StudyPoint]:
        """Every point: models outermost, then scenarios, then the grid (last axis fastest)."""
        values = grid(self.axes)
        return [
            StudyPoint(m, s, v)
            for m in range(len(self.models))
            for s in range(len(self.scenarios))
            for v in values
        ]

    def settings(self) -> dict:
        """Every study-wide input that changes a point's result (the points' key)."""
        return {
            "encodings": list(self.encodings),
            "input_encodings": list(self.input_encodings),
            "strategies": list(self.strategies),
            "qos": self.qos,
            "deadline": self.deadline,
            "data": self.data,
            "synthetic": self.synthetic,
            "images": self.images,
            "frames": self.frames,
            "protocol": self.protocol,
            "all_splits": self.all_splits,
            # only when not the default: the keys of earlier latency studies stay valid
            **({"objective": self.objective} if self.objective != "latency" else {}),
            **({"adapters": self._adapter_settings()} if self.adapted else {}),
        }

    @property
    def adapted(self) -> bool:
        return bool(set(ADAPTED) & set(self.strategies))

    def _adapter_settings(self) -> dict:
        return {
            "exit_thresholds": self.exit_thresholds,
            "bottleneck_channels": self.bottleneck_channels,
            "train_images": self.train_images,
            "train_epochs": self.train_epochs,
            "train_seed": self.train_seed,
        }

    def adapter_options(self) -> Any:
        """The AdapterOptions `sei analyze` builds from the same flags (None without exits
        or bottlenecks): same training, same cache entries, same deployments."""
        if not self.adapted:
            return None
        from dataclasses import replace

        from sei_tui.core.adapters.deploy import AdapterOptions
        from sei_tui.core.evaluation.qos import parse_qos

        changes: dict[str, Any] = {}
        if self.exit_thresholds is not None:
            changes["thresholds"] = self.exit_thresholds
        if self.bottleneck_channels is not None:
            changes["widths"] = self.bottleneck_channels
            changes["widths_given"] = True
        if self.train_images is not None:
            changes["train_images"] = self.train_images
        if self.train_epochs is not None:
            changes["exit_epochs"] = changes["bottleneck_epochs"] = self.train_epochs
        bounds = [
            c.value
            for c in parse_qos(self.qos).constraints
            if c.column == "accuracy" and c.op in (">=", ">")
        ]
        if bounds:
            changes["accuracy_bound"] = max(bounds)
        return replace(AdapterOptions(seed=self.train_seed), **changes)


def load_study(path: str | Path) -> Study:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot read the study file ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SeiInputError(f"{path}: not valid TOML: {exc}") from None
    return parse_study(data, str(path), base=path.parent)


def _fail(where: str, key: str, value: Any, why: str) -> SeiInputError:
    return SeiInputError(f"{where}: {key} = {value!r}: {why}")


def _string_list(data: dict, key: str, where: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(where, key, value, "expected a list of non-empty strings")
    if not value:
        raise _fail(where, key, value, "empty list")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _optional_int(data: dict, key: str, where: str, minimum: int = 1) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, key, value, f"expected a whole number >= {minimum}")
    return value


def _models(data: dict, where: str, base: Path) -> tuple[ModelEntry, ...]:
    from sei_tui.core.model.loading import parse_input_shape

    raw = data.get("models")
    if raw is None:
        raise SeiInputError(f'{where}: models: missing (e.g. models = ["demo"])')
    if isinstance(raw, str | dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "models", raw, "expected a non-empty list of model specs")
    out = []
    for i, entry in enumerate(raw):
        key = f"models[{i}]"
        if isinstance(entry, str):
            entry = {"model": entry}
        if not isinstance(entry, dict):
            raise _fail(where, key, entry, "expected a model spec or {model, weights, input_shape}")
        for k in entry:
            if k not in MODEL_KEYS:
                raise _fail(where, f"{key}.{k}", entry[k], f"unknown key ({', '.join(MODEL_KEYS)})")
        model = entry.get("model")
        if not isinstance(model, str) or not model.strip():
            raise _fail(where, f"{key}.model", model, "expected a model spec")
        weights = entry.get("weights")
        if weights is not None:
            if not isinstance(weights, str):
                raise _fail(where, f"{key}.weights", weights, "expected a file path")
            resolved = (base / weights) if not Path(weights).is_absolute() else Path(weights)
            if not resolved.is_file():
                raise _fail(where, f"{key}.weights", weights, "no such file")
            weights = str(resolved)
        shape = entry.get("input_shape")
        if shape is not None:
            try:
                shape = tuple(parse_input_shape(str(shape)))
            except SeiInputError as exc:
                raise _fail(where, f"{key}.input_shape", shape, str(exc)) from None
        out.append(ModelEntry(model.strip(), weights, shape))
    return tuple(out)


def _axis_values(key: str, parameter: str, spec: Any, where: str) -> tuple[float, ...]:
    full = f"sweep.{key}"

    def one(value: Any, at: str) -> float:
        try:
            if parameter == "bitrate":
                v = parse_bitrate(value)
                if v <= 0:
                    raise SeiInputError("bit rates must be positive")
            elif parameter == "delay":
                v = parse_duration(value)
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise SeiInputError("expected a number (a fraction of packets)")
                v = float(value)
                if not (math.isfinite(v) and 0 <= v < 1):
                    raise SeiInputError("loss must be in [0, 1)")
        except SeiInputError as exc:
            raise _fail(where, at, value, str(exc).split(": ", 1)[-1]) from None
        return v

    if isinstance(spec, list):
        if not spec:
            raise _fail(where, full, spec, "empty list of values")
        values = [one(v, f"{full}[{i}]") for i, v in enumerate(spec)]
        if len(set(values)) != len(values):
            raise _fail(where, full, spec, "a value appears twice")
        return tuple(values)
    if not isinstance(spec, dict):
        raise _fail(where, full, spec, "expected {start, stop, count} or a list of values")
    for k in spec:
        if k not in RANGE_KEYS:
            raise _fail(where, f"{full}.{k}", spec[k], "unknown key (start, stop, count)")
    for k in RANGE_KEYS:
        if k not in spec:
            raise SeiInputError(f"{where}: {full}: missing {k!r} (start, stop, count)")
    count = spec["count"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise _fail(where, f"{full}.count", count, "empty range: count must be at least 1")
    start, stop = one(spec["start"], f"{full}.start"), one(spec["stop"], f"{full}.stop")
    if count > 1 and start == stop:
        raise _fail(where, full, spec, "empty range: start equals stop with count > 1")
    if parameter == "bitrate":
        values = np.geomspace(start, stop, count)
    else:
        values = np.linspace(start, stop, count)
    return tuple(float(v) for v in values)


def _axes(data: dict, where: str, scenarios: list) -> tuple[SweepAxis, ...]:
    raw = data.get("sweep", {})
    if not isinstance(raw, dict):
        raise _fail(where, "sweep", raw, "expected a table of [LINK.]PARAMETER = range or list")
    axes = []
    for key, spec in raw.items():
        link, _, parameter = key.rpartition(".")
        if isinstance(spec, dict) and not set(spec) & set(RANGE_KEYS) and not link:
            # `[sweep.wifi] bitrate = ...` written as a sub-table
            for sub, inner in spec.items():
                axes.append(_axis(f"{key}.{sub}", inner, where, scenarios))
            continue
        axes.append(_axis(key, spec, where, scenarios))
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise SeiInputError(f"{where}: sweep: an axis appears twice ({', '.join(keys)})")
    return tuple(axes)


def _axis(key: str, spec: Any, where: str, scenarios: list) -> SweepAxis:
    link, _, parameter = key.rpartition(".")
    if parameter not in SWEEP_PARAMETERS:
        raise _fail(
            where,
            f"sweep.{key}",
            spec,
            f"unknown axis {parameter!r} (one of {', '.join(SWEEP_PARAMETERS)}, "
            "optionally LINK.PARAMETER)",
        )
    for scenario in scenarios:
        names = {lk.name for lk in scenario.links}
        if link and link not in names:
            raise _fail(
                where,
                f"sweep.{key}",
                spec,
                f"the scenario {scenario.name!r} has no link {link!r} "
                f"(links: {', '.join(sorted(names))})",
            )
    return SweepAxis(parameter, link or None, _axis_values(key, parameter, spec, where))


def parse_study(data: dict, where: str = "study", base: Path | None = None) -> Study:
    """A validated Study from the parsed TOML `data` (`where` names the file in errors)."""
    from sei_tui.core.evaluation.encoding import (
        DEFAULT_INPUT_ENCODINGS,
        DEFAULT_TENSOR_ENCODINGS,
        parse_input_encoding,
        parse_tensor_encoding,
    )
    from sei_tui.core.evaluation.prepare import MAX_IMAGES, load_scenario
    from sei_tui.core.evaluation.qos import parse_qos
    from sei_tui.core.evaluation.ranking import OBJECTIVES

    base = base or Path.cwd()
    for key in data:
        if key not in TOP_KEYS:
            raise _fail(where, key, data[key], f"unknown key (known: {', '.join(TOP_KEYS)})")
    models = _models(data, where, base)
    scenarios = _string_list(data, "scenarios", where, ("demo",))
    loaded = []
    for i, spec in enumerate(scenarios):
        candidate = base / spec
        name = str(candidate) if candidate.is_file() else spec
        try:
            loaded.append(load_scenario(name))
        except SeiInputError as exc:
            raise _fail(where, f"scenarios[{i}]", spec, str(exc)) from None
    scenarios = tuple(str(base / s) if (base / s).is_file() else s for s in scenarios)
    encodings = _string_list(data, "encodings", where, DEFAULT_TENSOR_ENCODINGS)
    for i, enc in enumerate(encodings):
        try:
            parse_tensor_encoding(enc)
        except SeiInputError as exc:
            raise _fail(where, f"encodings[{i}]", enc, str(exc).split(": ", 1)[-1]) from None
    input_encodings = _string_list(data, "input_encodings", where, tuple(DEFAULT_INPUT_ENCODINGS))
    for i, enc in enumerate(input_encodings):
        try:
            parse_input_encoding(enc)
        except SeiInputError as exc:
            raise _fail(where, f"input_encodings[{i}]", enc, str(exc).split(": ", 1)[-1]) from None
    strategies = _string_list(data, "strategies", where, STUDY_STRATEGIES)
    known = STUDY_STRATEGIES + ADAPTED
    for i, s in enumerate(strategies):
        if s not in known:
            raise _fail(where, f"strategies[{i}]", s, f"one of {', '.join(known)}")
    qos = data.get("qos", "")
    if not isinstance(qos, str):
        raise _fail(where, "qos", qos, 'expected a string like "p95_latency<=0.05"')
    try:
        parse_qos(qos)
    except SeiInputError as exc:
        raise _fail(where, "qos", qos, str(exc)) from None
    deadline = data.get("deadline")
    if deadline is not None:
        try:
            deadline = parse_duration(deadline)
        except SeiInputError as exc:
            raise _fail(where, "deadline", deadline, str(exc).split(": ", 1)[-1]) from None
        if deadline <= 0:
            raise _fail(where, "deadline", data["deadline"], "must be positive")
    dataset = data.get("data")
    if dataset is not None:
        if not isinstance(dataset, str) or not dataset.strip():
            raise _fail(where, "data", dataset, "expected a folder or file path")
        resolved = base / dataset
        if not resolved.exists():
            raise _fail(where, "data", dataset, "no such file or folder")
        dataset = str(resolved)
    synthetic = _optional_int(data, "synthetic", where)
    images = _optional_int(data, "images", where) or MAX_IMAGES
    frames = _optional_int(data, "frames", where)
    protocol = data.get("protocol")
    if protocol is not None and protocol not in ("tcp", "udp"):
        raise _fail(where, "protocol", protocol, 'expected "tcp" or "udp"')
    all_splits = data.get("all_splits", False)
    if not isinstance(all_splits, bool):
        raise _fail(where, "all_splits", all_splits, "expected true or false")
    objective = data.get("objective", "latency")
    if objective not in OBJECTIVES:
        raise _fail(where, "objective", objective, f"one of {', '.join(OBJECTIVES)}")
    adapters = _adapter_keys(data, where, strategies)
    axes = _axes(data, where, loaded)
    scenarios, loaded, traces = _trace_variants(data, where, base, scenarios, loaded, axes)
    return Study(
        path=where,
        models=models,
        scenarios=scenarios,
        encodings=encodings,
        input_encodings=input_encodings,
        strategies=strategies,
        qos=qos,
        deadline=deadline,
        data=dataset,
        synthetic=synthetic,
        images=images,
        frames=frames,
        protocol=protocol,
        all_splits=all_splits,
        axes=axes,
        loaded_scenarios=loaded,
        objective=objective,
        traces=traces,
        **adapters,
    )


def _number_list(data: dict, key: str, where: str, kind: type, ok, why: str) -> tuple | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _fail(where, key, value, f"expected a non-empty list ({why})")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int | float) or (kind is int and v != int(v)):
            raise _fail(where, f"{key}[{i}]", v, f"expected a number ({why})")
        if not ok(v):
            raise _fail(where, f"{key}[{i}]", v, why)
    return tuple(dict.fromkeys(kind(v) for v in value))


def _adapter_keys(data: dict, where: str, strategies: tuple[str, ...]) -> dict:
    """The early_exit / bottleneck training keys, checked as `sei analyze` checks its flags."""
    from sei_tui.core.adapters.split_data import MIN_TRAIN_IMAGES

    out: dict[str, Any] = {
        "exit_thresholds": _number_list(
            data, "exit_thresholds", where, float, lambda t: 0 < t <= 1, "thresholds in (0, 1]"
        ),
        "bottleneck_channels": _number_list(
            data, "bottleneck_channels", where, int, lambda w: w >= 1, "channels, at least 1"
        ),
        "train_images": _optional_int(data, "train_images", where, MIN_TRAIN_IMAGES),
        "train_epochs": _optional_int(data, "train_epochs", where),
        "train_seed": _optional_int(data, "train_seed", where, 0) or 0,
    }
    needs = {"exit_thresholds": ("early_exit",), "bottleneck_channels": ("bottleneck",)}
    for key in ("exit_thresholds", "bottleneck_channels", "train_images", "train_epochs"):
        wanted = needs.get(key, ADAPTED)
        if data.get(key) is not None and not set(wanted) & set(strategies):
            raise _fail(where, key, data[key], f"needs {' or '.join(wanted)} among the strategies")
    return out


def _trace_spec(value: Any, at: str, where: str, base: Path) -> dict | None:
    """A `[link.trace]` table for `value` (a built-in trace name or FILE[:FORMAT], relative
    to the study file; "none": the link as the scenario has it)."""
    from sei_tui.core.network.traces import TRACE_FORMATS, builtin_trace_names

    if not isinstance(value, str) or not value.strip():
        raise _fail(where, at, value, "expected a trace name or FILE[:FORMAT]")
    if value == "none":
        return None
    file, fmt = value, None
    head, colon, tail = value.rpartition(":")
    if colon and tail in TRACE_FORMATS:
        file, fmt = head, tail
    path = Path(file) if Path(file).is_absolute() else base / file
    if path.is_file():
        file = str(path.resolve())
    elif file not in builtin_trace_names():
        raise _fail(
            where,
            at,
            value,
            f"no such file, and not a built-in trace (built-in: {', '.join(builtin_trace_names())})",
        )
    return {"file": file} if fmt is None else {"file": file, "format": fmt}


def _trace_variants(
    data: dict, where: str, base: Path, scenarios: tuple, loaded: list, axes: tuple
) -> tuple[tuple, list, tuple]:
    """Every scenario once per combination of `traces` ({LINK = [trace, ...]}): a trace
    axis makes its own scenario variants, named "NAME [LINK=TRACE]"."""
    import itertools

    raw = data.get("traces")
    if raw is None:
        return scenarios, loaded, ("",) * len(scenarios)
    if not isinstance(raw, dict) or not raw:
        raise _fail(where, "traces", raw, 'expected a table LINK = ["trace", ...]')
    choices = []
    for link, values in raw.items():
        at = f"traces.{link}"
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not values:
            raise _fail(where, at, values, "expected a non-empty list of traces")
        if len(set(map(str, values))) != len(values):
            raise _fail(where, at, values, "a trace appears twice")
        for scenario in loaded:
            names = {lk.name for lk in scenario.links}
            if link not in names:
                raise _fail(
                    where,
                    at,
                    values,
                    f"the scenario {scenario.name!r} has no link {link!r} "
                    f"(links: {', '.join(sorted(names))})",
                )
        for axis in axes:
            if axis.parameter == "bitrate" and axis.link in (None, link):
                raise _fail(
                    where,
                    at,
                    values,
                    f"the sweep axis sweep.{axis.key} replaces the link's bitrate, "
                    "so its trace would never be used",
                )
        specs = [(v, _trace_spec(v, f"{at}[{i}]", where, base)) for i, v in enumerate(values)]
        choices.append([(link, label, spec) for label, spec in specs])
    out_specs, out_loaded, out_traces = [], [], []
    for spec, scenario in zip(scenarios, loaded, strict=True):
        for combination in itertools.product(*choices):
            variant = scenario
            for link, _, table in combination:
                if table is not None:
                    try:
                        variant = variant.with_link(link, trace=table)
                    except SeiInputError as exc:
                        raise _fail(where, f"traces.{link}", table["file"], str(exc)) from None
            label = "; ".join(f"{link}={name}" for link, name, _ in combination)
            out_specs.append(f"{spec} [{label}]")
            out_loaded.append(variant.with_name(f"{scenario.name} [{label}]"))
            out_traces.append(label)
    return tuple(out_specs), out_loaded, tuple(out_traces)
