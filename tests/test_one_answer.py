"""One answer: the same analysis through `sei analyze` and through the TUI's own pipeline
(the real CoreServices the app uses, driven headless) ranks the same rows in the same
order, marks the same Pareto front and recommends the same deployment.

Both run the demo model on the demo scenario with 16 synthetic images and 5 frames per
simulation under one QoS. Identities and order are compared, not latencies.

Why the encode/decode timer is fixed in both runs: a row's latency includes the measured
wall time of encoding and decoding its payload, which varies from run to run by more
than the gap between neighbouring rows, so two runs of the CLI alone already order some
rows differently. With that one measurement fixed (zero), everything else (compute
estimates, the simulation, accuracy) is deterministic, and any difference left between
the CLI and the TUI is a difference in what they compute, which is what this test is for.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time

from sei_tui.tui.app import SeiApp
from sei_tui.tui.services import AnalysisSettings, CoreServices
from sei_tui.tui.widgets.results import ResultsPane

QOS = "p95_latency<=0.0105"
SYNTHETIC, FRAMES = 16, 5


def codec_timer_module():
    """The module whose `_timed_map` times every codec: the evaluation's deployments stage."""
    from sei_tui.core.evaluation import deployments

    assert hasattr(deployments, "_timed_map"), "the codec timer moved: fix test_one_answer"
    return deployments


def fixed_timer(fn, items):
    """The one wall-clock measurement in the rows (see the module's doc): run, cost 0."""
    return [fn(item) for item in items], 0.0


# `sei analyze` exactly as `python -m sei_tui` runs it, with the same timer fixed.
CLI = f"""
import sys
{inspect.getsource(codec_timer_module)}
{inspect.getsource(fixed_timer)}
codec_timer_module()._timed_map = fixed_timer
from sei_tui.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def identity(row: dict) -> tuple:
    return (row["strategy"], row["split_index"], row["encoding"])


def answer(report: dict) -> dict:
    rows = report["rows"]
    rec = report["recommendation"]
    return {
        "order": [identity(r) for r in rows],
        "front": [identity(r) for r in rows if r["pareto"]],
        "feasible": [identity(r) for r in rows if r["feasible"]],
        "recommended": None if rec["row"] is None else identity(rows[rec["row"]]),
        "runner_up": None if rec["runner_up"] is None else identity(rows[rec["runner_up"]]),
    }


def cli_answer() -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CLI, "analyze", "--model", "demo", "--scenario", "demo"]
        + ["--synthetic", str(SYNTHETIC), "--frames", str(FRAMES), "--qos", QOS]
        + ["--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout)


async def tui_answer(tmp_path, monkeypatch) -> tuple[dict, str | None]:
    """The app's export after its recommendation is shown, and the ◆-marked row key."""
    monkeypatch.setattr(codec_timer_module(), "_timed_map", fixed_timer)
    services = CoreServices(AnalysisSettings(synthetic=SYNTHETIC, frames=FRAMES))
    app = SeiApp(model="demo", scenario="demo", qos=QOS, services=services)
    target = tmp_path / "tui.json"
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 600
        while app.pipeline.ranking is None or app.sweep_running:
            assert time.monotonic() < deadline, "the TUI did not show a recommendation"
            await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        shown = str(app.query_one("#recommendation").render())
        marked = app.query_one(ResultsPane).recommended_key
        app.action_export_report()
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(target)
        await pilot.press("enter")
        while not target.exists():
            assert time.monotonic() < deadline, "the TUI did not export its report"
            await pilot.pause(0.1)
        await app.workers.wait_for_complete()
    assert shown.startswith("◆") or shown.startswith("No recommendation")
    return json.loads(target.read_text()), marked


async def test_cli_and_tui_give_one_answer(tmp_path, monkeypatch):
    cli = cli_answer()
    tui, marked = await tui_answer(tmp_path, monkeypatch)
    ours, theirs = answer(tui), answer(cli)
    # the comparison below means something only if the QoS separates the rows
    assert 0 < len(theirs["feasible"]) < len(theirs["order"])
    assert len(theirs["order"]) == len(set(theirs["order"]))
    assert ours["order"] == theirs["order"]
    assert ours["front"] == theirs["front"] and theirs["front"]
    assert ours["feasible"] == theirs["feasible"]
    assert ours["recommended"] == theirs["recommended"] is not None
    assert ours["runner_up"] == theirs["runner_up"]
    # the ◆ in the table marks that same row
    strategy, split_index, encoding = theirs["recommended"]
    assert marked == f"{strategy}:{split_index}:{encoding}"
    # what the report says about the evaluation matches too
    for key in ("model", "scenario", "qos", "images", "accuracy_kind"):
        assert tui[key] == cli[key], key
