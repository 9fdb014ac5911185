"""Reports: the JSON contract of cli.md, CSV columns, Markdown and the text table."""

import csv
import io
import json
import math

from sei_tui.core.evaluation.ranking import recommend
from sei_tui.core.evaluation.report import CSV_COLUMNS, AnalysisReport, render
from sei_tui.core.evaluation.rows import Row
from sei_tui.core.evaluation.sweep import SweepPoint


def rows():
    return [
        Row("local", None, None, "result", 13, head_s=0.2, p95_latency=0.25, accuracy=0.9),
        Row(
            "split",
            3,
            "features_3",
            "fp16",
            4096,
            head_s=0.01,
            encode_s=0.001,
            network_p95_s=0.02,
            decode_s=0.001,
            tail_s=0.002,
            p95_latency=0.034,
            accuracy=0.88,
            cs=0.0012,
        ),
        Row("remote", None, None, "raw", 12288, p95_latency=math.inf, accuracy=0.5),
    ]


def report(qos="p95_latency<=0.1, accuracy>=0.8"):
    rs = rows()
    rec = recommend(rs, qos)
    for r in rs:
        r.violations = []
    return AnalysisReport("demo", "wifi", qos, rs, rec, images=64)


def test_json_has_the_cli_contract_keys():
    doc = json.loads(render(report(), "json"))
    assert {"model", "scenario", "qos", "rows", "recommendation"} <= doc.keys()
    row = doc["rows"][1]
    for key in (
        "strategy",
        "split_index",
        "after",
        "payload_bytes",
        "encoding",
        "head_s",
        "network_p50_s",
        "network_p95_s",
        "tail_s",
        "p95_latency",
        "accuracy",
        "cs",
        "feasible",
        "violations",
    ):
        assert key in row
    assert doc["rows"][2]["p95_latency"] is None  # infinite latency is null, valid JSON
    rec = doc["recommendation"]
    assert rec["row"] == 1 and rec["binding"] == "accuracy" and rec["runner_up"] is None
    assert set(rec) >= {"row", "why", "binding", "margin", "runner_up"}


def test_csv_has_one_line_per_row_and_every_column():
    text = render(report(), "csv")
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) == 4
    assert table[3][CSV_COLUMNS.index("p95_latency")] == ""


def test_markdown_and_table_mark_the_recommendation():
    md = render(report(), "md")
    assert "| **1** | **split 3 features_3** |" in md
    assert "Recommended: #1 split 3 features_3 fp16" in md
    text = render(report(), "table")
    assert "Recommended: #1" in text and "Binding constraint: accuracy, margin 0.08" in text
    assert "inf" in text


def test_no_feasible_row_is_explained():
    text = render(report("accuracy>=0.95"), "table")
    assert "No recommendation: no deployment meets accuracy>=0.95" in text


def test_sweep_points_are_reported():
    rep = report()
    rs = rep.rows
    rep.sweep = [
        SweepPoint({"bitrate": 1e6}, rs[0], recommend(rs[:1], None)),
        SweepPoint({"bitrate": 1e9}, None, recommend(rs, "accuracy>=0.99")),
    ]
    doc = json.loads(render(rep, "json"))
    assert doc["sweep"][0]["strategy"] == "local"
    assert doc["sweep"][1]["strategy"] is None
    # the table shows the sweep as a sensitivity map: one row, 1 Mbit/s feasible, 1 Gbit/s not
    text = render(rep, "table")
    assert "bitrate 1Mbps 1Gbps" in text and "A  local result" in text
    (cells,) = [line for line in text.splitlines()[-8:] if line.split() == ["A", "-"]]
    assert "bitrate=1e+06: local result" in render(rep, "md")  # Markdown keeps the list


def test_one_set_of_displays_for_reports_and_the_tui():
    from sei_tui.core.units import display_count, display_fraction, display_seconds
    from sei_tui.tui import format as tui

    cases = [
        (2.5, "2.50 s"),
        (0.0123, "12.3 ms"),
        (0.000478, "478 µs"),
        (3.6e-7, "360 ns"),
        (0.0, "0"),
        (math.inf, "inf"),
        (None, "-"),
        (math.nan, "-"),
    ]
    for value, text in cases:
        assert display_seconds(value) == text, value
    assert tui.format_seconds(None) == "–" and tui.format_seconds(0.0123) == "12.3 ms"
    # 1 500 = 1.50 thousand; 4 089 000 = 4.089 million; 1.2e12 = 1.20 trillion
    assert [display_count(v) for v in (512, 1_500, 4_089_000, 12.3e9, 1.2e12)] == [
        "512",
        "1.50k",
        "4.09M",
        "12.30G",
        "1.20T",
    ]
    assert tui.format_flops(1_500) == display_count(1_500)
    assert display_fraction(0.8125) == "81.2%" and display_fraction(1.0) == "100.0%"
    assert tui.format_fraction(None) == "–" and display_fraction(None) == "-"


def test_the_table_uses_the_shared_displays():
    text = render(report(), "table")
    # the split row: edge+enc 10 ms + 1 ms, network 20 ms, dec+server 1 ms + 2 ms, p95 34 ms
    for cell in ("11.0 ms", "20.0 ms", "3.0 ms", "34.0 ms", "88.0%", "4.1 kB"):
        assert cell in text, cell
