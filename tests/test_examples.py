"""The scripts under examples/ run as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SKIPPED = {"train_digits_cnn.py": "rewrites the committed weights; their accuracy is tested "
                                  "in test_zoo"}
WRITES = {"plan_simulate_report.py": ("plan.json", "sweep.json", "simulation.json",
                                      "report.html")}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs(script: str, tmp_path: Path) -> None:
    if script in SKIPPED:
        pytest.skip(SKIPPED[script])
    done = subprocess.run([sys.executable, str(EXAMPLES / script), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
    for name in WRITES.get(script, ()):
        assert (tmp_path / name).stat().st_size > 0, name

