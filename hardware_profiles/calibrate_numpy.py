"""Host calibration: microbenchmark this machine with numpy and write a profile for it.

The profile describes what numpy reaches here (the planner's own simulator runs on numpy):
GEMM throughput at several sizes per dtype (the best is the peak), an im2col convolution,
a depthwise convolution and a batched linear layer against that peak (their efficiencies),
large copies (DRAM bandwidth), cache-sized copies (on-chip bandwidth) and the cost of a
tiny numpy call (launch overhead). Energy cannot be measured from user space; those
entries are Horowitz-based estimates and say so.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info

from hardware_profiles.host import (
    Progress,
    calibration_record,
    host_description,
    host_profile,
    largest_cache_bytes,
)
from hardware_profiles.schema import HardwareProfile

STEPS = ("fp32 GEMM", "fp16 GEMM", "int8 GEMM", "conv 3x3 (im2col)", "depthwise conv 3x3",
         "linear layer", "DRAM copy", "on-chip copy", "dispatch overhead")


def _best_seconds(fn: Callable[[], Any], budget_s: float, min_runs: int = 3) -> float:
    """Fastest of repeated runs, at least ``min_runs``, until ``budget_s`` is spent."""
    fn()
    best = float("inf")
    start = time.perf_counter()
    runs = 0
    while runs < min_runs or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return best


def _gemm_rate(dtype: Any, sizes: tuple[int, ...], budget_s: float) -> tuple[float, str]:
    rng = np.random.default_rng(0)
    best_rate, detail = 0.0, ""
    for n in sizes:
        if np.dtype(dtype).kind == "i":
            a = rng.integers(-128, 128, (n, n), dtype=np.int32)
            b = rng.integers(-128, 128, (n, n), dtype=np.int32)
        else:
            a = rng.standard_normal((n, n)).astype(dtype)
            b = rng.standard_normal((n, n)).astype(dtype)
        seconds = _best_seconds(partial(np.matmul, a, b), budget_s)
        rate = 2 * n**3 / seconds
        if rate > best_rate:
            best_rate, detail = rate, f"n={n}: {rate / 1e9:.2f} GOPS"
    return best_rate, detail


def _conv_rate(budget_s: float) -> float:
    """im2col 3×3 conv, 64→64 channels on 56×56: FLOPs per second."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 58, 58)).astype(np.float32)
    w = rng.standard_normal((64, 64 * 9)).astype(np.float32)

    def run() -> np.ndarray:
        cols = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
        cols = cols.transpose(0, 3, 4, 1, 2).reshape(64 * 9, 56 * 56)
        return w @ cols

    return 2 * 64 * 56 * 56 * 64 * 9 / _best_seconds(run, budget_s)


def _depthwise_rate(budget_s: float) -> float:
    """3×3 depthwise conv on 128×56×56: FLOPs per second."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((128, 58, 58)).astype(np.float32)
    w = rng.standard_normal((128, 3, 3)).astype(np.float32)

    def run() -> np.ndarray:
        windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
        return np.einsum("chwij,cij->chw", windows, w, optimize=True)

    return 2 * 128 * 56 * 56 * 9 / _best_seconds(run, budget_s)


def _linear_rate(budget_s: float) -> float:
    """A 64-row batch through a 1024×1024 linear layer: FLOPs per second."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    w = rng.standard_normal((1024, 1024)).astype(np.float32)
    return 2 * 64 * 1024 * 1024 / _best_seconds(lambda: x @ w.T, budget_s)


def _copy_rate(nbytes: int, budget_s: float) -> float:
    """Bytes read plus written per second copying an array of ``nbytes``."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / _best_seconds(lambda: np.copyto(dst, src), budget_s)


def _dispatch_seconds(budget_s: float) -> float:
    a, b = np.ones(1, np.float32), np.ones(1, np.float32)
    out = np.empty(1, np.float32)
    return _best_seconds(lambda: np.add(a, b, out=out), budget_s, min_runs=1000)


def calibrate_numpy(progress: Progress | None = None, *, quick: bool = False,
                    name: str = "host", threads: int = 1) -> HardwareProfile:
    """Measure what numpy reaches here (call inside ``threadpool_limits(threads)``;
    ``quick``: shorter budgets and smaller sizes, for tests)."""
    budget = 0.05 if quick else 0.5
    stamp = datetime.date.today().isoformat()
    where = f"measured by planner calibrate on {host_description()}, {stamp}"
    step = iter(range(1, len(STEPS) + 1))

    def report(label: str) -> None:
        if progress is not None:
            progress(label, next(step), len(STEPS))

    def measured(value: float, detail: str) -> dict[str, Any]:
        return {"value": value, "source": f"{where}: {detail}"}

    report(STEPS[0])
    fp32, fp32_detail = _gemm_rate(np.float32, (256, 512) if quick else (256, 512, 1024, 2048),
                                   budget)
    report(STEPS[1])
    fp16, fp16_detail = _gemm_rate(np.float16, (64,) if quick else (128, 256), budget)
    report(STEPS[2])
    int8, int8_detail = _gemm_rate(np.int32, (64,) if quick else (128, 256), budget)
    report(STEPS[3])
    conv = _conv_rate(budget)
    report(STEPS[4])
    depthwise = _depthwise_rate(budget)
    report(STEPS[5])
    linear = _linear_rate(budget)
    report(STEPS[6])
    dram = _copy_rate(64 << 20 if not quick else 16 << 20, budget)
    cache_bytes, cache_source = largest_cache_bytes()
    report(STEPS[7])
    onchip = _copy_rate(max(min(cache_bytes // 4, 1 << 20), 64 << 10), budget)
    report(STEPS[8])
    dispatch = _dispatch_seconds(budget)

    def fraction(rate: float, what: str) -> dict[str, Any]:
        return measured(min(1.0, rate / fp32), f"{what}: {rate / 1e9:.2f} GFLOP/s against the "
                                              f"fp32 GEMM peak")

    cpu = {
        "kind": "cpu",
        "description": host_description(),
        "peak_ops_per_s": {
            "fp32": measured(fp32, f"best float32 GEMM, {fp32_detail}"),
            "fp16": measured(fp16, f"best float16 GEMM, {fp16_detail}"),
            "int8": measured(int8, f"best int32-accumulated integer GEMM, {int8_detail}"),
        },
        "dram_bytes_per_s": measured(dram, "64 MB array copy, bytes read + written"),
        "onchip_bytes": {"value": float(cache_bytes),
                         "source": f"{cache_source or 'sysfs has no cache size'}",
                         "estimate": not cache_source},
        "onchip_bytes_per_s": measured(onchip, "cache-sized array copy, read + written"),
        "launch_overhead_s": measured(dispatch, "np.add on one element"),
        "efficiency": {
            "default": fraction(linear, "64x1024 by 1024x1024 linear layer"),
            "conv": fraction(conv, "3x3 conv 64->64 on 56x56 by im2col + GEMM"),
            "gemm": fraction(linear, "64x1024 by 1024x1024 linear layer"),
            "depthwise_conv": fraction(depthwise, "3x3 depthwise conv, 128 ch on 56x56"),
        },
    }
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                     for i in threadpool_info() if i.get("user_api") == "blas") or "unknown"
    calibration = calibration_record("numpy", np.__version__, threads, blas)
    notes = ("Numbers are what numpy reaches on this machine (the planner's simulator runs on "
             "numpy); fp16 and int8 GEMMs have no BLAS path in numpy.")
    return host_profile(name, cpu, notes, calibration)


__all__ = ["STEPS", "calibrate_numpy"]
