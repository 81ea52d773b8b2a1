"""The options of every unit of a problem, enumerated by worker processes where the
machine has cores to spare.

Enumeration is pure Python and numpy on small arrays, so threads would share one core
(the GIL); forked processes do not. Each worker enumerates whole units, the tables come
back in unit order, and every table equals what :func:`~planner.search.options.unit_options`
gives in this process (enumeration draws no random numbers). Where ``fork`` is not the
platform's way to start processes (it copies the graph without pickling it), or there is
one core or few units, the units are enumerated here, one after another.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphs import Graph
from hardware_profiles import HardwareProfile
from planner.compression import Unit
from planner.compression.coupling import Coupling
from planner.search.option_table import OptionTable
from planner.search.options import CostMemo, Dimension, LayerFacts, OptionSpace, unit_options

MAX_WORKERS = 4
"""Worker processes at most (each holds a copy of the problem's memo of costs)."""
UNITS_PER_WORKER = 8
"""Below this many units per worker the processes cost more than they save."""


@dataclass(frozen=True)
class Job:
    """Everything the options of a problem's units depend on."""

    units: Sequence[Unit]
    graph: Graph
    coupling: Coupling
    profile: HardwareProfile
    space: OptionSpace
    facts: dict[str, LayerFacts]
    dims: tuple[Dimension, ...]
    front: bool

    def options(self, k: int, memo: CostMemo) -> OptionTable:
        """The option table of unit ``k``."""
        unit = self.units[k]
        return unit_options(unit, self.graph, self.coupling, self.profile, self.space,
                            self.facts[unit.name], self.dims, self.front, memo)


def workers(units: int) -> int:
    """How many worker processes enumerate ``units`` units here (0: this process alone)."""
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return 0  # elsewhere fork is unsafe or absent, and spawning re-imports everything
    cores = len(os.sched_getaffinity(0))
    count = min(cores, MAX_WORKERS, units // UNITS_PER_WORKER)
    return count if count >= 2 else 0


def enumerate_options(job: Job, progress: Callable[[str, int, int], None] | None = None,
                      processes: int | None = None) -> list[OptionTable]:
    """The option table of every unit of ``job``, in order, by ``processes`` worker
    processes (None: :func:`workers` decides; 0: in this process), calling
    ``progress(label, done, total)`` as each unit's table is ready."""
    count = workers(len(job.units)) if processes is None else processes
    total = len(job.units)
    tables: list[OptionTable] = []

    def ready(table: OptionTable) -> None:
        tables.append(table)
        if progress is not None:
            progress(f"options of {table.unit}", len(tables), total)

    if count < 2:
        memo = CostMemo()
        for k in range(total):
            ready(job.options(k, memo))
        return tables
    global _JOB
    _JOB = job  # the forked workers read it from their copy of this module
    try:
        with multiprocessing.get_context("fork").Pool(count) as pool:
            for table in pool.imap(_options_of, range(total)):
                ready(table)
    finally:
        _JOB = None
    return tables


_JOB: Job | None = None
_MEMO: CostMemo | None = None


def _options_of(k: int) -> Any:
    """Unit ``k``'s table, in a worker (its memo of costs lives as long as the worker)."""
    global _MEMO
    assert _JOB is not None, "a worker forked without a job"
    if _MEMO is None:
        _MEMO = CostMemo()
    return _JOB.options(k, _MEMO)


__all__ = ["Job", "enumerate_options", "workers"]
