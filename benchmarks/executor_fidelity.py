"""Predicted vs measured latency of the planner's own numpy executor on this machine, for
a profile calibrated on the executor's kernels (``planner calibrate --runtime numpy``),
side by side with the profile of numpy's raw roofs that calibration used to be (GEMM peak,
copies and one efficiency per op class).

    python benchmarks/fidelity.py --executor              # 15 zoo models, 1 thread
    python benchmarks/fidelity.py --executor --write      # and update docs/fidelity.md

Per model: the fp32 zoo model with seeded weights is run by :func:`planner.execution.execute`
at batch 1 with BLAS held to ``--threads`` threads, ``--repeat`` times after a warm-up;
the end-to-end time is the median run, per-layer times the median of the executor's own
per-layer seconds. :data:`~host_fidelity.ROUNDS` rounds over all models, each keeping its
fastest. Both profiles are calibrated in this process first. No model is used to fit
anything: the executor profile is fitted to seeded random networks
(:mod:`planner.validate.synthetic_networks`), none of them a zoo model.

Per layer, measured times are grouped by the layer the prediction charges them to (a conv
and the batch norm and activation it prices with it are one group) and compared with the
predicted seconds less the executor's dispatch (its per-layer times are its kernels'); an
op class's error is the median of ``|predicted / measured − 1|`` over its groups.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import defaultdict

from host_fidelity import ROUNDS, WITHIN, Measured, class_table, per_class_errors, predict
from threadpoolctl import threadpool_limits

from graphs import build_zoo_model
from hardware_profiles.calibrate import calibrate
from planner.cost import fused_layers
from planner.execution import calibration_inputs, execute
from planner.validate import calibrate_executor


def measure_executor(name: str, repeat: int) -> Measured:
    """The executor's batch-1 latency of zoo model ``name``: the median of ``repeat`` runs
    after one warm-up, per layer group the median of each layer's seconds."""
    graph = build_zoo_model(name, weights=True)
    feeds = calibration_inputs(graph, batch=1)
    execute(graph, feeds)
    runs: list[float] = []
    layers: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeat):
        t0 = time.perf_counter()
        run = execute(graph, feeds)
        runs.append(time.perf_counter() - t0)
        for layer, seconds in run.seconds.items():
            layers[layer].append(seconds)
    fused = fused_layers(graph)
    groups: dict[str, float] = defaultdict(float)
    for layer, seconds in layers.items():
        groups[fused.get(layer, layer)] += statistics.median(seconds)
    deciles = statistics.quantiles(runs, n=10)  # as planner measure reports onnxruntime's
    return Measured(name, statistics.median(runs), deciles[-1] - deciles[0], dict(groups))


def executor_markdown(models: list[str], threads: int, repeat: int) -> str:
    """The executor section of docs/fidelity.md."""
    with threadpool_limits(threads):
        load_before = os.getloadavg()
        profile = calibrate_executor(name="host_executor", threads=threads)
        roofs = calibrate(name="host_numpy", runtime="numpy", threads=threads)
        best: dict[str, Measured] = {}
        for _ in range(ROUNDS):
            for name in models:
                m = measure_executor(name, repeat)
                if name not in best or m.seconds < best[name].seconds:
                    best[name] = m
        load_after = os.getloadavg()
    rows, classes = [], defaultdict(list)
    for name in models:
        m, graph = best[name], build_zoo_model(name)
        # the executor's per-layer times leave its dispatch out: it is outside the kernels
        predicted, layers = predict(graph, profile,
                                    profile.processors["cpu"].launch_overhead_s.value)
        before, _ = predict(graph, roofs)
        for op_class, errors in per_class_errors(graph, layers, m.layers).items():
            classes[op_class] += errors
        rows.append((name, m, predicted, before))
        print(f"{name}: measured {m.seconds * 1e3:.2f} ms, predicted {predicted * 1e3:.2f} "
              f"(executor profile), {before * 1e3:.2f} (numpy roofs)", file=sys.stderr)
    within = sum(abs(p / m.seconds - 1) <= WITHIN for _, m, p, _ in rows)
    within_before = sum(abs(b / m.seconds - 1) <= WITHIN for _, m, _, b in rows)
    lines = [
        f"The planner's numpy executor, {threads} BLAS thread(s), batch 1, fp32; the fastest "
        f"of {ROUNDS} rounds' medians of {repeat} runs; load average {load_before[0]:.2f} "
        f"before, {load_after[0]:.2f} after.",
        "",
        "| model | measured ms (p10–p90 spread) | predicted ms, executor profile | ratio | "
        "predicted ms, numpy roofs | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, m, predicted, before in rows:
        lines.append(f"| {name} | {m.seconds * 1e3:.2f} ({m.spread * 1e3:.2f}) | "
                     f"{predicted * 1e3:.2f} | {predicted / m.seconds:.2f} | "
                     f"{before * 1e3:.2f} | {before / m.seconds:.2f} |")
    lines += ["", f"Within ±{WITHIN:.0%}: {within} of {len(rows)} models with the executor "
              f"profile, {within_before} of {len(rows)} with numpy's roofs.", "",
              *class_table(classes)]
    return "\n".join(lines) + "\n"


__all__ = ["executor_markdown", "measure_executor"]
