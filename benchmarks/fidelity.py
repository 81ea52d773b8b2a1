"""Predicted end-to-end latency next to published measurements, as a Markdown table.

Run: python benchmarks/fidelity.py        (prints the tables quoted in docs/fidelity.md)
     python benchmarks/fidelity.py --host [--write]
                                          (measures this machine: benchmarks/host_fidelity.py)

Each row puts the whole model on the named processor at the named dtype, with the ops that
processor cannot run falling back to the host (as NNAPI, Core ML and the Edge TPU delegate
do), and costs it with the roofline model, transfers included.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import yaml

from graphs import build_zoo_model
from hardware_profiles import load
from planner.cost import placement_cost, single_processor_placement

DATA = Path(__file__).resolve().parents[1] / "docs" / "published_latencies.yaml"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "fidelity.md"
HOST_BEGIN, HOST_END = "<!-- host:begin -->\n", "<!-- host:end -->"
PREDICT_ONLY = [("jetson_orin_nano", "gpu", "fp16"), ("jetson_orin_nano", "gpu", "int8"),
                ("raspberry_pi_5", "cpu", "fp32"), ("raspberry_pi_5", "cpu", "int8"),
                ("kirin_990", "npu", "int8"), ("dimensity_9000", "apu", "int8"),
                ("apple_a17_pro", "ane", "fp16")]
MODELS = ("mobilenet_v1", "mobilenet_v2", "resnet50")


def predict_ms(model: str, profile_name: str, processor: str, dtype: str,
               input_shape: Any = None) -> float:
    """Predicted milliseconds of ``model`` on one processor with fallback to the host."""
    graph = build_zoo_model(model, tuple(input_shape) if input_shape else None)
    profile = load(profile_name)
    placement = single_processor_placement(graph, profile, processor, dtype)
    return placement_cost(graph, profile, placement).total.latency_s * 1e3


def fidelity_rows() -> list[dict[str, Any]]:
    """Every published row with its prediction and the ratio predicted / measured."""
    rows = []
    for entry in yaml.safe_load(DATA.read_text()):
        measured = entry["ms"]
        low, high = (measured, measured) if isinstance(measured, int | float) else measured
        reference = math.sqrt(low * high)
        predicted = predict_ms(entry["model"], entry["profile"], entry["processor"],
                               entry["dtype"], entry.get("input"))
        rows.append({**entry, "low": low, "high": high, "predicted": predicted,
                     "ratio": predicted / reference})
    return rows


def rank_agreement(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Pairs of rows on the same device whose predicted order matches the measured order,
    and the number of such pairs."""
    agree = total = 0
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if a["profile"] != b["profile"]:
                continue
            total += 1
            measured = math.sqrt(a["low"] * a["high"]) < math.sqrt(b["low"] * b["high"])
            agree += (a["predicted"] < b["predicted"]) == measured
    return agree, total


def markdown() -> str:
    """The two tables of docs/fidelity.md."""
    rows = fidelity_rows()
    lines = ["| model | device (setup) | processor, dtype | measured ms | predicted ms | "
             "predicted / measured | source |",
             "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        measured = f"{r['low']:g}" if r["low"] == r["high"] else f"{r['low']:g}–{r['high']:g}"
        flag = " †" if r.get("informs_profile") else ""
        lines.append(f"| {r['model']} | {r['profile']} ({r['setup']}) | {r['processor']}, "
                     f"{r['dtype']} | {measured} | {r['predicted']:.2f} | "
                     f"{r['ratio']:.2f}{flag} | {r['source']} |")
    agree, total = rank_agreement(rows)
    lines += ["", f"Ranking: for {agree} of {total} pairs of rows on the same device, the "
              "predicted order is the measured order.",
              "", "| device | processor, dtype | " + " | ".join(MODELS) + " |",
              "| --- | --- | " + " | ".join("---:" for _ in MODELS) + " |"]
    for profile, processor, dtype in PREDICT_ONLY:
        cells = [f"{predict_ms(m, profile, processor, dtype):.2f}" for m in MODELS]
        lines.append(f"| {profile} | {processor}, {dtype} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Print the published tables, or with ``--host`` measure this machine (and with
    ``--write`` put that section into docs/fidelity.md)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", action="store_true",
                        help="predicted vs measured onnxruntime latency on this machine")
    parser.add_argument("--write", action="store_true",
                        help="with --host: rewrite the host section of docs/fidelity.md")
    parser.add_argument("--models", default=None, help="comma-separated zoo models")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if not args.host:
        print(markdown(), end="")
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from host_fidelity import MODELS, host_markdown

    models = args.models.split(",") if args.models else list(MODELS)
    section = host_markdown(models, args.threads, args.repeat)
    print(section, end="")
    if args.write:
        page = DOCS.read_text()
        head, rest = page.split(HOST_BEGIN)
        tail = rest.split(HOST_END)[1]
        DOCS.write_text(head + HOST_BEGIN + section + HOST_END + tail)


if __name__ == "__main__":
    main()
