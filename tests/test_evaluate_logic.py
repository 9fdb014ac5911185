"""Recommendation, Pareto front, latency percentiles and sweep grids on hand-built data."""

import math
import re

import pytest

from libsim.spec import BurstLoss, FlowSpec, LinkSpec, NetworkSpec
from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.latency import latency_parts, nearest_rank
from sei_tui.core.evaluation.prepare import label_mapping
from sei_tui.core.evaluation.ranking import pareto_front, recommend
from sei_tui.core.evaluation.rows import Row
from sei_tui.core.evaluation.simulation import apply_overrides
from sei_tui.core.evaluation.sweep import grid, parse_sweep


def row(strategy, p95, acc, payload=1000, split=None):
    return Row(
        strategy=strategy,
        split_index=split,
        after=None if split is None else f"node{split}",
        encoding="fp32",
        payload_bytes=payload,
        p95_latency=p95,
        accuracy=acc,
    )


@pytest.fixture
def rows():
    return [
        row("local", 0.2, 0.9, payload=13),
        row("split", 0.05, 0.8, split=1),
        row("split", 0.05, 0.85, split=2),
        row("remote", 0.03, 0.95, payload=20000),
    ]


def test_lowest_feasible_p95_wins_and_ties_go_to_accuracy(rows):
    rec = recommend(rows, "accuracy>=0.8, payload_bytes<=10000")
    assert rec.row == 2  # rows 1 and 2 tie on p95; row 2 is more accurate
    assert rec.runner_up == 1
    # accuracy slack 0.05 of 0.8 (6%) is tighter than payload's 9000 of 10000 (90%)
    assert rec.binding == "accuracy"
    assert rec.margin == pytest.approx(0.05)
    assert "meets every constraint" in rec.why


def test_without_qos_the_fastest_row_wins(rows):
    rec = recommend(rows, None)
    assert rec.row == 3 and rec.runner_up in (1, 2) and rec.binding is None


def test_latency_binding_margin_is_in_seconds(rows):
    rec = recommend(rows, "p95_latency<=0.04, accuracy>=0.5")
    assert rec.row == 3
    assert rec.binding == "p95_latency"  # 0.01 of 0.04 = 25% vs accuracy 0.45 of 0.5 = 90%
    assert rec.margin == pytest.approx(0.01)
    assert rec.runner_up is None


def test_nothing_feasible_names_the_constraint_failing_everywhere_and_the_closest(rows):
    rec = recommend(rows, "accuracy>=0.99, p95_latency<=0.04")
    assert rec.row is None
    assert rec.failing_everywhere == ("accuracy>=0.99",)
    # remote misses accuracy by 0.04/0.99 only; every other row misses more
    assert rec.closest == 3
    assert "accuracy>=0.99" in rec.why and "remote" in rec.why


def test_nothing_feasible_without_a_common_failure(rows):
    rec = recommend(rows, "accuracy>=0.92, p95_latency<=0.02")
    assert rec.row is None and rec.failing_everywhere == ("p95_latency<=0.02",)
    rec = recommend(rows[:3], "accuracy>=0.88, p95_latency<=0.1")
    assert rec.row is None and rec.failing_everywhere == ()
    # shortfalls: local 0.1/0.1 = 1.0 on latency; splits 0.08/0.88 and 0.03/0.88 on accuracy
    assert rec.closest == 2
    assert "every constraint at once" in rec.why


def test_empty_rows():
    assert recommend([], "accuracy>=0.5").row is None


def test_pareto_front(rows):
    rows.append(row("split", 0.01, 0.5, split=3))
    rows.append(row("split", math.inf, 0.99, split=4))
    front = pareto_front(rows)
    # remote (fast and accurate) dominates rows 0..2; row 4 is fastest; row 5 most accurate
    assert front == [3, 4, 5]
    assert [r.pareto for r in rows] == [False, False, False, True, True, True]


def test_nearest_rank_percentiles():
    values = [float(v) for v in range(20, 0, -1)]
    assert nearest_rank(values, 50) == 10
    assert nearest_rank(values, 95) == 19
    assert nearest_rank(values, 99) == 20
    assert nearest_rank([3.0], 95) == 3.0


def test_latency_parts_add_up_and_lost_frames_are_late():
    net = [0.01 * (i + 1) for i in range(19)] + [None]
    parts = latency_parts(net, fixed_s=0.5, deadline=0.65)
    assert parts.network_p50_s == pytest.approx(0.10)
    assert parts.network_p95_s == pytest.approx(0.19)
    assert math.isinf(parts.network_p99_s) and math.isinf(parts.p99_latency)
    assert parts.p50_latency == pytest.approx(0.5 + parts.network_p50_s)
    assert parts.p95_latency == pytest.approx(0.5 + parts.network_p95_s)
    # over 0.65 s: network > 0.15 -> frames 16..19 (4) and the lost one
    assert parts.deadline_miss == pytest.approx(5 / 20)


def test_parse_sweep_spacing():
    bitrate, loss = parse_sweep("bitrate=1e6:1e9:4,loss=0:0.05:6")
    assert bitrate.values == pytest.approx((1e6, 1e7, 1e8, 1e9))
    assert loss.values == pytest.approx((0.0, 0.01, 0.02, 0.03, 0.04, 0.05))
    (axis,) = parse_sweep("wifi.delay=0:0.01:2")
    assert axis.link == "wifi" and axis.key == "wifi.delay"


@pytest.mark.parametrize(
    "text",
    ["bitrate=0:1e9:3", "jitter=0:1:3", "bitrate=1e6:1e9", "loss=0:1.5:3", "bitrate=a:b:3"],
)
def test_bad_sweeps_are_input_errors(text):
    with pytest.raises(SeiInputError, match=rf"^sweep axis {re.escape(repr(text))}: "):
        parse_sweep(text)


def test_overrides_change_every_link_or_one():
    net = NetworkSpec(
        nodes=("a", "b", "c"),
        links=(
            LinkSpec("wifi", "wireless", ("a", "b"), 54e6, 1e-6, burst=BurstLoss(0.1, 0.3, 0.5)),
            LinkSpec("wire", "full_duplex", ("b", "c"), 1e9, 2e-3),
        ),
        flows=(FlowSpec("a", "c", 30, 10.0, 1000),),
    )
    both = apply_overrides(net, {"bitrate": 1e6, "loss": 0.02})
    assert [link.bitrate_bps for link in both.links] == [1e6, 1e6]
    assert [link.loss for link in both.links] == [0.02, 0.02]
    assert both.links[0].burst is None
    one = apply_overrides(net, {"wire.bitrate": 5e6})
    assert [link.bitrate_bps for link in one.links] == [54e6, 5e6]
    with pytest.raises(
        SeiInputError, match="^sweep axis 'fiber.bitrate': the scenario has no link 'fiber'$"
    ):
        apply_overrides(net, {"fiber.bitrate": 1e6})


def test_label_mapping_matches_class_names_not_folder_order():
    model = ["circle", "square", "triangle"]
    folders = sorted(model)  # an image folder's classes: ["circle", "square", "triangle"]
    assert label_mapping(["square", "circle"], model, 3) == [1, 0]
    assert label_mapping(folders, model, 3) == [0, 1, 2]
    assert label_mapping(["cat", "dog"], model, 3) is None  # not the model's classes
    assert label_mapping(["a", "b", "c"], None, 3) == [0, 1, 2]  # unnamed: trust indices
    assert label_mapping(["a", "b"], None, 1000) is None
    assert label_mapping([], model, 3) is None


def test_evaluation_without_a_server_profile_names_the_node():
    # The TUI reaches the evaluation without the CLI's up-front check: it must get the
    # same one-line input error, not a KeyError.
    from sei_tui.core.evaluation.prepare import compute_models
    from sei_tui.core.network.scenario import builtin_scenario

    bare = builtin_scenario("demo").with_node("server", compute=None)
    with pytest.raises(SeiInputError, match=r'node\[2\]\.compute: the server node "server"'):
        compute_models(bare, graph=None)


def test_grid_spans_every_combination_last_axis_fastest():
    axes = parse_sweep("bitrate=1e6:1e8:3,wifi.loss=0:0.1:2")
    points = grid(axes)
    assert [p.keys() for p in points] == [{"bitrate", "wifi.loss"}] * 6
    assert [p["wifi.loss"] for p in points] == pytest.approx([0.0, 0.1] * 3)
    assert [p["bitrate"] for p in points] == pytest.approx([1e6, 1e6, 1e7, 1e7, 1e8, 1e8])
    assert grid([]) == [{}]


def test_sweep_axes_replace_what_a_trace_sets_on_its_link():
    # A trace wins over the link's own bitrate (and its loss/delay columns over the link's
    # loss/delay), so a swept value must take the trace's place or the axis would do nothing.
    from libsim import FlowSpec, LinkSpec, NetworkSpec, simulate
    from libsim.spec import RateTrace

    trace = RateTrace((0.0, 1.0), (1e6, 4e6), 2.0, loss=(0.0, 0.0), delay_s=(0.01, 0.01))
    link = LinkSpec("wire", "full_duplex", ("a", "b"), 2.5e6, 0.0, overhead_bytes=0, trace=trace)
    net = NetworkSpec(("a", "b"), (link,), (FlowSpec("a", "b", 1, 0.0, 125_000),), "udp")
    fixed = apply_overrides(net, {"bitrate": 10e6})
    assert fixed.links[0].trace is None and fixed.links[0].bitrate_bps == 10e6
    lossy = apply_overrides(net, {"loss": 0.1}).links[0]
    assert lossy.loss == 0.1 and lossy.trace.loss is None and lossy.trace.delay_s == (0.01, 0.01)
    slow = apply_overrides(net, {"delay": 0.5}).links[0]
    assert slow.delay_s == 0.5 and slow.trace.delay_s is None and slow.trace.loss == (0.0, 0.0)
    # 125 kB (+ IP/UDP headers: 85 datagrams of at most 1472 B) at 10 Mbit/s, no delay:
    # one frame's latency is its bits over the swept rate, not the trace's 1 Mbit/s
    bits = (125_000 + 85 * 28) * 8
    latency = simulate(fixed).flows[0].frames[0].latency_s
    assert latency == pytest.approx(bits / 10e6, abs=1e-9)
    # the delay axis: the trace's rates stay (1 Mbit/s for the first second, then 4 Mbit/s:
    # the bits past the first 10^6 go at 4 Mbit/s), and the delay is 0.5 s
    assert simulate(apply_overrides(net, {"delay": 0.5})).flows[0].frames[0].latency_s == (
        pytest.approx(1.0 + (bits - 1e6) / 4e6 + 0.5, abs=1e-9)
    )
