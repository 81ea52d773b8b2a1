"""A report in any format: the text formats come from its tables
(:mod:`planner.report.document`), the HTML page from :mod:`planner.report.html`."""

from __future__ import annotations

import json

from planner.report.document import Report, layer_table, report_json, report_tables
from planner.report.html import report_html
from planner.report.table import render

REPORT_FORMATS = ("table", "md", "csv", "json", "html")


def render_report(report: Report, fmt: str) -> str:
    """The report in ``fmt``: table, md, json, csv (the per-layer table) or html."""
    if fmt == "json":
        return json.dumps(report_json(report), indent=1)
    if fmt == "csv":
        return render(layer_table(report), "csv")
    if fmt == "html":
        return report_html(report)
    if fmt in ("table", "md"):
        return "\n".join(render(t, fmt) for t in report_tables(report))
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(REPORT_FORMATS)}")
