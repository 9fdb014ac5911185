"""`sei tui --run FILE`: the detail of the measured row shows the run's figures."""

from __future__ import annotations

import json
from types import SimpleNamespace

from sei_tui.cli.main import main
from sei_tui.cli.tui import read_run_file
from sei_tui.tui.widgets.results import detail_text, measured_text

RUN = {
    "split_index": 20,
    "encoding": "int8",
    "frames": 64,
    "p50_latency": 0.0031,
    "p95_latency": 0.0042,
    "p99_latency": 0.0057,
    "accuracy": 0.875,
    "parts": {"head": 0.002, "encode": 0.0001, "network_server": 0.0009},
}


def _row(**changes):
    row = dict(strategy="split", split_index=20, after="features_19", encoding="int8",
               payload_bytes=6149, head_s=0.002, encode_s=1e-4, network_p95_s=0.001,
               decode_s=1e-4, tail_s=5e-4, p95_latency=0.004, codec_scale="",
               exit_threshold=None, bottleneck_channels=None)  # fmt: skip
    row.update(changes)
    return SimpleNamespace(**row)


def test_the_measured_row_shows_the_runs_figures():
    line = measured_text(_row(), RUN)
    assert line.startswith("measured (64 frames)")
    assert "p50 3.1 ms" in line or "p50 3.10 ms" in line, line
    assert "87.5%" in line or "88%" in line, line
    text = detail_text(_row(), [], None, False, {}, RUN).plain
    assert line.strip() in text


def test_other_rows_show_nothing_measured():
    assert measured_text(_row(split_index=19), RUN) == ""
    assert measured_text(_row(encoding="fp32"), RUN) == ""
    assert measured_text(_row(strategy="local", split_index=None), RUN) == ""
    assert measured_text(_row(), None) == ""
    assert "measured" not in detail_text(_row(), [], None, False, {}).plain


def test_an_exit_or_bottleneck_run_shows_only_on_its_own_row():
    exit_run = dict(RUN, strategy="early_exit",
                    adapters={"kind": "early_exit", "threshold": 0.9, "digest": "x"})  # fmt: skip
    exit_row = _row(strategy="early_exit", exit_threshold=0.9)
    assert measured_text(exit_row, exit_run).startswith("measured (64 frames)")
    assert measured_text(_row(), exit_run) == ""  # the plain split at the same cut
    assert measured_text(_row(strategy="early_exit", exit_threshold=0.8), exit_run) == ""
    assert measured_text(exit_row, RUN) == ""  # a plain run is not the exit's
    neck_run = dict(RUN, strategy="bottleneck",
                    adapters={"kind": "bottleneck", "channels": 8, "digest": "y"})  # fmt: skip
    assert measured_text(_row(strategy="bottleneck", bottleneck_channels=8), neck_run)
    assert measured_text(_row(strategy="bottleneck", bottleneck_channels=16), neck_run) == ""
    assert measured_text(_row(), neck_run) == ""


def test_run_file_is_read_from_sei_run_or_an_analyze_report(tmp_path):
    plain = tmp_path / "run.json"
    plain.write_text(json.dumps(RUN))
    assert read_run_file(str(plain)) == RUN
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"rows": [], "measured": RUN}))
    assert read_run_file(str(report)) == RUN


def test_a_bad_run_file_is_refused_before_the_screen_opens(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"frames": 3}))
    assert main(["tui", "--run", str(bad)]) == 2
    assert "--run" in capsys.readouterr().err
    assert main(["tui", "--run", str(tmp_path / "missing.json")]) == 2


async def test_the_app_detail_shows_the_attached_run_on_its_row_only():
    from test_tui import WIDE, results, settle
    from test_tui_fakes import FakeServices

    from sei_tui.tui.app import SeiApp

    run = dict(RUN, split_index=5, encoding="fp32")
    app = SeiApp(services=FakeServices(), measured_run=run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        table = results(app).table
        table.focus()
        table.move_cursor(row=table.get_row_index("split:5:fp32"))
        await pilot.pause()
        assert "measured (64 frames)" in str(app.query_one("#detail").render())
        table.move_cursor(row=table.get_row_index("split:5:fp16"))
        await pilot.pause()
        assert "measured" not in str(app.query_one("#detail").render())
