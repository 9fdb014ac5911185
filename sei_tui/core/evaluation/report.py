"""Reports of an evaluation: rich table, JSON (the cli.md contract), CSV and Markdown.

Every format renders the same `AnalysisReport`; non-finite numbers (frames that never
arrived) are `null` in JSON, empty in CSV and `inf` in the table and Markdown.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.rows import Recommendation, Row
from sei_tui.core.units import display_bytes, display_fraction, display_seconds

FORMATS = ("table", "json", "csv", "md")
CSV_COLUMNS = tuple(f.name for f in fields(Row))


@dataclass
class AnalysisReport:
    model: str
    scenario: str
    qos: str
    rows: list[Row]
    recommendation: Recommendation
    deadline: float | None = None
    accuracy_kind: str = "labels"  # "labels" | "agreement with the whole model"
    whole_accuracy: float | None = None
    images: int = 0
    sweep: list = field(default_factory=list)  # SweepPoint
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. why CS is missing
    policies: list = field(default_factory=list)  # PolicyResult: with a trace link only
    objective: str = "latency"  # what the ranking minimised (ranking.OBJECTIVES)
    measured: dict | None = None  # `--measure`: a run against `sei serve` (docs/cli.md)

    def to_dict(self) -> dict:
        out = {
            "model": self.model,
            "scenario": self.scenario,
            "qos": self.qos,
            "deadline": self.deadline,
            "images": self.images,
            "accuracy_kind": self.accuracy_kind,
            "whole_accuracy": self.whole_accuracy,
            "rows": [r.to_dict() for r in self.rows],
            "recommendation": self.recommendation.to_dict(),
            "wall_s": self.wall_s,
            "notes": self.notes,
            "objective": self.objective,
        }
        if self.sweep:
            out["sweep"] = [p.to_dict() for p in self.sweep]
        if self.policies:
            out["policies"] = [p.to_dict() for p in self.policies]
        if self.measured is not None:
            out["measured"] = self.measured
        return out


def render(report: AnalysisReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=1)
    if fmt == "csv":
        text = to_csv(report.rows)
        return text + "\n" + policies_csv(report.policies) if report.policies else text
    if fmt == "md":
        return to_markdown(report)
    if fmt == "table":
        return to_text_table(report)
    raise ValueError(f"unknown report format {fmt!r}")


# ---------------------------------------------------------------- cell formatting


def deployment(row: Row) -> str:
    if row.strategy == "split2" and row.cuts:
        return f"2-cut {row.cuts[0]}|{row.cuts[1]}"
    if row.strategy == "split":
        return f"split {row.split_index} {row.after}"
    if row.strategy == "early_exit":
        rate = "-" if row.exit_rate is None else f"{row.exit_rate:.0%}"
        return f"exit {row.split_index} {row.after} τ={row.exit_threshold:g} ({rate} exit)"
    if row.strategy == "bottleneck":
        return f"bottleneck {row.split_index} {row.after} c={row.bottleneck_channels}"
    return row.strategy


TABLE_HEADER = (
    "#",
    "deployment",
    "encoding",
    "payload",
    "edge+enc",
    "network p95",
    "dec+server",
    "p95 latency",
    "miss",
    "accuracy",
    "CS",
    "edge memory",
    "front",
    "QoS",
)


# shown after "edge memory" when some row has an energy figure
ENERGY_HEADER = ("edge energy", "total energy")


def table_header(rows: Sequence[Row]) -> tuple[str, ...]:
    """TABLE_HEADER, with the energy columns when some row has an energy figure."""
    if not _has_energy(rows):
        return TABLE_HEADER
    at = TABLE_HEADER.index("edge memory") + 1
    return TABLE_HEADER[:at] + ENERGY_HEADER + TABLE_HEADER[at:]


def _has_energy(rows: Sequence[Row]) -> bool:
    return any(r.edge_energy_j is not None or r.total_energy_j is not None for r in rows)


def display_joules(value: float | None) -> str:
    """Joules with an SI prefix (mJ, µJ), "-" when unknown."""
    if value is None:
        return "-"
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return "0 J" if value == 0 else f"{value / 1e-9:.3g} nJ"


def table_cells(index: int, row: Row, energy: bool = False) -> tuple[str, ...]:
    """A row's cells under TABLE_HEADER, or under `table_header` with the energy columns."""
    cells = _table_cells(index, row)
    if not energy:
        return cells
    at = TABLE_HEADER.index("edge memory") + 1
    joules = (display_joules(row.edge_energy_j), display_joules(row.total_energy_j))
    return cells[:at] + joules + cells[at:]


def _table_cells(index: int, row: Row) -> tuple[str, ...]:
    return (
        str(index),
        deployment(row),
        "|".join([row.encoding] * len(row.hop_payload_bytes or [0])),  # split2: per hop
        _payload(row),
        display_seconds(row.head_s + row.encode_s),
        display_seconds(row.network_p95_s),
        display_seconds(row.decode_s + row.tail_s),
        display_seconds(row.p95_latency),
        display_fraction(row.deadline_miss),
        display_fraction(row.accuracy),
        "-" if row.cs is None else f"{row.cs:.3g}",
        display_bytes(row.edge_memory_bytes),
        "*" if row.pareto else "",
        "ok" if row.feasible else "fails " + ", ".join(violated_columns(row)),
    )


def _payload(row: Row) -> str:
    """One frame's bytes; a split2 row's per hop, a|b (Markdown escapes the bar)."""
    if row.hop_payload_bytes:
        return "|".join(display_bytes(b) for b in row.hop_payload_bytes)
    return display_bytes(row.payload_bytes)


def violated_columns(row: Row) -> list[str]:
    """The columns of the violated constraints (the table's short form)."""
    out: list[str] = []
    for text in row.violations:
        column = text.split("<")[0].split(">")[0].split("=")[0]
        if column not in out:
            out.append(column)
    return out


def recommendation_lines(report: AnalysisReport) -> list[str]:
    rec = report.recommendation
    rows = report.rows
    if rec.row is None:
        lines = [f"No recommendation: {rec.why}."]
        return lines
    best = rows[rec.row]
    line = (
        f"Recommended: #{rec.row} {deployment(best)} {best.encoding}: p95 "
        f"{display_seconds(best.p95_latency)}, accuracy {display_fraction(best.accuracy)}"
        f"{_energy_part(best)} ({rec.why})"
    )
    lines = [line]
    if rec.binding is not None:
        lines.append(f"Binding constraint: {rec.binding}, margin {rec.margin:.4g}")
    if rec.runner_up is not None:
        r = rows[rec.runner_up]
        lines.append(
            f"Runner-up: #{rec.runner_up} {deployment(r)} {r.encoding}: p95 "
            f"{display_seconds(r.p95_latency)}, accuracy {display_fraction(r.accuracy)}"
            f"{_energy_part(r)}"
        )
    return lines


def _energy_part(row: Row) -> str:
    """ ", edge energy X per frame" when the row has one."""
    if row.edge_energy_j is None:
        return ""
    return f", edge energy {display_joules(row.edge_energy_j)} per frame"


def codec_scale_lines(report: AnalysisReport) -> list[str]:
    """How the encode/decode times were carried from this machine to the nodes (one line
    per distinct scaling; every row of one evaluation shares it)."""
    scalings = dict.fromkeys(row.codec_scale for row in report.rows if row.codec_scale)
    return [f"Encode/decode times measured here, scaled to the nodes: {text}" for text in scalings]


def sweep_lines(report: AnalysisReport) -> list[str]:
    out = []
    for point in report.sweep:
        where = ", ".join(f"{k}={v:.4g}" for k, v in point.values.items())
        r = point.row
        what = "none feasible" if r is None else f"{deployment(r)} {r.encoding}"
        out.append(f"{where}: {what}")
    return out


def sweep_grid_lines(report: AnalysisReport) -> list[str]:
    """The sweep as a sensitivity map: bitrate across, loss down (or the first two axes),
    a letter per recommended deployment (see `sensitivity`)."""
    from sei_tui.core.evaluation.sensitivity import render_grids, sensitivity_grids

    return render_grids(sensitivity_grids([p.to_dict() for p in report.sweep]))


def _heading(report: AnalysisReport) -> str:
    text = f"{report.model} on {report.scenario}: {len(report.rows)} deployments, "
    text += f"{report.images} images, accuracy = {report.accuracy_kind}"
    if report.qos:
        text += f", QoS {report.qos}"
    return text


# ---------------------------------------------------------------- formats


def to_text_table(report: AnalysisReport, width: int | None = None) -> str:
    """The human report: a rich table rendered to text (no colour codes)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=_heading(report), title_justify="left", expand=False)
    energy = _has_energy(report.rows)
    for name in table_header(report.rows):
        left = name in ("deployment", "QoS")
        table.add_column(name, justify="left" if left else "right", no_wrap=True)
    recommended = report.recommendation.row
    for i, row in enumerate(report.rows):
        style = "bold" if i == recommended else None
        table.add_row(*table_cells(i, row, energy), style=style)
    buffer = io.StringIO()
    # As wide as the table needs: a report is read in a pager or a file, not cut to fit.
    console = Console(file=buffer, width=width or 400, color_system=None, force_terminal=False)
    console.print(table)
    lines = recommendation_lines(report) + codec_scale_lines(report)
    for line in lines + [f"Note: {n}" for n in report.notes]:
        console.print(line, highlight=False, markup=False)
    if report.sweep:
        console.print("Sweep (recommended deployment per point):", markup=False)
        for line in sweep_grid_lines(report):
            console.print("  " + line, highlight=False, markup=False)
    if report.policies:
        console.print("Policies over the stream (static: the best row by p95):", markup=False)
        for line in policy_lines(report):
            console.print("  " + line, highlight=False, markup=False)
    if report.measured is not None:
        console.print("Measured against sei serve (measured / predicted):", markup=False)
        for line in measured_lines(report.measured):
            console.print("  " + line, highlight=False, markup=False)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def policy_lines(report: AnalysisReport) -> list[str]:
    """adaptive, oracle and the static row with the smallest p95, one line each."""
    statics = [p for p in report.policies if p.policy == "static"]
    shown = [min(statics, key=lambda p: p.p95_latency)] if statics else []
    shown += [p for p in report.policies if p.policy != "static"]
    out = []
    for p in shown:
        name = "oracle (lower bound)" if p.policy == "oracle" else p.policy
        if p.row is not None:
            name += f" #{p.row} {deployment(report.rows[p.row])}"
        out.append(
            f"{name}: p95 {display_seconds(p.p95_latency)}, miss "
            f"{display_fraction(p.deadline_miss)}, accuracy {display_fraction(p.accuracy)}, "
            f"{p.switches} switches, regret {display_seconds(p.regret)}"
        )
    return out


def to_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        d = row.to_dict()
        d["violations"] = ";".join(row.violations)
        for key, value in d.items():  # split2 rows' per-hop and per-node lists: a|b
            if isinstance(value, list):
                d[key] = "|".join(str(v) for v in value)
        writer.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
    return buffer.getvalue()


def to_markdown(report: AnalysisReport) -> str:
    lines = [f"## {_heading(report)}", ""]
    header = table_header(report.rows)
    energy = header != TABLE_HEADER
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for i, row in enumerate(report.rows):
        cells = [c.replace("|", "\\|") for c in table_cells(i, row, energy)]
        if i == report.recommendation.row:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(recommendation_lines(report))
    lines.extend(codec_scale_lines(report))
    lines.extend(f"Note: {n}" for n in report.notes)
    if report.sweep:
        lines += ["", "### Sweep", ""]
        lines.extend(f"- {line}" for line in sweep_lines(report))
    if report.policies:
        lines += ["", "### Policies over the stream", ""]
        lines.extend(policies_markdown(report))
    if report.measured is not None:
        lines += ["", "### Measured against sei serve (measured / predicted)", ""]
        lines.extend(f"- {line}" for line in measured_lines(report.measured))
    return "\n".join(lines) + "\n"


def measured_lines(measured: dict) -> list[str]:
    """A measured run next to its predicted row, one line per figure."""
    predicted = measured.get("predicted") or {}
    out = [
        f"split {measured['split_index']} {measured['encoding']} at {measured['server']}: "
        f"{measured['frames']} frames"
    ]
    for key in ("p50_latency", "p95_latency", "p99_latency"):
        out.append(
            f"{key}: {display_seconds(measured[key])} / {display_seconds(predicted.get(key))}"
        )
    for key in ("accuracy", "agreement"):
        out.append(
            f"{key}: {display_fraction(measured[key])} / {display_fraction(predicted.get(key))}"
        )
    return out


POLICY_COLUMNS = (
    "policy",
    "row",
    "p50_latency",
    "p95_latency",
    "p99_latency",
    "deadline_miss",
    "accuracy",
    "switches",
    "regret",
)


def policies_csv(policies: Sequence) -> str:
    """The policies as a second CSV table (after the rows and one empty line)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(POLICY_COLUMNS)
    for policy in policies:
        d = policy.to_dict()
        writer.writerow(["" if d[c] is None else d[c] for c in POLICY_COLUMNS])
    return buffer.getvalue()


def policies_markdown(report: AnalysisReport) -> list[str]:
    """The policies table; the oracle is labelled a lower bound."""
    header = ("policy", "row", "p50", "p95", "p99", "miss", "accuracy", "switches", "regret")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for p in report.policies:
        name = "oracle (lower bound)" if p.policy == "oracle" else p.policy
        row = "" if p.row is None else f"#{p.row} {deployment(report.rows[p.row])}"
        cells = (
            name,
            row,
            display_seconds(p.p50_latency),
            display_seconds(p.p95_latency),
            display_seconds(p.p99_latency),
            display_fraction(p.deadline_miss),
            display_fraction(p.accuracy),
            str(p.switches),
            display_seconds(p.regret),
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def check_output_path(path: str, what: str = "report", create_folders: bool = False) -> None:
    """Refuse a destination that cannot become a file, before any slow work.

    With `create_folders` the writer makes missing folders, so only an existing ancestor
    that is a file is refused."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise SeiInputError(f"{path}: is a directory (name a file to write the {what} to)")
    folder = target.parent
    if create_folders:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    elif not folder.exists():
        raise SeiInputError(f"{path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise SeiInputError(f"{path}: {folder} is not a folder")
