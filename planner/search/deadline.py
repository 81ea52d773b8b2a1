"""A time limit shared by several solves."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    """A time limit shared by several solves: each gets what is left of it."""

    seconds: float | None
    """The whole limit (None: none)."""
    start: float = field(default_factory=time.perf_counter)

    def left(self) -> float | None:
        """Seconds left (at least 0), or None without a limit."""
        if self.seconds is None:
            return None
        return max(0.0, self.seconds - (time.perf_counter() - self.start))

    @property
    def expired(self) -> bool:
        """Whether the limit has passed."""
        left = self.left()
        return left is not None and left <= 0


__all__ = ["Deadline"]
