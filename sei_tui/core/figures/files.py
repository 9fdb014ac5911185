"""Figure files: the format of a path, byte-identical rendering, atomic writes, Markdown.

The same data gives the same bytes: every figure is drawn and saved inside one local
`rc_context` (matplotlib's defaults, then `style.rc_params()`: never the user's
matplotlibrc, never the global state), with no dates in the metadata (SVG `Date`, PDF
`CreationDate`/`ModDate`) and a fixed producer string. matplotlib is imported here only
inside functions, so `import sei_tui.core.figures` stays cheap.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sei_tui.core.errors import SeiInputError
from sei_tui.core.figures.data import (
    CAPTIONS,
    cs_curve_from_report,
    cs_curve_from_saliency,
    latency_bars_from_report,
    pareto_from_report,
    report_dict,
    sensitivity_map_from_report,
)

FIGURE_FORMATS = ("svg", "pdf", "png")


def figure_format(path: str | Path, flag: str = "--figure") -> str:
    """`svg`, `pdf` or `png` from the file's suffix; anything else is an input error."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        shown = f"'.{suffix}'" if suffix else "no suffix"
        raise SeiInputError(
            f"{flag} = {path}: unknown figure format {shown} (use .svg, .pdf or .png)"
        )
    return suffix


def _writable_ancestor(folder: Path, what: str) -> None:
    """The nearest existing ancestor of `folder` must be a folder this process can write to
    (missing folders are created by the writer)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SeiInputError(f"{what}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SeiInputError(f"{what}: no permission to write in {existing}")


def check_figure_file(path: str | Path, flag: str = "--figure") -> str:
    """Refuse, before any slow work, a figure file that cannot be written; its format."""
    fmt = figure_format(path, flag)
    target = Path(path)
    if target.is_dir():
        raise SeiInputError(f"{flag} = {path}: is a directory (name a file to write the figure to)")
    _writable_ancestor(target.parent, f"{flag} = {path}")
    if target.exists() and not os.access(target, os.W_OK):
        raise SeiInputError(f"{flag} = {path}: no permission to write the file")
    return fmt


def check_figure_folder(path: str | Path, flag: str = "--figures") -> None:
    """Refuse, before any slow work, a figure folder that cannot be made or written."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise SeiInputError(f"{flag} = {path}: is not a folder")
    _writable_ancestor(folder, f"{flag} = {path}")


# ---------------------------------------------------------------- rendering


@contextmanager
def figure_context() -> Iterator[None]:
    """matplotlib's defaults plus the figures' fixed rcParams, for this block only."""
    import matplotlib
    import matplotlib.style

    from sei_tui.core.figures.style import rc_params

    with matplotlib.style.context("default"), matplotlib.rc_context(rc_params()):
        yield


def _metadata(fmt: str) -> dict:
    import matplotlib

    producer = f"sei (matplotlib {matplotlib.__version__})"
    if fmt == "svg":
        return {"Date": None, "Creator": producer}
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None, "Creator": producer, "Producer": producer}
    return {"Software": producer}


def render(name: str, data: Any, fmt: str) -> bytes:
    """The bytes of figure `name` (see FIGURE_NAMES) drawn from its data in format `fmt`."""
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"unknown figure format {fmt!r}")
    with figure_context():
        from sei_tui.core.figures.draw import DRAW

        figure = DRAW[name](data)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, metadata=_metadata(fmt))
    return buffer.getvalue()


def draw(name: str, data: Any):
    """The matplotlib Figure of figure `name` (for reading its artists back)."""
    with figure_context():
        from sei_tui.core.figures.draw import DRAW

        return DRAW[name](data)


def analysis_figure_data(report: Any, saliency: Any | None = None) -> dict[str, Any]:
    """name -> data of every figure of an analysis report (`sensitivity-map` with a sweep)."""
    data = report_dict(report)
    out: dict[str, Any] = {
        "cs-curve": cs_curve_from_report(data, saliency),
        "latency-by-split": latency_bars_from_report(data),
        "pareto": pareto_from_report(data),
    }
    sensitivity = sensitivity_map_from_report(data)
    if sensitivity is not None:
        out["sensitivity-map"] = sensitivity
    return out


def _write(path: Path, content: bytes) -> None:
    from sei_tui.core.cache import atomic_write_bytes

    try:
        atomic_write_bytes(path, content)
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def write_analysis_figures(
    report: Any, folder: str | Path, fmt: str = "svg", saliency: Any | None = None
) -> list[tuple[str, Path]]:
    """Write `cs-curve`, `latency-by-split`, `pareto` (and `sensitivity-map` when the report
    has a sweep) into `folder` (created if missing), each atomically; (name, path) pairs."""
    folder = Path(folder)
    written = []
    for name, data in analysis_figure_data(report, saliency).items():
        path = folder / f"{name}.{fmt}"
        _write(path, render(name, data, fmt))
        written.append((name, path))
    return written


def write_saliency_figure(
    result: Any, path: str | Path, split_points: Sequence[Any] = (), fmt: str | None = None
) -> Path:
    """The CS curve of a saliency result as a figure file (format from the suffix)."""
    path = Path(path)
    fmt = fmt or figure_format(path)
    _write(path, render("cs-curve", cs_curve_from_saliency(result, split_points), fmt))
    return path


def markdown_figures(written: Sequence[tuple[str, Path]], relative_to: str | Path) -> str:
    """A Markdown section embedding the figures, linked relative to `relative_to` (the
    folder the Markdown file is in)."""
    lines = ["", "### Figures", ""]
    for name, path in written:
        link = Path(os.path.relpath(Path(path).resolve(), Path(relative_to).resolve()))
        link = quote(link.as_posix())  # spaces and brackets would end the link
        lines.append(f"![{name}]({link})")
        lines.append("")
        lines.append(f"*{CAPTIONS[name]}*")
        lines.append("")
    return "\n".join(lines)
