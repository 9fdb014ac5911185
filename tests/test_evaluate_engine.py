"""The evaluation on the real stack: demo model, demo scenario, libsim, synthetic data.

Numbers are checked against independent facts: the whole model's own predictions, the
encodings' analytic sizes, and how a network must behave (a faster link is never slower).
"""

import math

import pytest

from sei_tui.core.errors import SeiCancelled
from sei_tui.core.evaluation.encoding import RESULT_BYTES
from sei_tui.core.evaluation.engine import Evaluation, parse_sweep
from sei_tui.core.evaluation.ranking import canonical_key as row_sort_key
from sei_tui.core.evaluation.ranking import pareto_front, recommend, tie_tolerance
from sei_tui.core.network.scenario import builtin_scenario

IMAGES = 32


@pytest.fixture(scope="module")
def lossless():
    """The demo on the demo scenario (TCP, no loss), fp32 and int8, a few frames."""
    evaluation = Evaluation(
        "demo", synthetic=IMAGES, encodings=["fp32", "int8", "fp32+zlib"], frames=8
    )
    evaluation.prepare()
    rows = sorted(evaluation.rows(), key=row_sort_key)
    return evaluation, rows


def split_rows(rows, encoding):
    return [r for r in rows if r.strategy == "split" and r.encoding == encoding]


def test_fp32_split_on_a_lossless_link_is_exactly_the_whole_model(lossless):
    evaluation, rows = lossless
    fp32 = split_rows(rows, "fp32") + split_rows(rows, "fp32+zlib")
    assert fp32
    for row in fp32:
        assert row.agreement == 1.0, row.label
        assert row.accuracy == evaluation.whole_accuracy, row.label


def test_int8_loses_at_most_a_little_on_the_demo(lossless):
    evaluation, rows = lossless
    for row in split_rows(rows, "int8"):
        assert row.agreement >= 0.9, row.label
        assert abs(row.accuracy - evaluation.whole_accuracy) <= 0.1, row.label


def test_payload_sizes_follow_the_encodings(lossless):
    evaluation, rows = lossless
    by_split = {}
    for row in rows:
        if row.strategy == "split":
            by_split.setdefault(row.split_index, {})[row.encoding] = row
    points = {sp.index: sp for sp in evaluation.graph.split_points}
    for index, encs in by_split.items():
        sp = points[index]
        elements = sum(math.prod(t.shape) for t in sp.tensors)
        assert encs["fp32"].payload_bytes == 4 + 4 * elements
        assert encs["int8"].payload_bytes == 4 + 5 * len(sp.tensors) + elements


def test_latency_parts_add_up(lossless):
    _, rows = lossless
    for row in rows:
        fixed = row.head_s + row.encode_s + row.decode_s + row.tail_s
        assert row.p95_latency == pytest.approx(fixed + row.network_p95_s, rel=1e-12)
        assert row.p50_latency == pytest.approx(fixed + row.network_p50_s, rel=1e-12)
        assert row.frames == 8 and row.frames_complete == 8


def test_local_sends_only_the_result_and_runs_everything_on_the_edge(lossless):
    evaluation, rows = lossless
    (local,) = [r for r in rows if r.strategy == "local"]
    assert local.payload_bytes == RESULT_BYTES
    assert local.edge_flops == evaluation.graph.total_flops and local.server_flops == 0
    assert local.tail_s == 0 and local.head_s > 0
    assert local.accuracy == evaluation.whole_accuracy
    (raw,) = [r for r in rows if r.strategy == "remote" and r.encoding == "raw"]
    assert raw.payload_bytes == 3 + 8 * 3 + 3 * 64 * 64
    assert raw.edge_flops == 0 and raw.head_s == 0


def test_recommendation_and_front_on_real_rows(lossless):
    _, rows = lossless
    front = pareto_front(rows)
    assert front
    # the fastest tie class (p95 within tie_tolerance of the fastest) has a row on the front
    fastest = min(r.p95_latency for r in rows)
    best = min(front, key=lambda i: rows[i].p95_latency)
    assert rows[best].p95_latency <= fastest + tie_tolerance(fastest)
    rec = recommend(rows, "accuracy>=0.5")
    chosen = rows[rec.row]
    assert chosen.accuracy >= 0.5
    feasible = [r for r in rows if r.accuracy >= 0.5]
    fastest = min(r.p95_latency for r in feasible)
    assert chosen.p95_latency <= fastest + tie_tolerance(fastest)
    # within that tie: the most accurate
    assert all(
        chosen.accuracy >= r.accuracy
        for r in feasible
        if r.p95_latency <= fastest + tie_tolerance(fastest)
    )


def test_a_faster_link_never_makes_a_split_slower(lossless):
    evaluation, _ = lossless
    slow = {r.label: r for r in evaluation.rows(overrides={"wifi.bitrate": 6e6})}
    fast = {r.label: r for r in evaluation.rows(overrides={"wifi.bitrate": 54e6})}
    assert slow.keys() == fast.keys()
    for label, row in fast.items():
        assert row.network_p95_s <= slow[label].network_p95_s * (1 + 1e-9), label
        assert row.network_mean_s <= slow[label].network_mean_s * (1 + 1e-9), label


@pytest.mark.slow
def test_heavy_udp_loss_lowers_accuracy():
    scenario = builtin_scenario("demo").with_link("ethernet", loss=0.3)
    evaluation = Evaluation(
        "demo",
        scenario=scenario,
        synthetic=IMAGES,
        encodings=["fp32"],
        protocol="udp",
        frames=IMAGES,
    )
    evaluation.prepare()
    rows = [r for r in evaluation.rows() if r.strategy == "split"]
    big = [r for r in rows if r.payload_bytes > 10 * 1472]  # many datagrams per frame
    assert big
    assert all(r.frames_complete < r.frames for r in big)
    mean = sum(r.accuracy for r in big) / len(big)
    assert mean < evaluation.whole_accuracy - 0.05


def test_cancel_stops_the_stream(lossless):
    evaluation, _ = lossless
    seen = []

    def cancel():
        return len(seen) >= 1

    with pytest.raises(SeiCancelled):
        for row in evaluation.rows(cancel=cancel, processes=1):
            seen.append(row)
    assert len(seen) < len(evaluation.deployments)


def test_sweep_recommends_at_every_grid_point(lossless):
    evaluation, _ = lossless
    axes = parse_sweep("wifi.bitrate=2e6:5e7:2,loss=0:0.02:2")
    points = evaluation.sweep(axes, "accuracy>=0.5")
    assert [p.values for p in points] == [
        {"wifi.bitrate": 2e6, "loss": 0.0},
        {"wifi.bitrate": 2e6, "loss": 0.02},
        {"wifi.bitrate": 5e7, "loss": 0.0},
        {"wifi.bitrate": 5e7, "loss": 0.02},
    ]
    # each point's choice is what recommend() picks from a plain run at that point
    for point in points[::3]:
        rows = sorted(evaluation.rows(overrides=point.values), key=row_sort_key)
        rec = recommend(rows, "accuracy>=0.5")
        assert point.row.label == rows[rec.row].label
