"""Fuzz the input boundaries: structured mutations of real files and values, and what came
of each, counted.

    python benchmarks/fuzz.py                  # 500 cases per target
    python benchmarks/fuzz.py --cases 2000 --seed 3 --show 5

Targets, each mutating a real input a user could hand the planner:

- ``graph``: the JSON of lenet5 with weights (``planner.graph`` format), loaded and costed;
- ``onnx``: a small Conv → Relu → Gemm model (onnx.helper), imported and costed;
- ``plan``: a plan of lenet5 on raspberry_pi_5, loaded and simulated;
- ``profile``: the raspberry_pi_5 profile, loaded and used to cost lenet5's baseline;
- ``budget``: budget strings as the CLI reads them, then planned on lenet5.

Each case ends in one outcome: ``ok`` (accepted; its numbers are finite), ``error`` (a
typed error of the project with a message: what a user sees as one ``error:`` line), or
``traceback`` (any other exception, or an accepted input whose totals are not finite):
a defect. ``tests/test_fuzz.py`` runs a quick slice of the same cases in CI.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import json
import math
import random
import shutil
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from graphs import GraphError, MissingExtraError, build_zoo_model, load_graph, save_graph
from hardware_profiles import ProfileError, load, load_file
from planner.contracts.plan_file import Plan, PlanError, load_plan
from planner.contracts.quantities import BudgetError
from planner.contracts.units import UnitError

EXPECTED: tuple[type[BaseException], ...] = (GraphError, ProfileError, PlanError, UnitError,
                                            BudgetError, MissingExtraError)
"""Errors that reach the user as one clear line (every project error derives from one)."""

JUNK: list[Any] = [None, True, 0, -1, 1, 2**63, 1e309, -1e-9, float("nan"), "", "x",
                   "../../etc/passwd", [], [0], [-1, -1], {}, {"a": 1}, [[1, 2], [3]], 0.5]


@dataclass
class Outcome:
    kind: str
    detail: str


def classify(run: Callable[[], object]) -> Outcome:
    """Run one case; ``ok``, ``error`` (expected type, non-empty message) or
    ``traceback``."""
    try:
        result = run()
    except EXPECTED as exc:
        if str(exc).strip():
            return Outcome("error", f"{type(exc).__name__}: {str(exc)[:160]}")
        return Outcome("traceback", f"{type(exc).__name__} without a message")
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Outcome("traceback", f"{type(exc).__name__}: {str(exc)[:120]} "
                                    f"({Path(where.filename).name}:{where.lineno})")
    if isinstance(result, float) and not math.isfinite(result):
        return Outcome("traceback", f"accepted, but a total is {result}")
    return Outcome("ok", "")


# ---------------------------------------------------------------- structured mutation


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


def mutate(doc: Any, rng: random.Random, edits: int = 1) -> Any:
    """A copy of ``doc`` with ``edits`` random edits: a value replaced by junk or a nearby
    number, a key deleted or misspelt, a list entry dropped or duplicated."""
    doc = copy.deepcopy(doc)
    for _ in range(edits):
        paths = _paths(doc)
        if not paths:
            return doc
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = rng.randrange(6)
        value = parent[key]
        if action == 0:
            parent[key] = rng.choice(JUNK)
        elif action == 1 and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = rng.choice([0, -value, value * 1000, value + 1, value - 1,
                                      float("inf"), value / 3])
        elif action == 2 and isinstance(parent, dict):
            del parent[key]
        elif action == 3 and isinstance(parent, dict):
            parent[f"{key}s"] = parent.pop(key)
        elif action == 4 and isinstance(parent, list):
            parent.pop(key)
        elif action == 5 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(value))
        else:
            parent[key] = rng.choice(JUNK)
    return doc


# ---------------------------------------------------------------- targets


@cache
def _work() -> Path:
    """A scratch folder for the mutated files, removed when the process ends."""
    path = Path(tempfile.mkdtemp(prefix="planner-fuzz-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@cache
def _graph_doc() -> dict[str, Any]:
    path = _work() / "lenet5.json"
    save_graph(build_zoo_model("lenet5", weights=True), path)
    return json.loads(path.read_text())


def graph_case(rng: random.Random) -> Callable[[], object]:
    doc = mutate(_graph_doc(), rng, rng.randint(1, 3))
    path = _work() / "case.json"
    path.write_text(json.dumps(doc))
    return lambda: float(load_graph(path).total_work().macs)


def _onnx_model() -> Any:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
               for n, s in (("w", (4, 3, 3, 3)), ("b", (4,)), ("fc", (10, 64)),
                            ("fcb", (10,)))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def onnx_case(rng: random.Random) -> Callable[[], object]:
    import onnx

    from graphs import from_onnx

    model = _onnx_model()
    for _ in range(rng.randint(1, 2)):
        edit = rng.randrange(5)
        node = rng.choice(list(model.graph.node))
        if edit == 0 and node.attribute:
            attr = rng.choice(list(node.attribute))
            if attr.ints:
                attr.ints[rng.randrange(len(attr.ints))] = rng.choice([0, -1, 7, 100, 2**31])
            else:
                attr.i = rng.choice([0, -1, 5])
        elif edit == 1:
            init = rng.choice(list(model.graph.initializer))
            init.dims[rng.randrange(len(init.dims))] = rng.choice([0, 1, 2, 7, 1000])
        elif edit == 2:
            dim = model.graph.input[0].type.tensor_type.shape.dim
            dim[rng.randrange(len(dim))].dim_value = rng.choice([0, 1, 2, 5, 10**6])
        elif edit == 3:
            node.op_type = rng.choice(["Conv", "Relu", "Gemm", "Pow", "NoSuchOp", "MaxPool"])
        else:
            del model.graph.initializer[rng.randrange(len(model.graph.initializer))]
    path = _work() / "case.onnx"
    onnx.save(model, str(path))
    return lambda: float(from_onnx(path).total_work().macs)


@cache
def _plan() -> Plan:
    from planner.planning.plan import Planner
    from planner.search.problem import Budgets

    graph = build_zoo_model("lenet5", weights=True)
    budget = Budgets(size_bytes=graph.total_work().weight_bytes / 6)
    return Planner(graph, load("raspberry_pi_5"), proxy="weights",
                   cache=False).solve(budget).without_timings()


def plan_case(rng: random.Random) -> Callable[[], object]:
    from planner.validate.simulate import SimulationError, simulate

    doc = mutate(json.loads(_plan().model_dump_json()), rng, rng.randint(1, 2))
    path = _work() / "plan.json"
    path.write_text(json.dumps(doc))

    def run() -> object:
        plan = load_plan(path)
        try:
            result = simulate(build_zoo_model("lenet5", weights=True), plan, batch=2)
        except SimulationError as exc:
            raise PlanError(str(exc)) from None
        return float(result.stored_bytes + sum(o.error for o in result.outputs))

    return run


def export_case(rng: random.Random) -> Callable[[], object]:
    """A mutated plan exported as ONNX and run by onnxruntime: a result, or a typed error
    and no file written."""
    from planner.export import ExportError, RuntimeFailure, export, run_onnx

    doc = mutate(json.loads(_plan().model_dump_json()), rng, rng.randint(1, 2))
    path, model = _work() / "export-plan.json", _work() / "export.onnx"
    path.write_text(json.dumps(doc))
    model.unlink(missing_ok=True)

    def run() -> object:
        plan = load_plan(path)
        graph = build_zoo_model("lenet5", weights=True)
        try:
            export(graph, plan, model, batch=2)
            outputs = run_onnx(model, np.zeros((1, *graph["input"].output_shape[1:]),
                                               np.float32))
        except (ExportError, RuntimeFailure) as exc:
            if model.exists() and isinstance(exc, ExportError):
                raise AssertionError(f"a failed export left {model}") from None
            raise PlanError(str(exc)) from None
        return float(sum(float(np.abs(v).sum()) for v in outputs.values()))

    return run


@cache
def _profile_doc() -> dict[str, Any]:
    source = Path(load.__code__.co_filename).parent / "raspberry_pi_5.yaml"
    return yaml.safe_load(source.read_text())


def profile_case(rng: random.Random) -> Callable[[], object]:
    from planner.planning.whatif import fixed_plan

    doc = mutate(_profile_doc(), rng, rng.randint(1, 2))
    path = _work() / "profile.yaml"
    path.write_text(yaml.safe_dump(doc))

    def run() -> object:
        profile = load_file(path)
        totals = fixed_plan(build_zoo_model("lenet5"), profile, [], proxy="uniform").totals
        return float(totals.latency_s + totals.energy_j + totals.size_bytes)

    return run


BUDGET_TEXT = ["20kB", "0B", "1e400", "-5MB", "nan", "inf", "1.5MiB", "3", "1e-300 s",
               "15ms", "0s", "1e309s", "2", "abc", "  4 kB ", "0.0001", "1e6", "5mJ", "0J"]


@cache
def _lenet_planner() -> Any:
    from planner.planning.plan import Planner

    return Planner(build_zoo_model("lenet5", weights=True), load("raspberry_pi_5"),
                   proxy="uniform", cache=False)


def budget_case(rng: random.Random) -> Callable[[], object]:
    from planner.cli import parse_budgets
    from planner.planning.plan import InfeasibleBudgetError

    texts = [None if rng.random() < 0.6 else rng.choice(BUDGET_TEXT) for _ in range(4)]
    error = None if rng.random() < 0.6 else rng.choice([0.0, 1e-3, 1.0, -1.0, float("inf"),
                                                         float("nan")])

    def run() -> object:
        budgets = parse_budgets(*texts, error)  # type: ignore[arg-type]
        try:
            plan = _lenet_planner().solve(budgets)
        except InfeasibleBudgetError as exc:
            raise PlanError(str(exc)) from None
        return float(plan.totals.size_bytes + plan.totals.latency_s + plan.totals.error)

    return run


TARGETS: dict[str, Callable[[random.Random], Callable[[], object]]] = {
    "graph": graph_case, "onnx": onnx_case, "plan": plan_case, "profile": profile_case,
    "budget": budget_case, "export": export_case,
}


def run_target(name: str, cases: int, seed: int) -> list[tuple[int, Outcome]]:
    """Every case of one target: (case seed, outcome)."""
    found = []
    for k in range(cases):
        case_seed = seed * 1_000_003 + k
        found.append((case_seed, classify(TARGETS[name](random.Random(case_seed)))))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500, help="cases per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--show", type=int, default=3, help="tracebacks shown per target")
    args = parser.parse_args()
    print("target | cases | ok | error | traceback")
    shown: list[str] = []
    for name in args.targets:
        results = run_target(name, args.cases, args.seed)
        counts = Counter(outcome.kind for _, outcome in results)
        print(f"{name} | {len(results)} | {counts['ok']} | {counts['error']} | "
              f"{counts['traceback']}", flush=True)
        shown += [f"  {name} case {s}: {o.detail}" for s, o in results
                  if o.kind == "traceback"][:args.show]
    if shown:
        print("tracebacks (re-run one with TARGETS[name](random.Random(case))):")
        print("\n".join(shown))


if __name__ == "__main__":
    main()
