"""The sensitivity map on a study's results folder: `sei tui --study DIR`, `o` in the map
and "Open study results…" in the palette.

The folder is written with the real store (`core.study.store.StudyStore`) from hand-made
rows ranked by the core's `rank`; which deployment wins at each point is worked out here
by hand from the rows' latencies and accuracies against the QoS.
"""

from __future__ import annotations

import json

import pytest

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.ranking import rank
from sei_tui.core.evaluation.rows import Row
from sei_tui.core.study.store import StudyStore
from sei_tui.tui.app import SeiApp
from sei_tui.tui.screens.sensitivity import SensitivityScreen, read_study

QOS = "p95_latency<=0.05,accuracy>=0.8"
BITRATES = [1e6, 1e7]
LOSSES = [0.0, 0.05]
DELAYS = [0.001, 0.03]
AXES = [["wifi.bitrate", BITRATES], ["loss", LOSSES], ["delay", DELAYS]]
LOCAL, SPLIT = "local result", "split 2 features_2 int8"


def rows_at(bitrate: float, loss: float, delay: float) -> list[Row]:
    """Local sends only its 4-byte result: 30 ms + the delay. The split sends 12.5 kB:
    10 ms at 10 Mbit/s, 200 ms at 1 Mbit/s, + the delay; under 5 % loss its accuracy
    falls to 0.5 (the lost chunks are concealed)."""
    local = Row("local", None, None, "result", 4, p95_latency=0.03 + delay, accuracy=0.9)
    split = Row(
        "split",
        2,
        "features_2",
        "int8",
        12_500,
        p95_latency=(0.01 if bitrate == 1e7 else 0.2) + delay,
        accuracy=0.88 if loss == 0.0 else 0.5,
    )
    return [local, split]


# by hand, (bitrate, loss, delay) -> the recommended deployment (None: nothing meets the
# QoS): the split when it meets it (10 Mbit/s, no loss, p95 11 or 40 ms), else local when
# it does (p95 31 ms at 1 ms delay; 60 ms at 30 ms is too slow)
EXPECTED = {
    (1e6, 0.0, 0.001): LOCAL,
    (1e7, 0.0, 0.001): SPLIT,
    (1e6, 0.05, 0.001): LOCAL,
    (1e7, 0.05, 0.001): LOCAL,
    (1e6, 0.0, 0.03): None,
    (1e7, 0.0, 0.03): SPLIT,
    (1e6, 0.05, 0.03): None,
    (1e7, 0.05, 0.03): None,
}


def grid_points() -> list[tuple[float, float, float]]:
    return [(b, lo, d) for b in BITRATES for lo in LOSSES for d in DELAYS]


def write_study(folder, done: int = 8) -> None:
    """The first `done` of the 8 points, as `sei study` writes them."""
    points = grid_points()
    keys = [f"point-{i}" for i in range(len(points))]
    manifest = {
        "study": "tiny.toml",
        "models": ["demo"],
        "scenarios": ["demo"],
        "axes": AXES,
        "qos": QOS,
        "total": len(points),
        "keys": keys,
    }
    store = StudyStore(folder, manifest, tuple(k for k, _ in AXES))
    qos = parse_qos(QOS)
    for key, (bitrate, loss, delay) in list(zip(keys, points, strict=True))[:done]:
        values = {"wifi.bitrate": bitrate, "loss": loss, "delay": delay}
        store.add(key, "demo", "demo", values, rank(rows_at(bitrate, loss, delay), qos))
    store.flush()


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)


def shown_marks(screen) -> list[list[str]]:
    """The grid's cells as drawn (the header and the y labels dropped, [X] unwrapped)."""
    lines = str(screen.query_one("#sens-grid").render()).splitlines()[1:]
    return [[m.strip("[]") for m in line.split()[1:]] for line in lines]


def letter(screen, label: str | None) -> str:
    return "-" if label is None else screen.grid.letter(screen.grid.legend.index(label))


def test_the_hand_worked_winners_are_the_cores_recommendations():
    qos = parse_qos(QOS)
    for point, label in EXPECTED.items():
        best = rank(rows_at(*point), qos).recommended
        parts = () if best is None else (best.strategy, best.split_index, best.after, best.encoding)
        assert (" ".join(str(p) for p in parts if p is not None) or None) == label, point


async def test_a_study_folder_opens_as_the_map_with_the_hand_expected_cells(tmp_path):
    write_study(tmp_path / "out")
    app = SeiApp(study=read_study(str(tmp_path / "out")))
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SensitivityScreen)
        assert app.graph is None and not app._loading_started  # nothing loads behind it
        assert (screen.grid.x, screen.grid.y) == ("wifi.bitrate", "loss")
        assert screen.grid.fixed == {"delay": 0.001, "model": "demo", "scenario": "demo"}
        assert set(screen.grid.legend) == {LOCAL, SPLIT}
        # fixed delay 1 ms: rows loss 0, 0.05; columns 1, 10 Mbit/s
        expect = [[letter(screen, EXPECTED[b, lo, 0.001]) for b in BITRATES] for lo in LOSSES]
        assert shown_marks(screen) == expect
        assert expect[0] != expect[1]  # the split wins only without loss
        status = str(screen.query_one("#sens-status").render())
        assert "8 of 8 points done" in status
        legend = str(screen.query_one("#sens-legend").render())
        assert f"{letter(screen, SPLIT)}  {SPLIT}" in legend
        # the cell under the cursor: 10 Mbit/s, no loss, 1 ms: the split, p95 11 ms
        await pilot.press("right")
        detail = screen.detail_text()
        assert "wifi.bitrate = 10Mbps, loss = 0" in detail
        assert f"feasible: {SPLIT}" in detail and "p95 11ms" in detail
        assert "accuracy 0.880" in detail

        # f: the other delay (30 ms): local is too slow, the split only without loss
        await pilot.press("f")
        assert screen.grid.fixed["delay"] == 0.03
        assert shown_marks(screen) == [
            [letter(screen, EXPECTED[b, lo, 0.03]) for b in BITRATES] for lo in LOSSES
        ]
        assert screen.axes_text() == "wifi.bitrate × loss (a: 1/3) · delay=30ms (f: 2/2)"
        await pilot.press("left")
        assert "infeasible: nothing meets the QoS" in screen.detail_text()

        # a: the next pair of axes, bitrate across and delay down, at loss 0
        await pilot.press("a")
        assert (screen.grid.x, screen.grid.y) == ("wifi.bitrate", "delay")
        assert screen.grid.fixed["loss"] == 0.0
        assert shown_marks(screen) == [
            [letter(screen, EXPECTED[b, 0.0, d]) for b in BITRATES] for d in DELAYS
        ]
        await pilot.press("a")
        assert (screen.grid.x, screen.grid.y) == ("loss", "delay")
        await pilot.press("a")
        assert (screen.grid.x, screen.grid.y) == ("wifi.bitrate", "loss")  # round again

        # escape: the main screen, whose model and scenario load only now
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, SensitivityScreen)
        assert app._loading_started


async def test_an_unfinished_folder_shows_done_of_total_and_missing_cells(tmp_path):
    write_study(tmp_path / "out", done=5)
    app = SeiApp(study=read_study(str(tmp_path / "out")))
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "5 of 8 points done (unfinished" in str(screen.query_one("#sens-status").render())
        # written in grid order (bitrate, loss, delay; delay fastest): the first five
        # are every 1 Mbit/s point and 10 Mbit/s, no loss, 1 ms
        done = grid_points()[:5]
        assert shown_marks(screen) == [
            [
                letter(screen, EXPECTED[b, lo, 0.001]) if (b, lo, 0.001) in done else "?"
                for b in BITRATES
            ]
            for lo in LOSSES
        ]
        assert "?  not computed yet" in str(screen.query_one("#sens-legend").render())
        # the study goes on: r reads the folder again
        write_study(tmp_path / "out", done=8)
        await pilot.press("r")
        assert "8 of 8 points done" in str(screen.query_one("#sens-status").render())
        assert "?" not in sum(shown_marks(screen), [])


def test_bad_folders_are_one_line_errors(tmp_path):
    with pytest.raises(SeiInputError, match="give the results folder"):
        read_study("  ")  # an empty prompt: not the current folder
    with pytest.raises(SeiInputError, match=r"^--study .*nowhere: not a folder$"):
        read_study(str(tmp_path / "nowhere"), f"--study {tmp_path / 'nowhere'}")
    with pytest.raises(SeiInputError) as caught:
        read_study(str(tmp_path), f"--study {tmp_path}")
    assert str(caught.value) == f"--study {tmp_path}: not a study results folder (no study.json)"
    (tmp_path / "study.json").write_text("{not json")
    with pytest.raises(SeiInputError, match="cannot read study.json"):
        read_study(str(tmp_path))
    damaged = tmp_path / "damaged"
    write_study(damaged, done=2)
    (damaged / "parts" / "part-000000.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(SeiInputError, match="cannot read the study results") as caught:
        read_study(str(damaged))
    assert "\n" not in str(caught.value)


def test_cli_bad_study_folder_is_exit_2_with_one_line(tmp_path, capsys):
    from sei_tui.cli.main import main

    code = main(["tui", "--study", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"--study {tmp_path}: not a study results folder" in err


async def test_o_opens_another_folder_and_a_bad_one_is_refused_in_the_prompt(tmp_path):
    write_study(tmp_path / "a", done=3)
    write_study(tmp_path / "b", done=8)
    app = SeiApp(study=read_study(str(tmp_path / "a")))
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("o")
        await settle(pilot)
        prompt = app.screen
        field = prompt.query_one("#prompt-input")
        field.value = str(tmp_path / "missing")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is prompt  # refused: the error stays in the prompt
        assert "not a folder" in str(prompt.query_one("#prompt-error").render())
        field.value = str(tmp_path / "b")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert "8 of 8 points done" in str(screen.query_one("#sens-status").render())


def test_the_palette_offers_study_results():
    from sei_tui.tui.commands import sei_commands

    titles = [title for title, _, _ in sei_commands(SeiApp())]
    assert "Open study results…" in titles


def test_the_folder_written_is_what_sei_study_report_reads(tmp_path, capsys):
    """The fixture folder is a real results folder: `sei study --report` reads it."""
    from sei_tui.cli.main import main

    write_study(tmp_path / "out", done=6)
    assert main(["study", "--report", str(tmp_path / "out"), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["done"], document["total"]) == (6, 8)
