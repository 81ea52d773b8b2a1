"""The report as one self-contained HTML page: summary, charts (inline SVG), tables.

Charts: the roofline with every layer (at the dtype each processor computes the baseline
in), latency and size per layer before and after, the Pareto frontier with the chosen plan
marked (with a sweep), and predicted against measured size, MACs and error (with a
simulation). No scripts, no external files: the page opens anywhere, offline.
"""

from __future__ import annotations

import html

from planner.contracts.quantities import total_field
from planner.cost import display_dtype, per_processor_costs
from planner.report.document import Report, report_tables
from planner.report.plots import (
    frontier_figure,
    layer_bars_figure,
    predicted_measured_figure,
    roofline_figure,
    svg_text,
)
from planner.report.table import Table, human_columns, human_rows
from planner.search.problem import QUANTITY_OF

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2em 0.6em; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid #888; }
.scroll { overflow-x: auto; max-height: 40em; overflow-y: auto; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
.note { color: #555; font-size: 0.85em; margin: 0.2em 0; }
"""


def table_html(table: Table) -> str:
    """A table as HTML (human cells, totals row, notes)."""
    columns = human_columns(table)
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in columns)
    body = []
    rows = human_rows(table)
    for i, row in enumerate(rows):
        total = table.totals is not None and i == len(rows) - 1
        cells = "".join(
            f'<td class="{"text" if c.kind in ("text", "shape") else "num"}">'
            f"{html.escape(v)}</td>" for c, v in zip(columns, row, strict=True))
        body.append(f'<tr class="{"total" if total else "row"}">{cells}</tr>')
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in table.notes)
    return (f'<h2>{html.escape(table.title)}</h2><div class="scroll"><table><thead><tr>'
            f'{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{notes}')


def _figure(svg: str, caption: str, name: str) -> str:
    return (f'<figure id="{name}" class="chart">{svg}<figcaption>{html.escape(caption)}'
            "</figcaption></figure>")


def report_figures(report: Report) -> dict[str, str]:
    """Chart name → inline SVG figure element, for the charts the report's data allow."""
    graph, profile, plan = report.graph, report.profile, report.plan
    dtypes = {n: display_dtype(p) for n, p in profile.processors.items()}
    figures = {"roofline": _figure(svg_text(roofline_figure(
        profile, dtypes, per_processor_costs(graph, profile, dtypes),
        f"{graph.name} on {profile.display_name}")),
        "Roofline: every layer's arithmetic intensity and achieved FLOP/s under its "
        "processor's roofs (uncompressed).", "roofline")}
    base = {e.name: e for e in report.baseline.layers}
    shown = [e for e in plan.layers if (e.macs or e.size_bytes) and e.name in base]
    names = [e.name for e in shown]
    figures["layers"] = _figure(svg_text(layer_bars_figure(
        names,
        {"latency (s)": [base[n].latency_s for n in names],
         "size (bytes)": [base[n].size_bytes for n in names]},
        {"latency (s)": [e.latency_s for e in shown],
         "size (bytes)": [e.size_bytes for e in shown]},
        "per layer: before (fp32 on the host) and after the plan")),
        "Latency and stored size per layer before and after.", "layers")
    if report.frontier:
        over = next((q for q in ("size", "latency", "energy", "memory")
                     if len({p.budgets.get(q) for p in report.frontier}) > 1), "size")
        key = total_field(over)
        objective = total_field(QUANTITY_OF[plan.objective])
        points = [(getattr(p.totals, key), getattr(p.totals, objective))
                  for p in report.frontier]
        chosen = ((getattr(plan.totals, key), getattr(plan.totals, objective))
                  if report.planned else None)
        figures["frontier"] = _figure(svg_text(frontier_figure(
            points, chosen, f"{over} ({key.rsplit('_', 1)[-1]})", objective,
            f"Pareto frontier: {plan.objective} against {over}")),
            "Optimal plans of the sweep; the star is the plan of this report.", "frontier")
    sim = report.simulation
    if sim is not None:
        layers = sim.layers
        figures["measured"] = _figure(svg_text(predicted_measured_figure({
            "size (bytes)": ([r.predicted_bytes for r in layers],
                             [r.stored_bytes for r in layers]),
            "MACs": ([r.predicted_macs for r in layers], [r.executed_macs for r in layers]),
            "error alone": ([r.predicted_error for r in layers], [r.own_error for r in layers]),
        }, f"simulation (batch {sim.batch}): predicted against measured per layer")),
            "Each point is a layer; on the dashed line the prediction is exact.", "measured")
    return figures


def report_html(report: Report) -> str:
    """The whole page."""
    tables = report_tables(report)
    figures = report_figures(report)
    title = (f"{report.graph.name} on {report.profile.display_name}"
             + (f": plan minimising {report.plan.objective}" if report.planned else ""))
    parts = [table_html(tables[0]), *figures.values(), *(table_html(t) for t in tables[1:])]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>\n")
