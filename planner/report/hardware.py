"""Tables about hardware: profiles with their sources, and layers costed per processor."""

from __future__ import annotations

from graphs import Graph
from hardware_profiles import HardwareProfile, Sourced
from planner.contracts.units import format_bytes, format_seconds
from planner.cost import (
    Infeasible,
    LayerCost,
    best_processor,
    display_dtype,
    per_processor_costs,
    placement_cost,
    single_processor_placement,
)
from planner.report.table import Column, Table, cell


def profiles_table(profiles: list[HardwareProfile]) -> Table:
    """One row per bundled profile: its processors and their dtypes."""
    rows = [{
        "name": p.name,
        "display_name": p.display_name,
        "processors": ", ".join(f"{n} ({proc.kind}: {'/'.join(proc.dtypes)})"
                                for n, proc in p.processors.items()),
        "estimates": sum(s.estimate for _, s in p.sourced_numbers()),
        "numbers": len(p.sourced_numbers()),
    } for p in profiles]
    return Table("bundled hardware profiles", [
        Column("name", "profile"), Column("display_name", "device"),
        Column("processors", "processors (kind: dtypes)"),
        Column("numbers", "numbers", "int"), Column("estimates", "estimates", "int"),
    ], rows)


def _human(path: str, number: Sourced) -> str:
    value = number.value
    leaf = path.rsplit(".", 2)
    key = leaf[-1] if leaf[-1] not in ("fp32", "fp16", "int8", "int4") else leaf[-2]
    if key.endswith("_s") and "per_s" not in key:
        return format_seconds(value)
    if key.endswith("bytes_per_s"):
        return f"{format_bytes(value)}/s"
    if key.endswith("ops_per_s"):
        return f"{value / 1e9:,.1f} GOPS"
    if key.endswith("bytes"):
        return format_bytes(value)
    if key.endswith("_j"):
        return f"{value * 1e12:.3g} pJ"
    return f"{value:g}"


def profile_table(profile: HardwareProfile) -> Table:
    """Every number of one profile with its source and whether it is an estimate."""
    rows = [{"field": path, "value": _human(path, number), "raw": number.value,
             "estimate": "estimate" if number.estimate else "", "source": number.source}
            for path, number in profile.sourced_numbers()]
    notes = [profile.notes.strip()] if profile.notes.strip() else []
    return Table(f"{profile.display_name} ({profile.name}); host: {profile.host}", [
        Column("field", "field"), Column("value", "value"), Column("raw", "raw value", "float"),
        Column("estimate", "estimate"), Column("source", "source"),
    ], rows, notes=notes)


def hardware_table(graph: Graph, profile: HardwareProfile, preferred_dtype: str = "fp32"
                   ) -> Table:
    """Per layer: latency and bound on every processor alone, and the fastest processor.

    Each processor is costed at ``preferred_dtype`` when it computes in it, else at its
    widest dtype (an int8-only DSP at int8). Totals put every layer on one processor with
    fallback to the host for ops it cannot run, transfers included.
    """
    dtypes = {name: display_dtype(proc, preferred_dtype)
              for name, proc in profile.processors.items()}
    costs = per_processor_costs(graph, profile, dtypes)
    columns = [Column("name", "layer"), Column("op", "op"),
               Column("macs", "MACs", "count", "MAC")]
    for proc, dtype in dtypes.items():
        columns += [Column(f"{proc}_latency_s", f"{proc} {dtype}", "seconds"),
                    Column(f"{proc}_bound", "bound")]
    columns.append(Column("best_processor", "fastest"))
    rows = []
    for layer in graph:
        per_layer = {proc: costs[proc][layer.name] for proc in dtypes}
        if all(isinstance(c, LayerCost) and c.bound == "free" for c in per_layer.values()):
            continue
        row: dict[str, object] = {"name": layer.name, "op": layer.op,
                                  "macs": graph.work(layer.name).macs}
        for proc, result in per_layer.items():
            if isinstance(result, Infeasible):
                row[f"{proc}_latency_s"] = None
                row[f"{proc}_bound"] = "cannot run"
            else:
                row[f"{proc}_latency_s"] = result.latency_s
                row[f"{proc}_bound"] = result.bound
        row["best_processor"] = best_processor(per_layer) or "none"
        rows.append(row)
    totals: dict[str, object] = {"name": "whole model (with fallback and transfers)"}
    notes = []
    for proc, dtype in dtypes.items():
        placement = single_processor_placement(graph, profile, proc, dtype)
        total = placement_cost(graph, profile, placement)
        totals[f"{proc}_latency_s"] = total.total.latency_s
        moved = sum(1 for where, _ in placement.values() if where != proc)
        if moved:
            notes.append(f"{proc}: {moved} layer(s) it cannot run fall back to "
                         f"{profile.host}; the total includes "
                         f"{cell(total.total.transfer_s, Column('t', 't', 'seconds'))} of "
                         "transfers")
    unknown = graph.unmapped_ops()
    if unknown:
        notes.append("opaque layers cost only their memory traffic: "
                     + ", ".join(f"{op} ×{n}" for op, n in sorted(unknown.items())))
    return Table(f"{graph.name} on {profile.display_name}", columns, rows, totals, notes)
