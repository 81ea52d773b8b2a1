"""Planner benchmark: whole ``planner plan`` commands cold and warm, a Pareto sweep, how time
grows with depth, and the ILP's objective next to two heuristics.

    python benchmarks/bench_planner.py                        # everything below
    python benchmarks/bench_planner.py --only commands --baseline 6c9d44a

1. Commands (each a fresh process, its wall time): mobilenet_v2 at 1 MB and 4 ms, resnet50
   at 5 MB and half the predicted latency of its own size-only plan, the BERT encoder at
   11 MB (1/8 of its weights), on snapdragon_855 (three processors, full option space, coupling,
   measured proxies). *cold*: an empty facts cache; *warm*: the same command again. Each
   row says whether the solver proved optimality and whether the plan meets its budgets
   on measured sizes. ``--baseline REV`` runs the same commands, cold and warm, on a
   checkout of REV (the previous implementation) beside them, each within
   ``--baseline-timeout``, and prints the ratios (this revision's seconds / REV's).
2. A ``--points``-point Pareto sweep over size of mobilenet_v2 with the 4 ms budget, warm,
   solved by one process (``--jobs 1``) and by one per core (the default), side by side
   from the same cache; then again with the sizes those solves measured cached too.
3. Synthetic chains of 100, 300 and 1,000 conv layers planned in-process (size budget).
4. Quality: the ILP's accuracy proxy against the greedy (AIMET-style) and uniform
   heuristics at 1/8 of the fp32 weights (lower is better; ratio to the ILP's).

Measure on a quiet machine: state the load (``uptime``) with the numbers; the solver and
BLAS run on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_plan(root: Path, args: list[str], cache: Path, timeout: float
             ) -> tuple[float, dict | None, str]:
    """Seconds, the plan (None on failure) and the last error line of one command."""
    with tempfile.TemporaryDirectory() as out:
        plan_path = Path(out) / "plan.json"
        env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(root)}
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "planner", "plan", *args, "-o",
                                   str(plan_path), "-f", "json"], cwd=root, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return timeout, None, f"> {timeout:.0f} s (timed out)"
        seconds = time.perf_counter() - start
        if done.returncode != 0 or not plan_path.exists():
            return seconds, None, (done.stderr.strip().splitlines() or ["failed"])[-1]
        return seconds, json.loads(plan_path.read_text()), ""


def verdict(plan: dict | None, note: str) -> str:
    if plan is None:
        return note
    solver = plan["solver"]
    fields = {"size": "size_bytes", "latency": "latency_s", "memory": "memory_bytes",
              "energy": "energy_j", "error": "error"}
    met = all(plan["totals"][fields[k]] <= v * (1 + 1e-6)
              for k, v in plan["budgets"].items() if v is not None)
    exact = all(layer["size_exact"] for layer in plan["layers"])
    proof = "optimal" if solver["optimal"] else f"gap {solver['gap']:.2g}"
    return (f"{proof}, "
            f"{'budgets met' if met and exact else 'BUDGET BROKEN'}, "
            f"{solver['options']:,} options")


def worktree(rev: str) -> Path:
    path = Path(tempfile.gettempdir()) / f"planner-baseline-{rev}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT,
                       check=True, capture_output=True)
    return path


def commands(baseline: str | None, timeout: float) -> None:
    print("## whole commands (wall seconds; cold = empty facts cache)")
    cases: list[tuple[str, list[str]]] = [
        ("mobilenet_v2 1MB 4ms", ["mobilenet_v2", "-H", "snapdragon_855", "--max-size", "1MB",
                                  "--max-latency", "4ms"]),
    ]
    with tempfile.TemporaryDirectory() as probe:
        _, size_only, note = run_plan(ROOT, ["resnet50", "-H", "snapdragon_855",
                                             "--max-size", "5MB"], Path(probe), 3600)
    if size_only is not None:
        half = size_only["totals"]["latency_s"] / 2
        cases.append((f"resnet50 5MB {half * 1e3:.2f}ms",
                      ["resnet50", "-H", "snapdragon_855", "--max-size", "5MB",
                       "--max-latency", f"{half * 1e3:.4f}ms"]))
    else:
        print(f"resnet50 size-only plan failed: {note}")
    cases.append(("bert_encoder 1/8 size", ["bert_encoder", "-H", "snapdragon_855",
                                            "--max-size", "11MB"]))
    base = worktree(baseline) if baseline else None
    print("case | cold s | warm s | result" + (
        f" | {baseline} cold s | {baseline} warm s | cold ratio | warm ratio | {baseline} result"
        if base else ""))
    for label, args in cases:
        with tempfile.TemporaryDirectory() as cache:
            cold, plan, note = run_plan(ROOT, args, Path(cache), 3600)
            warm, plan, note = run_plan(ROOT, args, Path(cache), 3600)
        row = [label, f"{cold:.1f}", f"{warm:.1f}", verdict(plan, note)]
        if base is not None:
            with tempfile.TemporaryDirectory() as cache:
                old, old_plan, old_note = run_plan(base, args, Path(cache), timeout)
                old_warm = old
                if old_plan is not None:
                    old_warm, old_plan, old_note = run_plan(base, args, Path(cache), timeout)
            if old_plan is None:
                row += [old_note.split(" (")[0], "", "", "", verdict(old_plan, old_note)]
            else:
                row += [f"{old:.1f}", f"{old_warm:.1f}", f"{cold / old:.2f}",
                        f"{warm / old_warm:.2f}", verdict(old_plan, old_note)]
        print(" | ".join(row), flush=True)


def sweep(points: int) -> None:
    """The sweep solved by one process (``--jobs 1``, the previous implementation) and by
    one per core (the default), both with the facts and options cached but no measured
    sizes; then by one per core again, with the sizes the sweep before measured."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache, "PYTHONPATH": str(ROOT)}
        args = [sys.executable, "-m", "planner", "sweep", "mobilenet_v2", "-H",
                "snapdragon_855", "--max-latency", "4ms", "-f", "csv"]
        subprocess.run([*args, "--points", "2"], env=env, cwd=ROOT, capture_output=True,
                       check=True)  # warms the facts and options caches
        for jobs in (["--jobs", "1"], [], []):
            if len(rows) < 2:  # the first two start from the same cache
                for sizes in Path(cache).rglob("*.sizes.json"):
                    sizes.unlink()
            start = time.perf_counter()
            done = subprocess.run([*args, "--points", str(points), *jobs], env=env, cwd=ROOT,
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - start
            found = max(0, len(done.stdout.strip().splitlines()) - 1)
            label = " ".join(jobs) or "default"
            rows.append((label if len(rows) < 2 else f"{label}, sizes cached", seconds,
                         found, done.returncode, done.stdout))
    print(f"## Pareto sweep, mobilenet_v2 over size at 4 ms, {points} points, warm")
    print("jobs | s | plans | exit | / --jobs 1")
    for jobs, seconds, found, code, _ in rows:
        print(f"{jobs} | {seconds:.1f} | {found} | {code} | {seconds / rows[0][1]:.2f}")
    print(f"same plans: {all(row[4] == rows[0][4] for row in rows)}")


def chains() -> None:
    from graphs import GraphBuilder, seeded_weights
    from hardware_profiles import load
    from planner.planning.plan import Planner
    from planner.search.problem import Budgets

    print("## synthetic conv chains (in-process, measured proxies, size budget 1/4)")
    print("layers | options | build s | solve s | total s")
    for depth in (100, 300, 1000):
        b = GraphBuilder(f"chain{depth}")
        x = b.input((1, 16, 8, 8))
        for k in range(depth):
            x = b.relu(b.conv(x, 16, 3, padding=1, name=f"conv{k}"))
        graph = seeded_weights(b.build([x]), 0)
        start = time.perf_counter()
        planner = Planner(graph, load("snapdragon_855"), dims=("size", "error"), cache=False)
        built = time.perf_counter() - start
        plan = planner.solve(Budgets(size_bytes=graph.total_work().weight_bytes / 4))
        total = time.perf_counter() - start
        print(f"{depth} | {planner.problem.option_count():,} | {built:.1f} | "
              f"{plan.solver.seconds:.1f} | {total:.1f}", flush=True)


def quality(models: list[str]) -> None:
    from graphs import build_zoo_model
    from hardware_profiles import load
    from planner.planning.plan import Planner, relevant_dims
    from planner.search.baselines import greedy, uniform
    from planner.search.problem import Budgets, evaluate

    print("## quality at 1/8 of the fp32 weights (accuracy proxy, lower is better)")
    print("model | ILP | greedy (/ILP) | uniform (/ILP)")
    for name in models:
        graph = build_zoo_model(name, weights=True)
        budget = Budgets(size_bytes=graph.total_work().weight_bytes / 8)
        planner = Planner(graph, load("snapdragon_855"), proxy="weights",
                          dims=relevant_dims(budget, "accuracy"))
        best = planner.solve(budget).totals.error
        row = [name, f"{best:.4g}"]
        for heuristic in (greedy, uniform):
            chosen = heuristic(planner.problem, budget)
            error = evaluate(planner.problem, chosen).error if chosen else None
            row.append("no plan" if error is None else
                       f"{error:.4g} ({error / max(best, 1e-12):.2f}x)")
        print(" | ".join(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("commands", "sweep", "chains", "quality"))
    parser.add_argument("--baseline", help="git revision of the previous implementation")
    parser.add_argument("--baseline-timeout", type=float, default=900)
    parser.add_argument("--points", type=int, default=32)
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "resnet50"])
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores")
    if args.only in (None, "commands"):
        commands(args.baseline, args.baseline_timeout)
    if args.only in (None, "sweep"):
        sweep(args.points)
    if args.only in (None, "chains"):
        chains()
    if args.only in (None, "quality"):
        quality(args.models)


if __name__ == "__main__":
    main()
