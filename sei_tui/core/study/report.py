"""What a study's results folder says: the best deployment per point, `done` and
`total`, and the sensitivity map, as table, JSON, CSV or Markdown.

Read from the Parquet parts (the truth; `summary.json` is their digest) and `study.json`
(what was asked), so an unfinished folder reports the points it has.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.sensitivity import (
    parse_axes,
    render_grids,
    sensitivity_grids,
)
from sei_tui.core.study.store import summary_from_parts

__all__ = ["FORMATS", "StudyReport", "read_report", "render_study_report"]

FORMATS = ("table", "json", "csv", "md")
POINT_FIELDS = (
    "strategy",
    "split_index",
    "after",
    "encoding",
    "p95_latency",
    "accuracy",
    "feasible",
    "why",
    "cuts",  # split2: [k1, k2] (split_index is k1); null on the other strategies
)


@dataclass
class StudyReport:
    folder: str
    manifest: dict
    points: list[dict]  # in grid order: models, scenarios, then the axes (last fastest)

    @property
    def done(self) -> int:
        return len(self.points)

    @property
    def total(self) -> int:
        return int(self.manifest.get("total") or 0)

    @property
    def axes(self) -> dict[str, list[float]]:
        return {key: list(values) for key, values in self.manifest.get("axes") or []}


def read_report(folder: str | Path, label: str | None = None) -> StudyReport:
    """The study in a results folder; errors name `label` (default `--report FOLDER`, the
    flag of `sei study`)."""
    folder = Path(folder)
    label = label or f"--report {folder}"
    try:
        manifest = json.loads((folder / "study.json").read_text())
    except FileNotFoundError:
        raise SeiInputError(f"{label}: not a study results folder (no study.json)") from None
    except (OSError, ValueError) as exc:
        raise SeiInputError(f"{label}: cannot read study.json ({exc})") from None
    points = summary_from_parts(folder)
    if manifest.get("keys"):  # points of an earlier study into the same folder are not this one's
        wanted = set(manifest["keys"])
        points = [p for p in points if p["key"] in wanted]
    models = list(manifest.get("models") or [])
    scenarios = list(manifest.get("scenarios") or [])
    keys = [key for key, _ in manifest.get("axes") or []]

    def order(p: dict) -> tuple:
        return (
            models.index(p["model"]) if p["model"] in models else len(models),
            scenarios.index(p["scenario"]) if p["scenario"] in scenarios else len(scenarios),
            tuple(float(p["values"].get(k, math.nan)) for k in keys),
        )

    return StudyReport(str(folder), manifest, sorted(points, key=order))


def _grids(report: StudyReport, axes: str | None) -> list:
    keys = list(report.axes)
    if not keys:
        return []
    chosen = parse_axes(axes, keys) if axes else None
    return sensitivity_grids(report.points, chosen, expected=report.axes)


def _point_dict(p: dict) -> dict:
    return {
        "values": p["values"],
        "model": p["model"],
        "scenario": p["scenario"],
        **{k: p.get(k) for k in POINT_FIELDS},
    }


def to_json(report: StudyReport, axes: str | None = None) -> str:
    grids = _grids(report, axes)
    out = {
        "study": report.manifest.get("study"),
        "qos": report.manifest.get("qos"),
        "axes": report.axes,
        "done": report.done,
        "total": report.total,
        "points": [_point_dict(p) for p in report.points],
        "sensitivity_map": [
            {
                "x": g.x,
                "y": g.y,
                "fixed": g.fixed,
                "x_values": list(g.x_values),
                "y_values": list(g.y_values) if g.y is not None else [],
                "legend": {g.letter(i): label for i, label in enumerate(g.legend)},
                "cells": [
                    [g.letter(c) if s == "feasible" else None for c, s in zip(r, st, strict=True)]
                    for r, st in zip(g.cells, g.state, strict=True)
                ],
                "state": [list(r) for r in g.state],
            }
            for g in grids
        ],
    }
    return json.dumps(out, indent=2) + "\n"


def _deployment(p: dict) -> str:
    if p.get("strategy") is None:
        return "none feasible"
    parts = [p["strategy"]]
    if p.get("cuts"):
        parts.append(f"@{p['cuts'][0]}|{p['cuts'][1]}")
    elif p.get("split_index") is not None:
        parts.append(f"@{p['split_index']}")
    if p.get("after"):
        parts.append(str(p["after"]))
    parts.append(str(p.get("encoding") or ""))
    return " ".join(parts).replace(" @", "@")


def _value(key: str, value: float) -> str:
    from sei_tui.core.evaluation.sensitivity import format_axis_value

    return format_axis_value(key, value)


def _cells(report: StudyReport, p: dict) -> list[str]:
    from sei_tui.core.units import display_fraction, display_seconds

    return [
        p["model"],
        p["scenario"],
        *(_value(k, p["values"][k]) for k in report.axes),
        _deployment(p),
        display_seconds(p.get("p95_latency")),
        display_fraction(p.get("accuracy")),
    ]


def _header(report: StudyReport) -> list[str]:
    return ["model", "scenario", *report.axes, "recommended", "p95", "accuracy"]


def _status(report: StudyReport) -> str:
    return f"{report.done} of {report.total} points done (done={report.done}, total={report.total})"


def to_table(report: StudyReport, axes: str | None = None) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"{report.manifest.get('study')}: best deployment per point, QoS "
        f"{report.manifest.get('qos') or '(none)'}",
        title_justify="left",
    )
    for name in _header(report):
        table.add_column(name, no_wrap=True)
    for p in report.points:
        table.add_row(*(Text(cell) for cell in _cells(report, p)))  # "[...]" is not markup
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, color_system=None, force_terminal=False)
    console.print(table)
    console.print(_status(report), markup=False, highlight=False)
    grids = _grids(report, axes)
    if grids:
        console.print("Sensitivity map (recommended deployment per point):", markup=False)
        for line in render_grids(grids):
            console.print("  " + line, markup=False, highlight=False)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def to_csv(report: StudyReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    axes = list(report.axes)
    writer.writerow(["model", "scenario", *axes, *POINT_FIELDS])
    for p in report.points:
        writer.writerow(
            [
                p["model"],
                p["scenario"],
                *(repr(float(p["values"][k])) for k in axes),
                *(_csv_cell(p.get(k)) for k in POINT_FIELDS),
            ]
        )
    return buffer.getvalue()


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, list):  # split2's cuts: "k1|k2"
        return "|".join(str(v) for v in value)
    return value


def to_markdown(report: StudyReport, axes: str | None = None) -> str:
    header = _header(report)
    lines = [
        f"## Study {report.manifest.get('study')}",
        "",
        _status(report) + f"; QoS {report.manifest.get('qos') or '(none)'}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for p in report.points:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(report, p)) + " |")
    grids = _grids(report, axes)
    if grids:
        lines += ["", "### Sensitivity map", "", "```", *render_grids(grids), "```"]
    return "\n".join(lines) + "\n"


def render_study_report(report: StudyReport, fmt: str, axes: str | None = None) -> str:
    if fmt == "json":
        return to_json(report, axes)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "md":
        return to_markdown(report, axes)
    return to_table(report, axes)
