"""Host calibration on the planner's own numpy executor: a profile that predicts what
:func:`planner.execution.execute` (and so ``planner simulate``) costs on this machine.

The executor runs every layer as its own numpy kernel: a convolution does not absorb the
batch norm and activation after it, pooling has its own strided-window kernel, and each
layer pays the executor's Python dispatch. The calibration times the executor running
seeded random networks (:mod:`planner.validate.synthetic_networks`: blocks CNN families
and transformers are made of, at their widths and sizes; no zoo model), every layer's
seconds as the executor records them, the median of repeated runs after a warm-up. From
them:

- each op class gets an efficiency curve over its GEMM shape and a fixed cost per kernel
  (:func:`hardware_profiles.efficiency_fit.fit_curve`), fitted to the layers the cost
  model prices on their own, relative to numpy's fp32 GEMM peak (or the fastest
  convolution or matrix product, where one is faster);
- the batch norms and activations the cost model fuses into the conv or linear before
  them (deployment runtimes do; the executor does not) get their own price: seconds per
  output element by kind and a fixed seconds per layer, the line over the sizes met with
  the least squared relative error;
- the launch overhead is the executor's own seconds per layer beyond its kernels, in the
  same runs; DRAM and on-chip bandwidths and the fp16/int8 GEMM rates are numpy's
  (:func:`hardware_profiles.calibrate.calibrate` with ``runtime="numpy"``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from graphs import Graph, GraphBuilder, seeded_weights
from hardware_profiles import EfficiencyCurve, HardwareProfile
from hardware_profiles.calibrate import calibrate
from hardware_profiles.calibrate_onnxruntime import memory_seconds
from hardware_profiles.efficiency_fit import BY_KIND, MIN_KIND_POINTS, Observation, fit_curve
from hardware_profiles.host import Progress, calibration_record
from hardware_profiles.onnx_kernels import AGREEMENT, halves_agree
from planner.cost import fused_layers, gemm_shape
from planner.execution import calibration_inputs, execute
from planner.validate.synthetic_networks import synthetic_networks

COMPUTE_CLASSES = ("conv", "gemm", "matmul")
"""Op classes whose fastest layer is a lower bound on the fp32 peak (with numpy's GEMM peak)."""
PASSES = 2
"""Passes over the networks; each keeps its faster pass (on a shared machine other work
only ever slows a run down)."""


@dataclass(frozen=True)
class LayerTiming:
    """A layer timed inside a network: its op class and kind, GEMM shape ``(m, n, k)``,
    FLOPs, output elements, bytes moved (fp32), and median seconds per run."""

    op_class: str
    op: str
    label: str
    gemm: tuple[float, float, float]
    flops: float
    elements: float
    activation_bytes: float
    weight_bytes: float
    seconds: float
    fused: bool


@dataclass(frozen=True)
class NetworkTiming:
    """One network's median seconds per run, every timed layer, the executor's own
    seconds per layer beyond its kernels, and whether the two halves of the runs agreed
    on the network's time."""

    seconds: float
    layers: list[LayerTiming]
    dispatch_s: float
    agreed: bool


class ExecutorTimer:
    """Runs networks in the executor, repeated until ``budget_s`` is spent (at least
    ``min_runs`` times after a warm-up), and keeps each layer's median seconds."""

    def __init__(self, budget_s: float, min_runs: int = 5) -> None:
        self.budget_s, self.min_runs = budget_s, min_runs

    def time(self, graph: Graph) -> NetworkTiming:
        """Each layer's median seconds in ``graph`` at batch 1 (views and layers without
        work are left out)."""
        walls, per_layer, outside = self.runs(graph)
        fused = fused_layers(graph)
        layers = []
        for name, seconds in per_layer.items():
            layer = graph[name]
            work = layer.work()
            if work.flops == 0 and work.traffic_bytes == 0:
                continue
            shape = gemm_shape(layer.op, layer.input_shapes, layer.output_shape, layer.attrs)
            layers.append(LayerTiming(
                layer.op_class, layer.op, f"{graph.name}/{name}", shape or (1.0, 1.0, 0.0),
                float(work.flops), float(layer.output_elements),
                float(work.input_bytes + work.output_bytes), float(work.weight_read_bytes),
                max(statistics.median(seconds), 1e-9), name in fused))
        # charged to the layers the roofline prices: views cost it nothing of their own
        dispatch = max(statistics.median(outside), 0.0) / max(1, len(layers))
        return NetworkTiming(statistics.median(walls), layers, dispatch, halves_agree(walls))

    def runs(self, graph: Graph) -> tuple[list[float], dict[str, list[float]], list[float]]:
        """Runs ``graph`` in the executor after a warm-up: each run's wall seconds, each
        layer's seconds per run, and each run's seconds outside its layers."""
        feeds = calibration_inputs(graph, batch=1)
        execute(graph, feeds)
        walls: list[float] = []
        per_layer: dict[str, list[float]] = {}
        outside: list[float] = []
        start = time.perf_counter()
        while len(walls) < self.min_runs or time.perf_counter() - start < self.budget_s:
            t0 = time.perf_counter()
            run = execute(graph, feeds)
            walls.append(time.perf_counter() - t0)
            outside.append(walls[-1] - sum(run.seconds.values()))
            for name, spent in run.seconds.items():
                per_layer.setdefault(name, []).append(spent)
        return walls, per_layer, outside


def fused_rates(timings: list[LayerTiming]) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per output element and fixed seconds per layer of each kind of layer the
    cost model fuses, as the executor ran it: the line of its seconds over its output
    elements that minimises the squared relative error (a batch norm's fixed part is
    several times a ReLU's; a plain least-squares line, pulled by the largest layers,
    put it higher still and priced small layers at up to twice their time). A kind met
    at fewer than three sizes gets the median slope and intercept of the others."""
    by_kind: dict[str, list[LayerTiming]] = {}
    for t in timings:
        if t.fused:
            by_kind.setdefault(t.op, []).append(t)
    lines = {kind: [max(float(v), 0.0) for v in np.polyfit(
        [t.elements for t in ts], [t.seconds for t in ts], 1,
        w=[1 / t.seconds for t in ts])]
        for kind, ts in by_kind.items() if len({t.elements for t in ts}) >= 3}
    typical = [statistics.median(line[i] for line in lines.values()) if lines else 0.0
               for i in (0, 1)]
    fitted = {kind: lines.get(kind, typical) for kind in by_kind}
    return ({kind: line[0] for kind, line in fitted.items()},
            {kind: line[1] for kind, line in fitted.items()})


def dram_bytes_per_s(timer: ExecutorTimer, cache_bytes: float) -> float:
    """Bytes per second the executor reads weights at from DRAM: a one-row linear layer
    whose fp32 weights are four times the largest cache (a model reads its weights once
    per inference, however well they would fit)."""
    columns = max(1024, int(cache_bytes) // 1024)  # 4 bytes × 1024 × columns
    b = GraphBuilder("dram")
    graph = seeded_weights(b.build([b.linear(b.input((1, 1024)), columns, bias=False)]))
    (layer,) = [t for t in timer.time(graph).layers if t.op == "linear"]
    return layer.weight_bytes / layer.seconds


def calibrate_executor(progress: Progress | None = None, *, quick: bool = False,
                       name: str = "host", threads: int = 1,
                       timer: ExecutorTimer | None = None,
                       roofs: HardwareProfile | None = None) -> HardwareProfile:
    """Measure the planner's numpy executor here at ``threads`` BLAS threads (about two
    minutes; ``quick``: seconds on three small networks and one pass, for tests).

    ``timer`` times the networks (default: an :class:`ExecutorTimer` running the
    executor); ``roofs`` is the one-processor profile whose cache size, on-chip bandwidth
    and fp16/int8 rates the result keeps (default: numpy's, measured here)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    with threadpool_limits(threads):
        if roofs is None:
            roofs = calibrate(quick=quick, name=name, runtime="numpy", threads=threads)
        if timer is None:
            timer = ExecutorTimer(budget_s=0.05 if quick else 0.4, min_runs=3 if quick else 7)
        return _calibrate(progress, quick, name, threads, timer, roofs)


def _calibrate(progress: Progress | None, quick: bool, name: str, threads: int,
               timer: ExecutorTimer, roofs: HardwareProfile) -> HardwareProfile:
    networks = list(synthetic_networks(quick))
    cpu = roofs.processors["cpu"]
    passes = 1 if quick else PASSES
    runs: list[NetworkTiming] = []
    for again in range(passes):  # a later pass, a minute apart, keeps the faster network
        for index, graph in enumerate(networks):
            if progress is not None:
                progress(graph.name, again * len(networks) + index + 1,
                         passes * len(networks))
            timing = timer.time(graph)
            if again == 0:
                runs.append(timing)
            elif timing.seconds < runs[index].seconds:
                runs[index] = timing
    timings = [t for run in runs for t in run.layers]
    dram = dram_bytes_per_s(timer, cpu.onchip_bytes.value)
    roofline = {"onchip_bytes": cpu.onchip_bytes.value, "dram_bytes_per_s": dram,
                "onchip_bytes_per_s": cpu.onchip_bytes_per_s.value}
    alone = [t for t in timings if not t.fused]
    compute = [t for t in alone if t.op_class in COMPUTE_CLASSES]
    fastest = max(compute, key=lambda t: t.flops / t.seconds)
    # numpy's GEMM peak bounds every layer; the fastest layer met may fall short of what
    # larger layers reach, and curves relative to it could not rise above it
    blas_peak = cpu.peak_ops_per_s["fp32"].value
    peak = max(blas_peak, fastest.flops / fastest.seconds)
    where = (f"planner's numpy executor (numpy {np.__version__}) at {threads} thread(s), "
             f"measured by planner calibrate --runtime numpy")

    def fitted(chosen: list[LayerTiming], what: str) -> EfficiencyCurve:
        observations = [Observation(*t.gemm, t.flops, memory_seconds(t, roofline), t.seconds)
                        for t in chosen]
        return fit_curve(observations, peak, f"{where}: fitted to {len(chosen)} {what} layers")

    curves = {op_class: fitted([t for t in alone if t.op_class == op_class], op_class)
              for op_class in sorted({t.op_class for t in alone})}
    kinds = sorted({t.op for t in alone if t.op_class in BY_KIND})
    op_curves = {op: fitted(chosen, op) for op in kinds
                 if len(chosen := [t for t in alone if t.op == op]) >= MIN_KIND_POINTS}
    rates, fixed = fused_rates(timings)
    dispatch = statistics.median(run.dispatch_s for run in runs)
    disagreed = [graph.name for graph, run in zip(networks, runs, strict=True)
                 if not run.agreed]
    warnings = list(roofs.calibration.warnings) if roofs.calibration else []
    if disagreed:
        warnings.append(f"{len(disagreed)} of {len(runs)} networks varied by more than "
                        f"{AGREEMENT:.0%} between halves of their runs (machine busy?): "
                        + ", ".join(disagreed[:5]) + (" …" if len(disagreed) > 5 else ""))
    gemm_curve = curves.get("gemm")
    default = (statistics.median(gemm_curve.at(*t.gemm) for t in alone
                                 if t.op_class == "gemm") if gemm_curve else
               cpu.efficiency_of("default"))
    base = cpu.model_dump(mode="json", exclude_none=True)
    data = base | {
        "description": f"{threads} thread(s) of {cpu.description}",
        "peak_ops_per_s": {
            **base["peak_ops_per_s"],
            "fp32": {"value": peak, "source": f"{where}: the larger of numpy's fp32 GEMM "
                     f"peak ({blas_peak / 1e9:.1f} GFLOP/s) and the fastest fp32 layer "
                     f"({fastest.label}: {fastest.flops / fastest.seconds / 1e9:.1f})"}},
        "dram_bytes_per_s": {"value": dram, "source": f"{where}: the weights of a one-row "
                             "linear layer four times the largest cache, bytes per second"},
        "launch_overhead_s": {"value": dispatch, "source": f"{where}: the executor's own "
                              "seconds per layer beyond its kernels (median of networks)"},
        "efficiency": {"default": {"value": min(1.0, default), "source": f"{where}: median "
                                   "of the fitted GEMM curve over its layers"}},
        "efficiency_curves": {k: v.model_dump(mode="json") for k, v in curves.items()},
        "op_curves": {k: v.model_dump(mode="json") for k, v in op_curves.items()},
        "fused_activation_s_per_element": rates,
        "fused_layer_s": {kind: seconds + dispatch for kind, seconds in fixed.items()},
    }
    calibration = calibration_record(
        "numpy", np.__version__, threads,
        f"planner executor on {roofs.calibration.kernels if roofs.calibration else 'numpy'}",
        warnings)
    notes = ("Numbers are what the planner's numpy executor reaches on this machine, layer "
             "by layer as it runs them inside networks (no fusion: a batch norm or "
             "activation after a conv is a kernel of its own, priced per element). "
             "Efficiency curves per op class are fitted to those layers; their "
             "rms_log_error is the error band on them.")
    profile = roofs.model_copy(update={"name": name, "notes": notes, "calibration": calibration})
    return HardwareProfile.model_validate(
        profile.model_dump(mode="json", exclude_none=True) | {"processors": {"cpu": data}})


__all__ = ["COMPUTE_CLASSES", "ExecutorTimer", "LayerTiming", "NetworkTiming",
           "calibrate_executor", "fused_rates"]
