"""Reports: every format from one data model; the JSON validates against its schema, the
CSV parses, the HTML carries its charts, and a headless Chromium renders them."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from graphs.zoo.digits import digits_split
from hardware_profiles import load
from planner import Planner, load_model, pareto, simulate
from planner.report.document import (
    SCHEMA,
    Report,
    build_report,
    layer_table,
    report_json,
)
from planner.report.output import render_report
from planner.search.problem import Budgets

BOARD = load("raspberry_pi_5")


@pytest.fixture(scope="module")
def full() -> Report:
    graph = load_model("digits_cnn", weights=True)
    planner = Planner(graph, BOARD, proxy="weights")
    plan = planner.solve(Budgets(size_bytes=20_000))
    frontier = pareto(graph, BOARD, points=4, planner=planner)
    _, _, images, labels = digits_split()
    result = simulate(graph, plan, images[:64], labels=labels[:64])
    return build_report(graph, BOARD, plan, result, frontier)


@pytest.fixture(scope="module")
def bare() -> Report:
    return build_report(load_model("mobilenet_v2"), load("snapdragon_855"))


def test_json_validates_against_the_schema(full: Report, bare: Report) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for report in (full, bare):
        doc = json.loads(render_report(report, "json"))
        jsonschema.validate(doc, schema)
        assert doc == json.loads(json.dumps(report_json(report)))
    doc = json.loads(render_report(full, "json"))
    assert set(doc["tables"]) == {"summary", "layers", "frontier"}
    summary = {r["quantity"]: r for r in doc["tables"]["summary"]["rows"]}
    assert summary["size"]["budget"] == 20_000 and summary["size"]["plan"] <= 20_000
    assert summary["size"]["binding"] == ("binding" if summary["size"]["use"] >= 0.999 else "")
    broken = json.loads(render_report(full, "json"))
    broken["tables"]["layers"]["rows"] = "not a list"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_csv_is_the_layer_table_in_base_units(full: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(full, "csv"))))
    plan_rows = [e for e in full.plan.layers if e.macs or e.size_bytes]
    assert [r["name"] for r in rows] == [e.name for e in plan_rows]
    assert sum(float(r["size_after_bytes"]) for r in rows) <= full.plan.totals.size_bytes
    assert sum(int(r["macs"]) for r in rows) == full.graph.total_work().macs
    measured = [float(r["measured_error"]) for r in rows]  # from the simulation
    assert all(np.isfinite(measured)) and max(measured) > 0
    assert {"bound", "processor", "weight_format", "latency_before_s"} <= set(rows[0])


def test_markdown_and_terminal_carry_every_table(full: Report) -> None:
    md = render_report(full, "md")
    for title in ("**summary:", "**layers:", "**frontier:"):
        assert title in md
    assert "| quantity | baseline | plan | budget |" in md
    text = render_report(full, "table")
    assert "conv2" in text and "frontier" in text


def test_html_is_self_contained_with_every_chart(full: Report, bare: Report) -> None:
    page = render_report(full, "html")
    for chart in ("roofline", "layers", "frontier", "measured"):
        assert f'<figure id="{chart}" class="chart"><svg' in page, chart
    assert page.count("<svg") == 4 and "<script" not in page
    assert "src=\"http" not in page and "href=\"http" not in page.replace(
        'href="http://www.w3.org', "")
    assert "conv2" in page and "summary: digits_cnn" in page
    assert render_report(bare, "html").count("<svg") == 2  # no sweep, no simulation


def test_layer_table_before_is_fp32_on_the_host(bare: Report) -> None:
    table = layer_table(bare)
    assert all(r["processor"] == "cpu" and r["dtype"] == "fp32" for r in table.rows)
    assert all(r["size_before_bytes"] == r["size_after_bytes"] for r in table.rows)
    assert table.totals is not None
    assert table.totals["size_after_bytes"] == bare.baseline.totals.size_bytes


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed "
                    "(apt-get install chromium); scripts/screenshot_report.py needs it too")
def test_headless_chromium_renders_the_charts(full: Report, tmp_path: Path) -> None:
    from matplotlib import image

    page = tmp_path / "report.html"
    page.write_text(render_report(full, "html"))
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                    "--hide-scrollbars", "--window-size=1280,2600", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    pixels = (image.imread(shot)[:, :, :3] * 255).round().astype(int)
    colours = {tuple(p) for p in pixels.reshape(-1, 3)[::7]}

    def near(rgb: tuple[int, int, int]) -> bool:
        return any(sum(abs(a - b) for a, b in zip(c, rgb, strict=True)) < 30 for c in colours)

    # matplotlib's tab:green bars (after), tab:red star / compute-bound points, tab:purple
    # predicted-vs-measured points: present only if the SVG charts were drawn
    assert near((44, 160, 44)) and near((214, 39, 40)) and near((148, 103, 189))


def test_a_plan_stopped_before_any_bound_says_so(full: Report) -> None:
    """A time-limited solve may hold a plan but no bound: its gap is unknown, not infinite
    (JSON has no infinity), and the reports say what happened."""
    from planner.contracts.plan_file import Plan
    from planner.report.plan_table import plan_table

    assert full.plan is not None
    solver = full.plan.solver.model_copy(update={"optimal": False, "gap": None})
    stopped = full.plan.model_copy(update={"solver": solver})
    assert Plan.model_validate_json(stopped.model_dump_json()).solver.gap is None
    assert any("no bound proved (time limit)" in n for n in plan_table(stopped).notes)
