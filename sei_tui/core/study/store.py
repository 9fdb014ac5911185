"""The results folder of a study, written as the grid completes.

    DIR/study.json          what was asked: the study's settings, axes, models, scenarios, total
    DIR/parts/part-N.parquet  every row of the points finished, one file per flush
    DIR/summary.json        the recommended deployment per finished point, `done`, `total`

Parquet (through pyarrow): a typed, compressed, columnar table that pandas, polars, DuckDB,
R and Spark read as is; a folder of parts is one table to all of them, so finished points
are appended as new files and nothing written is ever rewritten (but once: parts of an
earlier version whose new columns are all null, `upgrade_parts`). Every file is written
to a temporary name and renamed (`cache.atomic_write`): a SIGINT leaves whole files or
none. A point's key digests every input that changes its result (model and weights'
content, scenario, data, encodings, QoS, frames, protocol, axis values, sei version); a
re-run skips the keys already in the parts.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

from sei_tui import __version__
from sei_tui.core.cache import atomic_write_bytes, atomic_write_json, digest_key
from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.rows import Row

__all__ = ["POINT_COLUMNS", "StudyStore", "point_key", "read_rows", "row_schema"]

POINT_COLUMNS = ("point_key", "model", "scenario", "values", "rank", "recommended", "why")
SUMMARY_FIELDS = (
    "strategy",
    "split_index",
    "after",
    "encoding",
    "p95_latency",
    "accuracy",
    "cuts",  # split2: [k1, k2]; None on the others (and in folders from before split2)
)


def point_key(study_key: dict, model_key: dict, scenario_key: str, values: dict) -> str:
    return digest_key(
        {
            "sei": __version__,
            "study": study_key,
            "model": model_key,
            "scenario": scenario_key,
            "values": {k: repr(float(v)) for k, v in sorted(values.items())},
        }
    )


# list-valued Row fields stored as text (joined with "; "), as the first folders had them
JOINED = ("violations",)


def _arrow_type(annotation: str) -> Any:
    import pyarrow as pa

    base = annotation.replace(" | None", "")
    scalar = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
    if base.startswith("list[") and base.endswith("]"):  # split2's cuts, nodes, hop bytes
        return pa.list_(scalar[base[5:-1]])
    return scalar.get(base, pa.string())


def row_schema(axis_keys: tuple[str, ...]) -> Any:
    import pyarrow as pa

    columns = [
        ("point_key", pa.string()),
        ("model", pa.string()),
        ("scenario", pa.string()),
        ("values", pa.string()),  # JSON: axis -> value
        ("rank", pa.int64()),
        ("recommended", pa.bool_()),
        ("why", pa.string()),
    ]
    columns += [(f"axis:{k}", pa.float64()) for k in axis_keys]
    columns += [
        (f.name, pa.string() if f.name in JOINED else _arrow_type(str(f.type))) for f in fields(Row)
    ]
    # split2 rows: each hop's encoding (the JSON's per-hop `encoding`); null on the others
    columns.append(("hop_encoding", pa.list_(pa.string())))
    return pa.schema(columns)


def _cells(row: Row) -> dict:
    out = {k: "; ".join(v) if k in JOINED else v for k, v in row.__dict__.items()}
    hops = row.hop_payload_bytes
    out["hop_encoding"] = None if hops is None else [row.encoding] * len(hops)
    return out


class StudyStore:
    """Appends finished points to `folder`; knows which keys are done."""

    def __init__(self, folder: str | Path, manifest: dict, axis_keys: tuple[str, ...]):
        self.folder = Path(folder)
        self.axis_keys = axis_keys
        self.manifest = manifest
        if self.folder.exists() and not self.folder.is_dir():
            raise SeiInputError(f"--out {folder}: not a folder")
        (self.folder / "parts").mkdir(parents=True, exist_ok=True)
        self.summary_points: dict[str, dict] = {}
        wanted = set(manifest.get("keys") or ())
        self._buffer: list[dict] = []
        self._pending_points: list[dict] = []
        self._next_part = 0
        self._upgraded = False  # earlier parts brought to this version's schema (flush)
        for path in sorted((self.folder / "parts").glob("part-*.parquet")):
            self._next_part = max(self._next_part, int(path.stem.split("-")[1]) + 1)
        # the parts are the truth (written before the summary): the summary is rebuilt
        for point in summary_from_parts(self.folder):
            if not wanted or point["key"] in wanted:
                self.summary_points[point["key"]] = point
        atomic_write_json(self.folder / "study.json", manifest)

    @property
    def done(self) -> set[str]:
        return set(self.summary_points)

    def add(self, key: str, model: str, scenario: str, values: dict, ranking: Any) -> None:
        recommended = ranking.recommendation.row
        for i, row in enumerate(ranking.rows):
            record = {
                "point_key": key,
                "model": model,
                "scenario": scenario,
                "values": json.dumps(values, sort_keys=True),
                "rank": i,
                "recommended": i == recommended,
                "why": ranking.recommendation.why,
            }
            record.update({f"axis:{k}": float(values[k]) for k in self.axis_keys})
            record.update(_cells(row))
            self._buffer.append(record)
        row = ranking.recommended
        summary = {
            "key": key,
            "values": values,
            "model": model,
            "scenario": scenario,
            **{f: None if row is None else _finite(getattr(row, f)) for f in SUMMARY_FIELDS},
            "feasible": row is not None,
            "why": ranking.recommendation.why,
        }
        self._pending_points.append(summary)

    def flush(self) -> None:
        """Write the buffered rows as one new part, then the summary (both atomically)."""
        if not self._buffer:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = row_schema(self.axis_keys)
        if not self._upgraded:
            upgrade_parts(self.folder, schema)
            self._upgraded = True
        table = pa.Table.from_pylist(self._buffer, schema=schema)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        atomic_write_bytes(
            self.folder / "parts" / f"part-{self._next_part:06d}.parquet", sink.getvalue()
        )
        self._next_part += 1
        self._buffer = []
        for point in self._pending_points:
            self.summary_points[point["key"]] = point
        self._pending_points = []
        self.write_summary()

    def write_summary(self) -> None:
        atomic_write_json(
            self.folder / "summary.json",
            {
                "study": self.manifest.get("study"),
                "qos": self.manifest.get("qos"),
                "axes": dict(self.manifest.get("axes") or []),
                "done": len(self.summary_points),
                "total": self.manifest.get("total"),
                "points": list(self.summary_points.values()),
            },
        )


def upgrade_parts(folder: Path, schema: Any) -> int:
    """Rewrite (atomically) the parts an earlier version wrote with other types or without
    some of `schema`'s columns, where every such column is all null (e.g. `cuts` as text,
    no `hop_encoding`), so that new parts join them as one table; a part with values in
    such a column, or with other columns, is left as it is. The number rewritten."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 0
    for path in sorted((folder / "parts").glob("part-*.parquet")):
        old = pq.read_schema(path)
        if old.equals(schema, check_metadata=False):
            continue
        if set(old.names) - set(schema.names):
            continue  # not a part of this study's axes: leave it
        table = pq.read_table(path)
        columns = []
        for field in schema:
            if field.name not in old.names:
                columns.append(pa.nulls(len(table), field.type))
                continue
            column = table.column(field.name)
            if column.type != field.type:
                if column.null_count != len(column):
                    break  # values this version would type otherwise: keep the part
                column = pa.nulls(len(table), field.type)
            columns.append(column)
        else:
            sink = io.BytesIO()
            pq.write_table(pa.Table.from_arrays(columns, schema=schema), sink, compression="zstd")
            atomic_write_bytes(path, sink.getvalue())
            count += 1
    return count


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_from_parts(folder: Path) -> list[dict]:
    """One summary entry per point stored in the parts, in the order they were written."""
    import pyarrow.parquet as pq

    columns = ["point_key", "model", "scenario", "values", "recommended", "why", "feasible"]
    points: dict[str, dict] = {}
    for path in sorted((folder / "parts").glob("part-*.parquet")):
        # a part written by an earlier version may lack later columns (`cuts`): None
        present = set(pq.read_schema(path).names)
        wanted = [c for c in columns + list(SUMMARY_FIELDS) if c in present]
        table = pq.read_table(path, columns=wanted)
        for record in table.to_pylist():
            record = {c: record.get(c) for c in columns + list(SUMMARY_FIELDS)}
            if not isinstance(record["cuts"], list):  # text column of an earlier version
                record["cuts"] = None
            key = record["point_key"]
            if key not in points:
                points[key] = {
                    "key": key,
                    "values": json.loads(record["values"]),
                    "model": record["model"],
                    "scenario": record["scenario"],
                    **dict.fromkeys(SUMMARY_FIELDS),
                    "feasible": False,
                    "why": record["why"],
                }
            if record["recommended"]:
                points[key].update({f: _finite(record[f]) for f in SUMMARY_FIELDS})
                points[key]["feasible"] = True
    return list(points.values())


def read_rows(folder: str | Path) -> list[dict]:
    """Every stored row of a results folder, in the order the parts were written."""
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for path in sorted((Path(folder) / "parts").glob("part-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows
