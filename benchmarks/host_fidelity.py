"""Predicted vs measured onnxruntime latency on this machine, for a profile calibrated on
onnxruntime's own kernels (the executor's side is :mod:`executor_fidelity`).

    python benchmarks/fidelity.py --host                # 15 zoo models, 1 thread
    python benchmarks/fidelity.py --host --write        # and update docs/fidelity.md
    python benchmarks/fidelity.py --host --models resnet18,mobilenet_v2 --threads 2

Per model: the fp32 model is exported to ONNX (a plan that changes nothing) and timed in
onnxruntime at ``--threads`` intra-op threads (median of ``--repeat`` runs after warm-up,
every graph optimisation on; :data:`ROUNDS` rounds over all models, each keeping its
fastest), with per-layer times from onnxruntime's profiler in that round. The profile is
calibrated in this process first, at the same thread count, and every prediction puts
the whole model on the host CPU at fp32. No model is used to fit anything: the
onnxruntime profile is fitted to one-op benchmarks only (their grid of widths and sizes
is drawn from those CNN families use, not from these models' layers).

Per layer, measured times are grouped by the layer the prediction charges them to (a conv
and the batch norm and activation fused into it are one group), and the error of each op
class is the median of ``|predicted / measured − 1|`` over its groups. The machine is
shared: the load average is printed before and after.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from threadpoolctl import threadpool_limits

from graphs import Graph, build_zoo_model
from hardware_profiles import HardwareProfile
from hardware_profiles.calibrate import calibrate
from planner.cost import fused_layers, placement_cost, single_processor_placement
from planner.export import export, measure
from planner.planning.whatif import fixed_plan

MODELS = ("alexnet", "vgg11", "vgg16", "resnet18", "resnet34", "resnet50", "mobilenet_v1",
          "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "squeezenet1_0",
          "squeezenet1_1", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "bert_encoder")
"""Every zoo model but the two toy networks (lenet5, digits_cnn)."""
WITHIN = 0.10
"""The band a prediction must fall in to count (±10%)."""
ROUNDS = 3
"""Rounds of measurement over all models; each model keeps its fastest round."""


@dataclass(frozen=True)
class Measured:
    """One model's onnxruntime latency: end to end and per layer group."""

    model: str
    seconds: float
    spread: float
    layers: dict[str, float]


def predict(graph: Graph, profile: HardwareProfile, less_per_layer_s: float = 0.0
            ) -> tuple[float, dict[str, float]]:
    """Predicted seconds of the whole model on the host CPU at fp32, and per layer group
    (each layer's seconds less ``less_per_layer_s``, where a runtime's per-layer times
    leave out a cost the prediction charges every layer)."""
    placement = single_processor_placement(graph, profile, "cpu", "fp32")
    cost = placement_cost(graph, profile, placement)
    fused = fused_layers(graph, residual_add=profile.processors["cpu"].fuses_residual_add)
    groups: dict[str, float] = defaultdict(float)
    for name, layer_cost in cost.layers.items():
        groups[fused.get(name, name)] += max(layer_cost.latency_s - less_per_layer_s, 0.0)
    return cost.total.latency_s, dict(groups)


def measure_model(name: str, threads: int, repeat: int, folder: Path,
                  residual_add: bool = False) -> Measured:
    """Export ``name`` at fp32 and time it in onnxruntime (per layer, grouped as
    :func:`fused_layers` groups them, with ``residual_add`` fusion when the runtime fuses
    residual adds)."""
    graph = build_zoo_model(name, weights=True)
    path = folder / f"{name}.onnx"
    export(graph, fixed_plan(graph, calibrate_cached("numpy", threads), [], proxy="uniform"),
           path)
    timed = measure(path, threads=threads, repeat=repeat, warmup=3, per_layer=True)
    fused = fused_layers(graph, residual_add=residual_add)
    groups: dict[str, float] = defaultdict(float)
    for layer in timed.layers:
        groups[fused.get(layer.layer, layer.layer)] += layer.seconds
    return Measured(name, timed.median_s, timed.p90_s - timed.p10_s, dict(groups))


_PROFILES: dict[tuple[str, int], HardwareProfile] = {}


def calibrate_cached(runtime: str, threads: int) -> HardwareProfile:
    """This host calibrated on ``runtime`` at ``threads`` (once per process)."""
    key = (runtime, threads)
    if key not in _PROFILES:
        _PROFILES[key] = calibrate(name=f"host_{runtime}", runtime=runtime, threads=threads)
    return _PROFILES[key]


def per_class_errors(graph: Graph, predicted: dict[str, float], measured: dict[str, float]
                     ) -> dict[str, list[float]]:
    """``predicted / measured − 1`` of every layer group both sides time, by op class."""
    out: dict[str, list[float]] = defaultdict(list)
    for group, seconds in measured.items():
        if group in predicted and group in graph and seconds > 0 and predicted[group] > 0:
            out[graph[group].op_class].append(predicted[group] / seconds - 1)
    return out


def host_markdown(models: list[str], threads: int, repeat: int,
                  profile: HardwareProfile | None = None) -> str:
    """The host section of docs/fidelity.md (numpy's BLAS held to ``threads`` threads, so
    that its idle threads do not spin on the cores onnxruntime measures on); ``profile``:
    an onnxruntime profile calibrated before, instead of calibrating now."""
    with threadpool_limits(threads):
        return _host_markdown(models, threads, repeat, profile)


def _host_markdown(models: list[str], threads: int, repeat: int,
                   profile: HardwareProfile | None) -> str:
    load_before = os.getloadavg()
    ort_profile = profile or calibrate_cached("onnxruntime", threads)
    rows, classes = [], defaultdict(list)
    fuses_add = ort_profile.processors["cpu"].fuses_residual_add
    best: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(ROUNDS):  # rounds over all models, so a busy minute hits one round
            for name in models:
                m = measure_model(name, threads, repeat, Path(folder), fuses_add)
                if name not in best or m.seconds < best[name].seconds:
                    best[name] = m
    for name in models:
        m = best[name]
        graph = build_zoo_model(name)
        ort_s, ort_layers = predict(graph, ort_profile)
        for op_class, errors in per_class_errors(graph, ort_layers, m.layers).items():
            classes[op_class] += errors
        rows.append((name, m, ort_s))
        print(f"{name}: measured {m.seconds * 1e3:.2f} ms, predicted {ort_s * 1e3:.2f}",
              file=sys.stderr)
    load_after = os.getloadavg()
    within = sum(abs(ort / m.seconds - 1) <= WITHIN for _, m, ort in rows)
    calibration = ort_profile.calibration
    assert calibration is not None
    lines = [
        f"onnxruntime {calibration.version}, {threads} intra-op thread(s), batch 1, fp32; "
        f"the fastest of {ROUNDS} rounds' medians of {repeat} runs; load average "
        f"{load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after.",
        "",
        "| model | measured ms (p10–p90 spread) | predicted ms, onnxruntime profile | ratio |",
        "| --- | ---: | ---: | ---: |"]
    for name, m, ort_s in rows:
        lines.append(f"| {name} | {m.seconds * 1e3:.2f} ({m.spread * 1e3:.2f}) | "
                     f"{ort_s * 1e3:.2f} | {ort_s / m.seconds:.2f} |")
    lines += ["", f"Within ±{WITHIN:.0%}: {within} of {len(rows)} models with the onnxruntime "
              "profile.", "",
              *class_table(classes)]
    return "\n".join(lines) + "\n"


def class_table(classes: dict[str, list[float]]) -> list[str]:
    """Markdown rows of the per-layer errors by op class, most layer groups first."""
    lines = ["| op class | layer groups | median per-layer error | median predicted / "
             "measured |", "| --- | ---: | ---: | ---: |"]
    for op_class, errors in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"| {op_class} | {len(errors)} | "
                     f"{statistics.median(abs(e) for e in errors):.0%} | "
                     f"{statistics.median(errors) + 1:.2f} |")
    return lines


__all__ = ["MODELS", "ROUNDS", "WITHIN", "Measured", "class_table", "host_markdown",
           "measure_model", "per_class_errors", "predict"]
