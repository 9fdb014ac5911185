"""`sei saliency --figure FILE` and `sei analyze --figures DIR` from the command line.

Bad flags and destinations exit 2 with one line before any slow work; the files hold the
figures of the same data the command printed (re-drawn here from its JSON output), and
the Markdown report links them relative to its own folder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sei_tui.core.figures import (
    cs_curve_from_saliency,
    latency_bars_from_report,
    pareto_from_report,
    render,
    sensitivity_map_from_report,
)
from sei_tui.core.saliency.curve import SaliencyResult


def sei(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sei_tui", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def _refused(out: subprocess.CompletedProcess, command: str, fragment: str) -> None:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sei {command}: error: "), out.stderr
    assert fragment in lines[0]
    assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--figure", "cs.jpg"], "--figure = cs.jpg: unknown figure format '.jpg'"),
        (["--figure", "cs"], "--figure = cs: unknown figure format no suffix"),
        (["--figure", "plain/cs.svg"], "--figure = plain/cs.svg: plain is not a folder"),
        (["--figure", "folder.svg"], "--figure = folder.svg: is a directory"),
    ],
)
def test_saliency_figure_flag_errors(tmp_path, args, fragment):
    (tmp_path / "plain").write_text("")
    (tmp_path / "folder.svg").mkdir()
    out = sei("saliency", "demo", "--synthetic", "4", *args, cwd=tmp_path)
    _refused(out, "saliency", fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.svg", "plain"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--figures", "plain"], "--figures = plain: is not a folder"),
        (["--figures", "plain/deeper"], "--figures = plain/deeper: plain is not a folder"),
        (["--figure-format", "pdf"], "--figure-format: needs --figures DIR"),
        (["--figures", "f", "--figure-format", "jpg"], "argument --figure-format: invalid choice"),
    ],
)
def test_analyze_figures_flag_errors(tmp_path, args, fragment):
    (tmp_path / "plain").write_text("")
    out = sei("analyze", *args, cwd=tmp_path)
    _refused(out, "analyze", fragment)
    assert [p.name for p in tmp_path.iterdir()] == ["plain"]  # refused before any work


@pytest.mark.slow
def test_saliency_figure_draws_the_curve_it_prints(tmp_path):
    out = sei(
        "saliency", "demo", "--synthetic", "8", "--json", "--figure", "figs/cs.svg", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    result = SaliencyResult.from_json(json.loads(out.stdout))
    inspected = sei("inspect", "demo", "--json")
    assert inspected.returncode == 0, inspected.stderr
    split_points = [SimpleNamespace(**p) for p in json.loads(inspected.stdout)["split_points"]]
    expected = render("cs-curve", cs_curve_from_saliency(result, split_points), "svg")
    assert (tmp_path / "figs" / "cs.svg").read_bytes() == expected
    assert result.maxima  # the figure has maxima to mark
    assert b'id="cs-maxima"' in expected and b'id="payload-0"' in expected


@pytest.mark.slow
def test_analyze_figures_are_drawn_from_the_report_it_prints(tmp_path):
    common = ["--encoding", "int8", "--frames", "3", "--synthetic", "8", "--deadline", "30ms"]
    out = sei(
        "analyze",
        *common,
        "--sweep",
        "bitrate=1e6:1e8:3",
        "--format",
        "json",
        "--figures",
        "figs",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    figures = tmp_path / "figs"
    assert sorted(p.name for p in figures.iterdir()) == [
        "cs-curve.svg",
        "latency-by-split.svg",
        "pareto.svg",
        "sensitivity-map.svg",
    ]
    for name, data in (
        ("latency-by-split", latency_bars_from_report(doc)),
        ("pareto", pareto_from_report(doc)),
        ("sensitivity-map", sensitivity_map_from_report(doc)),
    ):
        assert (figures / f"{name}.svg").read_bytes() == render(name, data, "svg"), name


@pytest.mark.slow
def test_markdown_report_embeds_the_figures(tmp_path):
    out = sei(
        "analyze",
        "--encoding",
        "int8",
        "--frames",
        "3",
        "--synthetic",
        "8",
        "--format",
        "md",
        "--out",
        "reports/r.md",
        "--figures",
        "figs",
        "--figure-format",
        "png",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    report = tmp_path / "reports" / "r.md"
    assert report.read_text() == out.stdout
    links = re.findall(r"!\[([\w-]+)\]\(([^)]+)\)", out.stdout)
    assert links == [
        ("cs-curve", "../figs/cs-curve.png"),
        ("latency-by-split", "../figs/latency-by-split.png"),
        ("pareto", "../figs/pareto.png"),
    ]
    for _, link in links:
        assert (report.parent / link).read_bytes().startswith(b"\x89PNG")
    # without --figures the report has no figure section
    plain = sei(
        "analyze", "--encoding", "int8", "--frames", "3", "--synthetic", "8", "--format", "md"
    )
    assert plain.returncode == 0 and "![" not in plain.stdout
