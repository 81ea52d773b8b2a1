"""The table of a plan: per layer what was chosen and what it costs, and the totals."""

from __future__ import annotations

from planner.contracts.plan_file import Plan, SolverReport
from planner.contracts.quantities import format_quantity, total_field
from planner.report.table import Column, Table

PLAN_COLUMNS = [
    Column("name", "layer"), Column("op", "op"), Column("processor", "processor"),
    Column("dtype", "dtype"), Column("keep_out", "keep", "float"),
    Column("sparsity", "sparsity", "percent"), Column("weight_format", "weights"),
    Column("rank", "rank", "float"), Column("size_bytes", "size", "bytes"),
    Column("latency_s", "latency", "seconds"), Column("macs", "MACs", "count", "MAC"),
    Column("error", "proxy error", "error"),
]


def plan_table(plan: Plan, all_layers: bool = False) -> Table:
    """One row per decision (inputs and free layers only with ``all_layers``), totals, and
    notes with every budget's use and the binding ones."""
    rows = [entry.model_dump() for entry in plan.layers
            if all_layers or entry.macs or entry.size_bytes]
    totals = {"name": "total", **plan.totals.model_dump()}
    notes = []
    for name, bound in plan.budgets.items():
        if bound is None:
            continue
        used = plan.totals.model_dump()[total_field(name)]
        mark = " (binding)" if name in plan.binding else ""
        share = f" = {used / bound:.1%}" if bound else ""
        notes.append(f"{name}: {format_quantity(name, used)} of {format_quantity(name, bound)}"
                     f"{share}{mark}")
    base = plan.baseline
    notes.append(f"baseline (fp32 on the host): {format_quantity('size', base.size_bytes)}, "
                 f"{format_quantity('latency', base.latency_s)}; plan: "
                 f"{base.size_bytes / max(plan.totals.size_bytes, 1):.1f}x smaller, "
                 f"{base.latency_s / max(plan.totals.latency_s, 1e-12):.2f}x faster")
    s = plan.solver
    proof = solver_proof(s)
    took = f" in {s.seconds:.1f} s" if s.seconds is not None else ""
    notes.append(f"{s.solver}: {proof}{took} ({s.options} options, {s.variables} variables, "
                 f"{s.constraints} constraints)")
    notes += plan.notes
    return Table(f"plan for {plan.model} on {plan.profile} (minimise {plan.objective})",
                 PLAN_COLUMNS, rows, totals, notes)


def solver_proof(s: SolverReport) -> str:
    """How far the solver proved its plan: optimal, or the gap it left at its time limit."""
    if s.optimal:
        return f"optimal (residual gap {s.gap:.1e})" if s.gap else "optimal"
    return "no bound proved (time limit)" if s.gap is None else f"gap {s.gap:.2%}"
