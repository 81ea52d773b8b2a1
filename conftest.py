"""Suite-wide settings for tests and doctests: measured facts are cached in a temporary
folder, never in the user's cache."""

from __future__ import annotations

import os
import tempfile

os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="planner-test-cache-")
