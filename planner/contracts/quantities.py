"""The registry of quantities a plan is judged by: size, latency, memory, energy, error.

Each :class:`Quantity` is declared once, with its unit, the field of the plan's totals that
holds it, the objective that minimises it, how an option contributes to it, and how it is
parsed from and written as human text. The ILP, the evaluator, the plan file, the reports and
the CLI all read this table, so adding a quantity is one entry here.

>>> QUANTITIES["latency"].total_field, QUANTITIES["error"].objective
('latency_s', 'accuracy')
>>> Budgets.of(size=2e6, latency=15e-3).given()
{'size': 2000000.0, 'latency': 0.015}
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from planner.contracts.units import (
    format_bytes,
    format_joules,
    format_seconds,
    parse_bytes,
    parse_joules,
    parse_seconds,
)

BUDGET_TOLERANCE = 1e-6
"""Relative slack allowed when checking a budget (solver tolerances are of this order)."""


def _number(text: str | float) -> float:
    return float(text)


def _plain(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True)
class Quantity:
    """One quantity: ``name`` (as in budgets and reports), ``unit``, ``total_field`` (the
    field of the plan's totals and the keyword of ``plan(max_…)``, less ``max_``),
    ``objective`` (the objective that minimises it), ``aggregate`` (``sum`` over the chosen
    options, or the ``peak`` of live activations), and where an option carries it:
    ``option_field`` times ``option_scale``, times the unit's sensitivity when
    ``weighted``."""

    name: str
    unit: str
    total_field: str
    objective: str
    aggregate: Literal["sum", "peak"]
    option_field: str
    option_scale: float
    weighted: bool
    parse: Callable[[str | float], float]
    format: Callable[[float], str]


QUANTITIES: dict[str, Quantity] = {q.name: q for q in (
    Quantity("size", "B", "size_bytes", "size", "sum", "size_bits", 1 / 8, False,
             parse_bytes, format_bytes),
    Quantity("latency", "s", "latency_s", "latency", "sum", "latency_s", 1.0, False,
             parse_seconds, format_seconds),
    Quantity("memory", "B", "memory_bytes", "memory", "peak", "out_bytes", 1.0, False,
             parse_bytes, format_bytes),
    Quantity("energy", "J", "energy_j", "energy", "sum", "energy_j", 1.0, False,
             parse_joules, format_joules),
    Quantity("error", "", "error", "accuracy", "sum", "error", 1.0, True, _number, _plain),
)}
"""Every quantity, by name, in the order reports list them."""

QUANTITY_OF: dict[str, str] = {q.objective: q.name for q in QUANTITIES.values()}
"""Objective → the quantity it minimises (``accuracy`` minimises ``error``)."""


def format_quantity(name: str, value: float) -> str:
    """A quantity in human units.

    >>> format_quantity("size", 2_000_000), format_quantity("error", 0.012345)
    ('2.00 MB', '0.01235')
    """
    return QUANTITIES[name].format(value)


def total_field(name: str) -> str:
    """The field of the plan's totals (and the keyword of :func:`plan`, less ``max_``)
    that holds a quantity."""
    return QUANTITIES[name].total_field


class BudgetError(ValueError):
    """A budget that is no finite number at least zero."""


@dataclass(frozen=True, kw_only=True)
class Budgets:
    """Upper bounds a plan must meet, in base units; None: unconstrained. ``error`` bounds
    the accuracy proxy (the predicted relative output error energy). Build it by field
    (``Budgets(size_bytes=2e6)``) or by quantity name (``Budgets.of(size=2e6)``)."""

    size_bytes: float | None = None
    latency_s: float | None = None
    memory_bytes: float | None = None
    energy_j: float | None = None
    error: float | None = None

    def __post_init__(self) -> None:
        for name, bound in self.as_dict().items():
            if bound is None:
                continue
            if isinstance(bound, bool) or not isinstance(bound, numbers.Real) or not (
                    math.isfinite(bound) and bound >= 0):
                raise BudgetError(f"the {name} budget must be a finite number at least 0, "
                                  f"got {bound!r}")

    @classmethod
    def of(cls, **bounds: float | None) -> Budgets:
        """Budgets by quantity name; raises ValueError for a name that is no quantity."""
        unknown = sorted(set(bounds) - set(QUANTITIES))
        if unknown:
            raise ValueError(f"unknown quantity {', '.join(unknown)}; budgets are on "
                             f"{', '.join(QUANTITIES)}")
        return cls(**{QUANTITIES[name].total_field: value for name, value in bounds.items()})

    def given(self) -> dict[str, float]:
        """The budgets that are set, by quantity name."""
        return {k: v for k, v in self.as_dict().items() if v is not None}

    def as_dict(self) -> dict[str, float | None]:
        """quantity → bound, for every quantity."""
        return {name: getattr(self, q.total_field) for name, q in QUANTITIES.items()}

    def replace(self, **bounds: float | None) -> Budgets:
        """These budgets with some replaced, by quantity name."""
        return Budgets.of(**{**self.as_dict(), **bounds})


def exceeds(value: float, bound: float) -> bool:
    """Whether ``value`` breaks the budget ``bound`` beyond solver tolerance."""
    return value > bound * (1 + BUDGET_TOLERANCE) + 1e-12 or not math.isfinite(value)


def violations(totals: Mapping[str, float], budgets: Budgets) -> list[str]:
    """The budgets that totals (quantity name → value) exceed."""
    return [name for name, bound in budgets.given().items() if exceeds(totals[name], bound)]


__all__ = [
    "BUDGET_TOLERANCE",
    "QUANTITIES",
    "QUANTITY_OF",
    "BudgetError",
    "Budgets",
    "Quantity",
    "exceeds",
    "format_quantity",
    "total_field",
    "violations",
]
