"""Quality-of-service constraints over result columns: parsing once, checking per row.

`parse_qos("p95_latency<=0.1, accuracy>=0.9, edge_flops<=2e9")` -> QoS. A constraint is
`<column> <op> <number>` with op one of <=, <, >=, >, ==, over any numeric `Row` column.
A row whose column is missing, None or NaN violates the constraint (it cannot be shown
to hold).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.rows import NUMERIC_COLUMNS

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}
# The operator is greedy and the number may be empty, so "x<=" reports a missing number
# instead of reading "<" as the operator and "=" as the number.
# Columns holding a fraction 0..1; a bound outside it is almost surely a percentage.
FRACTION_COLUMNS = ("accuracy", "agreement", "deadline_miss")
_TERM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*([<>=!]+)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Constraint:
    column: str
    op: str  # one of OPERATORS
    value: float

    @property
    def text(self) -> str:
        return f"{self.column}{self.op}{self.value:g}"

    def holds(self, actual: float | None) -> bool:
        if actual is None or (isinstance(actual, float) and math.isnan(actual)):
            return False
        return OPERATORS[self.op](float(actual), self.value)

    def slack(self, actual: float | None) -> float:
        """How far inside the bound `actual` is (negative: by how much it misses)."""
        if actual is None or (isinstance(actual, float) and math.isnan(actual)):
            return -math.inf
        a = float(actual)
        if self.op in ("<=", "<"):
            return self.value - a
        if self.op in (">=", ">"):
            return a - self.value
        return -abs(a - self.value)

    def relative_slack(self, actual: float | None) -> float:
        """Slack over the bound's magnitude, so constraints in different units compare."""
        s = self.slack(actual)
        scale = abs(self.value) if self.value != 0 else 1.0
        return s / scale if math.isfinite(s) else s


@dataclass(frozen=True)
class QoS:
    constraints: tuple[Constraint, ...] = ()
    text: str = ""

    def check(self, row) -> list[str]:
        """The constraints `row` (a Row, or a mapping of columns) violates, as text."""
        return [c.text for c in self.constraints if not c.holds(_column(row, c.column))]

    def __bool__(self) -> bool:
        return bool(self.constraints)


def _column(row, name: str):
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def parse_qos(text: str | None, columns: tuple[str, ...] = NUMERIC_COLUMNS) -> QoS:
    """Parse a comma list of constraints; a bad term raises SeiInputError naming it
    (`QoS '<term>': ...`; a front end adds where the text came from)."""
    if text is None or not text.strip():
        return QoS((), "")
    constraints: list[Constraint] = []
    for term in text.split(","):
        if not term.strip():
            raise SeiInputError(f"QoS {text!r}: empty constraint (stray comma?)")
        m = _TERM.match(term)
        if m is None:
            raise SeiInputError(
                f"QoS {term.strip()!r}: expected <column><op><number>, e.g. p95_latency<=0.1"
            )
        column, op, number = m.groups()
        if column not in columns:
            raise SeiInputError(
                f"QoS {term.strip()!r}: unknown column {column!r} "
                f"(numeric columns: {', '.join(columns)})"
            )
        if op not in OPERATORS:
            raise SeiInputError(
                f"QoS {term.strip()!r}: bad operator {op!r} (use <=, <, >=, > or ==)"
            )
        if not number:
            raise SeiInputError(f"QoS {term.strip()!r}: missing the number after {op!r}")
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise SeiInputError(f"QoS {term.strip()!r}: {number!r} is not a finite number")
        if column in FRACTION_COLUMNS and not 0.0 <= value <= 1.0:
            raise SeiInputError(
                f"QoS {term.strip()!r}: {column} is a fraction from 0 to 1 (write 0.9 for 90%)"
            )
        constraints.append(Constraint(column, op, value))
    return QoS(tuple(constraints), text.strip())
