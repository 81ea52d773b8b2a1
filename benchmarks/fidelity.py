"""Predicted end-to-end latency next to published measurements, as a Markdown table.

Run: python benchmarks/fidelity.py        (prints the tables quoted in docs/fidelity.md)
     python benchmarks/fidelity.py --fit [--write]
                                          (bundled profiles fitted to those rows, as
                                           planner fit does, with leave-one-out errors)
     python benchmarks/fidelity.py --host [--write]
                                          (measures this machine: benchmarks/host_fidelity.py)
     python benchmarks/fidelity.py --executor [--write]
                                          (the planner's numpy executor on this machine:
                                           benchmarks/executor_fidelity.py)

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
from planner.contracts.latency_file import read_latencies
from planner.cost import (
    LatencyMeasurement,
    fit_profile,
    placement_cost,
    single_processor_placement,
)

DATA = Path(__file__).resolve().parents[1] / "docs" / "published_latencies.yaml"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "fidelity.md"
HOST_BEGIN, HOST_END = "<!-- host:begin -->\n", "<!-- host:end -->"
EXECUTOR_BEGIN, EXECUTOR_END = "<!-- executor:begin -->\n", "<!-- executor:end -->"
FIT_BEGIN, FIT_END = "<!-- fit:begin -->\n", "<!-- fit:end -->"
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


def fit_markdown() -> str:
    """Each bundled profile with published rows fitted to them (``planner fit``): per row
    the ratio before the fit and held out of it, and per profile the errors."""
    names = dict.fromkeys(e["profile"] for e in yaml.safe_load(DATA.read_text()))
    lines = ["| device | rows | rms log error before | leave-one-out | within ±25% before | "
             "leave-one-out | factors |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    detail = ["| model | device | processor, dtype | before / measured | held out / measured |",
              "| --- | --- | --- | ---: | ---: |"]
    for name in names:
        rows = read_latencies(DATA, name)
        measured = [LatencyMeasurement(r.label, build_zoo_model(
            r.model, tuple(r.input) if r.input else None), r.processor, r.dtype, r.seconds)
            for r in rows]
        fit = fit_profile(load(name), measured, str(DATA.name))
        n = len(fit.rows)
        factors = ", ".join(f"{p} x{f:.2f}" for p, f in fit.factors.items())
        lines.append(f"| {name} | {n} | {fit.rms_log_error('before'):.2f} | "
                     f"{fit.rms_log_error('held_out'):.2f} | {fit.within(0.25, 'before')} of "
                     f"{n} | {fit.within(0.25)} of {n} | {factors} |")
        for row, r in zip(rows, fit.rows, strict=True):
            detail.append(f"| {row.model} | {name} | {row.processor}, {row.dtype} | "
                          f"{r.before_s / r.measurement.seconds:.2f} | "
                          f"{r.held_out_s / r.measurement.seconds:.2f} |")
    return "\n".join([*lines, "", *detail]) + "\n"


def main() -> None:
    """Print the published tables, or with ``--host`` measure this machine (and with
    ``--write`` put that section into docs/fidelity.md)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", action="store_true",
                        help="predicted vs measured onnxruntime latency on this machine")
    parser.add_argument("--executor", action="store_true",
                        help="predicted vs measured latency of the planner's numpy executor "
                             "on this machine")
    parser.add_argument("--fit", action="store_true",
                        help="bundled profiles fitted to the published latencies, with "
                             "leave-one-out errors")
    parser.add_argument("--write", action="store_true",
                        help="with --host, --executor or --fit: rewrite that section of "
                             "docs/fidelity.md")
    parser.add_argument("--models", default=None, help="comma-separated zoo models")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--profile", default=None,
                        help="with --host: an onnxruntime profile written by planner "
                             "calibrate --runtime onnxruntime (default: calibrate now)")
    args = parser.parse_args()
    if args.fit:
        section = fit_markdown()
        print(section, end="")
        if args.write:
            _replace_section(FIT_BEGIN, FIT_END, section)
        return
    sys.path.insert(0, str(Path(__file__).parent))
    if args.executor:
        from executor_fidelity import executor_markdown
        from host_fidelity import MODELS

        section = executor_markdown(args.models.split(",") if args.models else list(MODELS),
                                    args.threads, args.repeat)
        print(section, end="")
        if args.write:
            _replace_section(EXECUTOR_BEGIN, EXECUTOR_END, section)
        return
    if not args.host:
        print(markdown(), end="")
        return
    from host_fidelity import MODELS, host_markdown

    models = args.models.split(",") if args.models else list(MODELS)
    section = host_markdown(models, args.threads, args.repeat,
                            load(args.profile) if args.profile else None)
    print(section, end="")
    if args.write:
        _replace_section(HOST_BEGIN, HOST_END, section)


def _replace_section(begin: str, end: str, section: str) -> None:
    """Put ``section`` between the ``begin`` and ``end`` markers of docs/fidelity.md."""
    page = DOCS.read_text()
    head, rest = page.split(begin)
    tail = rest.split(end)[1]
    DOCS.write_text(head + begin + section + end + tail)


if __name__ == "__main__":
    main()
