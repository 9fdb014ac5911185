"""QoS constraints: parsing, checking rows, and clear errors for bad terms."""

import math

import pytest

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.qos import Constraint, parse_qos
from sei_tui.core.evaluation.rows import Row


def row(**kw):
    base = dict(strategy="split", split_index=1, after="conv1", encoding="fp32", payload_bytes=1000)
    base.update(kw)
    return Row(**base)


def test_parse_all_operators_and_numbers():
    q = parse_qos("p95_latency<=0.1, accuracy>=0.9, edge_flops<2e9, payload_bytes>1e3,frames==30")
    assert q.constraints == (
        Constraint("p95_latency", "<=", 0.1),
        Constraint("accuracy", ">=", 0.9),
        Constraint("edge_flops", "<", 2e9),
        Constraint("payload_bytes", ">", 1000.0),
        Constraint("frames", "==", 30.0),
    )


def test_empty_qos_accepts_everything():
    assert parse_qos("").check(row()) == []
    assert parse_qos(None).check(row()) == []


def test_check_lists_the_violated_constraints():
    q = parse_qos("p95_latency<=0.1, accuracy>=0.9, payload_bytes<=500")
    r = row(p95_latency=0.2, accuracy=0.95, payload_bytes=1000)
    assert q.check(r) == ["p95_latency<=0.1", "payload_bytes<=500"]
    assert q.check(row(p95_latency=0.1, accuracy=0.9, payload_bytes=500)) == []


def test_strict_bounds_and_missing_values():
    q = parse_qos("p95_latency<0.1, accuracy>0.5")
    assert q.check(row(p95_latency=0.1, accuracy=0.6)) == ["p95_latency<0.1"]
    assert q.check(row(p95_latency=0.05, accuracy=None)) == ["accuracy>0.5"]
    assert q.check(row(p95_latency=math.inf, accuracy=0.9)) == ["p95_latency<0.1"]


def test_check_accepts_plain_mappings():
    assert parse_qos("accuracy>=0.5").check({"accuracy": 0.4}) == ["accuracy>=0.5"]


def test_slack_is_signed_distance_to_the_bound():
    c = Constraint("p95_latency", "<=", 0.1)
    assert c.slack(0.075) == pytest.approx(0.025)
    assert c.slack(0.125) == pytest.approx(-0.025)
    assert c.relative_slack(0.075) == pytest.approx(0.25)
    assert Constraint("accuracy", ">=", 0.9).slack(0.95) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("latency_p95<=0.1", "unknown column 'latency_p95'"),
        ("accuracy=>0.9", "bad operator '=>'"),
        ("accuracy!=0.9", "bad operator '!='"),
        ("accuracy>=high", "'high' is not a finite number"),
        ("accuracy>=inf", "is not a finite number"),
        ("accuracy 0.9", "expected <column><op><number>"),
        ("accuracy>=0.9,,p95_latency<=1", "empty constraint"),
        ("strategy==1", "unknown column 'strategy'"),
        ("p95_latency<=", "missing the number after '<='"),
        ("accuracy>=90", "accuracy is a fraction from 0 to 1 (write 0.9 for 90%)"),
        ("agreement>=1.5", "agreement is a fraction from 0 to 1"),
        ("deadline_miss<=-0.1", "deadline_miss is a fraction from 0 to 1"),
        ("p95_latency >= ", "missing the number after '>='"),
        ("p95_latency<", "missing the number after '<'"),
    ],
)
def test_bad_terms_name_the_term(text, fragment):
    with pytest.raises(SeiInputError) as info:
        parse_qos(text)
    message = str(info.value)
    # the core names the thing (no CLI flag): the term, or the whole text for an empty one
    named = text if "empty" in fragment else text.strip().split(",")[0].strip()
    assert message.startswith(f"QoS {named!r}: "), message
    assert "--" not in message
    assert fragment in message


def test_fraction_bounds_at_the_ends_are_accepted():
    qos = parse_qos("accuracy>=1, deadline_miss<=0, agreement>=0.95")
    assert [c.value for c in qos.constraints] == [1.0, 0.0, 0.95]
