"""The TUI with early-exit and bottleneck rows (against deterministic services): the rows
sit in the table under their own keys, the detail shows the exit rate and both paths, and
`>` / `<` move the selected early exit's threshold along the steps and replace its row."""

from __future__ import annotations

import pytest
from test_tui_fakes import FakeServices

from sei_tui.core.evaluation.rows import Row
from sei_tui.tui.app import SeiApp
from sei_tui.tui.pipeline import EXIT_THRESHOLD_STEPS
from sei_tui.tui.widgets.results import ResultsPane

WIDE = (160, 48)


def exit_row(threshold: float) -> Row:
    # a made-up exit at split 6: it answers a fraction 1 - threshold of the images
    return Row(
        strategy="early_exit",
        split_index=6,
        after="flatten",
        encoding="fp16",
        payload_bytes=100,
        p95_latency=0.02 + threshold / 100,
        accuracy=0.8 + threshold / 10,
        exit_threshold=threshold,
        exit_rate=1 - threshold,
        exit_path_p95_latency=0.004,
        offload_path_p95_latency=0.02 + threshold / 100,
        train_images=512,
        eval_images=64,
    )


class TrainedServices(FakeServices):
    def __init__(self) -> None:
        super().__init__()
        self.retuned: list[tuple[float, float]] = []

    def evaluate(self, spec, weights, scenario, data_dir, qos, progress, cancel):
        yield from super().evaluate(spec, weights, scenario, data_dir, qos, progress, cancel)
        yield exit_row(0.9)
        yield Row(
            strategy="bottleneck",
            split_index=1,
            after="features_1",
            encoding="fp16",
            payload_bytes=64,
            p95_latency=0.05,
            accuracy=0.85,
            bottleneck_channels=4,
            train_images=512,
            eval_images=64,
        )

    def retune_exit(self, row, threshold, qos, cancel):
        self.retuned.append((row.exit_threshold, threshold))
        return exit_row(threshold)


async def settle(pilot, app) -> None:
    for _ in range(4):
        await pilot.pause(0.05)
        await app.workers.wait_for_complete()
    await pilot.pause(0.05)


async def test_trained_rows_show_and_the_threshold_keys_replace_the_exit_row():
    services = TrainedServices()
    app = SeiApp(services=services)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        pane = app.query_one(ResultsPane)
        assert "early_exit:6:fp16:t0.9" in pane.rows
        assert "bottleneck:1:fp16:c4" in pane.rows
        assert len(pane.rows) == 2 + 9 * 2 + 2
        pane.table.focus()
        pane.focus_key("early_exit:6:fp16:t0.9")
        await settle(pilot, app)
        detail = str(pane.query_one("#detail").render())
        assert "exit at τ 0.9" in detail and "10.0% answered on the edge" in detail
        assert "p95 4.0 ms" in detail and "p95 29.0 ms" in detail
        await pilot.press("greater_than_sign")
        await settle(pilot, app)
        assert services.retuned == [(0.9, 0.95)]
        assert "early_exit:6:fp16:t0.95" in pane.rows
        assert "early_exit:6:fp16:t0.9" not in pane.rows
        assert pane.cursor_key() == "early_exit:6:fp16:t0.95"
        await pilot.press("less_than_sign", "less_than_sign")
        await settle(pilot, app)
        assert services.retuned[1:] == [(0.95, 0.9), (0.9, 0.8)]
        assert pane.rows[pane.cursor_key()].exit_rate == pytest.approx(0.2)
        assert len(pane.rows) == 2 + 9 * 2 + 2
        # not an early exit: nothing is asked of the services
        pane.focus_key("bottleneck:1:fp16:c4")
        await settle(pilot, app)
        assert "bottleneck: 4 channels travel" in str(pane.query_one("#detail").render())
        await pilot.press("greater_than_sign")
        await settle(pilot, app)
        assert len(services.retuned) == 3


def test_the_threshold_steps_rise_and_end_at_one():
    assert list(EXIT_THRESHOLD_STEPS) == sorted(EXIT_THRESHOLD_STEPS)
    assert EXIT_THRESHOLD_STEPS[-1] == 1.0 and EXIT_THRESHOLD_STEPS[0] > 0
