"""The TUI's sensitivity map (`m`): a small bitrate x loss sweep in a worker, drawn as the
core's grid, a keyboard cursor whose cell shows that point's recommended row."""

from __future__ import annotations

import asyncio

import pytest
from test_tui_fakes import FakeServices, fake_graph

from sei_tui.core.evaluation.sensitivity import render_grid, sensitivity_grids
from sei_tui.tui.app import SeiApp
from sei_tui.tui.scenario_edit import edge_to_server_path
from sei_tui.tui.screens.sensitivity import SensitivityScreen, cell_marks

# remote runs when the link is fast enough; local and deep splits need too many edge FLOPs
QOS = "p95_latency<=0.01,edge_flops<=3300000"
BITRATES = [1e6 * 10 ** (k / 2) for k in range(5)]  # DEFAULT_SWEEP: 1e6..1e8, 5 log-spaced
LOSSES = [0.0, 0.02, 0.04]


async def settle(pilot) -> None:
    for _ in range(4):
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)


def remote_p95(scenario, bitrate: float, loss: float) -> float:
    """By hand: the 3x32x32 8-bit input over every hop, sent 1/(1-loss) times, then the
    whole model on the server."""
    net = sum(
        3072 * 8 / bitrate / (1 - loss) + link.delay_s
        for _, link, _ in edge_to_server_path(scenario)
    )
    server = scenario.compute_of(scenario.server_node())
    return net + fake_graph().total_flops / (server.gflops * 1e9)


def test_cursor_moves_over_cells_and_the_detail_shows_the_cells_row():
    async def scenario():
        app = SeiApp(services=FakeServices(), qos=QOS)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("m")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, SensitivityScreen)
            assert screen.grid is not None
            assert list(screen.grid.x_values) == [pytest.approx(b, rel=1e-12) for b in BITRATES]
            assert list(screen.grid.y_values) == LOSSES
            # 1 Mbps, no loss: remote needs > 10 ms, every split too many FLOPs
            assert screen.cursor == (0, 0)
            assert "bitrate = 1Mbps, loss = 0" in screen.detail_text()
            assert "infeasible" in screen.detail_text()
            await pilot.press("right", "right", "down")
            assert screen.cursor == (2, 1)
            detail = screen.detail_text()
            assert "bitrate = 10Mbps, loss = 0.02" in detail
            assert "feasible: remote raw" in detail
            p95 = remote_p95(app.scenario, 1e7, 0.02)
            assert p95 < 0.01
            assert f"{p95 * 1e3:.3g}ms" in detail
            assert "accuracy 0.900" in detail
            rendered = str(screen.query_one("#sens-grid").render())
            assert "[A]" in rendered.splitlines()[2]  # row loss=0.02, the cursor cell
            # the cursor stops at the edges
            for _ in range(9):
                await pilot.press("right")
            await pilot.press("up", "up", "up")
            assert screen.cursor == (4, 0)
            await pilot.press("escape")
            await settle(pilot)
            assert not isinstance(app.screen, SensitivityScreen)

    asyncio.run(scenario())


def test_grid_letters_equal_the_core_builders():
    async def scenario():
        app = SeiApp(services=FakeServices(), qos=QOS)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("m")
            await settle(pilot)
            screen = app.screen
            points = screen.points
            core = render_grid(sensitivity_grids(points)[0])
            core_marks = [line.split()[1:] for line in core[1:]]  # drop the header, y labels
            assert cell_marks(screen.grid) == core_marks
            # and the marks follow the hand-worked feasibility of remote (the only candidate)
            for yi, loss in enumerate(LOSSES):
                for xi, bitrate in enumerate(BITRATES):
                    feasible = remote_p95(app.scenario, bitrate, loss) <= 0.01
                    assert core_marks[yi][xi] == ("A" if feasible else "-"), (bitrate, loss)
            shown = [
                line.split()[1:]
                for line in str(screen.query_one("#sens-grid").render()).splitlines()[1:]
            ]
            assert [[m.strip("[]") for m in row] for row in shown] == core_marks

    asyncio.run(scenario())


def test_the_sweep_runs_in_the_background_and_c_stops_it():
    async def scenario():
        services = FakeServices(row_delay_s=0.3)  # one sleep per point: 15 points, 4.5 s
        app = SeiApp(services=services, qos=QOS)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            services.row_delay_s = 0.3
            await pilot.press("m")
            await pilot.pause(0.5)
            screen = app.screen
            assert screen.grid is None
            assert "sweeping" in str(screen.query_one("#sens-status").render())
            await pilot.press("down")  # keys still answer while it runs
            await pilot.press("c")
            await settle(pilot)
            assert screen.grid is None
            assert "stopped" in str(screen.query_one("#sens-status").render())

    asyncio.run(scenario())


def test_the_palette_offers_the_map():
    from sei_tui.tui.commands import sei_commands

    app = SeiApp(services=FakeServices())
    titles = [title for title, _, _ in sei_commands(app)]
    assert "Sensitivity map (bitrate x loss)" in titles
