"""The full report of one model on one device: one data model, every format.

A :class:`Report` gathers the annotated graph, the profile, the plan (the fp32-on-host
baseline when none is given), its baseline, an optional simulation result and an optional
Pareto sweep. From it come the tables (summary with every budget's use, per layer,
frontier, simulation), rendered as terminal text, Markdown, CSV (the per-layer table),
JSON (every table; the schema is ``report.schema.json`` beside this file) and a
self-contained HTML page with SVG charts (:mod:`planner.report.html`).

>>> from graphs import build_zoo_model
>>> from hardware_profiles import load
>>> r = build_report(build_zoo_model("lenet5", weights=True), load("raspberry_pi_5"))
>>> [t.title.split(":")[0] for t in report_tables(r)]
['summary', 'layers']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphs import Graph, Work
from hardware_profiles import HardwareProfile
from planner.contracts.plan_file import Plan
from planner.contracts.quantities import format_quantity, total_field
from planner.cost import LayerCost, fused_layers, layer_cost
from planner.export import ExportCheck
from planner.planning.whatif import fixed_plan
from planner.report.export_table import export_table
from planner.report.plan_table import solver_proof
from planner.report.table import Column, Table
from planner.validate import SimulationResult

REPORT_VERSION = 1
SCHEMA = Path(__file__).with_name("report.schema.json")


@dataclass
class Report:
    """Everything a report shows; ``plan`` is ``baseline`` when no plan was given."""

    graph: Graph
    profile: HardwareProfile
    plan: Plan
    baseline: Plan
    simulation: SimulationResult | None = None
    frontier: list[Plan] = field(default_factory=list)
    bounds: dict[str, str] = field(default_factory=dict)
    """Unit → what bounds its uncompressed layer on its planned processor and dtype."""
    exported: ExportCheck | None = None
    """The plan exported as ONNX and measured in onnxruntime (``planner report --exported``)."""

    @property
    def planned(self) -> bool:
        """Whether a real plan (not the baseline) is shown."""
        return self.plan is not self.baseline


def build_report(graph: Graph, profile: HardwareProfile, plan: Plan | None = None,
                 simulation: SimulationResult | None = None,
                 frontier: list[Plan] | None = None, exported: ExportCheck | None = None
                 ) -> Report:
    """A report of ``graph`` on ``profile``; the baseline plan (every layer fp32 on the
    host) is costed with the same model as ``plan``."""
    baseline = fixed_plan(graph, profile, [], proxy="uniform")
    shown = plan or baseline
    plans = [(p, "sweep") for p in frontier or []] + ([(plan, "plan")] if plan else [])
    made_for = [(p.model, what) for p, what in plans]
    if simulation is not None:
        made_for.append((simulation.model, "simulation"))
    if exported is not None:
        made_for.append((exported.model, "exported model"))
    for model, what in made_for:
        if model != graph.name:
            raise ValueError(f"the {what} is for {model!r}, the model is {graph.name!r}")
    for made, what in plans:
        if made.profile != profile.name:
            raise ValueError(f"the {what} was made for the profile {made.profile!r}; this "
                             f"report is on {profile.name!r} (pass -H {made.profile})")
    fused = fused_layers(graph)
    bounds: dict[str, str] = {}
    for entry in shown.layers:
        cost = layer_cost(graph[entry.name], profile, entry.processor, entry.dtype,
                          fused=entry.name in fused)
        bounds[entry.name] = cost.bound if isinstance(cost, LayerCost) else "cannot run"
    return Report(graph, profile, shown, baseline, simulation, list(frontier or []), bounds,
                  exported)


# ---------------------------------------------------------------- tables


def summary_table(report: Report) -> Table:
    """Per quantity: the baseline, the plan, its budget, the budget's use and whether it
    binds; then the simulation's measured totals when there is one."""
    plan, base = report.plan, report.baseline
    planned, baseline = plan.totals.model_dump(), base.totals.model_dump()
    rows = []
    for name in ("size", "latency", "memory", "energy", "error"):
        key = total_field(name)
        value, before = planned[key], baseline[key]
        bound = plan.budgets.get(name)
        rows.append({
            "quantity": name, "baseline_text": format_quantity(name, before),
            "plan_text": format_quantity(name, value),
            "budget_text": format_quantity(name, bound) if bound is not None else "",
            "baseline": before, "plan": value, "budget": bound,
            "use": value / bound if bound else None,
            "binding": "binding" if name in plan.binding else ""})
    rows.append({"quantity": "MACs", "baseline_text": f"{base.totals.macs:,}",
                 "plan_text": f"{plan.totals.macs:,}", "baseline": base.totals.macs,
                 "plan": plan.totals.macs})
    notes = [f"{report.graph.name} on {report.profile.display_name}: "
             + (f"plan minimising {plan.objective} ({plan.solver.solver}, "
                f"{solver_proof(plan.solver)})"
                if report.planned else "no plan given: the uncompressed model, fp32 on "
                f"{report.profile.host}")]
    sim = report.simulation
    if sim is not None:
        notes.append(f"simulated (batch {sim.batch}): stored "
                     f"{format_quantity('size', sim.stored_bytes)}, MACs {sim.executed_macs:,}"
                     f", output error {sim.error:.4g} (predicted {sim.predicted_error:.4g})")
        for out in sim.outputs:
            if out.accuracy is not None and out.baseline_accuracy is not None:
                notes.append(f"accuracy {out.accuracy:.2%} against {out.baseline_accuracy:.2%} "
                             "uncompressed")
    notes += plan.notes
    return Table(f"summary: {report.graph.name} on {report.profile.name}", [
        Column("quantity", "quantity"),
        Column("baseline_text", "baseline", shown="human"),
        Column("plan_text", "plan", shown="human"),
        Column("budget_text", "budget", shown="human"),
        Column("baseline", "baseline", "float", shown="machine"),
        Column("plan", "plan", "float", shown="machine"),
        Column("budget", "budget", "float", shown="machine"),
        Column("use", "budget use", "percent"), Column("binding", "binding")], rows,
        notes=notes)


LAYER_COLUMNS = [
    Column("name", "layer"), Column("op", "op"), Column("output_shape", "output", "shape"),
    Column("macs", "MACs", "count", "MAC"), Column("params", "params", "int"),
    Column("weight_bytes", "fp32 weights", "bytes"),
    Column("intensity_flop_per_byte", "FLOP/B", "float"), Column("bound", "bound"),
    Column("processor", "processor"), Column("dtype", "dtype"),
    Column("keep_out", "keep", "float"), Column("sparsity", "sparsity", "percent"),
    Column("weight_format", "weights"), Column("rank", "rank", "float"),
    Column("size_before_bytes", "size before", "bytes"),
    Column("size_after_bytes", "size after", "bytes"),
    Column("latency_before_s", "latency before", "seconds"),
    Column("latency_after_s", "latency after", "seconds"),
    Column("predicted_error", "error predicted", "error"),
    Column("measured_error", "error measured", "error"),
]


def layer_table(report: Report) -> Table:
    """One row per planned unit with work or weights: the graph's numbers for its root
    layer (MACs and params of all its members), the bound of the uncompressed layer on its
    planned processor, the choice, size and latency before (fp32 on the host) and after,
    and the error of the unit alone (relative output energy, before sensitivity):
    predicted by the proxy and, with a simulation, measured."""
    base = {e.name: e for e in report.baseline.layers}
    measured = ({r.name: r.own_error for r in report.simulation.layers}
                if report.simulation else {})
    rows = []
    for entry in report.plan.layers:
        if not (entry.macs or entry.size_bytes):
            continue
        work: Work = sum(report.graph.work(m) for m in entry.members)  # type: ignore[assignment]
        before = base.get(entry.name)
        rows.append({
            "name": entry.name, "op": entry.op,
            "output_shape": report.graph[entry.name].output_shape,
            "macs": work.macs, "params": work.params, "weight_bytes": work.weight_bytes,
            "intensity_flop_per_byte": round(work.intensity, 3),
            "bound": report.bounds.get(entry.name, ""), "processor": entry.processor,
            "dtype": entry.dtype, "keep_out": entry.keep_out, "sparsity": entry.sparsity,
            "weight_format": entry.weight_format, "rank": entry.rank,
            "size_before_bytes": before.size_bytes if before else None,
            "size_after_bytes": entry.size_bytes,
            "latency_before_s": before.latency_s if before else None,
            "latency_after_s": entry.latency_s,
            "predicted_error": entry.error / entry.sensitivity if entry.sensitivity else 0.0,
            "measured_error": measured.get(entry.name)})
    total = report.graph.total_work()
    totals = {"name": "total", "macs": total.macs, "params": total.params,
              "weight_bytes": total.weight_bytes,
              "size_before_bytes": report.baseline.totals.size_bytes,
              "size_after_bytes": report.plan.totals.size_bytes,
              "latency_before_s": report.baseline.totals.latency_s,
              "latency_after_s": report.plan.totals.latency_s}
    return Table(f"layers: {report.graph.name}", LAYER_COLUMNS, rows, totals,
                 notes=["before: every layer fp32 on the host; latency totals include "
                        "transfers between processors",
                        "errors: relative output energy of the unit alone, before "
                        "sensitivity"])


def frontier_table(plans: list[Plan], chosen: Plan | None = None) -> Table:
    """One row per plan of a sweep: its totals, which budgets bind, and whether it is
    ``chosen``."""
    rows = [{"point": i, **p.totals.model_dump(), "binding": ", ".join(p.binding),
             "chosen": "chosen" if chosen is not None and _same(p, chosen) else ""}
            for i, p in enumerate(plans)]
    return Table(f"frontier: {len(rows)} plans", [
        Column("point", "point", "int"), Column("size_bytes", "size", "bytes"),
        Column("latency_s", "latency", "seconds"), Column("energy_j", "energy", "joules"),
        Column("memory_bytes", "peak activations", "bytes"),
        Column("error", "proxy error", "error"), Column("binding", "binding"),
        Column("chosen", "chosen")], rows)


def _same(a: Plan, b: Plan) -> bool:
    return a.totals == b.totals and a.budgets == b.budgets


def report_tables(report: Report) -> list[Table]:
    """The tables of the report, in reading order."""
    tables = [summary_table(report), layer_table(report)]
    if report.frontier:
        tables.append(frontier_table(report.frontier, report.plan))
    if report.exported is not None:
        tables.append(export_table(report.exported))
    return tables


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (validates against ``report.schema.json``)."""
    return {"version": REPORT_VERSION, "model": report.graph.name,
            "profile": report.profile.name, "planned": report.planned,
            "tables": {t.title.split(":")[0]: t.to_dict() for t in report_tables(report)}}
