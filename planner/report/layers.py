"""Per-layer tables of an annotated graph."""

from __future__ import annotations

from graphs import Graph
from planner.contracts.units import format_count
from planner.report.table import Column, Table

GRAPH_COLUMNS = [
    Column("name", "layer"),
    Column("op", "op"),
    Column("output_shape", "output", "shape"),
    Column("macs", "MACs", "count", "MAC"),
    Column("flops", "FLOPs", "count", "FLOP"),
    Column("params", "params", "int"),
    Column("weight_bytes", "weights", "bytes"),
    Column("activation_bytes", "activations", "bytes"),
    Column("intensity_flop_per_byte", "FLOP/B", "float"),
]


def graph_table(graph: Graph, all_layers: bool = False) -> Table:
    """One row per layer (fp32 weights and activations) and a totals row.

    Layers that do no work at all (inputs, views) are left out unless ``all_layers``.
    Unmapped ops are listed in the notes with their counts.
    """
    rows = []
    for layer in graph:
        work = graph.work(layer.name)
        if not all_layers and work.flops == 0 and work.traffic_bytes == 0 and not work.params:
            continue
        rows.append({
            "name": layer.name,
            "op": layer.op if layer.op != "opaque" else f"opaque:{layer.attrs['target']}",
            "output_shape": layer.output_shape,
            "macs": work.macs,
            "flops": work.flops,
            "params": work.params,
            "weight_bytes": work.weight_bytes,
            "activation_bytes": work.activation_bytes,
            "intensity_flop_per_byte": round(work.intensity, 3),
        })
    total = graph.total_work()
    totals = {
        "name": f"total ({len(graph)} layers)",
        "macs": total.macs,
        "flops": total.flops,
        "params": total.params,
        "weight_bytes": total.weight_bytes,
        "activation_bytes": total.activation_bytes,
        "intensity_flop_per_byte": round(total.intensity, 3),
    }
    notes = [
        f"{count} node(s) of {op} could not be mapped: their parameters are counted, their "
        "MACs and FLOPs are not" for op, count in sorted(graph.unmapped_ops().items())
    ]
    unused = graph.metadata.get("unused_parameters")
    if unused:
        notes.append(f"{unused:,} parameters of the module are not used by its forward pass "
                     "(auxiliary heads) and are not counted")
    return Table(f"{graph.name}: {format_count(total.macs, 'MAC')}, {total.params:,} params "
                 "(fp32)",
                 GRAPH_COLUMNS, rows, totals, notes)
