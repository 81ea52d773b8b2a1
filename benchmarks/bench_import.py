"""Import + annotate time, side by side with fvcore on the same torch model.

Run: python benchmarks/bench_import.py [--repeats 5]

For each workload the planner's time (torch.fx trace, one recorded run, op-table mapping,
annotation of every node) is printed next to fvcore's FlopCountAnalysis total (jit trace
and counting) on the same module and input, with the ratio. The zoo rows build the graph
in pure Python with no torch at all.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torchvision
from fvcore.nn import FlopCountAnalysis

from graphs import GraphBuilder, build_zoo_model, from_torch

warnings.filterwarnings("ignore")


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synthetic_module(layers: int = 1000) -> torch.nn.Sequential:
    """conv-BN-ReLU triples with a residual-free chain: ``layers`` modules in all."""
    mods: list[torch.nn.Module] = []
    while len(mods) < layers - 1:
        mods += [torch.nn.Conv2d(16, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16),
                 torch.nn.ReLU()]
    return torch.nn.Sequential(*mods[:layers]).eval()


def synthetic_builder(layers: int = 1000) -> None:
    """The same chain built directly with the GraphBuilder (no torch)."""
    b = GraphBuilder("synthetic")
    x = b.input((1, 16, 32, 32))
    for i in range(layers // 3):
        x = b.relu(b.batch_norm(b.conv(x, 16, 3, padding=1, bias=False, name=f"c{i}")))
    b.build([x])


def fvcore_total(module: torch.nn.Module, x: torch.Tensor) -> int:
    analysis = FlopCountAnalysis(module, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    resnet50 = torchvision.models.resnet50().eval()
    image = torch.randn(1, 3, 224, 224)
    chain = synthetic_module(1000)
    small = torch.randn(1, 16, 32, 32)

    rows: list[tuple[str, float, float | None]] = []
    for label, module, x in (("resnet50, torch import", resnet50, image),
                             ("synthetic 1,000 layers, torch import", chain, small)):
        ours = median_seconds(lambda m=module, x=x: from_torch(m, x, cross_check=False),
                              args.repeats)
        theirs = median_seconds(lambda m=module, x=x: fvcore_total(m, x), args.repeats)
        rows.append((label, ours, theirs))
    rows.append(("resnet50, zoo build + annotate (no torch)",
                 median_seconds(lambda: build_zoo_model("resnet50"), args.repeats), None))
    rows.append(("synthetic 1,000 layers, builder (no torch)",
                 median_seconds(lambda: synthetic_builder(1000), args.repeats), None))

    print(f"median of {args.repeats} runs, 1 torch thread; ratio = planner / fvcore "
          "(below 1: the planner is faster)")
    print(f"{'workload':44s} {'planner':>10s} {'fvcore':>10s} {'ratio':>7s}")
    for label, ours, theirs in rows:
        other = f"{theirs * 1e3:8.1f}ms" if theirs is not None else f"{'—':>10s}"
        ratio = f"{ours / theirs:6.2f}×" if theirs is not None else f"{'—':>7s}"
        print(f"{label:44s} {ours * 1e3:8.1f}ms {other} {ratio}")


if __name__ == "__main__":
    main()
