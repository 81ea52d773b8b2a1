"""The planning problem as plain data, and the exact evaluation of one assignment.

A :class:`Problem` is what the ILP solves and what brute force enumerates: decisions (one per
unit) each with a list of options, channel groups that tie options' keep ratios together,
the consumers of every unit (for transfers and liveness) and the device's transfer links.
:func:`evaluate` prices an assignment (one option per decision) without any solver, so the
ILP can be checked against it.

Totals of an assignment:

- size: Σ stored bits of the chosen options + the fixed bits of constants, in bytes;
- latency: Σ option latencies + transfers (sequential execution): a unit's output moves
  once to every other processor that reads it, and outputs return to the host, each move
  costing the link's latency plus bytes over its bandwidth;
- peak memory: the largest sum of live activation bytes while the units run in order (a
  unit's output lives from its step to the step of its last consumer; graph outputs to
  the end);
- energy: Σ option energies (joules);
- error: Σ sensitivity × option error (the accuracy proxy, see planner.search.proxies).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from planner.contracts.plan_file import OBJECTIVES, Objective, PlanTotals
from planner.contracts.quantities import BUDGET_TOLERANCE, QUANTITY_OF, Budgets
from planner.search.option_table import Option, OptionTable


@dataclass
class Decision:
    """One unit to decide for: its options (records are kept as a table), the channel
    groups its options' ``ratios`` refer to (same order), the units that read its output,
    and its sensitivity."""

    name: str
    options: OptionTable
    groups: tuple[int, ...] = ()
    consumers: list[str] = field(default_factory=list)
    is_output: bool = False
    sensitivity: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.options, OptionTable):
            self.options = OptionTable.of(self.name, list(self.options))


@dataclass(frozen=True)
class Link:
    """Moving a tensor between two processors."""

    latency_s: float
    bytes_per_s: float

    def seconds(self, nbytes: float) -> float:
        """Time to move ``nbytes`` bytes."""
        return self.latency_s + nbytes / self.bytes_per_s


@dataclass
class Problem:
    """Decisions in execution (topological) order, the host, links by (source, destination)
    and the fixed stored bits (constants every plan keeps). ``at_bounds``: every option
    whose size is extrapolated counts at its proven upper bound (:meth:`priced`), so
    whatever a plan of it measures meets its budgets."""

    decisions: list[Decision]
    host: str
    links: dict[tuple[str, str], Link] = field(default_factory=dict)
    fixed_bits: int = 0
    at_bounds: bool = False
    memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)
    """What builders derive from this problem alone, kept for its next build (the options
    as arrays in :func:`planner.search.milp.build`); a changed problem is a new one."""
    layout: dict[object, object] = field(default_factory=dict, repr=False, compare=False)
    """What builders derive from the layout of the options alone (the program's structure:
    choice, coupling and transfer rows), shared with the problems made from this one by
    re-sizing options (:meth:`replacing`, :meth:`bounded`), whose layout is the same."""

    def __post_init__(self) -> None:
        self.index = {d.name: k for k, d in enumerate(self.decisions)}

    def decision(self, name: str) -> Decision:
        """The decision called ``name``."""
        return self.decisions[self.index[name]]

    def last_use(self) -> list[int]:
        """For each decision (by position), the position of its last reader (the end for
        graph outputs)."""
        end = len(self.decisions) - 1
        return [end if d.is_output else max((self.index[c] for c in d.consumers), default=k)
                for k, d in enumerate(self.decisions)]

    def live_sets(self) -> list[list[int]]:
        """For each step, the decisions whose outputs are in memory while it runs."""
        last = self.last_use()
        return [[j for j in range(k + 1) if last[j] >= k] for k in range(len(self.decisions))]

    def replacing(self, swap: Mapping[str, Mapping[int, Option]]) -> Problem:
        """A copy with some options replaced: decision name → {row of an option of it →
        its replacement (re-sized: the same choice)}. The original is unchanged."""
        decisions = [replace(d, options=d.options.replaced(swap[d.name]))
                     if d.name in swap else d for d in self.decisions]
        return Problem(decisions, self.host, self.links, self.fixed_bits, self.at_bounds,
                       layout=self.layout)

    def bounded(self) -> Problem:
        """This problem with every extrapolated size at its upper bound."""
        return Problem(self.decisions, self.host, self.links, self.fixed_bits, True,
                       layout=self.layout)

    def priced(self, option: Option) -> Option:
        """An option of this problem as it counts here (at its upper bound when the
        problem is ``at_bounds`` and its size is extrapolated)."""
        if self.at_bounds and not option.exact_size:
            return option.resized(option.bound_bits, False)
        return option

    def option_count(self) -> int:
        """Options over all decisions."""
        return sum(len(d.options) for d in self.decisions)


def consistent(problem: Problem, chosen: Sequence[Option]) -> bool:
    """True when every channel group gets one keep ratio from all decisions touching it."""
    ratio: dict[int, float] = {}
    for decision, option in zip(problem.decisions, chosen, strict=True):
        for gid, r in zip(decision.groups, option.ratios, strict=True):
            if ratio.setdefault(gid, r) != r:
                return False
    return True


def transfer_seconds(problem: Problem, chosen: Sequence[Option]) -> float:
    """Seconds spent moving tensors between processors under an assignment."""
    total = 0.0
    where = {d.name: o.choice.processor for d, o in zip(problem.decisions, chosen, strict=True)}
    for decision, option in zip(problem.decisions, chosen, strict=True):
        source = option.choice.processor
        destinations = {where[c] for c in decision.consumers}
        if decision.is_output:
            destinations.add(problem.host)
        for destination in destinations - {source}:
            total += problem.links[source, destination].seconds(option.out_bytes)
    return total


def evaluate(problem: Problem, chosen: Sequence[Option] | Mapping[str, Option]) -> PlanTotals:
    """Totals of an assignment (a sequence in decision order, or a mapping by name)."""
    if isinstance(chosen, Mapping):
        chosen = [chosen[d.name] for d in problem.decisions]
    transfer_s = transfer_seconds(problem, chosen)
    peak = max((sum(chosen[j].out_bytes for j in live) for live in problem.live_sets()),
               default=0)
    return PlanTotals(
        size_bytes=(problem.fixed_bits + sum(o.size_bits for o in chosen)) / 8,
        latency_s=sum(o.latency_s for o in chosen) + transfer_s,
        memory_bytes=float(peak),
        energy_j=sum(o.energy_j for o in chosen),
        error=sum(d.sensitivity * o.error for d, o in zip(problem.decisions, chosen,
                                                           strict=True)),
        transfer_s=transfer_s,
        macs=sum(o.macs for o in chosen),
    )


def brute_force(problem: Problem, budgets: Budgets, objective: Objective
                ) -> tuple[float, list[Option]] | None:
    """The best assignment by enumeration (small problems only): (objective value, choice),
    or None when no assignment meets the budgets."""
    best: tuple[float, list[Option]] | None = None
    quantity = QUANTITY_OF[objective]
    for combo in itertools.product(*([problem.priced(o) for o in d.options]
                                     for d in problem.decisions)):
        if not consistent(problem, combo):
            continue
        totals = evaluate(problem, combo)
        if totals.violations(budgets):
            continue
        value = totals.quantity(quantity)
        if best is None or value < best[0]:
            best = (value, list(combo))
    return best


def search_space(problem: Problem) -> float:
    """How many assignments brute force would enumerate (before consistency)."""
    return math.prod(len(d.options) for d in problem.decisions)


__all__ = [
    "BUDGET_TOLERANCE",
    "OBJECTIVES",
    "Budgets",
    "Decision",
    "Link",
    "Objective",
    "Problem",
    "brute_force",
    "consistent",
    "evaluate",
    "search_space",
]
