"""The plan file: a versioned, validated JSON record of one compression plan.

A :class:`Plan` holds the choice per unit (:class:`LayerPlan`), the predicted totals, the
uncompressed baseline, the budgets with the binding ones, and how the solver went. It is
written by :meth:`Plan.save` and read back by :func:`load_plan`, whose errors name the file
and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hardware_profiles import DTYPE_BITS
from planner.contracts.quantities import (
    QUANTITIES,
    Budgets,
    total_field,
    violations,
)

PLAN_VERSION = 1
_T = TypeVar("_T", bound=BaseModel)
Amount = Annotated[float, Field(ge=0)]
"""A cost or quantity in its unit (bytes, seconds, joules, error energy): never negative."""
Count = Annotated[int, Field(ge=0)]
"""A count (MACs, bytes, variables): never negative."""


class PlanError(ValueError):
    """A plan cannot be built for this model and device (the message says why)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class LayerPlan(_Frozen):
    """The choice for one unit (a layer and the layers fused into it) and its costs."""

    name: str = Field(min_length=1)
    op: str = Field(min_length=1)
    members: list[str] = Field(min_length=1)
    processor: str = Field(min_length=1)
    dtype: str
    keep_in: float = Field(gt=0, le=1)
    keep_out: float = Field(gt=0, le=1)
    sparsity: float = Field(ge=0, lt=1)
    weight_format: str
    rank: float = Field(gt=0, le=1)
    size_bytes: Amount
    latency_s: Amount
    energy_j: Amount
    output_bytes: Count
    macs: Count
    error: Amount
    sensitivity: Amount
    size_exact: bool

    @field_validator("members")
    @classmethod
    def _distinct_names(cls, value: list[str]) -> list[str]:
        if any(not name for name in value) or len(set(value)) != len(value):
            raise ValueError(f"members must be distinct layer names, got {value}")
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in DTYPE_BITS:
            raise ValueError(f"unknown dtype {value!r}; expected one of "
                             f"{', '.join(DTYPE_BITS)}")
        return value


class PlanTotals(_Frozen):
    """Predicted totals: bytes, seconds, joules, MACs, and the accuracy proxy."""

    size_bytes: Amount
    latency_s: Amount
    memory_bytes: Amount
    energy_j: Amount
    error: Amount
    transfer_s: Amount
    macs: Count

    def quantity(self, name: str) -> float:
        """A total by quantity name (size, latency, memory, energy, error)."""
        return float(getattr(self, total_field(name)))

    def violations(self, budgets: Budgets) -> list[str]:
        """The budgets these totals exceed (beyond solver tolerance)."""
        return violations({name: self.quantity(name) for name in QUANTITIES}, budgets)


class SolverReport(_Frozen):
    """How the ILP went."""

    solver: str
    optimal: bool
    gap: float | None = Field(ge=0)
    """Relative gap of the plan to the solver's best bound (0 when proven optimal); None
    when the solver stopped, at its time limit, before it had any bound."""
    seconds: float | None = Field(default=None, ge=0)
    """Solve time, when asked for (``planner plan --timings``): without it identical runs
    write identical plans."""
    variables: Count
    constraints: Count
    options: Count


Objective = Literal["accuracy", "latency", "size", "energy", "memory"]
"""What a plan minimizes (the others are budgets)."""
OBJECTIVES: tuple[Objective, ...] = ("accuracy", "latency", "size", "energy", "memory")


class Plan(_Frozen):
    """One compression plan, saved as versioned JSON (``save``/``load_plan``)."""

    version: int = PLAN_VERSION
    model: str
    profile: str
    objective: Objective
    budgets: dict[str, float | None]
    binding: list[str]
    proxy: str
    totals: PlanTotals
    baseline: PlanTotals
    layers: list[LayerPlan]
    groups: dict[str, float]
    """Keep ratio of each channel group, by group id."""
    solver: SolverReport
    notes: list[str] = Field(default_factory=list)

    @field_validator("budgets")
    @classmethod
    def _known_budgets(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        for name, bound in value.items():
            if name not in QUANTITIES:
                raise ValueError(f"unknown budget {name!r}; expected {', '.join(QUANTITIES)}")
            if bound is not None and not (bound >= 0 if name == "error" else bound > 0):
                least = "at least 0" if name == "error" else "positive"
                raise ValueError(f"budget {name!r} must be {least} or null, got {bound}")
        return value

    @field_validator("layers")
    @classmethod
    def _one_unit_per_layer(cls, value: list[LayerPlan]) -> list[LayerPlan]:
        seen: set[str] = set()
        for entry in value:
            twice = seen & {entry.name, *entry.members}
            if twice:
                raise ValueError(f"layer {sorted(twice)[0]!r} is planned twice")
            seen |= {entry.name, *entry.members}
        return value

    @field_validator("groups")
    @classmethod
    def _ratios(cls, value: dict[str, float]) -> dict[str, float]:
        for gid, ratio in value.items():
            if not gid.isdigit():
                raise ValueError(f"group id {gid!r} is not a number")
            if not 0 < ratio <= 1:
                raise ValueError(f"group {gid}: a keep ratio lies in (0, 1], got {ratio}")
        return value

    def layer(self, name: str) -> LayerPlan:
        """The plan of the unit rooted at ``name``."""
        for entry in self.layers:
            if entry.name == name or name in entry.members:
                return entry
        raise KeyError(f"no layer {name!r} in the plan of {self.model}")

    def save(self, path: str | Path) -> None:
        """Write the plan as JSON."""
        Path(path).write_text(self.model_dump_json(indent=1))

    def without_timings(self) -> Plan:
        """This plan with its solve time left out (what varies between identical runs)."""
        return self.model_copy(update={"solver": self.solver.model_copy(
            update={"seconds": None})})


def load_plan(path: str | Path) -> Plan:
    """Read a plan file; errors name the file and the field."""
    return _load(Plan, path, "plan")


def _load(kind: type[_T], path: str | Path, what: str) -> _T:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"{path}: cannot read a {what} ({exc})") from None
    if (not isinstance(data, dict) or isinstance(data.get("version"), bool)  # True == 1
            or data.get("version") != PLAN_VERSION):
        found = data.get("version") if isinstance(data, dict) else None
        raise PlanError(f"{path}: field 'version' is {found!r}, expected {PLAN_VERSION}")
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise PlanError(f"{path}: field {field!r}: {first['msg']}") from None


class Sweep(_Frozen):
    """Plans along a Pareto frontier (``planner sweep -o sweep.json``)."""

    version: int = PLAN_VERSION
    model: str
    profile: str
    over: str
    objective: Objective
    plans: list[Plan]

    def save(self, path: str | Path) -> None:
        """Write the sweep as JSON."""
        Path(path).write_text(self.model_dump_json(indent=1))


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file; errors name the file and the field."""
    return _load(Sweep, path, "sweep")
