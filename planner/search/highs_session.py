"""A fresh HiGHS instance set up the way every solve here wants it, and a run of it that
Ctrl-C stops."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any


def new_highs() -> Any:
    """A silent, single-threaded, seeded ``highspy.Highs`` (one thread: plans are solved
    beside other work on small machines, and runs stay reproducible)."""
    import highspy

    h = _quiet(highspy.Highs)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.HandleKeyboardInterrupt = True  # solves in a thread the main thread waits on
    return h


CANCEL_WAIT_S = 10.0
"""How long a cancelled solve may take to stop (HiGHS checks between iterations)."""


def run_highs(h: Any) -> None:
    """Run ``h`` to the end in HiGHS's solver thread while this one waits, so Ctrl-C is
    seen at once: it cancels the solve, waits for it to stop and raises KeyboardInterrupt
    (a plain ``run`` would notice only once it returns)."""
    h.startSolve()
    try:
        while not h.wait(0.1)[0]:
            pass
    except KeyboardInterrupt:
        h.cancelSolve()
        h.wait(CANCEL_WAIT_S)
        raise


def _quiet(make: Callable[[], Any]) -> Any:
    """``make()`` with the process's standard output closed: HiGHS prints its banner from
    C++ when the first instance is made, which would corrupt output a user pipes."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return make()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


__all__ = ["new_highs", "run_highs"]
