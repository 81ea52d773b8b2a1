"""The numpy executor against PyTorch CPU eager on the same weights, side by side.

    python benchmarks/bench_executor.py                  # resnet50, mobilenet_v2; batch 1, 8
    python benchmarks/bench_executor.py --models resnet18 --batches 1

Each model is torchvision's (random weights, eval mode) imported with ``from_torch``, so
both sides compute the same function; inputs are 224×224. Each (framework, model, batch)
runs in a fresh subprocess: one warm-up, then the median of ``--repeat`` timed runs, and the
peak resident memory the runs added over the process after loading (ru_maxrss). Both use
their default threads on this machine. Prints the milliseconds of each and numpy / torch.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(framework: str, name: str, batch: int, repeat: int) -> dict[str, float]:
    """Time one framework on one model in this process."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "mobilenet_v2"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one", nargs=3, metavar=("FRAMEWORK", "MODEL", "BATCH"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        framework, name, batch = args.one
        print(json.dumps(one(framework, name, int(batch), args.repeat)))
        return
    print("model | batch | numpy ms | torch ms | numpy / torch | numpy peak MB | torch peak MB")
    for name in args.models:
        for batch in args.batches:
            got = {}
            for framework in ("numpy", "torch"):
                out = subprocess.run([sys.executable, __file__, "--one", framework, name,
                                      str(batch), "--repeat", str(args.repeat)],
                                     check=True, capture_output=True, text=True).stdout
                got[framework] = json.loads(out.strip().splitlines()[-1])
            n, t = got["numpy"], got["torch"]
            print(f"{name} | {batch} | {n['ms']:.1f} | {t['ms']:.1f} | {n['ms'] / t['ms']:.2f}x"
                  f" | {n['peak_mb']:.0f} | {t['peak_mb']:.0f}", flush=True)


if __name__ == "__main__":
    main()
