"""Work run in a second thread beside the calling one (measuring weights while the
executor runs: both spend their time in numpy, which releases the GIL, so two cores share
the work).

Numpy and BLAS calls are deterministic whatever thread makes them (BLAS is limited to one
thread per call by the caller's ``threadpool_limits``), so results equal a serial run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Beside(Generic[Item]):
    """``work(item)`` for each item, in order, in a daemon thread started on entering the
    ``with`` block. ``done`` counts finished items (read it from the calling thread for
    progress). Leaving the block waits for the thread: after a normal exit every item is
    done, or the thread's exception is raised here; after an exception in the block the
    thread stops before its next item and the block's exception propagates."""

    def __init__(self, work: Callable[[Item], None], items: Iterable[Item]) -> None:
        self.items: Sequence[Item] = list(items)
        self.done = 0
        self._work = work
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="planner-beside", daemon=True)

    def _run(self) -> None:
        try:
            for item in self.items:
                if self._stop.is_set():
                    return
                self._work(item)
                self.done += 1
        except BaseException as exc:  # handed to the calling thread on leaving the block
            self._error = exc

    def wait(self, tick: Callable[[int], None] | None = None, every_s: float = 0.1) -> None:
        """Block until the thread ends, calling ``tick(done)`` every ``every_s`` seconds
        meanwhile (progress; an exception from it stops the thread and propagates)."""
        try:
            while self._thread.is_alive():
                self._thread.join(every_s)
                if tick is not None:
                    tick(self.done)
        except BaseException:
            self._stop.set()
            raise
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Beside[Item]:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is not None:
            self._stop.set()
            self._thread.join()
            return
        self.wait()


__all__ = ["Beside"]
