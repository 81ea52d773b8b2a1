"""The table of a simulation: per layer predicted against measured size, MACs and error."""

from __future__ import annotations

from planner.contracts.quantities import format_quantity
from planner.report.table import Column, Table
from planner.validate import SimulationResult

SIMULATION_COLUMNS = [
    Column("name", "layer"), Column("op", "op"),
    Column("predicted_bytes", "size planned", "bytes"),
    Column("stored_bytes", "size stored", "bytes"),
    Column("predicted_macs", "MACs planned", "count", "MAC"),
    Column("executed_macs", "MACs run", "count", "MAC"),
    Column("nonzero_macs", "MACs non-zero", "count", "MAC"),
    Column("predicted_error", "error planned", "error"),
    Column("own_error", "error alone", "error"),
    Column("error", "error in net", "error"),
    Column("seconds", "time", "seconds"),
]


def simulation_table(result: SimulationResult, all_layers: bool = False) -> Table:
    """One row per planned layer with weights or MACs (every layer with ``all_layers``),
    totals, and notes on the network output (error, cosine, top-1, accuracy)."""
    rows = [r.model_dump() for r in result.layers
            if all_layers or r.executed_macs or r.stored_bytes]
    totals = {"name": "total", "predicted_bytes": result.predicted_bytes,
              "stored_bytes": result.stored_bytes, "predicted_macs": result.predicted_macs,
              "executed_macs": result.executed_macs, "nonzero_macs": result.nonzero_macs,
              "predicted_error": result.predicted_error, "error": result.error,
              "seconds": result.seconds}
    notes = [f"stored {format_quantity('size', result.stored_bytes)} of "
             f"{format_quantity('size', result.baseline_bytes)} uncompressed "
             f"({result.baseline_bytes / max(result.stored_bytes, 1):.1f}x smaller); "
             f"planned {format_quantity('size', result.predicted_bytes)}",
             f"MACs run {result.executed_macs / max(result.baseline_macs, 1):.1%} of the "
             f"uncompressed {result.baseline_macs:,}; numpy time {result.seconds:.3f} s "
             f"against {result.baseline_seconds:.3f} s for the batch of {result.batch}"]
    for out in result.outputs:
        line = (f"output {out.name}: error {out.error:.4g} (planned "
                f"{result.predicted_error:.4g}), relative L2 {out.relative_l2:.4g}, "
                f"cosine {out.cosine:.4f}")
        if out.top1_agreement is not None:
            line += f", top-1 agreement {out.top1_agreement:.1%}"
        if out.accuracy is not None and out.baseline_accuracy is not None:
            line += (f", accuracy {out.accuracy:.2%} (uncompressed "
                     f"{out.baseline_accuracy:.2%})")
        notes.append(line)
    return Table(f"simulation of the plan for {result.model} (batch {result.batch})",
                 SIMULATION_COLUMNS, rows, totals, notes)
