"""The command line through its real entry point (python -m planner)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True,
                          text=True, timeout=120)


def test_inspect_formats() -> None:
    table = run("inspect", "resnet18")
    assert table.returncode == 0, table.stderr
    assert "resnet18: 1.8 GMAC, 11,689,512 params" in table.stdout
    assert "layer4.1.conv2" in table.stdout
    rows = list(csv.DictReader(io.StringIO(run("inspect", "resnet18", "-f", "csv").stdout)))
    assert sum(int(r["macs"]) for r in rows) == 1_814_073_344
    assert sum(int(r["params"]) for r in rows) == 11_689_512
    doc = json.loads(run("inspect", "resnet18", "-f", "json").stdout)
    assert doc["totals"]["params"] == 11_689_512
    assert {c["key"] for c in doc["columns"]} >= {"macs", "weight_bytes", "activation_bytes"}
    md = run("inspect", "resnet18", "-f", "md").stdout
    assert "| layer | op | output |" in md and "**11,689,512**" in md


def test_inspect_writes_file_and_takes_input_shape(tmp_path: Path) -> None:
    out = tmp_path / "lenet.csv"
    result = run("inspect", "resnet18", "--input-shape", "2,3,112,112", "-f", "csv", "-o",
                 str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert rows[-1]["output_shape"] == "2x1000"


def test_exit_codes_and_one_line_errors() -> None:
    unknown = run("inspect", "resnet49")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: unknown model 'resnet49'")
    assert "Traceback" not in unknown.stderr
    assert run("inspect", "resnet18", "--format", "xml").returncode == 2
    bad_shape = run("inspect", "resnet18", "--input-shape", "1,three")
    assert bad_shape.returncode == 1 and "cannot read input shape" in bad_shape.stderr
    assert "Example:" in run("--help").stdout
    assert "Example:" in run("inspect", "--help").stdout
