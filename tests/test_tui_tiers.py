"""The TUI on the built-in three-tier scenario (camera -> edge box -> cloud): a two-cut
(split2) row marks both its cuts in the model tree (① ②), and the network pane draws the
selected row's deployment along the path, each node's segment and each hand-over's bytes.

Rows come from the analytic fakes (tests/test_tui_fakes.py); the byte counts expected
here are worked out by hand from the fake graph's output shapes (4 bytes a float, fp16
half of that).
"""

from __future__ import annotations

from test_tui_fakes import FakeServices

from sei_tui.core.network.scenario import builtin_scenario
from sei_tui.core.units import display_bytes
from sei_tui.tui.app import SeiApp
from sei_tui.tui.widgets.model_tree import CUT_MARKS, ModelTree
from sei_tui.tui.widgets.network import deployment_text
from sei_tui.tui.widgets.results import ResultsPane, row_key

# fake graph split points: 1 = features_1 (16x32x32), 3 = features_3 (32x16x16),
# 6 = classifier_0 (128), 8 = classifier_2 (10)
FEATURES_1_FP16 = 16 * 32 * 32 * 4 // 2  # 32768 B
CLASSIFIER_0_FP16 = 128 * 4 // 2  # 256 B
FEATURES_3_FP32 = 32 * 16 * 16 * 4  # 32768 B
INPUT_8BIT = 3 * 32 * 32  # 3072 B


async def settle(pilot) -> None:
    for _ in range(4):
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)


def three_tier_app(**kwargs) -> SeiApp:
    return SeiApp(services=FakeServices(), scenario="three-tier", **kwargs)


def key_of(app, strategy: str, cuts: tuple[int, ...], encoding: str) -> str:
    pane = app.query_one(ResultsPane)
    (key,) = [
        k
        for k, row in pane.rows.items()
        if row.strategy == strategy
        and row.encoding == encoding
        and (tuple(row.cuts or ()) == cuts if strategy == "split2" else row.split_index == cuts[0])
    ]
    return key


def marked(tree: ModelTree) -> dict[str, str]:
    """Split point name -> the cut glyph its tree row shows (rows with one only)."""
    out = {}
    for index in tree.split_indices:
        label = tree._split_nodes[index].label.plain
        glyphs = [m for m in CUT_MARKS if m in label]
        assert len(glyphs) <= 1, label
        if glyphs:
            out[tree.info(index).after] = glyphs[0]
    return out


def path_line(app) -> str:
    return str(app.query_one("#deployment-path").render()).splitlines()[-1].strip()


async def test_a_two_cut_row_marks_exactly_its_two_cuts_and_draws_its_path():
    app = three_tier_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        pane, tree = app.query_one(ResultsPane), app.query_one(ModelTree)
        assert any(row.strategy == "split2" for row in pane.rows.values())
        pane.focus_key(key_of(app, "split2", (1, 6), "fp16"))
        await settle(pilot)
        assert tree.cuts == (1, 6)
        assert marked(tree) == {"features_1": "①", "classifier_0": "②"}
        assert tree.cursor_node is tree._split_nodes[1]
        expected = (
            f"camera [0..1] ─① {display_bytes(FEATURES_1_FP16)} ▶ "
            f"edgebox [1..6] ─② {display_bytes(CLASSIFIER_0_FP16)} ▶ cloud [6..]"
        )
        assert expected == "camera [0..1] ─① 32.8 kB ▶ edgebox [1..6] ─② 256 B ▶ cloud [6..]"
        assert path_line(app) == expected
        detail = str(pane.query_one("#detail").render())
        assert "split2 cuts ①1 ②6 · fp16 · 32.8 kB, 256 B" in detail
        assert "compute: camera" in detail and "edgebox" in detail

        # a one-cut row: the marks go, the path shows the device's and the server's parts
        pane.focus_key(key_of(app, "split", (3,), "fp32"))
        await settle(pilot)
        assert tree.cuts == () and marked(tree) == {}
        assert tree.selected == 3
        assert path_line(app) == "camera [0..3] ─ 32.8 kB ▶ edgebox ─▶ cloud [3..]"
        assert display_bytes(FEATURES_3_FP32) == "32.8 kB"

        pane.focus_key(key_of(app, "remote", (None,), "raw"))
        await settle(pilot)
        assert marked(tree) == {}
        assert path_line(app) == f"camera ─ {display_bytes(INPUT_8BIT)} ▶ edgebox ─▶ cloud [all]"


async def test_choosing_a_cut_in_the_tree_keeps_the_cursor_there_and_marks_the_rows_cuts():
    # only two-cut rows ending at classifier_2 (no server FLOPs) that start no later than
    # features_2 (head 917,504 FLOPs, under 1 MFLOP on the camera) pass: (0|1|2, 8)
    app = three_tier_app(qos="edge_flops<=1e6,server_flops<=1000")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        pane, tree = app.query_one(ResultsPane), app.query_one(ModelTree)
        best = pane.rows[pane.recommended_key]
        # (2, 8) wins: features_2 (16x16x16, 8 kB in fp16) crosses the 54 Mbit/s Wi-Fi
        # (32768 - 8192) * 8 / 54e6 = 3.6 ms sooner than features_0 or _1 (16x32x32), for
        # 32768 more FLOPs on the 8 GFLOP/s camera (4 us)
        assert (best.strategy, best.cuts) == ("split2", [2, 8])
        assert tree.recommended_cuts == (2, 8)
        rows = {i: tree._split_nodes[i].label.plain for i in tree.split_indices}
        assert [i for i, label in rows.items() if "◆" in label] == [2, 8]
        # enter on classifier_2 (split 8): the recommended row cuts there, so it is shown,
        # and the tree's cursor stays on the split chosen (the row's second cut)
        tree.focus()
        tree.move_cursor(tree._split_nodes[8])
        await pilot.press("enter")
        await settle(pilot)
        assert pane.cursor_key() == row_key(best)
        assert tree.cursor_node is tree._split_nodes[8]
        assert marked(tree) == {"features_2": "①", "classifier_2": "②"}


def test_the_path_breaks_between_hops_to_fit_the_width():
    from test_tui_fakes import fake_graph, fake_saliency, two_cut_rows

    scenario = builtin_scenario("three-tier")
    graph = fake_graph()
    (row,) = [r for r in two_cut_rows(graph, fake_saliency(graph), scenario) if r.cuts == [1, 6]]
    one_line = deployment_text(scenario, row, width=78).plain.splitlines()
    assert len(one_line) == 2  # the row's title, then the path
    narrow = deployment_text(scenario, row, width=30).plain.splitlines()
    assert all(len(line) <= 30 for line in narrow)
    assert narrow[1:] == [
        "camera [0..1] ─① 32.8 kB ▶",
        "  edgebox [1..6] ─② 256 B ▶",
        "  cloud [6..]",
    ]
