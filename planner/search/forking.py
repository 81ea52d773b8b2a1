"""Worker processes forked from this one: they inherit what they work on (a graph, a
planner) from this process's memory instead of having it pickled to them.

Fork is the start method only on Linux here (elsewhere it is unsafe or absent, and
spawning would re-import everything and pickle the work); :func:`forkable_cores` says 0
where it is not available, and callers then work in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from typing import Any

_INHERITED: Any = None
"""What the workers of the pool being forked read (:func:`inherited`); set only while
they fork, so each keeps its own copy and this process none."""


def forkable_cores() -> int:
    """The cores this process may run on where worker processes can be forked, else 0."""
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return len(os.sched_getaffinity(0))


def forked_pool(processes: int, inherit: object,
                initializer: Callable[[], None] | None = None) -> Any:
    """A ``multiprocessing`` pool of ``processes`` forked workers, each of which reads
    ``inherit`` with :func:`inherited` (``initializer`` runs in each as it starts)."""
    global _INHERITED
    _INHERITED = inherit
    try:
        return multiprocessing.get_context("fork").Pool(processes, initializer=initializer)
    finally:
        _INHERITED = None


def inherited() -> Any:
    """In a worker of :func:`forked_pool`: what it was forked to work on."""
    assert _INHERITED is not None, "not a worker of forked_pool"
    return _INHERITED


__all__ = ["forkable_cores", "forked_pool", "inherited"]
