"""Pilot tests of the TUI against deterministic services (tests/test_tui_fakes.py).

Expected numbers come from the hand formula in the fakes' docstring (store-and-forward
per hop + propagation delay; FLOPs / GFLOP/s), worked out here independently of the app.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_tui_fakes import FakeServices, fake_graph

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.rows import Row
from sei_tui.core.network.scenario import builtin_scenario, load_scenario, save_scenario
from sei_tui.tui.app import DEBOUNCE_S, SeiApp
from sei_tui.tui.bindings import BINDING_SECTIONS
from sei_tui.tui.format import format_seconds
from sei_tui.tui.screens.editors import LinkEditor
from sei_tui.tui.screens.help import HelpScreen
from sei_tui.tui.widgets.model_tree import ModelTree
from sei_tui.tui.widgets.results import ResultsPane

WIDE = (160, 48)
NARROW = (80, 24)


async def settle(pilot, app, rounds: int = 4) -> None:
    """Let workers finish and their messages be handled (a few rounds: they chain)."""
    for _ in range(rounds):
        await pilot.pause(0.05)
        await app.workers.wait_for_complete()
    await pilot.pause(0.05)


async def after_edit(pilot, app) -> None:
    await pilot.pause(DEBOUNCE_S + 0.1)
    await settle(pilot, app)


def results(app) -> ResultsPane:
    return app.query_one(ResultsPane)


def cursor_row(app):
    pane = results(app)
    return pane.rows[pane.cursor_key()]


def wifi_network_s(payload_bytes: int, wifi_bps: float) -> float:
    # demo scenario: wifi (wifi_bps, 1 us) then ethernet (1 Gbit/s, 2 ms)
    return payload_bytes * 8 / wifi_bps + 1e-6 + payload_bytes * 8 / 1e9 + 2e-3


async def test_first_screen_fills_table_and_tree():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        # 1 local + 1 remote + 9 split points x 2 encodings
        assert len(results(app).rows) == 2 + 9 * 2
        tree = app.query_one(ModelTree)
        assert tree.split_indices == list(range(9))
        assert tree.maxima == [1, 6]
        row = results(app).rows["split:8:fp32"]
        assert row.network_p95_s == pytest.approx(wifi_network_s(40, 54e6))


async def test_keyboard_split_selection_and_table_follow():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        tree = app.query_one(ModelTree)
        tree.focus()
        await pilot.press("right_square_bracket")
        assert tree.selected == 1
        # the fastest row of split 1: fp16 halves the 65536-byte payload
        assert results(app).cursor_key() == "split:1:fp16"
        await pilot.press("right_square_bracket")
        assert tree.selected == 6
        assert cursor_row(app).split_index == 6
        await pilot.press("left_square_bracket")
        assert tree.selected == 1
        # move in the tree and select with enter: cursor on features_2 (split 2)
        tree.move_cursor(tree._split_nodes[2])
        await pilot.press("enter")
        assert tree.selected == 2
        assert cursor_row(app).split_index == 2
        detail = str(app.query_one("#detail").render())
        assert "split 2" in detail and "features_2" in detail
        # the table drives the tree too
        table = results(app).table
        table.focus()
        target = table.get_row_index("split:5:fp32")
        table.move_cursor(row=target)
        await pilot.pause()
        assert tree.selected == 5
        assert tree.cursor_node.data.split_index == 5


async def test_non_split_layer_is_not_selectable():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        tree = app.query_one(ModelTree)
        tree.focus()
        layer = next(n for n in tree.root.children[0].children if n.data.name == "features_4")
        tree.move_cursor(layer)
        await pilot.press("enter")
        assert tree.selected is None
        assert any("not a split point" in n.message for n in app._notifications)


async def open_link_editor(pilot, app) -> LinkEditor:
    await pilot.press("2")
    links = app.query_one("#links-table")
    assert links.has_focus
    links.move_cursor(row=0)  # wifi
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(app.screen, LinkEditor)
    return app.screen


async def set_field(pilot, editor, field: str, text: str) -> None:
    field_input = editor.query_one(f"#field-{field}")
    field_input.focus()
    field_input.value = text
    await pilot.pause()


async def test_changing_a_link_bitrate_changes_latencies():
    services = FakeServices()
    app = SeiApp(services=services)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        before = results(app).rows["split:3:fp32"].network_p95_s
        assert before == pytest.approx(wifi_network_s(32768, 54e6))
        editor = await open_link_editor(pilot, app)
        await set_field(pilot, editor, "bitrate", "6Mbps")
        await pilot.press("enter")
        await after_edit(pilot, app)
        assert app.scenario.links[0].bitrate_bps == 6e6
        expected = wifi_network_s(32768, 6e6)
        row = results(app).rows["split:3:fp32"]
        assert row.network_p95_s == pytest.approx(expected)
        assert expected > 5 * before
        cell = results(app).table.get_cell("split:3:fp32", "net_p95")
        assert str(cell) == format_seconds(expected)
        assert "6Mbps" in str(app.query_one("#links-table").get_cell("wifi", "bitrate"))


async def test_invalid_value_shows_error_and_keeps_old_value():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        original = app.scenario
        editor = await open_link_editor(pilot, app)
        await set_field(pilot, editor, "bitrate", "54 furlongs")
        error = str(editor.query_one("#editor-error").render())
        assert "bitrate" in error and "furlongs" in error
        await pilot.press("enter")
        assert app.screen is editor  # refused: still editing
        # a value every field accepts but the scenario does not: an unknown node
        await set_field(pilot, editor, "bitrate", "54Mbps")
        await set_field(pilot, editor, "nodes", "camera, nowhere")
        await pilot.press("enter")
        assert app.screen is editor
        assert "nowhere" in str(editor.query_one("#editor-error").render())
        await pilot.press("escape")
        assert app.scenario == original
        assert app.scenario.links[0].bitrate_bps == 54e6
        assert str(app.query_one("#links-table").get_cell("wifi", "bitrate")) == "54Mbps"


async def test_save_then_reopen_gives_the_same_scenario(tmp_path):
    path = tmp_path / "site.toml"
    save_scenario(builtin_scenario("demo"), path)
    app = SeiApp(services=FakeServices(), scenario=str(path))
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        editor = await open_link_editor(pilot, app)
        await set_field(pilot, editor, "delay", "5ms")
        await set_field(pilot, editor, "queue", "40")
        await pilot.press("enter")
        await pilot.press("t")  # and switch to UDP
        await after_edit(pilot, app)
        edited = app.scenario
        assert edited.transport.protocol == "udp"
        await pilot.press("w")
        await settle(pilot, app)
        saved = load_scenario(path)
        assert saved == edited
        assert saved.links[0].delay_s == 0.005 and saved.links[0].queue_packets == 40
        assert not list(tmp_path.glob(".*.tmp")), "the atomic save left a temp file"
        # reopen through the palette action: the same scenario comes back
        app.action_open_scenario()
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(path)
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.scenario == edited
        assert app.undo_stack == []


async def test_undo_restores_the_previous_scenario():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        original = app.scenario
        await pilot.press("t")
        assert app.scenario.transport.protocol == "udp"
        assert "UDP" in str(app.query_one("#path-diagram").render())
        await pilot.press("u")
        assert app.scenario == original
        assert "TCP" in str(app.query_one("#path-diagram").render())


async def test_add_and_remove_a_node_and_a_link():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        await pilot.press("2", "n")
        await pilot.pause()
        editor = app.screen
        await set_field(pilot, editor, "name", "relay2")
        await pilot.press("enter")
        assert [n.name for n in app.scenario.nodes][-1] == "relay2"
        nodes = app.query_one("#nodes-table")
        assert "relay2" in [row.value for row in nodes.rows]
        # link it to the access point
        app.query_one("#links-table").focus()
        await pilot.press("a")
        await pilot.pause()
        editor = app.screen
        await set_field(pilot, editor, "nodes", "ap, relay2")
        await pilot.press("enter")
        assert app.scenario.links[-1].nodes == ("ap", "relay2")
        # the route edge -> server is unchanged by a side branch
        assert "camera ─wifi" in str(app.query_one("#path-diagram").render())
        # remove the node: its link goes with it
        nodes.focus()
        nodes.move_cursor(row=nodes.get_row_index("relay2"))
        await pilot.press("x")
        assert "relay2" not in [n.name for n in app.scenario.nodes]
        assert all("relay2" not in link.nodes for link in app.scenario.links)


async def test_an_evaluation_timer_firing_during_shutdown_is_ignored():
    # The debounce timer of an edit may fire while the app shuts down (seen under CI load:
    # NoMatches for ResultsPane after the last key press of a test): nothing may run then.
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert app.scenario is not None and app.graph is not None and app.saliency_done
        before = app.pipeline.generation
    assert not app.views_alive
    app.pipeline.start_evaluation()  # what the timer would call
    assert app.pipeline.generation == before


async def test_removing_the_only_route_is_refused():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        original = app.scenario
        await pilot.press("2")
        await pilot.press("d")  # delete wifi: the camera would be cut off
        assert app.scenario == original
        status = str(app.query_one("#network-status").render())
        assert "no route" in status


async def test_edits_rerun_once_and_qos_does_not_resimulate():
    services = FakeServices()
    app = SeiApp(services=services)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert services.evaluations == 1
        for _ in range(3):  # a burst of edits: one evaluation after the debounce
            await pilot.press("t")
        await after_edit(pilot, app)
        assert services.evaluations == 2
        assert services.evaluated_scenarios[-1].transport.protocol == "udp"
        qos = app.query_one("#qos-input")
        qos.focus()
        qos.value = "p95_latency<=0.0025"
        await pilot.press("enter")
        await settle(pilot, app)
        assert services.evaluations == 2


async def test_qos_marks_violations_and_moves_the_recommendation():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        pane = results(app)
        assert pane.recommended_key == "local:None:result"  # fastest with no constraints
        qos = app.query_one("#qos-input")
        qos.focus()
        # the demo edge does 8 GFLOP/s: the whole model (3.82 MFLOP) takes 478 us there,
        # more than 200 us; sending the raw image does no edge work at all
        qos.value = "head_s<=0.0002, edge_flops>=1e5"
        await pilot.press("enter")
        await settle(pilot, app)
        assert pane.violations["local:None:result"] == ["head_s<=0.0002"]
        assert pane.violations["remote:None:raw"] == ["edge_flops>=100000"]
        assert str(pane.table.get_cell("local:None:result", "qos")) == "FAIL"
        best = pane.rows[pane.recommended_key]
        feasible = [r for r in pane.rows.values() if r.head_s <= 0.0002 and r.edge_flops >= 1e5]
        assert {r.split_index for r in feasible} == {0, 1, 2}
        assert best.p95_latency == min(r.p95_latency for r in feasible)
        assert "◆" in str(pane.table.get_cell(pane.recommended_key, "strategy"))
        tree = app.query_one(ModelTree)
        assert best.strategy == "split" and tree.recommended == best.split_index
        assert "◆" in str(tree._split_nodes[best.split_index].label)
        # a bad constraint shows an error and keeps the previous QoS
        await pilot.press("slash")
        assert qos.has_focus
        qos.value = "p95<=fast"
        await pilot.press("enter")
        status = str(app.query_one("#qos-status").render())
        assert "p95<=fast" in status and "keeping" in status
        assert app.qos_text == "head_s<=0.0002, edge_flops>=1e5"
        # the focus stays in the bar to fix it; the whole message (cut in the one-line
        # status at 80 columns) is shown once as a notification: the core's own message,
        # as the core words it (it names the term, not a CLI flag), never rewritten here
        assert qos.has_focus
        with pytest.raises(SeiInputError) as refused:
            parse_qos("p95<=fast")
        messages = [n.message for n in app._notifications]
        assert str(refused.value) in messages, messages
        assert "'p95<=fast'" in str(refused.value) and "unknown column 'p95'" in str(refused.value)
        assert status.startswith(str(refused.value))


async def test_worker_failure_becomes_a_notification():
    app = SeiApp(services=FakeServices(fail=("evaluate",)))
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        messages = [n.message for n in app._notifications]
        assert any("evaluate failed" in m and "exploded" in m for m in messages)
        assert app.is_running
        await pilot.press("2")  # still responsive
        assert app.query_one("#links-table").has_focus
        assert app.query_one(ModelTree).split_indices  # the model side still shows


async def test_rows_keep_arriving_while_a_dialog_is_open():
    app = SeiApp(services=FakeServices(row_delay_s=0.02))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause(0.05)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await settle(pilot, app)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert len(results(app).rows) == 2 + 9 * 2
        assert results(app).recommended_key == "local:None:result"


async def test_a_rerun_with_fewer_deployments_drops_the_stale_rows():
    services = FakeServices()
    app = SeiApp(services=services)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert results(app).table.row_count == 20
        services.max_rows = 5  # local, remote, split 0 fp32/fp16, split 1 fp32
        await pilot.press("r")
        await settle(pilot, app)
        assert results(app).table.row_count == 5
        assert set(results(app).rows) == {
            "local:None:result",
            "remote:None:raw",
            "split:0:fp32",
            "split:0:fp16",
            "split:1:fp32",
        }


async def test_results_sort_by_key():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        table = results(app).table

        def column(name: str) -> list:
            keys = [row.key.value for row in table.ordered_rows]
            return [getattr(results(app).rows[k], name) for k in keys]

        totals = column("p95_latency")
        assert totals == sorted(totals)  # the default: fastest first
        await pilot.press("3", "s")  # accuracy, best first
        accuracy = column("accuracy")
        assert accuracy == sorted(accuracy, reverse=True)
        await pilot.press("v")  # reversed
        assert column("accuracy") == sorted(accuracy)


async def test_command_palette_offers_the_sei_commands():
    from textual.command import CommandList, CommandPalette

    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        await pilot.press("colon")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"export")
        await pilot.pause(0.5)
        options = app.screen.query_one(CommandList)
        titles = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("Export report" in t for t in titles)
        await pilot.press("escape")


async def test_open_model_and_data_folder_from_the_palette_actions(tmp_path):
    services = FakeServices()
    app = SeiApp(services=services)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        app.action_load_data()
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(tmp_path / "missing")
        await pilot.press("enter")
        assert "not a folder" in str(app.screen.query_one("#prompt-error").render())
        await pilot.press("escape")
        assert app.data_dir is None
        app.action_open_model()
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = "tinynet-again"
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.model_spec == "tinynet-again"
        assert services.evaluations == 2  # the model changed: everything re-ran
        assert len(results(app).rows) == 20


async def test_model_failure_becomes_a_notification():
    app = SeiApp(services=FakeServices(fail=("model",)))
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert any("model failed" in n.message for n in app._notifications)
        assert "model failed" in str(app.query_one("#model-status").render())


async def test_narrow_terminal_turns_panes_into_tabs():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot, app)
        assert app.query_one("#pane-tabs").display
        shown = [p for p in ("model", "network", "results") if app.query_one(f"#{p}-pane").display]
        assert shown == ["model"]
        await pilot.press("3")
        shown = [p for p in ("model", "network", "results") if app.query_one(f"#{p}-pane").display]
        assert shown == ["results"]
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert not app.query_one("#pane-tabs").display
        assert all(app.query_one(f"#{p}-pane").display for p in ("model", "network", "results"))


async def test_help_lists_every_binding():
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        ids = [b.id for _, bindings in BINDING_SECTIONS for b in bindings]
        assert len(ids) == len(set(ids)), "binding ids must be unique"
        for binding_id in ids:
            assert binding_id in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_keymap_file_remaps_a_binding(tmp_path, monkeypatch):
    keymap = tmp_path / "keys.toml"
    keymap.write_text('"sei.split.next" = "n"\n')
    monkeypatch.setenv("SEI_KEYMAP", str(keymap))
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        tree = app.query_one(ModelTree)
        tree.focus()
        await pilot.press("n")
        assert tree.selected == 1  # the first CS maximum, as "]" did
        await pilot.press("question_mark")
        text = str(app.screen.query_one("#help-text").render())
        assert "n        Next split" in text
    keymap.write_text('"sei.no.such" = "n"\n')
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert any("sei.no.such" in n.message for n in app._notifications)


def _expected_ranking(rows, feasible):
    """The documented ranking, worked out by brute force: feasible first; then tie classes
    of p95 (the fastest remaining row and every row within max(3 %, 0.5 ms) of it), each
    class by accuracy down, then local < remote < split, split index, encoding; and the
    Pareto front over (tie class earlier, accuracy higher), classes taken over all rows."""
    order = {"local": 0, "remote": 1, "split": 2}

    def classes(group):
        remaining, out = sorted(group, key=lambda r: r.p95_latency), []
        while remaining:
            lead = remaining[0].p95_latency
            tie = [r for r in remaining if r.p95_latency <= lead + max(0.03 * lead, 0.0005)]
            out.append(tie)
            remaining = [r for r in remaining if r not in tie]
        return out

    def within(r):
        return (-r.accuracy, order[r.strategy], -1 if r.split_index is None else r.split_index)

    ranked = []
    for group in ([r for r in rows if feasible(r)], [r for r in rows if not feasible(r)]):
        for tie in classes(group):
            ranked += sorted(tie, key=lambda r: (*within(r), r.encoding))
    of = {id(r): k for k, tie in enumerate(classes(rows)) for r in tie}
    front = {
        (a.strategy, a.split_index, a.encoding)
        for a in rows
        if not any(
            b is not a
            and of[id(b)] <= of[id(a)]
            and b.accuracy >= a.accuracy
            and (of[id(b)] < of[id(a)] or b.accuracy > a.accuracy)
            for b in rows
        )
    }
    return [(r.strategy, r.split_index, r.encoding) for r in ranked], front


async def test_export_report_lists_rows_in_rank_order_with_the_pareto_front(tmp_path):
    # a QoS that only splits meet: the recommendation is not simply the fastest row
    qos = "head_s<=0.0002, edge_flops>=1e5"
    app = SeiApp(services=FakeServices(), qos=qos)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        shown = list(results(app).rows.values())
        target = tmp_path / "report.json"
        app.action_export_report()
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(target)
        await pilot.press("enter")
        await settle(pilot, app)
        recommended_key = results(app).recommended_key
    report = json.loads(target.read_text())
    assert len(report["rows"]) == 2 + 2 * len(fake_graph().split_points)
    order, front = _expected_ranking(shown, lambda r: r.head_s <= 0.0002 and r.edge_flops >= 1e5)
    assert [(r["strategy"], r["split_index"], r["encoding"]) for r in report["rows"]] == order
    assert {
        (r["strategy"], r["split_index"], r["encoding"]) for r in report["rows"] if r["pareto"]
    } == front
    assert front  # the check above means something only with a non-empty front
    assert [r["feasible"] for r in report["rows"]][:3] == [True, True, True]
    rec = report["recommendation"]["row"]
    assert rec == 0  # the first of the ranking, and it is feasible
    best = report["rows"][rec]
    assert best["strategy"] == "split" and f"split:{best['split_index']}:{best['encoding']}" == (
        recommended_key
    )
    assert report["qos"] == qos


async def test_export_without_constraints_recommends_the_fastest(tmp_path):
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        target = tmp_path / "report.csv"
        app.action_export_report()
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(target)
        await pilot.press("enter")
        await settle(pilot, app)
        shown = list(results(app).rows.values())
    lines = target.read_text().splitlines()
    header = lines[0].split(",")
    cells = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
    order, front = _expected_ranking(shown, lambda r: True)
    assert [c["strategy"] for c in cells] == [o[0] for o in order]
    assert cells[0]["strategy"] == "local"  # no constraints: the lowest p95 latency
    assert {i for i, c in enumerate(cells) if c["pareto"] == "True"} == {
        i for i, o in enumerate(order) if o in front
    }


async def test_theme_switch_and_unknown_theme(monkeypatch):
    monkeypatch.setenv("SEI_THEME", "sei-light")
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert app.theme == "sei-light"
        app.action_switch_theme("sei-dark")
        await pilot.pause()
        assert app.theme == "sei-dark"
    app = SeiApp(services=FakeServices(), theme_name="no-such-theme")
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert app.theme == "sei-dark"
        assert any("no-such-theme" in n.message for n in app._notifications)


def test_app_module_does_not_import_torch():
    code = (
        "import sys\nfrom sei_tui.tui.app import SeiApp\nSeiApp()\nprint('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_save_as_into_a_directory_fails_clearly_and_is_not_adopted(tmp_path):
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert app.scenario.source is None  # the built-in demo: `w` asks where
        app.action_save_scenario_as()
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(tmp_path)
        await pilot.press("enter")
        await settle(pilot, app)
        messages = [n.message for n in app._notifications]
        assert any(f"{tmp_path}: is a directory" in m for m in messages), messages
        assert not any(".tmp" in m for m in messages), messages
        assert list(tmp_path.iterdir()) == []
        # the failed target is not remembered: `w` asks again instead of retrying it
        assert app.scenario.source is None
        await pilot.press("w")
        await pilot.pause()
        assert app.screen.query_one("#prompt-input") is not None
        good = tmp_path / "site.toml"
        app.screen.query_one("#prompt-input").value = str(good)
        await pilot.press("enter")
        await settle(pilot, app)
        assert load_scenario(good) == builtin_scenario("demo")
        assert app.scenario.source == good


async def test_next_split_and_qos_keys_fit_the_footer_at_80_columns():
    from textual.widgets._footer import FooterKey

    app = SeiApp(services=FakeServices())
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot, app)
        app.query_one(ModelTree).focus()
        await pilot.pause()
        visible = {
            key.description
            for key in app.screen.query(FooterKey)
            if key.region.width and key.region.right <= NARROW[0]
        }
        assert {"Prev split", "Next split", "QoS", "Help", "Quit"} <= visible, visible


async def test_export_to_a_missing_folder_is_refused_in_the_prompt(tmp_path):
    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        app.action_export_report()
        await pilot.pause()
        prompt = app.screen
        prompt.query_one("#prompt-input").value = str(tmp_path / "nowhere" / "r.md")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is prompt  # still open, to fix the path
        error = str(prompt.query_one("#prompt-error").render())
        assert "does not exist" in error
        prompt.query_one("#prompt-input").value = str(tmp_path / "r.md")
        await pilot.press("enter")
        await settle(pilot, app)
        assert (tmp_path / "r.md").read_text().startswith("#")


async def test_quit_with_unsaved_edits_warns_once_then_quits(tmp_path):
    path = tmp_path / "site.toml"
    save_scenario(builtin_scenario("demo"), path)
    app = SeiApp(services=FakeServices(), scenario=str(path))
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        await pilot.press("t")  # an edit
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running
        assert any("unsaved edits" in n.message for n in app._notifications)
        await pilot.press("w")  # saved: nothing to lose any more
        await settle(pilot, app)
        assert load_scenario(path).transport.protocol == "udp"
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running

    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        await pilot.press("q")  # no edits: quits at once
        await pilot.pause()
        assert not app.is_running

    app = SeiApp(services=FakeServices())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        await pilot.press("t", "q")
        await pilot.pause()
        assert app.is_running
        await pilot.press("q")  # the second q quits without saving
        await pilot.pause()
        assert not app.is_running


async def test_empty_palette_lists_the_sei_commands_alphabetically_with_textuals():
    from textual.command import CommandList, CommandPalette

    app = SeiApp(services=FakeServices())
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot, app)
        await pilot.press("colon")
        assert isinstance(app.screen, CommandPalette)
        await pilot.pause(0.5)
        options = app.screen.query_one(CommandList)
        titles = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert titles == sorted(titles), titles
        for title in ("Export report…", "Load data folder…", "Open model…", "Save scenario as…"):
            assert sum(title in t for t in titles) == 1, titles  # listed, and only once
        # searching still finds each once (no second provider duplicating them)
        await pilot.press(*"open model")
        await pilot.pause(0.5)
        options = app.screen.query_one(CommandList)
        titles = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert sum("Open model" in t for t in titles) == 1, titles
        await pilot.press("escape")


async def test_a_scenario_that_fails_to_open_says_how_to_get_one(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [\n")
    app = SeiApp(services=FakeServices(), scenario=str(bad))
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        assert app.scenario is None
        diagram = str(app.query_one("#path-diagram").render())
        assert "waiting" not in diagram and "Open scenario" in diagram
        status = str(app.query_one("#network-status").render())
        assert "bad.toml: TOML syntax error" in status


class Split2Services(FakeServices):
    """FakeServices that also bring two split2 rows with the same k1 and encoding."""

    def evaluate(self, spec, weights, scenario, data_dir, qos, progress, cancel):
        yield from super().evaluate(spec, weights, scenario, data_dir, qos, progress, cancel)
        for k2, p95 in ((5, 0.004), (8, 0.006)):
            yield Row(
                strategy="split2",
                split_index=3,
                after="conv",
                encoding="fp32",
                payload_bytes=400,
                p95_latency=p95,
                accuracy=0.9,
                cuts=[3, k2],
                nodes=["camera", "edgebox", "cloud"],
                hop_payload_bytes=[400, 100],
            )


async def test_split2_rows_show_in_the_table():
    app = SeiApp(services=Split2Services())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, app)
        pane = results(app)
        assert len(pane.rows) == 2 + 9 * 2 + 2  # both pairs of cuts, not one over the other
        for k2 in (5, 8):
            key = f"split2:3:fp32:cuts3|{k2}"
            assert pane.rows[key].cuts == [3, k2]
            assert str(pane.table.get_cell(key, "split")).startswith(f"2-cut 3|{k2}")
