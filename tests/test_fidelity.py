"""docs/fidelity.md holds exactly what benchmarks/fidelity.py prints, and the model stays
within the error band the page states."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def fidelity_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fidelity", ROOT / "benchmarks" /
                                                  "fidelity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_table_is_what_the_script_prints() -> None:
    page = (ROOT / "docs" / "fidelity.md").read_text()
    block = page.split("<!-- fidelity:begin -->\n")[1].split("<!-- fidelity:end -->")[0]
    assert block == fidelity_module().markdown()


def test_predictions_stay_within_the_stated_band() -> None:
    rows = fidelity_module().fidelity_rows()
    assert len(rows) >= 12
    assert all(0.25 < r["ratio"] < 4.0 for r in rows)
    cpu = [r["ratio"] for r in rows if r["processor"] == "cpu" and r["dtype"] == "fp32"]
    assert all(0.8 < ratio < 1.25 for ratio in cpu)


def test_docs_fit_table_is_what_the_script_prints() -> None:
    page = (ROOT / "docs" / "fidelity.md").read_text()
    block = page.split("<!-- fit:begin -->\n")[1].split("<!-- fit:end -->")[0]
    assert block == fidelity_module().fit_markdown()
