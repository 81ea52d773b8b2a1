"""Host calibration on onnxruntime's own CPU kernels: a profile that predicts what an
exported model costs in onnxruntime on this machine.

The microbenchmarks (:mod:`hardware_profiles.onnx_kernels`) time one-op ONNX graphs at a
grid of shapes. From them:

- the fp32 peak is the fastest convolution or matrix product of the grid; the int8 peak a
  1024³ ``MatMulInteger`` (onnxruntime's x86 CPU kernels have no fp16 path, so the profile
  has no fp16 compute);
- bandwidths come from an ``Add`` of three tensors: one that fits the per-core L2 cache
  (on-chip) and one far beyond it (DRAM); the on-chip capacity is that L2's size;
- the launch overhead is the time per node of a chain of 65 tiny ``Relu``;
- whether a residual add (and the activation after it) fuses into the conv before it is
  read from the profile of a ``Relu(Conv(x) + x)`` graph;
- each of conv, depthwise conv, GEMM, batched matmul and elementwise gets an efficiency
  curve over the GEMM shape it computes, fitted to its benchmarks
  (:func:`hardware_profiles.efficiency_fit.fit_curve`) against that roofline.
"""

from __future__ import annotations

import datetime
import statistics
from typing import Any

from hardware_profiles.efficiency_fit import Observation, fit_curve
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
    ort_modules,
)
from hardware_profiles.schema import HardwareProfile

FITTED = ("conv", "depthwise_conv", "gemm", "matmul", "elementwise", "pooling")
"""Op classes whose efficiency is a fitted curve."""
COMPUTE_CLASSES = ("conv", "gemm", "matmul")
"""Op classes whose fastest benchmark sets the fp32 peak."""


def memory_seconds(timing: KernelTiming, roofs: dict[str, float]) -> float:
    """Seconds the roofline charges ``timing``'s memory traffic (fp32 weights from DRAM,
    activations on chip when they fit)."""
    activation_bw = (roofs["onchip_bytes_per_s"] if timing.activation_bytes
                     <= roofs["onchip_bytes"] else roofs["dram_bytes_per_s"])
    return (timing.weight_bytes / roofs["dram_bytes_per_s"]
            + timing.activation_bytes / activation_bw)


def calibrate_onnxruntime(progress: Progress | None = None, *, quick: bool = False,
                          name: str = "host", threads: int = 1) -> HardwareProfile:
    """Measure onnxruntime's CPU kernels here at ``threads`` intra-op threads (about a
    minute; ``quick``: a few seconds on a smaller grid, for tests)."""
    _, ort = ort_modules()
    timer = Timer(threads, budget_s=0.01 if quick else 0.05, min_runs=3 if quick else 5)
    cases = list(default_cases(quick))
    steps = len(cases) + 3
    stamp = datetime.date.today().isoformat()
    where = (f"onnxruntime {ort.__version__} CPU kernels at {threads} thread(s), measured by "
             f"planner calibrate --runtime onnxruntime, {stamp}")

    def report(label: str, index: int) -> None:
        if progress is not None:
            progress(label, index, steps)

    report("dispatch overhead", 1)
    per_node, call_s = timer.dispatch()
    fuses_add = timer.fuses_residual_add()
    report("int8 MatMulInteger", 2)
    int8 = timer.int8_gemm_rate(512 if quick else 1024)
    report("memory bandwidth", 3)
    l2, l2_source = cache_bytes(2)
    small = 1 << 14 if quick else 1 << 16
    large = 1 << 21
    onchip_timing = timer.time(elementwise_case("Add", small))
    dram_timing = timer.time(elementwise_case("Add", large))
    roofs = {"onchip_bytes": float(l2),
             "onchip_bytes_per_s": onchip_timing.activation_bytes / onchip_timing.seconds,
             "dram_bytes_per_s": dram_timing.activation_bytes / dram_timing.seconds}
    timings: list[KernelTiming] = []
    for i, case in enumerate(cases, start=4):
        report(case.label, i)
        timings.append(timer.time(case))
    peak = max(t.flops / t.seconds for t in timings if t.op_class in COMPUTE_CLASSES)
    fastest = max((t for t in timings if t.op_class in COMPUTE_CLASSES),
                  key=lambda t: t.flops / t.seconds)
    curves = {}
    for op_class in FITTED:
        chosen = [t for t in timings if t.op_class == op_class]
        observations = [Observation(t.m, t.n, t.k, t.flops, memory_seconds(t, roofs),
                                    max(t.seconds - per_node, 1e-9)) for t in chosen]
        if observations:
            curves[op_class] = fit_curve(observations, peak, f"{where}: fitted to "
                                         f"{len(observations)} {op_class} benchmarks")
    disagreed = [t.label for t in timings if not t.agreed]
    warnings = ([f"{len(disagreed)} of {len(timings)} benchmarks varied by more than 10% "
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
                                     f"Add of {large:,}-element tensors, bytes read + written"),
        "onchip_bytes": {"value": roofs["onchip_bytes"],
                         "source": l2_source or "sysfs has no L2 size", "estimate": not l2_source},
        "onchip_bytes_per_s": measured(roofs["onchip_bytes_per_s"],
                                       f"Add of {small:,}-element tensors (within L2)"),
        "launch_overhead_s": measured(per_node, "per node of a chain of 65 Relu on 16 values"),
        "efficiency": {
            "default": measured(min(1.0, median_gemm), "median of the fitted GEMM curve "
                                "over its benchmarks (op classes without a curve)"),
        },
        "efficiency_curves": curves,
        "fuses_residual_add": fuses_add,
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

__all__ = ["COMPUTE_CLASSES", "FITTED", "calibrate_onnxruntime", "memory_seconds"]
