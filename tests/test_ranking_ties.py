"""The ranking's tie rule on hand-made rows: p95 latencies within the tolerance of a class
leader tie and are broken by accuracy, then the canonical key; rows farther apart keep their
p95 order; the result does not depend on the order the rows arrive in."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from sei_tui.core.evaluation.ranking import (
    TIE_ABSOLUTE_S,
    TIE_RELATIVE,
    pareto_front,
    rank,
    tie_classes,
    tie_tolerance,
)
from sei_tui.core.evaluation.rows import Row


def row(p95, acc, split=None, strategy="split", encoding="fp32"):
    return Row(
        strategy=strategy,
        split_index=split,
        after=None if split is None else f"n{split}",
        encoding=encoding,
        payload_bytes=100,
        p95_latency=p95,
        accuracy=acc,
    )


def ids(rows):
    return [(r.strategy, r.split_index, r.encoding) for r in rows]


def test_the_stated_tolerance():
    assert (TIE_RELATIVE, TIE_ABSOLUTE_S) == (0.03, 0.0005)
    assert tie_tolerance(0.1) == pytest.approx(0.003)  # 3 % above 16.7 ms
    assert tie_tolerance(0.01) == 0.0005  # 0.5 ms below


def test_within_tolerance_accuracy_decides():
    # 0.102 is within 3 % (0.003) of 0.100: a tie, won by the more accurate row
    ranking = rank([row(0.100, 0.90, split=5), row(0.102, 0.95, split=7)])
    assert ids(ranking.rows) == [("split", 7, "fp32"), ("split", 5, "fp32")]
    assert ranking.recommended.split_index == 7


def test_within_tolerance_and_equally_accurate_the_canonical_key_decides():
    rows = [row(0.0995, 0.9, split=2), row(0.1000, 0.9, strategy="local", encoding="result")]
    assert ids(rank(rows).rows) == [("local", None, "result"), ("split", 2, "fp32")]
    # same split, two encodings: the encoding name
    rows = [
        row(0.050, 0.9, split=4, encoding="int8+zlib"),
        row(0.0504, 0.9, split=4, encoding="int8"),
    ]
    assert [r.encoding for r in rank(rows).rows] == ["int8", "int8+zlib"]


def test_the_absolute_floor_applies_below_its_relative_equivalent():
    # 10 ms and 10.4 ms: 3 % would be 0.3 ms, the 0.5 ms floor makes them ties
    rows = [row(0.0100, 0.80, split=1), row(0.0104, 0.85, split=2)]
    assert rank(rows).rows[0].split_index == 2
    # 10 ms and 10.6 ms: beyond both, p95 decides against accuracy
    rows = [row(0.0100, 0.80, split=1), row(0.0106, 0.85, split=2)]
    assert rank(rows).rows[0].split_index == 1


def test_outside_tolerance_p95_decides():
    rows = [row(0.1031, 0.99, split=1), row(0.100, 0.5, split=2), row(0.2, 1.0, split=0)]
    assert [r.split_index for r in rank(rows).rows] == [2, 1, 0]


def test_classes_are_led_by_their_fastest_row_without_chaining():
    # 0.1025 is within the leader 0.100's tolerance, 0.105 is not (though it is within
    # 0.1025's): a class never spans more than one tolerance
    rows = [row(0.105, 0.9, split=3), row(0.100, 0.9, split=1), row(0.1025, 0.9, split=2)]
    assert tie_classes(rows) == [1, 0, 0]
    assert tie_classes([row(math.inf, 0.5, 1), row(math.nan, 0.6, 2), row(1.0, 0, 3)]) == [1, 1, 0]


def test_zero_tolerance_is_exact_p95_order():
    rows = [row(0.100, 0.90, split=5), row(0.1001, 0.95, split=7)]
    exact = rank(rows, tie_relative=0.0, tie_absolute=0.0)
    assert [r.split_index for r in exact.rows] == [5, 7]


def test_feasible_rows_tie_among_themselves():
    # the infeasible 0.100 would lead a class ending at 0.103 and split the feasible pair;
    # among the feasible rows the leader is 0.102 and 0.1045 is within its 3 %
    rows = [row(0.100, 0.40, split=1), row(0.102, 0.80, split=2), row(0.1045, 0.90, split=3)]
    ranking = rank(rows, "accuracy>=0.5")
    assert [r.split_index for r in ranking.rows] == [3, 2, 1]
    assert ranking.recommended.split_index == 3


def test_the_front_counts_a_tie_class_as_equally_fast():
    rows = [
        row(0.1000, 0.90, split=1),
        row(0.1010, 0.90, split=2),  # tie with split 1, as accurate: on the front too
        row(0.1020, 0.85, split=3),  # tie, less accurate: dominated
        row(0.2000, 0.95, split=4),  # slower and more accurate: on the front
    ]
    assert pareto_front(rows) == [0, 1, 3]
    # the raw rule would drop split 2 (0.101 > 0.100 at the same accuracy)
    assert pareto_front(rows, 0.0, 0.0) == [0, 3]
    ranking = rank(rows)
    assert ranking.recommended.pareto
    assert [r.split_index for r in ranking.rows if r.pareto] == [1, 2, 4]


def random_rows(rng, n):
    """Rows in close clusters (within and across tolerances), some equal, some infinite."""
    out = []
    for _ in range(n):
        p95 = rng.choice([0.010, 0.0102, 0.0108, 0.05, 0.0512, 0.0516, 0.0531, math.inf])
        p95 *= 1 + rng.choice([0.0, 0.0, 0.004, -0.004])
        acc = rng.choice([0.8, 0.9, 0.9, None])
        enc = rng.choice(["fp32", "int8", "int8+zlib"])
        out.append(row(p95, acc, split=rng.randrange(4), encoding=enc))
    # distinct identities, so that an order is a list of identities
    return list({(r.split_index, r.encoding): r for r in out}.values())


@pytest.mark.parametrize("seed", range(20))
def test_the_order_does_not_depend_on_the_input_order(seed):
    rng = random.Random(seed)
    rows = random_rows(rng, 12)
    qos = "accuracy>=0.85" if seed % 2 else None
    first = rank(list(rows), qos)
    expected = (ids(first.rows), first.recommendation, [ids(first.rows)[i] for i in first.front])
    for _ in range(30):
        shuffled = list(rows)
        rng.shuffle(shuffled)
        again = rank(shuffled, qos)
        got = (ids(again.rows), again.recommendation, [ids(again.rows)[i] for i in again.front])
        assert got == expected


def test_every_permutation_of_a_near_tie_ranks_the_same():
    rows = [
        row(0.0100, 0.9, split=3),
        row(0.0103, 0.9, split=1),
        row(0.0104, 0.95, split=2, encoding="int8"),
        row(0.0106, 0.95, split=0),  # within 0.5 ms of 0.0103 but not of the leader 0.0100
        row(0.0109, 0.9, split=1, encoding="int8"),
    ]
    orders = {tuple(ids(rank(list(p)).rows)) for p in itertools.permutations(rows)}
    assert orders == {
        (
            ("split", 2, "int8"),
            ("split", 1, "fp32"),
            ("split", 3, "fp32"),
            ("split", 0, "fp32"),
            ("split", 1, "int8"),
        )
    }
