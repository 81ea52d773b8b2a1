"""The numpy executor against PyTorch CPU eager on the same weights, side by side.

    python benchmarks/bench_executor.py        # resnet50, mobilenet_v2, efficientnet_b0; batch 1, 8
    python benchmarks/bench_executor.py --models resnet18 --batches 1
    python benchmarks/bench_executor.py --baseline 4de4e8f   # that revision's executor beside

Each model is torchvision's (random weights, eval mode) imported with ``from_torch``, so
both sides compute the same function; inputs are 224×224. Each (framework, model, batch)
runs in a fresh subprocess: one warm-up, then the median of ``--repeat`` timed runs, and the
peak resident memory the runs added over the process after loading (ru_maxrss). Both run
on ``--threads`` threads (torch.set_num_threads and threadpoolctl's limit on numpy's BLAS,
which the executor's own loops follow on layers with blocks enough; default 1: on a shared
machine more threads make both sides noisy). Prints the milliseconds of each and numpy / torch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_planner import ROOT, worktree


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(framework: str, name: str, batch: int, repeat: int, threads: int
        ) -> dict[str, float]:
    """Time one framework on one model in this process, on ``threads`` threads."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    with threadpool_limits(threads):
        return _timed(framework, name, batch, repeat)


def _timed(framework: str, name: str, batch: int, repeat: int) -> dict[str, float]:
    import torch
    import torchvision

    from graphs import from_torch
    from planner.execution.executor import execute

    torch.manual_seed(0)
    model = torchvision.models.get_model(name).eval()
    x = torch.randn(batch, 3, 224, 224)
    if framework == "numpy":
        graph = from_torch(model, x[:1], cross_check=False)
        array = x.numpy()

        def run() -> None:
            execute(graph, array)
    else:
        def run() -> None:
            with torch.no_grad():
                model(x)
    before = _rss_mb()
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {"ms": 1e3 * float(np.median(times)), "peak_mb": _rss_mb() - before}


def measure(framework: str, name: str, batch: int, args: argparse.Namespace,
            code: Path = ROOT) -> dict[str, float]:
    """One (framework, model, batch) in a fresh process importing the package from
    ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, __file__, "--one", framework, name, str(batch),
                          "--repeat", str(args.repeat), "--threads", str(args.threads)],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=["resnet50", "mobilenet_v2", "efficientnet_b0"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", help="git revision whose executor runs beside")
    parser.add_argument("--one", nargs=3, metavar=("FRAMEWORK", "MODEL", "BATCH"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        framework, name, batch = args.one
        print(json.dumps(one(framework, name, int(batch), args.repeat, args.threads)))
        return
    base = worktree(args.baseline) if args.baseline else None
    print(f"{args.threads} thread(s); load {os.getloadavg()[0]:.2f} (1-min average)")
    print("model | batch | numpy ms | torch ms | numpy / torch | numpy peak MB | torch peak MB"
          + (f" | {args.baseline} numpy ms | {args.baseline} / torch" if base else ""))
    for name in args.models:
        for batch in args.batches:
            n, t = measure("numpy", name, batch, args), measure("torch", name, batch, args)
            row = (f"{name} | {batch} | {n['ms']:.1f} | {t['ms']:.1f} | {n['ms'] / t['ms']:.2f}x"
                   f" | {n['peak_mb']:.0f} | {t['peak_mb']:.0f}")
            if base is not None:
                old = measure("numpy", name, batch, args, base)
                row += f" | {old['ms']:.1f} | {old['ms'] / t['ms']:.2f}x"
            print(row, flush=True)


if __name__ == "__main__":
    main()
