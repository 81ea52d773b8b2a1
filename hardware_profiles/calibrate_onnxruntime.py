"""Host calibration on onnxruntime's own CPU kernels: a profile that predicts what an
exported model costs in onnxruntime on this machine.

The microbenchmarks (:mod:`hardware_profiles.onnx_kernels`) time one-op ONNX graphs at a
grid of shapes. From them:

- the fp32 peak is the fastest convolution or matrix product of the grid; the int8 peak a
  1024³ ``MatMulInteger`` (onnxruntime's x86 CPU kernels have no fp16 path, so the profile
  has no fp16 compute);
- the on-chip bandwidth comes from an ``Add`` of tensors that together fill half the
  largest (last-level) cache, whose size is the on-chip capacity; the DRAM bandwidth from
  a one-row ``Gemm`` whose weights are four times that cache (weights are read once per
  inference, so a model reads them as this does, however well they would fit);
- the launch overhead is the time per node of a chain of 65 tiny ``Relu``;
- whether a residual add (and the activation after it) fuses into the conv before it is
  read from the profile of a ``Relu(Conv(x) + x)`` graph, and what a fused activation
  still costs per output element from ``act(Conv(x))`` against ``Conv(x)``;
- int8 convolutions and depthwise convolutions, written as ``planner export`` writes
  layers that compute in int8 (static QDQ, which onnxruntime runs as ``QLinearConv``),
  get curves of their own against the int8 peak (``dtype_curves``): its depthwise kernels
  run slower than its fp32 ones, its dense ones about three times faster;
- each op class of :data:`FITTED` gets an efficiency curve over the GEMM shape it
  computes (for ops without MACs: output elements and FLOPs per element) and a fixed cost
  per kernel, fitted to its benchmarks (:func:`hardware_profiles.efficiency_fit.fit_curve`)
  against that roofline, and each op kind of the classes in
  :data:`~hardware_profiles.efficiency_fit.BY_KIND` timed often enough a curve of its own
  (onnxruntime's max pooling after a conv and its global average pooling are different
  kernels). The kernel times fitted are the profiler's, so the launch overhead (per node
  of a session) comes on top of them, as in a whole model.
"""

from __future__ import annotations

import datetime
import statistics
from typing import Any, Protocol

from hardware_profiles.efficiency_fit import BY_KIND, MIN_KIND_POINTS, Observation, fit_curve
from hardware_profiles.host import (
    Progress,
    cache_bytes,
    calibration_record,
    host_description,
    host_profile,
)
from hardware_profiles.onnx_kernels import (
    KernelTiming,
    Timer,
    default_cases,
    elementwise_case,
    gemm_case,
    int8_cases,
    ort_modules,
)
from hardware_profiles.schema import EfficiencyCurve, HardwareProfile

FITTED = ("conv", "depthwise_conv", "gemm", "matmul", "elementwise", "pooling",
          "normalization", "softmax", "data_movement")
"""Op classes whose efficiency is a fitted curve."""
INT8_FITTED = ("conv", "depthwise_conv")
"""Op classes with an int8 curve, fitted to convolutions written as ``planner export``
writes int8 layers (:func:`~hardware_profiles.onnx_kernels.int8_cases`) against the int8
peak."""
COMPUTE_CLASSES = ("conv", "gemm", "matmul")
"""Op classes whose fastest benchmark sets the fp32 peak."""
PASSES = 2
"""Passes over the grid; each benchmark keeps its fastest pass (on a shared machine other
work only ever slows a kernel down)."""


class Moves(Protocol):
    """A timed kernel's fp32 bytes: activations read and written, weights read."""

    @property
    def activation_bytes(self) -> float: ...

    @property
    def weight_bytes(self) -> float: ...


def memory_seconds(timing: Moves, roofs: dict[str, float]) -> float:
    """Seconds ``timing``'s memory traffic takes on the roofline as the benchmark ran it:
    in cache when its tensors fit there together, weights included (a kernel run over and
    over on the same tensors finds them there)."""
    fits = timing.activation_bytes + timing.weight_bytes <= roofs["onchip_bytes"]
    bandwidth = roofs["onchip_bytes_per_s"] if fits else roofs["dram_bytes_per_s"]
    return (timing.weight_bytes + timing.activation_bytes) / bandwidth


def calibrate_onnxruntime(progress: Progress | None = None, *, quick: bool = False,
                          name: str = "host", threads: int = 1) -> HardwareProfile:
    """Measure onnxruntime's CPU kernels here at ``threads`` intra-op threads (about three
    minutes; ``quick``: a few seconds on a smaller grid and one pass, for tests)."""
    _, ort = ort_modules()
    timer = Timer(threads, budget_s=0.01 if quick else 0.05, min_runs=3 if quick else 5)
    cases = list(default_cases(quick))
    integer = list(int8_cases(quick))
    passes = 1 if quick else PASSES
    steps = passes * (len(cases) + len(integer)) + 3
    stamp = datetime.date.today().isoformat()
    where = (f"onnxruntime {ort.__version__} CPU kernels at {threads} thread(s), measured by "
             f"planner calibrate --runtime onnxruntime, {stamp}")

    def report(label: str, index: int) -> None:
        if progress is not None:
            progress(label, index, steps)

    report("dispatch overhead", 1)
    per_node, call_s = timer.dispatch()
    fuses_add = timer.fuses_residual_add()
    activations = timer.fused_activation_rates(quick)
    report("int8 MatMulInteger", 2)
    int8 = timer.int8_gemm_rate(512 if quick else 1024)
    report("memory bandwidth", 3)
    cache, cache_source = cache_bytes(None)
    # an Add moves 12 bytes per element: half the cache
    small = 1 << 14 if quick else max(1 << 12, cache // 24)
    onchip_timing = timer.time(elementwise_case("Add", small))
    columns = 1024 if quick else max(1024, cache // 1024)
    dram_timing = timer.time(gemm_case(1, 1024, columns))  # 4 bytes x 1024 x columns
    roofs = {"onchip_bytes": float(cache),
             "onchip_bytes_per_s": onchip_timing.activation_bytes / onchip_timing.seconds,
             "dram_bytes_per_s": dram_timing.weight_bytes / dram_timing.seconds}
    timings: list[KernelTiming] = []
    every = cases + integer
    for index, case in enumerate(every):
        report(case.label, 4 + index)
        timings.append(timer.time(case))
    for again in range(1, passes):  # a later pass, minutes apart, keeps the faster time
        for index, case in enumerate(every):
            report(f"{case.label} (pass {again + 1})", 4 + again * len(every) + index)
            timings[index] = min(timings[index], timer.time(case), key=lambda t: t.seconds)
    timings, int8_timings = timings[:len(cases)], timings[len(cases):]
    peak = max(t.flops / t.seconds for t in timings if t.op_class in COMPUTE_CLASSES)
    fastest = max((t for t in timings if t.op_class in COMPUTE_CLASSES),
                  key=lambda t: t.flops / t.seconds)

    def fitted(chosen: list[KernelTiming], what: str, at: float | None = None
               ) -> EfficiencyCurve:
        observations = [Observation(t.m, t.n, t.k, t.flops, memory_seconds(t, roofs),
                                    t.seconds) for t in chosen]
        return fit_curve(observations, peak if at is None else at,
                         f"{where}: fitted to {len(observations)} {what} benchmarks")

    curves = {op_class: fitted(chosen, op_class) for op_class in FITTED
              if (chosen := [t for t in timings if t.op_class == op_class])}
    kinds = sorted({t.op for t in timings if t.op_class in BY_KIND})
    op_curves = {op: fitted(chosen, op) for op in kinds
                 if len(chosen := [t for t in timings if t.op == op]) >= MIN_KIND_POINTS}
    int8_curves = {op_class: fitted(chosen, f"int8 {op_class} (as exported)", int8)
                   for op_class in INT8_FITTED
                   if (chosen := [t for t in int8_timings if t.op_class == op_class])}
    timed = timings + int8_timings
    disagreed = [t.label for t in timed if not t.agreed]
    warnings = ([f"{len(disagreed)} of {len(timed)} benchmarks varied by more than 10% "
                 f"between halves of their runs (machine busy?): {', '.join(disagreed[:5])}"
                 + (" …" if len(disagreed) > 5 else "")] if disagreed else [])

    def measured(value: float, detail: str) -> dict[str, Any]:
        return {"value": value, "source": f"{where}: {detail}"}

    median_gemm = statistics.median(curves["gemm"].at(t.m, t.n, t.k)
                                    for t in timings if t.op_class == "gemm")
    cpu = {
        "kind": "cpu",
        "description": f"{threads} thread(s) of {host_description()}",
        "peak_ops_per_s": {
            "fp32": measured(peak, f"fastest fp32 kernel of the grid, {fastest.label}: "
                                   f"{peak / 1e9:.1f} GFLOP/s"),
            "int8": measured(int8, "uint8 x int8 MatMulInteger, int32 accumulation"),
        },
        "dram_bytes_per_s": measured(roofs["dram_bytes_per_s"],
                                     f"weights of a one-row Gemm by 1024 x {columns:,} "
                                     "(read once), bytes per second"),
        "onchip_bytes": {"value": roofs["onchip_bytes"],
                         "source": cache_source or "sysfs has no cache size",
                         "estimate": not cache_source},
        "onchip_bytes_per_s": measured(roofs["onchip_bytes_per_s"],
                                       f"Add of {small:,}-element tensors (within the "
                                       "largest cache)"),
        "launch_overhead_s": measured(per_node, "per node of a chain of 65 Relu on 16 values"),
        "efficiency": {
            "default": measured(min(1.0, median_gemm), "median of the fitted GEMM curve "
                                "over its benchmarks (op classes without a curve)"),
        },
        "efficiency_curves": curves,
        "op_curves": op_curves,
        "dtype_curves": {"int8": int8_curves},
        "fuses_residual_add": fuses_add,
        "fused_activation_s_per_element": activations,
    }
    calibration = calibration_record(
        "onnxruntime", ort.__version__, threads,
        f"onnxruntime CPUExecutionProvider (MLAS), all graph optimisations; session call "
        f"{call_s * 1e6:.1f} us", warnings)
    notes = ("Numbers are what onnxruntime's CPU kernels reach on this machine, for models "
             "exported with planner export and run at the same thread count. Efficiency "
             "curves per op class are fitted to one-op benchmarks; their rms_log_error is "
             "the error band on that grid.")
    return host_profile(name, cpu, notes, calibration)

__all__ = ["COMPUTE_CLASSES", "FITTED", "INT8_FITTED", "PASSES", "Moves", "calibrate_onnxruntime",
           "memory_seconds"]
