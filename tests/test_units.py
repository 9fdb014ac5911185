"""Units in scenario files and flags: strict parsing, exact formatting round trips."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sei_tui.core.errors import SeiInputError
from sei_tui.core.units import (
    format_bitrate,
    format_bytes,
    format_duration,
    parse_bitrate,
    parse_bytes,
    parse_duration,
)

# Expected values are written out by hand from the unit definitions (SI k/M/G = 10^3n,
# KiB/MiB/GiB = 2^10n), not computed with the code under test.
BITRATES = [
    ("54Mbps", 54_000_000.0),
    ("1Gbps", 1_000_000_000.0),
    ("1.5 kbps", 1_500.0),
    ("10Kbps", 10_000.0),
    ("100bps", 100.0),
    ("2.5Gbit/s", 2_500_000_000.0),
    ("0.5Tbps", 500_000_000_000.0),
    ("1e3Mbps", 1_000_000_000.0),
    ("11 Mbit/s", 11_000_000.0),
    (125_000, 125_000.0),
    (1e6, 1_000_000.0),
]
DURATIONS = [
    ("2ms", 0.002),
    ("250us", 0.00025),
    ("250µs", 0.00025),
    ("1.5s", 1.5),
    ("500ns", 0.0000005),
    ("0s", 0.0),
    ("1_000ms", 1.0),
    (0.2, 0.2),
    (3, 3.0),
]
BYTE_COUNTS = [
    ("1.5MB", 1_500_000),
    ("1kB", 1_000),
    ("1KiB", 1_024),
    ("0.5KiB", 512),
    ("1.5MiB", 1_572_864),
    ("4MiB", 4_194_304),
    ("2GB", 2_000_000_000),
    ("1GiB", 1_073_741_824),
    ("150528B", 150_528),
    ("150528 B", 150_528),
    (602_112, 602_112),
    (0, 0),
]


@pytest.mark.parametrize(("text", "expected"), BITRATES)
def test_parse_bitrate(text, expected):
    assert parse_bitrate(text) == expected


@pytest.mark.parametrize(("text", "expected"), DURATIONS)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(("text", "expected"), BYTE_COUNTS)
def test_parse_bytes(text, expected):
    value = parse_bytes(text)
    assert value == expected
    assert isinstance(value, int)


BAD = [
    (parse_bitrate, "54Mbs", "unknown unit 'Mbs'"),
    (parse_bitrate, "54 mbps", "write Mbps"),
    (parse_bitrate, "54MB", "unknown unit 'MB'"),
    (parse_bitrate, "-1Mbps", "must not be negative"),
    (parse_bitrate, -5, "must not be negative"),
    (parse_bitrate, "54", "missing unit"),
    (parse_bitrate, "Mbps", "not a bit rate"),
    (parse_bitrate, "", "not a bit rate"),
    (parse_bitrate, "5 5Mbps", "not a bit rate"),
    (parse_bitrate, math.inf, "finite"),
    (parse_bitrate, math.nan, "finite"),
    (parse_bitrate, True, "expected a bit rate"),
    (parse_bitrate, [54], "expected a bit rate"),
    (parse_duration, "2 sec", "write s"),
    (parse_duration, "2min", "unknown unit 'min'"),
    (parse_duration, "-2ms", "must not be negative"),
    (parse_duration, "2Mbps", "unknown unit 'Mbps'"),
    (parse_bytes, "5KB", "kB (1000 bytes) or KiB (1024 bytes)"),
    (parse_bytes, "1.5B", "not a whole number of bytes"),
    (parse_bytes, 1.5, "not a whole number of bytes"),
    (parse_bytes, "1.0001kB", "not a whole number of bytes"),
    (parse_bytes, "3Mb", "megabit"),
    (parse_bytes, "-1kB", "must not be negative"),
]


@pytest.mark.parametrize(("parse", "value", "message"), BAD)
def test_bad_quantities_name_key_value_and_problem(parse, value, message):
    with pytest.raises(SeiInputError) as info:
        parse(value, "link[3].bitrate")
    text = str(info.value)
    assert text.startswith("link[3].bitrate = ")
    assert message in text
    assert "\n" not in text


FORMATTED = [
    (format_bitrate, 54_000_000.0, "54Mbps"),
    (format_bitrate, 1_000_000_000.0, "1Gbps"),
    (format_bitrate, 1_500.0, "1.5kbps"),
    (format_bitrate, 123.25, "123.25bps"),
    (format_duration, 0.00025, "250us"),
    (format_duration, 0.002, "2ms"),
    (format_duration, 1.5, "1.5s"),
    (format_duration, 0.0, "0s"),
    (format_bytes, 1_500_000, "1.5MB"),
    (format_bytes, 602_112, "588KiB"),
    (format_bytes, 4_194_304, "4MiB"),
    (format_bytes, 1_000, "1kB"),
    (format_bytes, 1_536, "1536B"),
]


@pytest.mark.parametrize(("formatter", "value", "text"), FORMATTED)
def test_format_picks_a_short_exact_spelling(formatter, value, text):
    assert formatter(value) == text


finite = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)


@given(finite)
def test_bitrate_text_round_trips_exactly(value):
    assert parse_bitrate(format_bitrate(value)) == value


@given(finite)
def test_duration_text_round_trips_exactly(value):
    assert parse_duration(format_duration(value)) == value


@given(st.integers(min_value=0, max_value=2**63))
def test_byte_text_round_trips_exactly(value):
    assert parse_bytes(format_bytes(value)) == value


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (150528, "150.5 kB"),
        (602112, "602.1 kB"),
        (1_500_000, "1.5 MB"),
        (2_000_000_000, "2.0 GB"),
    ],
)
def test_sizes_for_people_are_decimal_everywhere(count, text):
    from sei_tui.core.units import display_bytes

    assert display_bytes(count) == text
