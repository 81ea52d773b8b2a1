"""Human units in and out."""

from __future__ import annotations

import pytest

from planner.contracts.units import (
    UnitError,
    format_bytes,
    format_count,
    format_joules,
    format_seconds,
    parse_bytes,
    parse_count,
    parse_joules,
    parse_seconds,
)


def test_parse() -> None:
    assert parse_bytes("2MB") == 2_000_000
    assert parse_bytes("2 MiB") == 2 * 1024 * 1024
    assert parse_bytes("512kB") == 512_000
    assert parse_bytes("1.5GB") == 1_500_000_000
    assert parse_bytes("300") == 300
    assert parse_seconds("15ms") == pytest.approx(0.015)
    assert parse_seconds("800us") == pytest.approx(0.0008)
    assert parse_seconds("2") == 2.0
    assert parse_joules("50mJ") == pytest.approx(0.05)
    assert parse_count("1.2 GMAC") == 1_200_000_000
    assert parse_count("300M") == 300_000_000


@pytest.mark.parametrize("bad", ["two MB", "15 parsecs", "", "1.2.3MB"])
def test_parse_errors_say_what_was_expected(bad: str) -> None:
    with pytest.raises(UnitError, match="expected a number with a unit"):
        parse_bytes(bad)


def test_format() -> None:
    assert format_bytes(14_019_488) == "14.02 MB"
    assert format_bytes(512) == "512.00 B"
    assert format_seconds(0.0153) == "15.30 ms"
    assert format_seconds(float("inf")) == "inf"
    assert format_joules(0.0124) == "12.40 mJ"
    assert format_count(1_814_073_344, "MAC") == "1.8 GMAC"
