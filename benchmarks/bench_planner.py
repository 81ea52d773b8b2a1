"""Planner benchmark: build + solve time with the full option space and coupling, a Pareto
sweep, and the ILP's objective next to two heuristics at the same budgets.

    python benchmarks/bench_planner.py                 # resnet50, mobilenet_v2, bert
    python benchmarks/bench_planner.py --models lenet5 --points 8

For each model: the option space (7 keep ratios, 4 sparsities, 7 formats, 3 ranks, every
processor and dtype of the profile), proxies from seeded weights (weight errors,
sensitivity 1: "weights"), a size budget of 1/8 of the fp32 weights, and the accuracy
objective. Prints seconds for proxies, option enumeration and the solve, the ILP's
objective, the greedy (AIMET-style) and uniform heuristics' objective at the same budget
(their ratio to the ILP's), and the seconds of a ``--points``-point Pareto sweep over size.
"""

from __future__ import annotations

import argparse
import time

from graphs import build_zoo_model
from hardware_profiles import load
from planner.planning.plan import Planner, pareto, relevant_dims
from planner.search.baselines import greedy, uniform
from planner.search.problem import Budgets, evaluate


def bench(name: str, profile_name: str, points: int, fraction: float) -> None:
    graph = build_zoo_model(name, weights=True)
    profile = load(profile_name)
    budget = Budgets(size_bytes=graph.total_work().weight_bytes * fraction)
    start = time.perf_counter()
    planner = Planner(graph, profile, proxy="weights",
                      dims=relevant_dims(budget, "accuracy"))
    built = time.perf_counter() - start
    result = planner.solve(budget)
    solved = result.solver.seconds
    problem = planner.problem
    row = [name, f"{problem.option_count():,}", f"{built:.1f}", f"{solved:.1f}",
           f"{result.totals.error:.4g}"]
    for heuristic in (greedy, uniform):
        chosen = heuristic(problem, budget)
        if chosen is None:
            row.append("no plan")
        else:
            error = evaluate(problem, chosen).error
            row.append(f"{error:.4g} ({error / max(result.totals.error, 1e-12):.2f}x)")
    start = time.perf_counter()
    plans = pareto(graph, profile, over="size", points=points, planner=planner)
    row.append(f"{time.perf_counter() - start:.1f} ({len(plans)} pts)")
    print(" | ".join(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=["mobilenet_v2", "resnet50", "bert_encoder"])
    parser.add_argument("--profile", default="snapdragon_855")
    parser.add_argument("--points", type=int, default=32)
    parser.add_argument("--fraction", type=float, default=1 / 8,
                        help="size budget as a fraction of the fp32 weights")
    args = parser.parse_args()
    print(f"profile {args.profile}; size budget {args.fraction:.3g} x fp32 weights; "
          "objective: accuracy proxy (lower is better)")
    print("model | options | proxies+options s | solve s | ILP error | greedy error "
          "(/ILP) | uniform error (/ILP) | Pareto sweep s")
    for name in args.models:
        bench(name, args.profile, args.points, args.fraction)


if __name__ == "__main__":
    main()
