"""Exported plans measured on a real runtime: file size against planned size, and
onnxruntime latency of the exported model against the fp32 original, side by side with the
latency ratio the planner predicted on the host profile.

    python benchmarks/bench_export.py                      # mobilenet_v2, resnet18, resnet50
    python benchmarks/bench_export.py --models resnet18 --budgets 0.25:0.7 --repeat 10

Per model: the fp32 original is exported (a plan that changes nothing) and timed; then for
each budget (``size:latency``, fractions of the fp32 model's weight bytes and predicted
latency; a latency of 1 sets no latency budget) a plan is made on the host profile
(``planner calibrate`` run in-process at one thread, or ``--profile``), exported, checked
and timed. Latencies are medians of ``--repeat`` runs at batch 1 with ``--threads``
onnxruntime threads (default 1), after warm-up; numpy and BLAS are pinned to one thread.
The machine is shared, so the load average is printed before and after.

Plans use the ``weights`` proxy (weight-error sensitivities), which keeps planning in
seconds; the accuracy proxy does not change what is measured here.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

from graphs import build_zoo_model  # noqa: E402
from hardware_profiles import HardwareProfile, load  # noqa: E402
from hardware_profiles.calibrate import calibrate  # noqa: E402
from planner import plan  # noqa: E402
from planner.export import export, measure  # noqa: E402
from planner.planning.whatif import fixed_plan  # noqa: E402


def host_profile(path: str | None) -> HardwareProfile:
    """The given profile, or this machine calibrated now (numpy at one thread)."""
    return load(path) if path else calibrate(name="host")


def run(models: list[str], budgets: list[tuple[float, float]], profile: HardwareProfile,
        threads: int, repeat: int, folder: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in models:
        graph = build_zoo_model(name, weights=True)
        original = fixed_plan(graph, profile, [], proxy="uniform")
        base_file = folder / f"{name}-fp32.onnx"
        export(graph, original, base_file)
        base = measure(base_file, threads=threads, repeat=repeat, per_layer=False)
        print(f"{name}: fp32 export {base_file.stat().st_size:,} B, onnxruntime "
              f"{base.median_s * 1e3:.2f} ms (p10–p90 {base.p10_s * 1e3:.2f}–"
              f"{base.p90_s * 1e3:.2f})", file=sys.stderr)
        for fraction, latency in budgets:
            start = time.perf_counter()
            made = plan(graph, profile, max_size_bytes=fraction * original.totals.size_bytes,
                        max_latency_s=(latency * original.totals.latency_s if latency < 1
                                       else None), proxy="weights")
            planned_s = time.perf_counter() - start
            path = folder / f"{name}-{fraction:g}-{latency:g}.onnx"
            result = export(graph, made, path)
            timed = measure(path, threads=threads, repeat=repeat, per_layer=False)
            formats = Counter(f"{e.weight_format}@{e.dtype}" for e in made.layers if e.size_bytes)
            rows.append({
                "model": name, "budget": f"{fraction:g} size" + (
                    f", {latency:g} latency" if latency < 1 else ""),
                "planned_bytes": made.totals.size_bytes,
                "file_bytes": result.file_bytes,
                "file_over_planned": result.file_bytes / made.totals.size_bytes,
                "macs_equal": result.macs == made.totals.macs,
                "measured_ratio": timed.median_s / base.median_s,
                "predicted_ratio": made.totals.latency_s / original.totals.latency_s,
                "measured_ms": timed.median_s * 1e3, "fp32_ms": base.median_s * 1e3,
                "spread_ms": (timed.p90_s - timed.p10_s) * 1e3,
                "plan_s": planned_s, "formats": dict(formats.most_common(3)),
                "pruned": sum(e.keep_out < 1 for e in made.layers),
                "notes": result.notes})
            print(f"  {rows[-1]['budget']}: {rows[-1]}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mobilenet_v2,resnet18,resnet50")
    parser.add_argument("--budgets", default="0.5:1,0.25:0.7,0.125:0.5",
                        help="size:latency budgets as fractions of the fp32 model's weight "
                             "bytes and predicted latency (latency 1: no latency budget)")
    parser.add_argument("--profile", help="a profile YAML (default: calibrate this host)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    profile = host_profile(args.profile)
    with tempfile.TemporaryDirectory() as folder:
        budgets = [(float(s), float(lat)) for s, lat in
                   (pair.split(":") for pair in args.budgets.split(","))]
        rows = run(args.models.split(","), budgets, profile, args.threads, args.repeat,
                   Path(folder))
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    print(f"| model | budget (of fp32) | planned bytes | file bytes | file / planned | "
          f"MACs equal | onnxruntime ms (fp32 ms) | measured latency ratio | predicted ratio "
          f"({profile.name}) | pruned units | most common weights@compute |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['budget']} | {r['planned_bytes']:,.0f} | "
              f"{r['file_bytes']:,} | {r['file_over_planned']:.3f} | {r['macs_equal']} | "
              f"{r['measured_ms']:.2f} ({r['fp32_ms']:.2f}) | {r['measured_ratio']:.2f} | "
              f"{r['predicted_ratio']:.2f} | {r['pruned']} | {r['formats']} |")
    print(f"\nonnxruntime {args.threads} thread(s), batch 1, median of {args.repeat} runs; "
          "plans with the weights proxy on the host profile.")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
