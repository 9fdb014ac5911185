"""`Evaluation.sweep` on a scenario with an edge box: every point's recommendation is the one
`rank(Evaluation.rows(qos, overrides=point))` gives, split2 (two-cut) rows included."""

from __future__ import annotations

import pytest

from sei_tui.core.evaluation.engine import Evaluation
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.ranking import rank
from sei_tui.core.evaluation.sweep import parse_sweep


def _key(row):
    if row is None:
        return None
    return (row.strategy, row.cuts, row.split_index, row.after, row.encoding, row.p95_latency)


@pytest.fixture(scope="module")
def evaluation():
    evaluation = Evaluation(
        "demo",
        scenario="three-tier",
        encodings=["int8"],
        synthetic=8,
        max_images=8,
        frames=8,
        protocol="udp",
    )
    evaluation.prepare()
    return evaluation


@pytest.mark.parametrize("processes", [None, pytest.param(1, marks=pytest.mark.slow)])
def test_sweep_recommends_what_the_ranked_rows_with_split2_recommend(evaluation, processes):
    """A slow wan (1 Mbit/s) makes a two-cut deployment the fastest (only a small tensor
    crosses it); a fast one makes `remote` fastest: both kinds of point in one 2x2 grid,
    on the worker pool (and in this process: slow)."""
    assert evaluation.two_cuts  # three-tier has an edge box
    qos = parse_qos("p95_latency<=0.15")
    axes = parse_sweep("wan.bitrate=1e6:1e8:2,loss=0:0.05:2")
    fractions = []
    points = evaluation.sweep(
        axes, qos, processes=processes, progress=lambda f, _label: fractions.append(f)
    )
    assert [p.values for p in points] == [
        {"wan.bitrate": b, "loss": loss} for b in (1e6, 1e8) for loss in (0.0, 0.05)
    ]
    strategies = set()
    for point in points:
        rows = list(evaluation.rows(qos, overrides=point.values, processes=processes))
        assert any(r.strategy == "split2" for r in rows)
        ranking = rank(rows, qos)
        assert _key(point.row) == _key(ranking.recommended), point.values
        assert point.recommendation.why == ranking.recommendation.why
        assert point.to_dict()["cuts"] == (None if point.row is None else point.row.cuts)
        strategies.add(point.row.strategy)
    assert "split2" in strategies and strategies != {"split2"}
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
