"""Bandwidth traces a link can follow instead of a fixed bitrate (``[link.trace]``, see
docs/traces.md): the file parsers (Mahimahi, CSV, Pensieve), the built-in synthetic traces
shipped in ``sei_tui/traces/`` and the scenario's ``LinkTrace``.

Every parse error is one ``SeiInputError`` line naming the file and the 1-based line number
(a CSV header is line 1)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from libsim import limits
from libsim.spec import OpportunityTrace, RateTrace
from sei_tui.core.errors import SeiInputError

TRACE_FORMATS = ("mahimahi", "csv", "pensieve")
CSV_REQUIRED = ("time_s", "bitrate_bps")
CSV_OPTIONAL = ("loss", "delay_s")
# A single-row trace lasts this long (its duration only matters when it loops).
SINGLE_ROW_DURATION_S = 1.0

Trace = RateTrace | OpportunityTrace


# --------------------------------------------------------------------------- parsing


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SeiInputError(f"{where}: {column} = {text!r}: not a number") from None
    if not math.isfinite(value):
        raise SeiInputError(f"{where}: {column} = {text!r}: must be a finite number")
    return value


def _lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of the lines that are not blank or comments."""
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _rate_trace(
    label: str,
    rows: list[tuple[int, float, float]],
    loss: list[float] | None,
    delay: list[float] | None,
) -> RateTrace:
    """rows: (line, time_s, bitrate_bps), already shifted so that the first time is 0."""
    if not limits.TRACE_ROWS.admits(len(rows)):
        raise SeiInputError(f"{label}: {len(rows)} rows: {limits.TRACE_ROWS.describe()}")
    previous: tuple[int, float] | None = None
    for line, time_s, bitrate in rows:
        where = f"{label} line {line}"
        if previous is not None and time_s <= previous[1]:
            raise SeiInputError(
                f"{where}: time = {time_s:g}: times must increase (line {previous[0]} has "
                f"{previous[1]:g})"
            )
        if not limits.TRACE_TIME.admits(time_s):
            raise SeiInputError(f"{where}: time = {time_s:g}: {limits.TRACE_TIME.describe()}")
        if bitrate < 0:
            raise SeiInputError(f"{where}: bitrate = {bitrate:g}: a negative rate")
        if not limits.TRACE_BITRATE.admits(bitrate):
            raise SeiInputError(
                f"{where}: bitrate = {bitrate:g}: {limits.TRACE_BITRATE.describe()}"
            )
        previous = (line, time_s)
    times = tuple(time for _, time, _ in rows)
    duration = times[-1] + (times[-1] - times[-2]) if len(times) > 1 else SINGLE_ROW_DURATION_S
    if not limits.TRACE_TIME.admits(duration):
        raise SeiInputError(
            f"{label}: the trace lasts {duration:g} s: {limits.TRACE_TIME.describe()}"
        )
    return RateTrace(
        times_s=times,
        bitrate_bps=tuple(rate for _, _, rate in rows),
        duration_s=duration,
        loss=None if loss is None else tuple(loss),
        delay_s=None if delay is None else tuple(delay),
    )


def parse_csv(text: str, label: str) -> RateTrace:
    """``time_s,bitrate_bps[,loss][,delay_s]`` with a header; the first time must be 0."""
    lines = _lines(text)
    if not lines:
        raise SeiInputError(f"{label}: empty trace file (expected the header time_s,bitrate_bps)")
    header_line, header = lines[0]
    columns = [name.strip() for name in header.split(",")]
    known = CSV_REQUIRED + CSV_OPTIONAL
    for name in columns:
        if name not in known:
            raise SeiInputError(
                f"{label} line {header_line}: column {name!r}: unknown (known: {', '.join(known)})"
            )
        if columns.count(name) > 1:
            raise SeiInputError(f"{label} line {header_line}: column {name!r} appears twice")
    for name in CSV_REQUIRED:
        if name not in columns:
            raise SeiInputError(
                f"{label} line {header_line}: the header has no {name!r} column "
                "(expected time_s,bitrate_bps[,loss][,delay_s])"
            )
    if len(lines) == 1:
        raise SeiInputError(f"{label}: no rows after the header")
    rows: list[tuple[int, float, float]] = []
    loss: list[float] | None = [] if "loss" in columns else None
    delay: list[float] | None = [] if "delay_s" in columns else None
    for line, content in lines[1:]:
        where = f"{label} line {line}"
        fields = [part.strip() for part in content.split(",")]
        if len(fields) != len(columns):
            raise SeiInputError(f"{where}: {len(fields)} fields, the header names {len(columns)}")
        values = {
            name: _number(field, where, name) for name, field in zip(columns, fields, strict=True)
        }
        if not rows and values["time_s"] != 0:
            raise SeiInputError(f"{where}: time_s = {fields[columns.index('time_s')]}: the "
                                "first row's time must be 0")  # fmt: skip
        if loss is not None:
            if not limits.LOSS.admits(values["loss"]):
                raise SeiInputError(f"{where}: loss = {values['loss']:g}: {limits.LOSS.describe()}")
            loss.append(values["loss"])
        if delay is not None:
            if not limits.DELAY.admits(values["delay_s"]):
                raise SeiInputError(
                    f"{where}: delay_s = {values['delay_s']:g}: {limits.DELAY.describe()}"
                )
            delay.append(values["delay_s"])
        rows.append((line, values["time_s"], values["bitrate_bps"]))
    return _rate_trace(label, rows, loss, delay)


def parse_pensieve(text: str, label: str) -> RateTrace:
    """Two whitespace-separated columns, ``time`` (s) and ``Mbps``; shifted to start at 0."""
    lines = _lines(text)
    if not lines:
        raise SeiInputError(f"{label}: empty trace file (expected lines of: time_s Mbps)")
    rows: list[tuple[int, float, float]] = []
    first: float | None = None
    for line, content in lines:
        where = f"{label} line {line}"
        fields = content.split()
        if len(fields) != 2:
            raise SeiInputError(f"{where}: {len(fields)} fields: expected 2 (time_s Mbps)")
        time_s = _number(fields[0], where, "time")
        mbps = _number(fields[1], where, "Mbps")
        first = time_s if first is None else first
        rows.append((line, time_s - first, mbps * 1e6))
    return _rate_trace(label, rows, None, None)


def parse_mahimahi(text: str, label: str) -> OpportunityTrace:
    """One delivery opportunity per line: an integer millisecond, never decreasing."""
    lines = _lines(text)
    if not lines:
        raise SeiInputError(f"{label}: empty trace file (expected one integer ms per line)")
    if not limits.TRACE_ROWS.admits(len(lines)):
        raise SeiInputError(f"{label}: {len(lines)} opportunities: {limits.TRACE_ROWS.describe()}")
    times: list[int] = []
    for line, content in lines:
        where = f"{label} line {line}"
        if not content.isdigit():
            raise SeiInputError(f"{where}: {content!r}: expected a whole number of milliseconds")
        ms = int(content)
        if not limits.TRACE_MS.admits(ms):
            raise SeiInputError(f"{where}: {ms} ms: {limits.TRACE_MS.describe()}")
        if times and ms < times[-1]:
            raise SeiInputError(
                f"{where}: {ms} ms: times must not decrease (the line before has {times[-1]})"
            )
        times.append(ms)
    if times[-1] == 0:
        raise SeiInputError(
            f"{label} line {lines[-1][0]}: the last opportunity is at 0 ms: a trace must last "
            "a while"
        )
    return OpportunityTrace(times_ms=tuple(times), opportunity_bytes=limits.OPPORTUNITY_BYTES)


_PARSERS = {"mahimahi": parse_mahimahi, "csv": parse_csv, "pensieve": parse_pensieve}


def parse_trace(text: str, fmt: str, label: str) -> Trace:
    """Parse trace text of format `fmt` (one of TRACE_FORMATS); `label` names it in errors."""
    if fmt not in _PARSERS:
        raise SeiInputError(
            f"{label}: format = {fmt!r}: unknown trace format (known: {', '.join(TRACE_FORMATS)})"
        )
    return _PARSERS[fmt](text, label)


@lru_cache(maxsize=32)
def _read_cached(path: str, fmt: str, mtime_ns: int, size: int) -> Trace:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SeiInputError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_trace(text, fmt, path)


def read_trace(path: str | os.PathLike[str], fmt: str) -> Trace:
    """Parse a trace file (cached while the file is unchanged)."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return _read_cached(os.fspath(path), fmt, stat.st_mtime_ns, stat.st_size)


# --------------------------------------------------------------------------- built-in traces


def builtin_trace_names() -> list[str]:
    """The synthetic traces shipped in the package (``sei_tui/traces/*.csv``)."""
    folder = resources.files("sei_tui") / "traces"
    return sorted(
        entry.name.removesuffix(".csv") for entry in folder.iterdir() if entry.name.endswith(".csv")
    )


def _builtin_path(name: str) -> Path:
    entry = resources.files("sei_tui") / "traces" / f"{name}.csv"
    return Path(os.fspath(entry))  # the package is installed as files (see pyproject)


# --------------------------------------------------------------------------- the scenario's


@dataclass(frozen=True)
class LinkTrace:
    """A link's ``[link.trace]``: ``file`` as written (a path relative to the scenario's
    folder, or a built-in trace name), ``path`` where it was read (None: built-in), the
    ``format``, ``loop`` and ``start_s``; ``data`` is the simulator's trace with both.
    Equal traces compare equal wherever the scenario was saved (``file`` is not compared)."""

    file: str = field(compare=False)
    format: str
    loop: bool
    start_s: float
    path: Path | None
    data: Trace

    @property
    def name(self) -> str:
        """What displays call it: the built-in name or the file's name."""
        return self.file if self.path is None else self.path.name

    def mean_bps(self) -> float:
        return self.data.mean_bps()


def load_link_trace(
    file: str, fmt: str | None, loop: bool, start_s: float, base: Path, where: str
) -> LinkTrace:
    """Resolve `file` (a file under `base`, else a built-in name) and parse it. `where`
    prefixes errors that are not about the file's content (``scenario.toml: link[0].trace``).
    A built-in trace's format is csv; a file's defaults to csv for ``.csv`` names."""
    candidate = Path(os.path.normpath(base / Path(file).expanduser()))
    builtins = builtin_trace_names()
    if candidate.is_file() or (file not in builtins and candidate.exists()):
        path: Path | None = candidate
    elif file in builtins:
        path = None
        if fmt not in (None, "csv"):
            raise SeiInputError(f"{where}.format = {fmt!r}: the built-in trace {file!r} is csv")
        fmt = "csv"
    else:
        raise SeiInputError(
            f"{where}.file = {file!r}: no such file ({candidate}), and not a built-in trace "
            f"(built-in: {', '.join(builtins)})"
        )
    if fmt is None:
        if candidate.suffix.lower() != ".csv":
            raise SeiInputError(
                f"{where}.format: required for {file!r} (one of {', '.join(TRACE_FORMATS)})"
            )
        fmt = "csv"
    if fmt not in TRACE_FORMATS:
        raise SeiInputError(
            f"{where}.format = {fmt!r}: unknown trace format (known: {', '.join(TRACE_FORMATS)})"
        )
    if not limits.TRACE_TIME.admits(start_s):
        raise SeiInputError(f"{where}.start = {start_s:g}: {limits.TRACE_TIME.describe()}")
    data = read_trace(path if path is not None else _builtin_path(file), fmt)
    shown = os.fspath(path) if path is not None else f"built-in trace {file!r}"
    if isinstance(data, RateTrace):
        if not loop and data.bitrate_bps[-1] == 0:
            raise SeiInputError(
                f"{shown}: the last rate is 0 and holds after the trace ends (loop = false): "
                "nothing would pass; end it with a rate > 0 or set loop = true"
            )
        if loop and not any(data.bitrate_bps):
            raise SeiInputError(f"{shown}: every rate is 0: nothing would pass")
        data = RateTrace(
            data.times_s,
            data.bitrate_bps,
            data.duration_s,
            data.loss,
            data.delay_s,
            loop=loop,
            start_s=start_s,
        )
    else:
        data = OpportunityTrace(
            data.times_ms, loop=loop, start_s=start_s, opportunity_bytes=data.opportunity_bytes
        )
    return LinkTrace(file=file, format=fmt, loop=loop, start_s=start_s, path=path, data=data)


def trace_statistics(data: Trace) -> dict[str, float]:
    """Mean, 5th/50th/95th percentile rate (time-weighted; Mahimahi: per 1 s window) and
    duration, in bit/s and s: what docs/traces.md states for the built-in traces."""
    if isinstance(data, OpportunityTrace):
        seconds = max(1, math.ceil(data.times_ms[-1] / 1000))
        counts = [0] * seconds
        for ms in data.times_ms:
            counts[min(ms // 1000, seconds - 1)] += 1
        samples = sorted((c * data.opportunity_bytes * 8.0, 1.0) for c in counts)
    else:
        ends = (*data.times_s[1:], data.duration_s)
        samples = sorted(
            (rate, end - time)
            for time, end, rate in zip(data.times_s, ends, data.bitrate_bps, strict=True)
        )
    total = sum(weight for _, weight in samples)

    def quantile(q: float) -> float:
        seen = 0.0
        for value, weight in samples:
            seen += weight
            if seen >= q * total - 1e-12:
                return value
        return samples[-1][0]

    return {
        "mean_bps": data.mean_bps(),
        "p5_bps": quantile(0.05),
        "p50_bps": quantile(0.50),
        "p95_bps": quantile(0.95),
        "duration_s": data.duration_s,
    }
