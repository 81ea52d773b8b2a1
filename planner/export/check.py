"""An exported model held against its plan: the file's size against the planned bytes,
onnxruntime's outputs against the simulation's, and onnxruntime's measured latency on this
machine against the plan's predicted latency, per planned layer and in total.

The latency comparison is meaningful when the plan's profile describes this machine (a
profile written by ``planner calibrate``); against another device's profile it shows how
far this machine is from that device.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from graphs import Graph
from planner.compression import CompressionError, compress
from planner.compression.storage import relative_error
from planner.contracts.plan_file import Plan
from planner.execution import KernelError, calibration_inputs, execute, input_arrays
from planner.export.runtime import Measurement, measure, run_onnx
from planner.export.to_onnx import ExportError
from planner.validate import run_compressed


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExportedOutput(_Model):
    """One graph output: onnxruntime against the simulation of the same plan
    (``relative_l2``), and both against the uncompressed model (relative output energy)."""

    name: str
    relative_l2: float
    error: float
    simulated_error: float


class ExportedLayer(_Model):
    """One planned layer: predicted seconds (the plan's, on its processor) against the
    median seconds onnxruntime spent in the nodes computing it."""

    name: str
    predicted_s: float
    measured_s: float


class ExportCheck(_Model):
    """An exported model checked against its plan (see the module docstring)."""

    path: str
    model: str
    profile: str
    file_bytes: int
    planned_bytes: float
    batch: int
    outputs: list[ExportedOutput]
    predicted_latency_s: float
    measurement: Measurement
    layers: list[ExportedLayer]


def check_export(graph: Graph, plan: Plan, path: str | Path,
                 inputs: np.ndarray | Mapping[str, np.ndarray] | None = None, *,
                 batch: int = 8, seed: int = 0, threads: int = 1, repeat: int = 20
                 ) -> ExportCheck:
    """Run the model at ``path`` (exported from ``plan``) on ``inputs`` (default: the
    seeded calibration inputs ``export`` uses) against the simulation, and time it at
    batch 1 with ``threads`` threads."""
    target = Path(path)
    if not target.is_file():
        raise ExportError(f"{target}: no such exported model")
    try:
        built = compress(graph, plan)
        feeds = dict(input_arrays(graph, inputs if inputs is not None
                                  else calibration_inputs(graph, batch=batch, seed=seed)))
        simulated = run_compressed(built, feeds).outputs
        clean = execute(built.reference, feeds).outputs
    except (CompressionError, KernelError) as exc:
        raise ExportError(str(exc)) from None
    ran = run_onnx(target, feeds)
    missing = [o for o in simulated if o not in ran]
    if missing:
        raise ExportError(f"{target}: has no output {', '.join(missing)}; was it exported "
                          f"from this plan of {graph.name}?")
    outputs = [ExportedOutput(name=o, relative_l2=relative_error(simulated[o], ran[o]) ** 0.5,
                              error=relative_error(clean[o], ran[o]),
                              simulated_error=relative_error(clean[o], simulated[o]))
               for o in simulated]
    one = {name: value[:1] for name, value in feeds.items()}
    timing = measure(target, one, threads=threads, repeat=repeat)
    unit_of = {name: unit.name for unit in built.units.values() for name in unit.layers}
    measured: dict[str, float] = {}
    for node in timing.layers:
        unit = unit_of.get(node.layer)
        if unit is not None:
            measured[unit] = measured.get(unit, 0.0) + node.seconds
    layers = [ExportedLayer(name=e.name, predicted_s=e.latency_s,
                            measured_s=measured.get(e.name, 0.0))
              for e in plan.layers if e.latency_s or e.name in measured]
    return ExportCheck(path=str(target), model=plan.model, profile=plan.profile,
                       file_bytes=target.stat().st_size, planned_bytes=plan.totals.size_bytes,
                       batch=len(next(iter(feeds.values()))), outputs=outputs,
                       predicted_latency_s=plan.totals.latency_s, measurement=timing,
                       layers=layers)

