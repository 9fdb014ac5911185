"""Snapshot tests of the sei screens (pytest-textual-snapshot; update with
`pytest tests/test_tui_snapshots.py --snapshot-update`, then look at the report).

Deterministic: FakeServices give a fixed graph, fixed CS values and analytic latencies
from the built-in demo scenario's fixed GFLOP/s compute profiles; no clock, no ETA, no
cursor blink; every worker has finished before the picture is taken.
"""

from __future__ import annotations

from test_tui_fakes import FakeServices

from sei_tui.tui.app import SeiApp


async def settle(pilot) -> None:
    for _ in range(4):
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)


def app(**kwargs) -> SeiApp:
    return SeiApp(services=FakeServices(), **kwargs)


def test_main_screen_80x24(snap_compare):
    assert snap_compare(app(), terminal_size=(80, 24), run_before=settle)


def test_main_screen_results_tab_80x24(snap_compare):
    async def results_tab(pilot):
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(app(), terminal_size=(80, 24), run_before=results_tab)


def test_main_screen_160x48_with_split_and_qos(snap_compare):
    async def choose(pilot):
        await settle(pilot)
        await pilot.press("right_square_bracket")  # first CS maximum
        await pilot.press("slash")
        # an edge with a compute budget that must still extract features: a split wins
        qos = "p95_latency<=0.004, edge_flops>=1e6, edge_flops<=3.5e6"
        pilot.app.query_one("#qos-input").value = qos
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(app(), terminal_size=(160, 48), run_before=choose)


def test_topology_editor_with_validation_error(snap_compare):
    async def bad_bitrate(pilot):
        await settle(pilot)
        await pilot.press("2", "e")
        await pilot.pause()
        field = pilot.app.screen.query_one("#field-bitrate")
        field.focus()
        field.value = "-5Mbps"
        await pilot.pause()
        await pilot.press("enter")  # refused: the error stays
        await pilot.pause()

    assert snap_compare(app(), terminal_size=(80, 24), run_before=bad_bitrate)


def test_help_screen(snap_compare):
    async def help_screen(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app(), terminal_size=(100, 48), run_before=help_screen)


def test_light_theme_160x48(snap_compare):
    async def choose(pilot):
        await settle(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)  # under load the network tables were sometimes not yet laid out

    assert snap_compare(app(theme_name="sei-light"), terminal_size=(160, 48), run_before=choose)


# ---------------------------------------------------------------- plots (issue 17)


def _keys(*keys: str):
    async def press(pilot):
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return press


def test_cs_plot_with_cursor_80x24_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # glyphs alone tell the series apart
    assert snap_compare(app(), terminal_size=(80, 24), run_before=_keys("right_square_bracket"))


def test_latency_chart_80x24(snap_compare):
    assert snap_compare(app(), terminal_size=(80, 24), run_before=_keys("g", "right", "right"))


def test_pareto_chart_80x24_light(snap_compare):
    keys = _keys("g", "g", "end")
    assert snap_compare(app(theme_name="sei-light"), terminal_size=(80, 24), run_before=keys)


def test_latency_chart_160x48_qos_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(
        app(qos="p95_latency<=0.004"),
        terminal_size=(160, 48),
        run_before=_keys("g", "right", "right", "right"),
    )


def test_pareto_chart_160x48_qos(snap_compare):
    assert snap_compare(
        app(qos="p95_latency<=0.003"), terminal_size=(160, 48), run_before=_keys("g", "g", "home")
    )


def test_timeline_adaptive_80x24(snap_compare, tmp_path):
    from test_tui_plots import TRACE_SCENARIO, TraceServices

    (tmp_path / "steps.csv").write_text("time_s,bitrate_bps\n0,2000000\n1.5,500000\n")
    (tmp_path / "traced.toml").write_text(TRACE_SCENARIO)
    traced = SeiApp(services=TraceServices(), scenario=str(tmp_path / "traced.toml"))
    keys = _keys("g", "g", "g", "o", "right", "right", "right")
    assert snap_compare(traced, terminal_size=(80, 24), run_before=keys)


# ---------------------------------------------------------------- sensitivity map (issue 16)


def test_sensitivity_map_80x24_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # [X] marks the cursor, - the infeasible cells
    assert snap_compare(
        app(qos="p95_latency<=0.01,edge_flops<=3300000"),
        terminal_size=(80, 24),
        run_before=_keys("m", "right", "right", "down"),
    )


# ---------------------------------------------------------------- three tiers (issue 15)


def test_two_cut_deployment_on_the_path_80x24_no_color(snap_compare, monkeypatch):
    """The recommended two-cut row of the three-tier scenario drawn along its path."""
    from sei_tui.tui.widgets.results import ResultsPane

    monkeypatch.setenv("NO_COLOR", "1")  # ① ② and the segments read without colour

    async def recommended_on_the_path(pilot):
        await settle(pilot)
        pane = pilot.app.query_one(ResultsPane)
        pane.focus_key(pane.recommended_key)
        await pilot.press("2")
        await settle(pilot)

    tiered = app(scenario="three-tier", qos="edge_flops<=1e6,server_flops<=1000")
    assert snap_compare(tiered, terminal_size=(80, 24), run_before=recommended_on_the_path)


def test_study_results_map_80x24_no_color(snap_compare, monkeypatch, tmp_path):
    """`sei tui --study DIR` on an unfinished folder: 5 of 8 points, `?` where missing."""
    from test_tui_study import write_study

    from sei_tui.tui.screens.sensitivity import read_study

    monkeypatch.setenv("NO_COLOR", "1")
    write_study(tmp_path / "out", done=5)
    study = SeiApp(services=FakeServices(), study=read_study(str(tmp_path / "out")))
    assert snap_compare(study, terminal_size=(80, 24), run_before=_keys("right"))
