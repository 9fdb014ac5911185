"""The TUI's plain helpers: heat bars, formats, theme files, editor field parsing."""

from __future__ import annotations

import pytest
from rich.style import Style

from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import builtin_scenario
from sei_tui.tui import scenario_edit
from sei_tui.tui.format import format_bytes, format_seconds
from sei_tui.tui.heat import heat_bar, heat_gradient, normalise
from sei_tui.tui.services import report_format
from sei_tui.tui.themes import CUSTOM_VARIABLES, choose_theme, load_theme_file, load_themes


def test_heat_bar_length_carries_the_value_without_colour():
    plain = [Style()]
    assert heat_bar(1.0, 8, plain).plain == "█" * 8
    assert heat_bar(0.5, 8, plain).plain == "█" * 4 + "·" * 4
    # 1/16 of 8 cells is half a cell: the half-block glyph
    assert heat_bar(1 / 16, 8, plain).plain == "▌" + "·" * 7
    assert heat_bar(0.0, 8, plain).plain == "·" * 8
    assert heat_bar(None, 8, plain).plain == "·" * 8


def test_gradient_runs_from_cold_through_mid_to_hot():
    steps = heat_gradient("#000000", "#808080", "#ffffff", steps=5)
    triplets = [s.color.get_truecolor() for s in steps]
    assert triplets[0] == (0, 0, 0)
    assert triplets[2] == (128, 128, 128)
    assert triplets[4] == (255, 255, 255)


def test_normalise():
    assert normalise([-3.0, -2.0, -1.0]) == [0.0, 0.5, 1.0]
    assert normalise([2.0, 2.0]) == [1.0, 1.0]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0123, "12.3 ms"), (0.000478, "478 µs"), (2.5, "2.50 s"), (3.6e-7, "360 ns"), (0, "0")],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_format_bytes():
    assert format_bytes(65536) == "65.5 kB"
    assert format_bytes(40) == "40 B"


def test_shipped_themes_load_with_every_custom_variable():
    themes = {t.name: t for t in load_themes()}
    assert {"sei-dark", "sei-light"} <= set(themes)
    assert themes["sei-dark"].dark and not themes["sei-light"].dark
    for theme in themes.values():
        assert set(CUSTOM_VARIABLES) <= set(theme.variables)


def test_bad_theme_file_names_the_key(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\nprimary = "#000000"\ncolour = "red"\n')
    with pytest.raises(SeiInputError, match="colour"):
        load_theme_file(path)
    path.write_text('name = "x"\nprimary = "#000000"\n[variables]\nsei-heat-cold = "#000"\n')
    with pytest.raises(SeiInputError, match="sei-heat-mid"):
        load_theme_file(path)


def test_theme_choice_order(monkeypatch):
    monkeypatch.setenv("SEI_THEME", "sei-light")
    assert choose_theme("sei-dark").name == "sei-dark"
    assert choose_theme(None).name == "sei-light"
    monkeypatch.delenv("SEI_THEME")
    assert choose_theme(None).name == "sei-dark"


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("bitrate", "54Mbps", 54e6),
        ("bitrate", "2e6", 2e6),
        ("delay", "250us", 250e-6),
        ("loss", "0.01", 0.01),
        ("queue", "40", 40),
        ("nodes", "camera, ap", ["camera", "ap"]),
    ],
)
def test_link_fields_parse(field, text, value):
    assert scenario_edit.parse_link_field(field, text) == value


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("bitrate", "fast"),
        ("bitrate", "-5Mbps"),
        ("bitrate", "0"),
        ("delay", "2 parsecs"),
        ("loss", "1.0"),
        ("loss", "x"),
        ("queue", "0"),
        ("kind", "ethernet"),
        ("nodes", "camera"),
    ],
)
def test_bad_link_fields_name_the_field(field, text):
    with pytest.raises(SeiInputError, match=field):
        scenario_edit.parse_link_field(field, text)


def test_path_follows_the_route_from_edge_to_server():
    hops = scenario_edit.edge_to_server_path(builtin_scenario("demo"))
    assert [(a, link.name, b) for a, link, b in hops] == [
        ("camera", "wifi", "ap"),
        ("ap", "ethernet", "server"),
    ]


def test_added_link_is_validated_by_the_scenario():
    scenario = builtin_scenario("demo")
    values = scenario_edit.new_link_values(scenario) | {"nodes": "camera, server"}
    added = scenario_edit.with_link(scenario, None, values)
    assert added.links[-1].nodes == ("camera", "server")
    with pytest.raises(SeiInputError, match="nowhere"):
        scenario_edit.with_link(scenario, None, values | {"nodes": "camera, nowhere"})


def test_report_format_from_extension():
    assert report_format("r.md") == "md"
    assert report_format("r.JSON") == "json"
    with pytest.raises(SeiInputError, match="txt"):
        report_format("r.txt")


def test_breakdown_bar_counts_encoding_on_the_edge_and_decoding_on_the_server():
    from sei_tui.core.evaluation.rows import Row
    from sei_tui.tui.widgets.results import breakdown_bar

    row = Row(
        strategy="split",
        split_index=1,
        after="x",
        encoding="int8",
        payload_bytes=10,
        head_s=0.001,
        encode_s=0.001,
        network_p95_s=0.004,
        decode_s=0.001,
        tail_s=0.001,
    )
    # edge 2 ms, network 4 ms, server 2 ms of 8 ms over 40 cells: 10 / 20 / 10
    assert breakdown_bar(row, 40, {}).plain == "█" * 10 + "▓" * 20 + "░" * 10


def test_bursty_link_keeps_or_replaces_its_loss_model():
    from sei_tui.core.network.scenario import dump_scenario, parse_scenario

    text = dump_scenario(builtin_scenario("demo")).replace(
        'name = "wifi"',
        'name = "wifi"\nburst = { p_good_to_bad = 0.01, p_bad_to_good = 0.3, loss_bad = 0.5 }',
    )
    scenario = parse_scenario(text)
    values = scenario_edit.link_display(scenario.links[0])
    assert values["loss"] == "burst"
    kept = scenario_edit.with_link(scenario, "wifi", values | {"bitrate": "24Mbps"})
    assert kept.links[0].burst == scenario.links[0].burst
    assert kept.links[0].bitrate_bps == 24e6
    plain = scenario_edit.with_link(scenario, "wifi", values | {"loss": "0.02"})
    assert plain.links[0].burst is None and plain.links[0].loss == 0.02
    with pytest.raises(SeiInputError, match="burst"):
        scenario_edit.with_link(builtin_scenario("demo"), "ethernet", values | {"loss": "burst"})


def test_themes_dir_override_and_package_data(monkeypatch, tmp_path):
    # the shipped themes are package data (importlib.resources), found with no override
    monkeypatch.delenv("SEI_THEMES_DIR", raising=False)
    shipped = {t.name for t in load_themes()}
    assert {"sei-dark", "sei-light"} <= shipped
    # SEI_THEMES_DIR replaces them: only the themes in that folder, sorted by file name
    variables = "\n".join(f'"{name}" = "#102030"' for name in CUSTOM_VARIABLES)
    for stem in ("b-theme", "a-theme"):
        (tmp_path / f"{stem}.toml").write_text(
            f'name = "{stem}"\nprimary = "#336699"\n[variables]\n{variables}\n'
        )
    (tmp_path / "notes.txt").write_text("not a theme")
    monkeypatch.setenv("SEI_THEMES_DIR", str(tmp_path))
    assert [t.name for t in load_themes()] == ["a-theme", "b-theme"]


def test_stylesheet_is_package_data():
    from importlib import resources

    from sei_tui.tui.app import SeiApp

    text = resources.files("sei_tui.tui").joinpath("app.tcss").read_text(encoding="utf-8")
    assert text == SeiApp.CSS and "#qos-bar" in text


def test_sei_tui_names_the_qos_flag_once_for_a_bad_qos():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "sei_tui", "tui", "--qos", "p95<=fast"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].count("--qos") == 1 and "'p95<=fast'" in lines[0]
    assert "unknown column 'p95'" in lines[0]
