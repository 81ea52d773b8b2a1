"""A fresh HiGHS instance set up the way every solve here wants it."""

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
    return h


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


__all__ = ["new_highs"]
