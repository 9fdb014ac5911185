"""What each figure shows, as plain data taken from a report (no matplotlib here).

Every builder reads the same data as the JSON report (`AnalysisReport.to_dict()`, or that
JSON read back) and, for the CS curve, the saliency result. A row that lacks a field a
figure needs (a strategy added later, a missing measurement) is left out of that figure,
never guessed. Latencies of frames that never arrived are `null` in JSON: infinite here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FIGURE_NAMES = ("cs-curve", "latency-by-split", "pareto", "sensitivity-map")

# One line per figure: the Markdown report's captions and the legend of docs/cli.md.
CAPTIONS = {
    "cs-curve": "Cumulative saliency (CS) along the split points, CS maxima (candidate "
    "splits) marked; payload bytes per frame on the right axis (log scale).",
    "latency-by-split": "Latency per frame by deployment: edge (head + encode), network "
    "p95 and server (decode + tail) stacked, for the best encoding of each split (lowest "
    "p95 latency) and for local and remote; diamonds mark each row's p95 latency.",
    "pareto": "p95 latency against accuracy of every deployment, the Pareto front as a "
    "step line, the recommended deployment circled; open markers violate the QoS, whose "
    "latency and accuracy bounds are drawn as lines.",
    "sensitivity-map": "The recommended deployment at every point of the sweep (letters "
    "key the legend), with its p95 latency.",
}

# The strategies this module knows, in the report's canonical order; rows of any other
# strategy are drawn after them, in name order.
KNOWN_STRATEGIES = ("local", "remote", "split")


def report_dict(report: Any) -> dict:
    """The JSON report's dict of an `AnalysisReport` (or that dict itself)."""
    if hasattr(report, "to_dict"):
        return report.to_dict()
    if isinstance(report, Mapping):
        return dict(report)
    raise TypeError(f"expected an AnalysisReport or its JSON dict, not {type(report).__name__}")


def title_of(data: Mapping) -> str:
    return f"{data.get('model', '?')} on {data.get('scenario', '?')}"


def deployment_label(row: Mapping) -> str:
    """`split 3 features_3`, `local`, `remote`; any other strategy with its split index
    (`split2 3|7 features_3`: both cuts)."""
    parts = [str(row.get("strategy"))]
    cuts = row.get("cuts")
    if isinstance(cuts, list | tuple) and len(cuts) == 2:
        parts.append(f"{cuts[0]}|{cuts[1]}")
    elif row.get("split_index") is not None:
        parts.append(str(row["split_index"]))
    if row.get("after"):
        parts.append(str(row["after"]))
    return " ".join(parts)


def _seconds(value: Any) -> float | None:
    """A latency field: a number, or null (never arrived: infinite); None if absent/bad."""
    if value is None:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def qos_bounds(data: Mapping, columns: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """(text, bound) of the report's QoS constraints on `columns` (a QoS this version
    cannot read draws no line: the rows' `feasible` still tells)."""
    from sei_tui.core.evaluation.qos import parse_qos

    try:
        qos = parse_qos(str(data.get("qos") or ""))
    except Exception:  # noqa: BLE001 - a figure never fails on a report's QoS text
        return ()
    return tuple((c.text, c.value) for c in qos.constraints if c.column in columns)


def _strategy_key(strategy: str) -> tuple:
    known = KNOWN_STRATEGIES.index(strategy) if strategy in KNOWN_STRATEGIES else None
    return (len(KNOWN_STRATEGIES) if known is None else known, strategy)


# ---------------------------------------------------------------- cs-curve


@dataclass(frozen=True)
class PayloadSeries:
    name: str  # e.g. "fp32 tensors" or an encoding ("int8+zlib")
    indices: tuple[int, ...]  # split indices
    payload_bytes: tuple[float, ...]


@dataclass(frozen=True)
class CsCurve:
    title: str
    indices: tuple[int, ...]  # split point indices, in network order
    afters: tuple[str, ...]  # the node each cut follows
    cs: tuple[float, ...]  # CS at each split point (NaN: unknown)
    maxima: tuple[int, ...]  # split indices of the CS maxima (candidate splits)
    payloads: tuple[PayloadSeries, ...] = ()
    note: str = ""  # why something is missing


def cs_curve_from_saliency(
    result: Any, split_points: Sequence[Any] = (), title: str = ""
) -> CsCurve:
    """The curve of a `SaliencyResult`; `split_points` (the graph's) add the payload of
    every cut (the tensors' bytes as the model computes them)."""
    payload = {sp.index: float(sp.payload_bytes) for sp in split_points}
    indices = tuple(p.index for p in result.points)
    series: tuple[PayloadSeries, ...] = ()
    known = [i for i in indices if i in payload]
    if known:
        series = (PayloadSeries("tensors", tuple(known), tuple(payload[i] for i in known)),)
    return CsCurve(
        title=title or f"{result.model}, {result.images} images",
        indices=indices,
        afters=tuple(p.after for p in result.points),
        cs=tuple(float(p.cs) for p in result.points),
        maxima=tuple(result.maxima),
        payloads=series,
    )


def cs_curve_from_report(report: Any, saliency: Any | None = None) -> CsCurve:
    """The CS curve of an analysis: every split point and its maxima from the saliency
    result when given, else the split rows' CS; payload bytes per encoding from the rows."""
    data = report_dict(report)
    splits = [
        r
        for r in data.get("rows", [])
        if r.get("strategy") == "split" and isinstance(r.get("split_index"), int)
    ]
    by_encoding: dict[str, dict[int, float]] = {}
    for r in splits:
        size = r.get("payload_bytes")
        if isinstance(size, int | float) and size > 0:
            by_encoding.setdefault(str(r.get("encoding")), {})[r["split_index"]] = float(size)
    payloads = tuple(
        PayloadSeries(name, tuple(sorted(sizes)), tuple(sizes[i] for i in sorted(sizes)))
        for name, sizes in sorted(by_encoding.items())
    )
    note = "; ".join(str(n) for n in data.get("notes", []) if str(n).startswith("no CS"))
    if saliency is not None:
        return CsCurve(
            title=title_of(data),
            indices=tuple(p.index for p in saliency.points),
            afters=tuple(p.after for p in saliency.points),
            cs=tuple(float(p.cs) for p in saliency.points),
            maxima=tuple(saliency.maxima),
            payloads=payloads,
            note=note,
        )
    cs_at: dict[int, tuple[str, float]] = {}
    for r in splits:
        cs = r.get("cs")
        if isinstance(cs, int | float):
            cs_at.setdefault(r["split_index"], (str(r.get("after")), float(cs)))
    order = sorted(cs_at)
    if not order and not note:
        note = "no CS in the report"
    return CsCurve(
        title=title_of(data),
        indices=tuple(order),
        afters=tuple(cs_at[i][0] for i in order),
        cs=tuple(cs_at[i][1] for i in order),
        maxima=(),
        payloads=payloads,
        note=note or ("CS maxima not marked: the report holds only the evaluated splits"),
    )


# ---------------------------------------------------------------- latency-by-split

_BAR_FIELDS = ("head_s", "encode_s", "network_p95_s", "decode_s", "tail_s", "p95_latency")


@dataclass(frozen=True)
class LatencyBar:
    label: str  # the deployment (`split 3 features_3`, `local`, ...)
    strategy: str
    encoding: str
    edge_s: float  # head_s + encode_s: the report's `edge+enc` column
    network_s: float  # network_p95_s: the report's `network p95` (inf: never arrived)
    server_s: float  # decode_s + tail_s: the report's `dec+server`
    p95_s: float  # p95_latency of the row (end to end, inf: never arrived)
    row: int  # index in the report's rows


@dataclass(frozen=True)
class LatencyBars:
    title: str
    bars: tuple[LatencyBar, ...]  # local, remote, splits by index, then other strategies
    deadline_s: float | None = None
    latency_bounds: tuple[tuple[str, float], ...] = ()  # QoS on p95_latency: (text, seconds)


def _best_key(item: tuple[int, Mapping]) -> tuple:
    """Lowest p95 latency; then higher accuracy; then the report's (rank) order."""
    i, row = item
    p95 = _seconds(row.get("p95_latency"))
    accuracy = row.get("accuracy")
    accuracy = accuracy if isinstance(accuracy, int | float) else -math.inf
    return (math.inf if p95 is None or math.isnan(p95) else p95, -accuracy, i)


def latency_bars_from_report(report: Any) -> LatencyBars:
    """One bar per deployment group (local, remote, each split index, each index of any
    other strategy): the group's row with the lowest p95 latency ("best encoding")."""
    data = report_dict(report)
    groups: dict[tuple, list[tuple[int, Mapping]]] = {}
    for i, row in enumerate(data.get("rows", [])):
        strategy = row.get("strategy")
        if not isinstance(strategy, str) or any(f not in row for f in _BAR_FIELDS):
            continue
        values = [_seconds(row[f]) for f in _BAR_FIELDS]
        if any(v is None for v in values):
            continue
        index = row.get("split_index")
        key = (*_strategy_key(strategy), index if isinstance(index, int) else -1)
        groups.setdefault(key, []).append((i, row))
    bars = []
    for key in sorted(groups):
        i, row = min(groups[key], key=_best_key)
        bars.append(
            LatencyBar(
                label=deployment_label(row),
                strategy=row["strategy"],
                encoding=str(row.get("encoding", "")),
                edge_s=_seconds(row["head_s"]) + _seconds(row["encode_s"]),
                network_s=_seconds(row["network_p95_s"]),
                server_s=_seconds(row["decode_s"]) + _seconds(row["tail_s"]),
                p95_s=_seconds(row["p95_latency"]),
                row=i,
            )
        )
    deadline = data.get("deadline")
    return LatencyBars(
        title=title_of(data),
        bars=tuple(bars),
        deadline_s=float(deadline) if isinstance(deadline, int | float) else None,
        latency_bounds=qos_bounds(data, ("p95_latency",)),
    )


# ---------------------------------------------------------------- pareto


@dataclass(frozen=True)
class ParetoPoint:
    label: str
    strategy: str
    encoding: str
    p95_s: float
    accuracy: float  # fraction 0..1
    feasible: bool
    on_front: bool  # the report's `pareto`
    row: int


@dataclass(frozen=True)
class ParetoData:
    title: str
    points: tuple[ParetoPoint, ...]  # rows with a finite p95 latency and an accuracy
    front: tuple[ParetoPoint, ...]  # the report's front among them, by p95 latency
    recommended: ParetoPoint | None
    hidden: int  # rows not drawn (no finite p95 latency or no accuracy)
    accuracy_kind: str = "labels"
    deadline_s: float | None = None
    latency_bounds: tuple[tuple[str, float], ...] = ()  # QoS on p95_latency: (text, seconds)
    accuracy_bounds: tuple[tuple[str, float], ...] = ()  # QoS on accuracy: (text, fraction)


def pareto_from_report(report: Any) -> ParetoData:
    data = report_dict(report)
    rows = data.get("rows", [])
    points = []
    for i, row in enumerate(rows):
        p95 = _seconds(row.get("p95_latency", math.nan))
        accuracy = row.get("accuracy")
        if (
            p95 is None
            or not math.isfinite(p95)
            or not isinstance(accuracy, int | float)
            or not math.isfinite(accuracy)
        ):
            continue
        points.append(
            ParetoPoint(
                label=deployment_label(row),
                strategy=str(row.get("strategy")),
                encoding=str(row.get("encoding", "")),
                p95_s=p95,
                accuracy=float(accuracy),
                feasible=bool(row.get("feasible", True)),
                on_front=bool(row.get("pareto", False)),
                row=i,
            )
        )
    front = tuple(sorted((p for p in points if p.on_front), key=lambda p: (p.p95_s, p.row)))
    chosen = (data.get("recommendation") or {}).get("row")
    recommended = next((p for p in points if p.row == chosen), None)
    deadline = data.get("deadline")
    return ParetoData(
        title=title_of(data),
        points=tuple(points),
        front=front,
        recommended=recommended,
        hidden=len(rows) - len(points),
        accuracy_kind=str(data.get("accuracy_kind", "labels")),
        deadline_s=float(deadline) if isinstance(deadline, int | float) else None,
        latency_bounds=qos_bounds(data, ("p95_latency",)),
        accuracy_bounds=qos_bounds(data, ("accuracy",)),
    )


# ---------------------------------------------------------------- sensitivity-map


@dataclass(frozen=True)
class SweepAxisValues:
    key: str  # `bitrate`, `loss`, `delay` or `LINK.bitrate` ...
    values: tuple[float, ...]


@dataclass(frozen=True)
class SensitivityMap:
    """The grid of a sweep: columns are the last axis's values, rows every combination of
    the other axes' (one row for a single axis); each cell the recommended deployment."""

    title: str
    axes: tuple[SweepAxisValues, ...]
    categories: tuple[str, ...]  # recommended deployments, in order of first appearance
    cells: tuple[tuple[int | None, ...], ...]  # [row][column] -> category, None: none feasible
    p95_s: tuple[tuple[float | None, ...], ...]  # the recommended row's p95 latency
    row_labels: tuple[dict[str, float], ...]  # the other axes' values of each grid row


def sweep_label(point: Mapping) -> str | None:
    if point.get("strategy") is None:
        return None
    return f"{deployment_label(point)} {point.get('encoding', '')}".strip()


def sensitivity_map_from_report(report: Any) -> SensitivityMap | None:
    """None when the report has no sweep."""
    data = report_dict(report)
    sweep = data.get("sweep") or []
    if not sweep:
        return None
    keys = list(sweep[0]["values"])
    values: dict[str, list[float]] = {k: [] for k in keys}
    for point in sweep:
        for k in keys:
            v = float(point["values"][k])
            if v not in values[k]:
                values[k].append(v)
    outer, last = keys[:-1], keys[-1]
    row_keys: list[tuple[float, ...]] = []
    for point in sweep:
        key = tuple(float(point["values"][k]) for k in outer)
        if key not in row_keys:
            row_keys.append(key)
    categories: list[str] = []
    cells = [[None] * len(values[last]) for _ in row_keys]
    p95 = [[None] * len(values[last]) for _ in row_keys]
    for point in sweep:
        r = row_keys.index(tuple(float(point["values"][k]) for k in outer))
        c = values[last].index(float(point["values"][last]))
        label = sweep_label(point)
        if label is not None:
            if label not in categories:
                categories.append(label)
            cells[r][c] = categories.index(label)
            latency = point.get("p95_latency")
            p95[r][c] = float(latency) if isinstance(latency, int | float) else math.inf
    return SensitivityMap(
        title=title_of(data),
        axes=tuple(SweepAxisValues(k, tuple(values[k])) for k in keys),
        categories=tuple(categories),
        cells=tuple(tuple(row) for row in cells),
        p95_s=tuple(tuple(row) for row in p95),
        row_labels=tuple(dict(zip(outer, key, strict=True)) for key in row_keys),
    )
