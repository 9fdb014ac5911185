"""The core's public API: every documented name resolves, and importing it is cheap."""

import subprocess
import sys

import sei_tui.core as core


def test_every_public_name_resolves_to_the_core():
    for name in core.__all__:
        value = getattr(core, name)
        assert value.__module__.startswith("sei_tui.core."), (name, value.__module__)
        assert value.__name__ == name
    assert set(core.__all__) <= set(dir(core))


def test_an_unknown_name_is_an_attribute_error():
    try:
        core.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")


def test_importing_the_core_loads_neither_torch_nor_textual():
    code = (
        "import sys, sei_tui.core\n"
        "from sei_tui.core import parse_qos, rank, Row\n"
        "heavy = [m for m in ('torch', 'textual', 'libsim') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_script_ranks_rows_through_the_public_api():
    from sei_tui.core import Row, parse_qos, rank

    rows = [
        Row("split", 3, "relu_3", "int8", 1000, p95_latency=0.020, accuracy=0.91),
        Row("local", None, None, "result", 8, p95_latency=0.050, accuracy=0.95),
        Row("remote", None, None, "raw", 150528, p95_latency=0.010, accuracy=0.95),
        Row("split", 3, "relu_3", "fp32", 4000, p95_latency=0.020, accuracy=0.95),
    ]
    ranking = rank(rows, parse_qos("payload_bytes<=10000"))
    # remote is fastest but too big; the two 20 ms splits tie on latency, fp32 is more
    # accurate; local is slowest; the infeasible remote row comes last
    assert [(r.strategy, r.encoding) for r in ranking.rows] == [
        ("split", "fp32"),
        ("split", "int8"),
        ("local", "result"),
        ("remote", "raw"),
    ]
    assert ranking.recommended is ranking.rows[0]
