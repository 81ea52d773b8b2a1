"""The "exported and measured" table: an exported model's file size, outputs and
onnxruntime latency held against its plan."""

from __future__ import annotations

from planner.contracts.quantities import format_quantity
from planner.export import ExportCheck, ExportResult, Measurement
from planner.report.table import Column, Table

EXPORT_COLUMNS = [
    Column("name", "layer"),
    Column("predicted_s", "latency planned", "seconds"),
    Column("measured_s", "onnxruntime", "seconds"),
    Column("ratio", "measured / planned", "float"),
]


def export_table(check: ExportCheck) -> Table:
    """One row per planned layer with a predicted or measured time, the totals, and notes
    on the file's size, the outputs and the measurement."""
    rows = [{**layer.model_dump(),
             "ratio": layer.measured_s / layer.predicted_s if layer.predicted_s else None}
            for layer in check.layers]
    timing = check.measurement
    totals = {"name": "total (median of runs)", "predicted_s": check.predicted_latency_s,
              "measured_s": timing.median_s,
              "ratio": timing.median_s / check.predicted_latency_s
              if check.predicted_latency_s else None}
    notes = [f"{check.path}: {format_quantity('size', check.file_bytes)} on disk, "
             f"{check.file_bytes / max(check.planned_bytes, 1):.3f}x the planned "
             f"{format_quantity('size', check.planned_bytes)}",
             f"{timing.runtime}, {timing.threads} thread(s), batch {timing.batch}: median "
             f"{format_quantity('latency', timing.median_s)} of {timing.repeat} runs after "
             f"{timing.warmup} warm-up (10th–90th percentile "
             f"{format_quantity('latency', timing.p10_s)}–"
             f"{format_quantity('latency', timing.p90_s)}); planned latency is "
             f"{check.profile}'s prediction"]
    for out in check.outputs:
        notes.append(f"output {out.name} on {check.batch} inputs: onnxruntime against the "
                     f"simulation, relative L2 {out.relative_l2:.3g}; error against the "
                     f"uncompressed model {out.error:.4g} (simulated {out.simulated_error:.4g})")
    return Table(f"exported: {check.model} as ONNX, measured on this machine",
                 EXPORT_COLUMNS, rows, totals, notes)


def export_result_table(result: ExportResult) -> Table:
    """What ``planner export`` wrote: the file against the plan, as rows of one table."""
    rows = [
        {"what": "file", "written": result.file_bytes, "planned": result.planned_bytes,
         "ratio": result.file_bytes / max(result.planned_bytes, 1)},
        {"what": "MACs (counted from the ONNX graph)", "written": result.macs,
         "planned": result.planned_macs,
         "ratio": result.macs / result.planned_macs if result.planned_macs else None},
    ]
    notes = [f"{result.path}: opset {result.opset}, {result.nodes} nodes, "
             f"{result.quantized_activations} activation(s) as static QDQ (8-bit); checked "
             "with onnx.checker", *result.notes]
    return Table(f"export: {result.model} (plan for {result.profile}) as ONNX",
                 [Column("what", "quantity"), Column("written", "written", "count"),
                  Column("planned", "planned", "count"), Column("ratio", "ratio", "float")],
                 rows, None, notes)


def measurement_table(timing: Measurement) -> Table:
    """``planner measure``: per layer its median time in onnxruntime's profiler, and the
    whole run's median and spread."""
    rows = sorted((t.model_dump() for t in timing.layers), key=lambda r: -r["seconds"])
    totals = {"layer": "whole run (median)", "seconds": timing.median_s}
    notes = [f"{timing.runtime}, {timing.threads} thread(s), batch {timing.batch}, "
             f"{timing.repeat} timed runs after {timing.warmup} warm-up: 10th–90th "
             f"percentile {format_quantity('latency', timing.p10_s)}–"
             f"{format_quantity('latency', timing.p90_s)}",
             "per-layer times are kernel times from onnxruntime's profiler; nodes it fused "
             "count toward the layer they start from"]
    return Table(f"measure: {timing.path}",
                 [Column("layer", "layer"), Column("seconds", "median", "seconds"),
                  Column("nodes", "nodes", "int")], rows, totals, notes)
