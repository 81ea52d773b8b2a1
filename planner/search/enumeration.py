"""The options of every unit of a problem, enumerated by worker processes where the
machine has cores to spare.

Enumeration is pure Python and numpy on small arrays, so threads would share one core
(the GIL); forked processes do not. Each worker enumerates whole units, the tables come
back in unit order, and every table equals what :func:`~planner.search.options.unit_options`
gives in this process (enumeration draws no random numbers). Where ``fork`` is not the
platform's way to start processes (it copies the graph without pickling it), or there is
one core or few units, the units are enumerated here, one after another.
:class:`Beforehand` starts the workers before the facts are measured, so that a unit's
options are enumerated while the sensitivity runs go on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from graphs import Graph
from hardware_profiles import HardwareProfile
from planner.compression import Unit
from planner.compression.coupling import Coupling
from planner.search.forking import forkable_cores, forked_pool, inherited
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

    def options(self, k: int, memo: CostMemo, facts: LayerFacts | None = None
                ) -> OptionTable:
        """The option table of unit ``k`` (under ``facts``: the job's by default)."""
        unit = self.units[k]
        return unit_options(unit, self.graph, self.coupling, self.profile, self.space,
                            facts if facts is not None else self.facts[unit.name],
                            self.dims, self.front, memo)


def workers(units: int) -> int:
    """How many worker processes enumerate ``units`` units here (0: this process alone)."""
    count = min(forkable_cores(), MAX_WORKERS, units // UNITS_PER_WORKER)
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
    with forked_pool(count, job) as pool:
        for table in pool.imap(_options_of, range(total)):
            ready(table)
    return tables


class Beforehand:
    """Option tables enumerated by worker processes while the caller is still measuring
    facts: :meth:`submit` a unit once its facts are final (from any thread), then
    :meth:`tables` collects every table in unit order. Option tables depend on a unit's
    weight and activation facts, not on its sensitivity (the ILP multiplies errors by
    it), so they can be enumerated while the sensitivity runs go on.

    The workers fork on entering the ``with`` block, before the caller starts any thread;
    a unit's facts travel with its task. Leaving the block stops the workers."""

    def __init__(self, job: Job, processes: int) -> None:
        self.job, self.processes = job, processes
        self._index = {unit.name: k for k, unit in enumerate(job.units)}
        self._pending: dict[int, Any] = {}
        self._pool: Any = None

    def __enter__(self) -> Beforehand:
        self._pool = forked_pool(self.processes, self.job, _yielding)
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.terminate()
        self._pool.join()

    def submit(self, name: str, facts: LayerFacts) -> None:
        """Enumerate unit ``name``'s options under ``facts`` (its final facts, but for the
        sensitivity) in a worker."""
        k = self._index[name]
        self._pending[k] = self._pool.apply_async(_options_of, ((k, replace(facts)),))

    def tables(self, facts: Mapping[str, LayerFacts],
               progress: Callable[[str, int, int], None] | None = None
               ) -> list[OptionTable]:
        """Every unit's table in order, under ``facts``. The workers' tables are taken from
        the front as they are ready; meanwhile this process enumerates units from the back
        (at its own priority, which the workers lack) until the two meet, and any unit
        never submitted."""
        memo = CostMemo()
        units = self.job.units
        tables: dict[int, OptionTable] = {}
        front, back = 0, len(units) - 1

        def here(k: int) -> OptionTable:
            return self.job.options(k, memo, facts[units[k].name])

        while front <= back:
            found = self._pending.get(front)
            if found is None or found.ready():
                k, front = front, front + 1
                tables[k] = found.get() if found is not None else here(k)
            else:  # the front is still being enumerated: take a unit off the back
                k, back = back, back - 1
                last = self._pending.get(k)
                tables[k] = last.get() if last is not None and last.ready() else here(k)
            if progress is not None:
                progress(f"options of {units[k].name}", len(tables), len(units))
        return [tables[k] for k in range(len(units))]


BESIDE_NICENESS = 10
"""How much lower than the measuring process the workers of :class:`Beforehand` run:
the sensitivity runs they share the cores with finish first, and the workers take what
the runs leave."""


def _yielding() -> None:
    """Lower this worker's priority (:data:`BESIDE_NICENESS`)."""
    with contextlib.suppress(OSError):  # not permitted: they run at the caller's priority
        os.nice(BESIDE_NICENESS)


_MEMO: CostMemo | None = None


def _options_of(task: int | tuple[int, LayerFacts]) -> Any:
    """Unit ``k``'s table, in a worker, under the job's facts or the task's (its memo of
    costs lives as long as the worker)."""
    global _MEMO
    job: Job = inherited()
    if _MEMO is None:
        _MEMO = CostMemo()
    k, facts = task if isinstance(task, tuple) else (task, None)
    return job.options(k, _MEMO, facts)


__all__ = ["Beforehand", "Job", "enumerate_options", "workers"]
