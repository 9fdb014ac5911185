"""The TUI's plots: layer descriptions, the chart drawing against hand-computed positions,
the charts' data against the core's figure data, and the plots following the tree and
the table (pilot)."""

from __future__ import annotations

import math
import operator
from types import SimpleNamespace

import pytest
from test_tui_fakes import FakeServices, fake_graph, fake_rows, fake_saliency
from test_tui_snapshots import settle
from torch import nn

from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.ranking import rank
from sei_tui.core.figures.data import (
    cs_curve_from_saliency,
    latency_bars_from_report,
    pareto_from_report,
)
from sei_tui.core.model.describe import describe_layer, describe_module, shape_text
from sei_tui.core.network.scenario import builtin_scenario
from sei_tui.tui.app import SeiApp
from sei_tui.tui.plot_views import report_data
from sei_tui.tui.plots.canvas import log_ticks, nice_ticks
from sei_tui.tui.plots.charts import HeatGrid
from sei_tui.tui.plots.figures import cs_figure, latency_figure, pareto_figure
from sei_tui.tui.plots.widget import PlotView
from sei_tui.tui.widgets.model_tree import ModelTree, tree_layout
from sei_tui.tui.widgets.results import ResultsPane, ResultsTable, columns_hint, row_key

# ---------------------------------------------------------------- layer descriptions


@pytest.mark.parametrize(
    ("module", "text"),
    [
        (nn.Conv2d(64, 128, 3, stride=2, padding=1), "Conv2d 64→128 3×3/2"),
        (nn.Conv2d(3, 16, 3, padding=1), "Conv2d 3→16 3×3"),
        (nn.Conv2d(32, 32, 3, groups=32), "Conv2d 32→32 3×3 dw"),
        (nn.Linear(4096, 10), "Linear 4096→10"),
        (nn.MaxPool2d(2), "MaxPool 2×2/2"),
        (nn.MaxPool2d(3, stride=2), "MaxPool 3×3/2"),
        (nn.AdaptiveAvgPool2d(1), "AvgPool→1×1"),
        (nn.BatchNorm2d(64), "BatchNorm 64"),
        (nn.ReLU(), "ReLU"),
        (nn.Dropout(0.5), "Dropout 0.5"),
    ],
)
def test_describe_module(module, text):
    assert describe_module(module) == text


def test_describe_functions_and_shapes():
    node = SimpleNamespace(op="call_function", target="operator.add")
    assert describe_layer(node) == "Add"
    assert describe_layer(SimpleNamespace(op="call_function", target="torch.cat")) == "Concat"
    assert describe_layer(SimpleNamespace(op="call_method", target="view")) == "View"
    assert operator.add.__name__ == "add"
    assert shape_text((1, 128, 16, 16)) == "128×16×16"
    assert shape_text((1, 10)) == "10"
    assert shape_text(None) == "–"


def test_tree_columns_fit_80_and_grow():
    # the model pane at 80 columns is 78 wide inside its border
    narrow, wide = tree_layout(78), tree_layout(140)
    row = 3 + narrow.name + 1 + narrow.layer + 1 + 8 + 3 + 10 + narrow.shape + narrow.flops
    assert row <= 78 and narrow.layer >= len("Conv2d 16→32 3×3")
    assert wide.name >= narrow.name and wide.layer >= narrow.layer and wide.flops
    assert tree_layout(50).shape == 0  # the optional columns go first


# ---------------------------------------------------------------- drawing


def test_nice_and_log_ticks():
    assert nice_ticks(0.0, 10.0, 5) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(0.013, 0.047, 4) == pytest.approx([0.02, 0.03, 0.04])  # step 0.01
    assert nice_ticks(0.013, 0.047, 3) == pytest.approx([0.02, 0.04])  # step 0.02 >= 0.0113
    assert log_ticks(3e-4, 2e-2) == pytest.approx([1e-3, 1e-2])


def _report():
    graph = fake_graph()
    saliency = fake_saliency(graph)
    qos = parse_qos("p95_latency<=0.004")
    ranking = rank(fake_rows(graph, saliency, builtin_scenario("demo")), qos)
    return graph, saliency, ranking, report_data(ranking, "tinynet", "demo", qos.text)


def _plot_columns(canvas) -> int:
    """The first plot column: right of the left axis on the first plot row."""
    row = "".join(canvas.glyphs[1])
    return min(i for i in (row.find("│"), row.find("┤")) if i >= 0) + 1


def test_cs_plot_points_where_the_log_scale_puts_them():
    graph, saliency, _, _ = _report()
    curve = cs_curve_from_saliency(saliency, graph.split_points, title="t")
    width, height = 70, 12
    canvas = cs_figure(curve).chart.draw(width, height, None)
    rows = height - 2
    x0 = _plot_columns(canvas)
    right_axis = max("".join(row).rfind("├") for row in canvas.glyphs)  # payload scale
    cols = right_axis - x0
    lo, hi = math.log10(min(curve.cs)), math.log10(max(curve.cs))
    n = len(curve.cs)
    for i, cs in enumerate(curve.cs):
        x = x0 + round(i / (n - 1) * (cols - 1))
        y = 1 + round((1 - (math.log10(cs) - lo) / (hi - lo)) * (rows - 1))
        expected = "★" if curve.indices[i] in saliency.maxima else "•"
        assert canvas.glyphs[y][x] == expected, (i, x, y)
    assert sum(row.count("★") for row in canvas.glyphs[1:]) == len(saliency.maxima)


def test_cs_plot_cursor_marks_the_point_and_names_it():
    graph, saliency, _, _ = _report()
    figure = cs_figure(cs_curve_from_saliency(saliency, graph.split_points, title="t"))
    canvas = figure.chart.draw(70, 12, 3)
    assert sum(row.count("◉") for row in canvas.glyphs) == 1
    legend = "".join(canvas.glyphs[0])
    assert "split 3 features_3" in legend and "1.50e-03" in legend


def test_latency_bars_heights_follow_the_core_data():
    _, _, _, data = _report()
    bars = latency_bars_from_report(data)
    figure = latency_figure(bars)
    assert figure.chart.values == [[b.edge_s, b.network_s, b.server_s] for b in bars.bars]
    assert figure.keys == [b.row for b in bars.bars]
    width, height = 70, 14
    rows = height - 2
    # the QoS latency bound as the deadline line, across the plot (over the bars)
    for cursor in (None, 2):  # (drawing the cursor once moved the line to the bottom)
        canvas = figure.chart.draw(width, height, cursor)
        top = max(b.edge_s + b.network_s + b.server_s for b in bars.bars)
        y = rows - round(0.004 / top * (rows - 1))
        assert "".join(canvas.glyphs[y]).count("╌") > 20
    figure.chart.across = []
    canvas = figure.chart.draw(width, height, None)
    x0 = _plot_columns(canvas)
    slot = (width - x0) // len(bars.bars)
    top = max(b.edge_s + b.network_s + b.server_s for b in bars.bars)
    for i, bar in enumerate(bars.bars):
        column = [canvas.glyphs[y][x0 + i * slot] for y in range(1, rows + 1)]
        filled = sum(1 for g in column if g in "█▓░")
        total = bar.edge_s + bar.network_s + bar.server_s
        assert filled == round(total / top * rows), i


def test_pareto_points_are_the_reports_in_latency_order():
    _, _, ranking, data = _report()
    pareto = pareto_from_report(data)
    figure = pareto_figure(pareto)
    points = figure.chart.series[1]
    expected = sorted((r.p95_latency, -r.accuracy, i) for i, r in enumerate(ranking.rows))
    assert list(points.x) == [p for p, _, _ in expected]
    assert list(points.y) == [-a for _, a, _ in expected]
    assert figure.keys == [i for _, _, i in expected]
    front = [r for r in ranking.rows if r.pareto]
    assert sorted(figure.chart.series[0].x) == sorted(r.p95_latency for r in front)


def test_heat_grid_letters_and_cursor():
    grid = HeatGrid(
        ["1 Mbps", "10 Mbps"], ["0 %", "1 %"], [[0, 1], [None, 0]], ["split 3", "remote"]
    )
    canvas = grid.draw(30, 5, 1)
    text = ["".join(row) for row in canvas.glyphs]
    assert "A" in text[1] and "B" in text[1] and "·" in text[2]
    assert grid.describe(1) == "1 Mbps · 1 %: remote" and grid.describe(2).endswith("none feasible")


def test_sensitivity_figure_is_the_core_map():
    from sei_tui.core.figures.data import SensitivityMap, SweepAxisValues
    from sei_tui.tui.plots.figures import sensitivity_figure

    sweep = SensitivityMap(
        title="t",
        axes=(SweepAxisValues("loss", (0.0, 0.01)), SweepAxisValues("bitrate", (1e6, 1e7, 1e8))),
        categories=("remote raw", "split 3 features_3 fp16"),
        cells=((None, 1, 0), (1, 1, 0)),
        p95_s=((None, 0.2, 0.1), (0.3, 0.2, 0.1)),
        row_labels=({"loss": 0.0}, {"loss": 0.01}),
    )
    figure = sensitivity_figure(sweep)
    assert figure.keys == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert figure.chart.describe(1) == "loss=0 · 1e+07: split 3 features_3 fp16"
    assert figure.chart.describe(0).endswith("none feasible")
    text = ["".join(row) for row in figure.chart.draw(40, 4, None).glyphs]
    assert text[0].startswith("A remote raw  B split 3")
    # each cell is its letter repeated over the column's width
    assert [set(c) for c in text[1].split()[1:]] == [{"·"}, {"B"}, {"A"}]
    assert [set(c) for c in text[2].split()[1:]] == [{"B"}, {"B"}, {"A"}]


def test_columns_hint():
    assert columns_hint(0, 5) == "→ 5 more columns (← → scroll) · g charts"
    assert columns_hint(1, 3) == "← 1 column · → 3 more columns (← → scroll) · g charts"
    assert columns_hint(0, 0) == "g charts"


# ---------------------------------------------------------------- the app


def app(**kwargs) -> SeiApp:
    return SeiApp(services=FakeServices(), **kwargs)


async def test_first_look_at_80x24():
    async with app().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        a = pilot.app
        assert not a.query_one("#model-progress").display  # no progress glyphs once done
        status = str(a.query_one("#model-status").render())
        assert status.startswith("tinynet: 9 split points")
        labels = [str(n.label) for n in a.query_one(ModelTree)._split_nodes.values()]
        assert any("Conv2d 3→16 3×3" in label and "16×32×32" in label for label in labels)
        await pilot.press("3")
        await settle(pilot)
        results = a.query_one(ResultsPane)
        assert not a.query_one("#sweep-progress").display
        # the hint counts the columns whose right edge lies past the table's visible width
        table = a.query_one(ResultsTable)
        ends, x = [], 0
        for column in table.ordered_columns:
            x += column.get_render_width(table)
            ends.append(x)
        cut = sum(1 for end in ends if end > table.scrollable_content_region.width)
        assert cut >= 3  # 80 columns show the main ones only
        assert str(results.border_subtitle).startswith(f"→ {cut} more columns (← → scroll)")
        await pilot.press("right", "right", "right")
        await settle(pilot)
        assert str(results.border_subtitle).startswith("← 1 column · → ")


async def test_tree_and_cs_plot_move_together():
    async with app().run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        a = pilot.app
        plot = a.query_one("#cs-plot", PlotView)
        tree = a.query_one(ModelTree)
        await pilot.press("right_square_bracket")  # first CS maximum: split 1
        await settle(pilot)
        assert tree.selected == 1 and plot.cursor == a.plots.cs.index_of(1) == 1
        plot.focus()
        await pilot.press("right", "right")  # the plot chooses split 3
        await settle(pilot)
        assert tree.selected == 3
        assert tree.cursor_node.data.split_index == 3
        key = a.query_one(ResultsPane).cursor_key()
        assert key is not None and key.startswith("split:3:")


async def test_selecting_a_point_selects_its_row():
    async with app().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        a = pilot.app
        await pilot.press("g")  # from the model tab: shows the results' latency chart
        await settle(pilot)
        latency = a.query_one("#latency-plot", PlotView)
        assert latency.has_focus
        await pilot.press("right", "right", "right")
        await settle(pilot)
        ranking = a.pipeline.ranking
        bar_row = a.plots.latency.keys[latency.cursor]
        results = a.query_one(ResultsPane)
        assert results.cursor_key() == row_key(ranking.rows[bar_row])
        await pilot.press("g")
        await settle(pilot)
        pareto = a.query_one("#pareto-plot", PlotView)
        await pilot.press("end")
        await settle(pilot)
        slowest = max(range(len(ranking.rows)), key=lambda i: ranking.rows[i].p95_latency)
        assert a.plots.pareto.keys[pareto.cursor] == slowest
        assert results.cursor_key() == row_key(ranking.rows[slowest])
        # the selected row shows in the tree too
        assert a.query_one(ModelTree).selected == ranking.rows[slowest].split_index or (
            ranking.rows[slowest].split_index is None
        )


async def test_charts_follow_the_table_and_the_qos():
    async with app().run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        a = pilot.app
        await pilot.press("slash")
        a.query_one("#qos-input").value = "p95_latency<=0.003"
        await pilot.press("enter")
        await settle(pilot)
        across = a.plots.latency.chart.across
        assert [x.value for x in across] == [0.003]
        table = a.query_one(ResultsPane).table
        table.focus()
        await pilot.press("down", "down")
        await settle(pilot)
        key = a.query_one(ResultsPane).cursor_key()
        row = a.plots.row_keys.index(key)
        pareto = a.query_one("#pareto-plot", PlotView)
        assert a.plots.pareto.keys[pareto.cursor] == row


# ---------------------------------------------------------------- the timeline (issue 13)


def test_trace_rate_at_follows_the_trace():
    from libsim.spec import OpportunityTrace, RateTrace
    from sei_tui.tui.plots.timeline import trace_rate_at

    step = RateTrace(times_s=(0.0, 2.0), bitrate_bps=(1e6, 4e6), duration_s=4.0)
    assert [trace_rate_at(step, t) for t in (0.0, 1.9, 2.0, 9.0)] == [1e6, 1e6, 4e6, 4e6]
    looped = RateTrace((0.0, 2.0), (1e6, 4e6), 4.0, loop=True, start_s=1.0)
    assert [trace_rate_at(looped, t) for t in (0.5, 1.0, 3.5)] == [1e6, 4e6, 1e6]
    # one 1500-byte opportunity every millisecond: 1500 * 8 * 1000 bit/s
    every_ms = OpportunityTrace(times_ms=tuple(range(1, 1001)))
    assert trace_rate_at(every_ms, 0.2) == pytest.approx(12e6)
    assert trace_rate_at(every_ms, 5.0) == pytest.approx(every_ms.mean_bps())  # after the end


TRACE_SCENARIO = """
name = "one traced hop"
[transport]
protocol = "udp"
[[node]]
name = "camera"
role = "edge"
compute = "pi4"
[[node]]
name = "server"
role = "server"
compute = "gpu"
[[link]]
name = "radio"
kind = "full_duplex"
nodes = ["camera", "server"]
delay = "1ms"
[link.trace]
file = "steps.csv"
format = "csv"
[[flow]]
from = "camera"
to = "server"
frames = 6
fps = 2
payload_bytes = 1000
[compute.pi4]
gflops = 8.0
[compute.gpu]
gflops = 8100.0
"""


class TraceServices(FakeServices):
    """Hand-made policies: static rows at their own p95, adaptive switching rows 0→1→0."""

    def policies(self, rows, deadline, cancel):
        from sei_tui.core.evaluation.policies import PolicyResult

        def result(policy, row, choices):
            latencies = [rows[c].p95_latency for c in choices]
            return PolicyResult(policy, row, 0, 0, 0, None, None, 0, 0.0, choices, latencies)

        out = [result("static", i, [i] * 6) for i in range(len(rows))]
        out.append(result("adaptive", None, [0, 0, 1, 1, 1, 0]))
        out.append(result("oracle", None, [1] * 6))
        return out


async def test_timeline_shows_rate_latency_and_switches(tmp_path):
    (tmp_path / "steps.csv").write_text("time_s,bitrate_bps\n0,2000000\n1.5,500000\n")
    scenario = tmp_path / "traced.toml"
    scenario.write_text(TRACE_SCENARIO)
    a = SeiApp(services=TraceServices(), scenario=str(scenario))
    async with a.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for _ in range(3):  # (model tab) → latency → accuracy → timeline
            await pilot.press("g")
            await settle(pilot)
        plot = a.query_one("#timeline-plot", PlotView)
        assert plot.has_focus and plot.chart is not None
        ranking = a.pipeline.ranking
        cursor_row = a.plots.row_keys.index(a.query_one(ResultsPane).cursor_key())
        latency, rate = plot.chart.series
        # frames leave every 1/fps = 0.5 s; the trace steps down at 1.5 s
        assert latency.x == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
        # the rate each frame meets, drawn as steps (the trace is piecewise constant)
        assert a.plots.timeline.rate_bps == (2e6, 2e6, 2e6, 5e5, 5e5, 5e5)
        assert rate.x == [0.0, 0.5, 1.0, 1.5, 1.5, 2.0, 2.5]
        assert rate.y == [2e6, 2e6, 2e6, 2e6, 5e5, 5e5, 5e5]
        assert latency.y == [ranking.rows[cursor_row].p95_latency] * 6
        assert plot.chart.legend().startswith("static ")
        await pilot.press("o")  # adaptive: switches after frames 1 and 4
        await settle(pilot)
        chart = plot.chart
        assert chart.legend().startswith("adaptive, 2 switches")
        assert [x.value for x in chart.across if x.vertical] == [1.0, 2.5]
        assert chart.series[0].y == [ranking.rows[c].p95_latency for c in (0, 0, 1, 1, 1, 0)]
        await pilot.press("o")
        await settle(pilot)
        assert plot.chart.legend().startswith("oracle (lower bound), 0 switches")
