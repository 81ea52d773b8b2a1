"""Human units on input and output: ``2MB``, ``15ms``, ``1.2 GMAC``.

Sizes use decimal SI prefixes (1 MB = 10⁶ bytes) and accept binary ones (1 MiB = 2²⁰ bytes).

>>> parse_bytes("2MB"), parse_bytes("1.5 MiB"), parse_seconds("15ms"), parse_count("1.2G")
(2000000, 1572864, 0.015, 1200000000)
>>> format_bytes(3_504_872 * 4), format_seconds(0.0153), format_count(300_774_272, "MAC")
('14.02 MB', '15.30 ms', '300.8 MMAC')
"""

from __future__ import annotations

import math
import re

_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
_TIME = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "": 1.0}
_ENERGY = {"nJ": 1e-9, "uJ": 1e-6, "µJ": 1e-6, "mJ": 1e-3, "J": 1.0, "": 1.0}
_NUMBER = r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*"


class UnitError(ValueError):
    """A quantity that cannot be read; says what form was expected."""


def _match(text: str, pattern: str, what: str, example: str) -> re.Match[str]:
    m = re.fullmatch(_NUMBER + pattern + r"\s*", str(text))
    if m is None:
        raise UnitError(f"cannot read {text!r} as {what}; expected a number with a unit, "
                        f"e.g. {example}")
    if not math.isfinite(float(m.group(1))):
        raise UnitError(f"cannot read {text!r} as {what}: the number is too large to be "
                        "finite")
    return m


def parse_bytes(text: str | float) -> int:
    """Bytes from ``2MB``, ``512kB``, ``1.5MiB``, ``300000`` (plain numbers are bytes)."""
    if isinstance(text, int | float):
        return int(text)
    m = _match(text, r"(Ki|Mi|Gi|Ti|k|K|M|G|T|)(i?B|b(?:ytes?)?)?", "a size", "2MB or 1.5MiB")
    scale = _BINARY.get(m.group(2)) or _SI[m.group(2)]
    return round(float(m.group(1)) * scale)


def parse_seconds(text: str | float) -> float:
    """Seconds from ``15ms``, ``2.5 s``, ``800us`` (plain numbers are seconds)."""
    if isinstance(text, int | float):
        return float(text)
    m = _match(text, r"(ns|us|µs|ms|s|)", "a duration", "15ms or 0.2s")
    return float(m.group(1)) * _TIME[m.group(2)]


def parse_joules(text: str | float) -> float:
    """Joules from ``50mJ``, ``0.2J``, ``800uJ`` (plain numbers are joules)."""
    if isinstance(text, int | float):
        return float(text)
    m = _match(text, r"(nJ|uJ|µJ|mJ|J|)", "an energy", "50mJ or 0.2J")
    return float(m.group(1)) * _ENERGY[m.group(2)]


def parse_count(text: str | float) -> int:
    """A count from ``1.2G``, ``300M``, ``1.2 GMAC``, ``4.1GFLOP``."""
    if isinstance(text, int | float):
        return int(text)
    m = _match(text, r"(k|K|M|G|T|)\s*(MACs?|FLOPs?|ops?|params?)?", "a count", "1.2G or 300MMAC")
    return round(float(m.group(1)) * _SI[m.group(2)])


def _scaled(value: float, units: list[tuple[float, str]], digits: int) -> str:
    for scale, name in units:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}f} {name}"
    scale, name = units[-1]
    return f"{value / scale:.{digits}f} {name}"


def format_bytes(value: float, digits: int = 2) -> str:
    """``14.02 MB`` (decimal prefixes)."""
    return _scaled(value, [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B")],
                   digits)


def format_seconds(value: float, digits: int = 2) -> str:
    """``15.30 ms``; ``inf`` for an infeasible time."""
    if math.isinf(value):
        return "inf"
    return _scaled(value, [(1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")], digits)


def format_joules(value: float, digits: int = 2) -> str:
    """``12.40 mJ``."""
    return _scaled(value, [(1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")], digits)


def format_count(value: float, unit: str = "", digits: int = 1) -> str:
    """``300.8 MMAC``, ``4.1 GFLOP``, ``3.5 M`` (no unit)."""
    text = _scaled(value, [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")], digits)
    return f"{text}{unit}".rstrip()
