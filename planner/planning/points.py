"""Solving many budgets of one planner at once: the points of a Pareto sweep, each a whole
:meth:`~planner.planning.plan.Planner.solve`, shared among worker processes where the
machine has cores to spare.

Every solve is single-threaded and deterministic (HiGHS seeded, on one thread), so a
point's plan is the same whichever process solves it. The workers fork before this
process makes its next solve and inherit the planner (its measured facts and options)
without pickling it; only budgets go out and plans come back. Where ``fork`` is not the
platform's way to start processes, or there is one core, the points are solved here, one
after another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from planner.contracts.plan_file import Plan
from planner.search.forking import forkable_cores, forked_pool, inherited
from planner.search.problem import Budgets

Progress = Callable[[str, int, int], None]


class Points:
    """Many budgets solved by ``one`` (a planner's whole solve: the plan, or None where no
    plan meets the budgets): :meth:`solve` returns each point's plan. Use as a ``with``
    block; the workers (``processes``; None: one per core where processes can be forked;
    below 2: none) fork on entering it and inherit ``one`` and what it reads."""

    def __init__(self, one: Callable[[Budgets], Plan | None],
                 processes: int | None = None,
                 in_worker: Callable[[], None] | None = None) -> None:
        self.one = one
        self.in_worker = in_worker
        """Called in each worker as it starts (to silence a progress bar whose lock
        another thread of this process may have held at the fork)."""
        self.processes = forkable_cores() if processes is None else processes
        self._pool: Any = None

    def __enter__(self) -> Points:
        if self.processes >= 2:
            self._pool = forked_pool(self.processes, self, _started)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()

    def solve(self, budgets: Sequence[Budgets], progress: Progress | None = None
              ) -> list[Plan | None]:
        """The plan of each of ``budgets``, in order (None: none meets it), calling
        ``progress(label, done, total)`` as each is ready."""
        plans: list[Plan | None] = []
        found = (self._pool.imap(_solved, budgets) if self._pool is not None
                 else map(self.one, budgets))
        for plan in found:
            plans.append(plan)
            if progress is not None:
                progress(f"solved point {len(plans)}/{len(budgets)}", len(plans),
                         len(budgets))
        return plans


def _started() -> None:
    """A worker's first step: the caller's ``in_worker``."""
    points: Points = inherited()
    if points.in_worker is not None:
        points.in_worker()


def _solved(budgets: Budgets) -> Plan | None:
    """One point, in a worker (it reads the planner its fork inherited)."""
    points: Points = inherited()
    return points.one(budgets)


__all__ = ["Points"]
