"""From a model to an HTML report in a script: plan the trained digits CNN under a size
budget, sweep the frontier, execute the plan on the digits test set, and write the report.

    python examples/plan_simulate_report.py [OUTPUT_DIR]

Writes plan.json, sweep.json, simulation.json and report.html to OUTPUT_DIR (default: the
current directory) and prints the accuracy before and after.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphs.zoo.digits import digits_split
from hardware_profiles import load
from planner import Planner, load_model, simulate
from planner.contracts.plan_file import Sweep
from planner.report.document import build_report
from planner.report.output import render_report
from planner.search.problem import Budgets


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    graph = load_model("digits_cnn", weights=True)  # trained weights, 99.3% test accuracy
    board = load("raspberry_pi_5")
    planner = Planner(graph, board)  # measures the accuracy proxy once
    plan = planner.solve(Budgets(size_bytes=20_000))  # 20 kB of weights, ~10x smaller
    plan.save(out / "plan.json")
    from planner import pareto

    frontier = pareto(graph, board, over="size", points=6, planner=planner)
    Sweep(model=graph.name, profile=board.name, over="size", objective="accuracy",
          plans=frontier).save(out / "sweep.json")
    _, _, images, labels = digits_split()
    result = simulate(graph, plan, images, labels=labels)
    (out / "simulation.json").write_text(result.model_dump_json(indent=1))
    report = build_report(graph, board, plan, result, frontier)
    (out / "report.html").write_text(render_report(report, "html"))
    accuracy = result.outputs[0]
    print(f"stored {result.stored_bytes:,.0f} bytes (planned {plan.totals.size_bytes:,.0f}); "
          f"accuracy {accuracy.accuracy:.2%} against {accuracy.baseline_accuracy:.2%} "
          f"uncompressed; wrote {out / 'report.html'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
