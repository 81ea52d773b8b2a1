"""How well the accuracy proxy ranks plans: predicted against measured output error.

    python benchmarks/proxy_correlation.py                    # digits_cnn, mobilenet_v2
    python benchmarks/proxy_correlation.py --models digits_cnn

For each model and each proxy ("measured": sensitivities by perturbation; "weights":
sensitivity 1), plans at several size budgets (``--fractions`` of the fp32 weights), each
solved in five option spaces that compress in different ways (channel pruning only,
unstructured sparsity only, weight formats only, low rank only, everything), so plans of
one budget differ in kind, not only in size. Every plan is executed by
``planner.validate.simulate``; the measured error is the relative energy of the output change,
‖y − ŷ‖² / ‖y‖², the quantity the proxy predicts. Prints each plan, then per model and
proxy the Spearman rank correlation over all plans, its mean within one budget (does the
proxy rank the plans that fit the same budget?), and the median ratio measured /
predicted. digits_cnn runs on its real test images (and reports accuracy); other models
run on seeded weights and inputs at 64×64.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from graphs import build_zoo_model
from hardware_profiles import load
from planner.planning.plan import InfeasibleBudgetError, Planner
from planner.search.options import OptionSpace
from planner.search.problem import Budgets
from planner.validate.simulate import simulate


def ranks(values: list[float]) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(len(v), dtype=float)
    for value in np.unique(v):
        tied = v == value
        r[tied] = r[tied].mean()
    return r


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation of two samples."""
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def data(name: str, batch: int) -> tuple[Any, Any, Any]:
    """(graph, inputs, labels): digits_cnn on its test split, others on seeded inputs."""
    if name == "digits_cnn":
        from graphs.zoo.digits import digits_split

        _, _, images, labels = digits_split()
        return build_zoo_model(name, weights=True), images, labels
    graph = build_zoo_model(name, weights=True, input_shape=(batch, 3, 64, 64)
                            if name != "bert_encoder" else None)
    return graph, None, None


SPACES = {
    "prune": OptionSpace(sparsities=(0.0,), formats=("fp32",), ranks=(1.0,)),
    "sparse": OptionSpace(keep_ratios=(1.0,), formats=("fp32",), ranks=(1.0,)),
    "formats": OptionSpace(keep_ratios=(1.0,), sparsities=(0.0,), ranks=(1.0,)),
    "lowrank": OptionSpace(keep_ratios=(1.0,), sparsities=(0.0,), formats=("fp32",)),
    "all": OptionSpace(),
}


def study(name: str, fractions: list[float], batch: int) -> None:
    graph, inputs, labels = data(name, batch)
    profile = load("raspberry_pi_5")
    calibration = inputs[:64] if inputs is not None else None
    full = graph.total_work().weight_bytes
    for proxy in ("measured", "weights"):
        rows: list[tuple[float, float, float]] = []  # (budget, predicted, measured)
        for kind, space in SPACES.items():
            planner = Planner(graph, profile, space=space, proxy=proxy, inputs=calibration,
                              dims=("size", "error"))
            for fraction in fractions:
                try:
                    plan = planner.solve(Budgets(size_bytes=full * fraction))
                except InfeasibleBudgetError:
                    continue
                result = simulate(graph, plan, inputs, batch=batch, labels=labels)
                rows.append((fraction, plan.totals.error, result.error))
                out = result.outputs[0]
                accuracy = f" accuracy {out.accuracy:.2%}" if out.accuracy is not None else ""
                print(f"  {name} {proxy:8s} {kind:8s} budget {fraction:6.3f}  stored "
                      f"{result.stored_bytes / 1e3:9.1f} kB  predicted "
                      f"{plan.totals.error:9.4g}  measured {result.error:9.4g}{accuracy}",
                      flush=True)
        predicted = [r[1] for r in rows]
        measured = [r[2] for r in rows]
        within = [spearman([r[1] for r in rows if r[0] == f], [r[2] for r in rows if r[0] == f])
                  for f in fractions if sum(r[0] == f for r in rows) > 2]
        ratios = [m / p for _, p, m in rows if p > 0]
        print(f"{name} | {proxy} | {len(rows)} plans | Spearman {spearman(predicted, measured):.3f}"
              f" | within a budget {np.nanmean(within):.3f} | median measured/predicted "
              f"{np.median(ratios):.3g}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["digits_cnn", "mobilenet_v2"])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.1, 0.05])
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    print("model | proxy | plans | rank correlation of predicted and measured output error")
    for name in args.models:
        study(name, args.fractions, args.batch)


if __name__ == "__main__":
    main()
