"""Fuzz the input boundaries: structured mutations of real files and values, and what came
of each, counted.

    python benchmarks/fuzz.py                  # 3,500 cases, shared by the targets
    python benchmarks/fuzz.py --cases 10000 --seed 3 --show 5

Targets, each mutating a real input a user could hand the planner:

- ``graph``: the JSON of lenet5 with weights (``planner.graph`` format), loaded and costed;
- ``onnx``: a small Conv → Relu → Gemm model (onnx.helper), imported and costed;
- ``plan``: a plan of lenet5 on raspberry_pi_5, loaded and simulated;
- ``profile``: the raspberry_pi_5 profile, loaded and used to cost lenet5's baseline;
- ``budget``: budget strings as the CLI reads them, then planned on lenet5.

- ``export``: a mutated plan exported as ONNX and run by onnxruntime;
- ``cli``: command lines of every command with a value replaced, dropped or added, run
  in-process as ``planner …`` would be.

Each case ends in one outcome: ``ok`` (accepted; its numbers are finite), ``error`` (a
typed error of the project with a message: what a user sees as one ``error:`` line),
``traceback`` (any other exception, or an accepted input whose totals are not finite) or
``accepted`` (an input the harness knows to be invalid came back as a result, or a plan
that breaks a budget it was given). The last two are defects.

What the harness knows to be invalid, schema-free, from the edit it made: a field renamed
to one no format has (``bias`` → ``biass``); a value of another JSON kind than the one it
replaced, null aside (a list for a bool, a string for a number); an integer field made fractional; a
number made infinite or NaN; a non-negative number made negative (axes excepted); a name
or enumerated value (op, dtype, format, member) made empty or unknown; an entry duplicated
in, or dropped from, a list whose length is fixed by the model (shapes, members, layers).
Edits it cannot judge without the format's rules (a key deleted or made null, a number
moved within its sign) are left to the loaders and count only as ``ok`` or ``error``.
``tests/test_fuzz.py`` runs a quick slice of the same cases in CI.
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


@dataclass
class Case:
    """One fuzzed input: ``run`` loads and uses it; ``invalid`` says why the harness knows
    it to be invalid (None when it cannot tell)."""

    run: Callable[[], object]
    invalid: str | None = None


def classify(case: Case | Callable[[], object]) -> Outcome:
    """Run one case; ``ok``, ``error`` (expected type, non-empty message), ``traceback``
    or ``accepted`` (a known-invalid input, or a broken budget, came back as a result)."""
    if not isinstance(case, Case):
        case = Case(case)
    try:
        result = case.run()
    except EXPECTED as exc:
        if str(exc).strip():
            return Outcome("error", f"{type(exc).__name__}: {str(exc)[:160]}")
        return Outcome("traceback", f"{type(exc).__name__} without a message")
    except BrokenBudget as exc:
        return Outcome("accepted", f"a returned plan breaks its budget: {exc}")
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Outcome("traceback", f"{type(exc).__name__}: {str(exc)[:120]} "
                                    f"({Path(where.filename).name}:{where.lineno})")
    if isinstance(result, float) and not math.isfinite(result):
        return Outcome("traceback", f"accepted, but a total is {result}")
    if case.invalid is not None:
        return Outcome("accepted", f"accepted {case.invalid}")
    return Outcome("ok", "")


class BrokenBudget(AssertionError):
    """A plan came back that breaks a budget it was given."""


def check_budgets(plan: Plan) -> None:
    """Raise :class:`BrokenBudget` when ``plan``'s totals exceed one of its budgets."""
    from planner.search.problem import Budgets

    broken = plan.totals.violations(Budgets.of(**plan.budgets))
    if broken:
        raise BrokenBudget(", ".join(broken))


# ---------------------------------------------------------------- structured mutation

SIGNED = {"dim", "start_dim", "end_dim", "dim0", "dim1", "dims", "axis", "axes"}
"""Fields whose negative values count from the end (a negative one may be valid)."""
FREE = {"source", "notes", "devices", "binding", "description", "metadata", "profile",
        "processor", "proxy"}
"""Free text, or names only another file can check: any string or list may be valid."""
PER_AXIS = {"kernel_size", "stride", "padding", "dilation", "output_padding"}
"""An int or a list per axis: a shorter list or one number is a shorthand, not an error."""
NAMES = {"name", "op", "dtype", "weight_format", "objective", "model", "members", "inputs",
         "outputs", "format", "layers", "input_shapes", "output_shape", "kernel_size",
         "stride", "padding", "dilation", "output_padding", "shape"}
"""Names, enumerated values and lists whose length the model fixes."""


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


def _kind(value: Any) -> str:
    """The JSON kind of ``value``; a string that reads as a number (YAML leaves ``6.1e11``
    a string) counts as a number."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return "str"
        return "number"
    if value is None or isinstance(value, bool | list | dict):
        return type(value).__name__
    return "number"


def _judge(old: Any, new: Any, keys: tuple[Any, ...], exact_ints: bool) -> str | None:
    """Why replacing ``old`` by ``new`` at ``keys`` makes the input invalid, or None when
    the harness cannot tell."""
    named = [k for k in keys if isinstance(k, str)]
    field = named[-1] if named else ""
    if set(named) & FREE or old is None or new is None \
            or (new == old and _kind(new) == _kind(old)):
        return None  # null, like a deleted key, may stand for a default
    if keys == ("name",):  # the model's or the profile's own name: free text
        return None
    where = ".".join(str(k) for k in keys)
    if field in PER_AXIS and isinstance(old, list) and _kind(new) == "number":
        return _judge(old[0], new, keys, exact_ints)
    if _kind(new) != _kind(old):
        return f"{where}: {_kind(old)} replaced by {json.dumps(new)}"
    if _kind(new) == "number":
        if not math.isfinite(float(new)):
            return f"{where}: {new}"
        if exact_ints and isinstance(old, int) and not float(new).is_integer():
            return f"{where}: integer {old} made {new}"
        if float(old) >= 0 > float(new) and field not in SIGNED:
            return f"{where}: {old} made negative ({new})"
    if isinstance(new, str) and field in NAMES and (new == "" or new in JUNK):
        return f"{where}: {old!r} made {new!r}"
    return None


def _at(doc: Any, path: tuple[Any, ...], missing: Any) -> Any:
    """The value at ``path`` in ``doc``, or ``missing`` where there is none."""
    for key in path:
        try:
            doc = doc[key]
        except (KeyError, IndexError, TypeError):
            return missing
    return doc


def mutate(doc: Any, rng: random.Random, edits: int = 1,
           exact_ints: bool = True) -> tuple[Any, str | None]:
    """A copy of ``doc`` with ``edits`` random edits (a value replaced by junk or a nearby
    number, a key deleted or misspelt, a list entry dropped or duplicated), and why the
    harness knows the result is invalid (None when it cannot tell). ``exact_ints``: an
    integer in ``doc`` is an integer field (JSON written by pydantic or the graph writer;
    not YAML, where a float may be written without a point)."""
    original, doc = doc, copy.deepcopy(doc)
    verdicts: dict[tuple[Any, ...], str] = {}  # by the path edited; a later edit there wins
    for _ in range(edits):
        paths = _paths(doc)
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = rng.randrange(6)
        value = parent[key]
        first = _at(original, path, value)  # judged against the input, not an earlier edit
        named = {k for k in path if isinstance(k, str)}
        verdict: str | None = None
        under = path[:-1] if isinstance(parent, list) and action in (4, 5) else path
        verdicts = {p: v for p, v in verdicts.items() if p[:len(under)] != under}
        if action == 1 and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = rng.choice([0, -value, value * 1000, value + 1, value - 1,
                                      float("inf"), value / 3])
            verdict = _judge(first, parent[key], path, exact_ints)
        elif action == 2 and isinstance(parent, dict):
            del parent[key]
        elif action == 3 and isinstance(parent, dict):
            parent[f"{key}s"] = parent.pop(key)
            if not named & FREE:
                verdict = f"{'.'.join(map(str, path))}: renamed to an unknown field {key}s"
        elif action in (4, 5) and isinstance(parent, list):
            if action == 4:
                parent.pop(key)
            else:
                parent.insert(key, copy.deepcopy(value))
            if named & NAMES and not named & FREE and path[-2:-1] != () \
                    and path[-2] not in PER_AXIS:
                verdict = (f"{'.'.join(map(str, path[:-1]))}: an entry "
                           f"{'dropped' if action == 4 else 'duplicated'}")
        else:
            parent[key] = copy.deepcopy(rng.choice(JUNK))
            verdict = _judge(first, parent[key], path, exact_ints)
        if verdict is not None:
            verdicts[under] = verdict
    return doc, next(iter(verdicts.values()), None)


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


def graph_case(rng: random.Random) -> Case:
    doc, invalid = mutate(_graph_doc(), rng, rng.randint(1, 3))
    path = _work() / "case.json"
    path.write_text(json.dumps(doc))
    return Case(lambda: float(load_graph(path).total_work().macs), invalid)


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


def onnx_case(rng: random.Random) -> Case:
    import onnx

    from graphs import from_onnx

    model = _onnx_model()
    invalid: str | None = None
    for _ in range(rng.randint(1, 2)):
        edit = rng.randrange(5)
        node = rng.choice(list(model.graph.node))
        verdict = None
        if edit == 0 and node.attribute:
            attr = rng.choice(list(node.attribute))
            value = rng.choice([0, -1, 7, 100, 2**31] if attr.ints else [0, -1, 5])
            if attr.ints:
                attr.ints[rng.randrange(len(attr.ints))] = value
            else:
                attr.i = value
            if value < 0 or (value == 0 and attr.name != "pads"):
                verdict = f"{node.op_type}.{attr.name} = {value}"
        elif edit == 1:
            init = rng.choice(list(model.graph.initializer))
            axis, value = rng.randrange(len(init.dims)), rng.choice([0, 1, 2, 7, 1000])
            if init.dims[axis] != value:
                verdict = f"initializer {init.name}: dims {list(init.dims)} with axis {axis} " \
                          f"made {value}, not its data's"
            init.dims[axis] = value
        elif edit == 2:
            dim = model.graph.input[0].type.tensor_type.shape.dim
            dim[rng.randrange(len(dim))].dim_value = value = rng.choice([0, 1, 2, 5, 10**6])
            if value == 0:
                verdict = "an input dimension of 0"
        elif edit == 3:
            node.op_type = rng.choice(["Conv", "Relu", "Gemm", "Pow", "NoSuchOp", "MaxPool"])
        else:
            init = model.graph.initializer[rng.randrange(len(model.graph.initializer))]
            verdict = f"initializer {init.name} deleted (a node still reads it)"
            model.graph.initializer.remove(init)
        invalid = invalid or verdict
    path = _work() / "case.onnx"
    onnx.save(model, str(path))
    return Case(lambda: float(from_onnx(path).total_work().macs), invalid)


@cache
def _plan() -> Plan:
    from planner.planning.plan import Planner
    from planner.search.problem import Budgets

    graph = build_zoo_model("lenet5", weights=True)
    budget = Budgets(size_bytes=graph.total_work().weight_bytes / 6)
    return Planner(graph, load("raspberry_pi_5"), proxy="weights",
                   cache=False).solve(budget).without_timings()


def plan_case(rng: random.Random) -> Case:
    from planner.validate.simulate import SimulationError, simulate

    doc, invalid = mutate(json.loads(_plan().model_dump_json()), rng, rng.randint(1, 2))
    path = _work() / "plan.json"
    path.write_text(json.dumps(doc))

    def run() -> object:
        plan = load_plan(path)
        try:
            result = simulate(build_zoo_model("lenet5", weights=True), plan, batch=2)
        except SimulationError as exc:
            raise PlanError(str(exc)) from None
        return float(result.stored_bytes + sum(o.error for o in result.outputs))

    return Case(run, invalid)


def export_case(rng: random.Random) -> Case:
    """A mutated plan exported as ONNX and run by onnxruntime: a result, or a typed error
    and no file written."""
    from planner.export import ExportError, RuntimeFailure, export, run_onnx

    doc, invalid = mutate(json.loads(_plan().model_dump_json()), rng, rng.randint(1, 2))
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

    return Case(run, invalid)


@cache
def _profile_doc() -> dict[str, Any]:
    source = Path(load.__code__.co_filename).parent / "raspberry_pi_5.yaml"
    return yaml.safe_load(source.read_text())


def profile_case(rng: random.Random) -> Case:
    from planner.planning.whatif import fixed_plan

    doc, invalid = mutate(_profile_doc(), rng, rng.randint(1, 2), exact_ints=False)
    path = _work() / "profile.yaml"
    path.write_text(yaml.safe_dump(doc))

    def run() -> object:
        profile = load_file(path)
        totals = fixed_plan(build_zoo_model("lenet5"), profile, [], proxy="uniform").totals
        return float(totals.latency_s + totals.energy_j + totals.size_bytes)

    return Case(run, invalid)


BUDGET_TEXT = ["20kB", "0B", "1e400", "-5MB", "nan", "inf", "1.5MiB", "3", "1e-300 s",
               "15ms", "0s", "1e309s", "2", "abc", "  4 kB ", "0.0001", "1e6", "5mJ", "0J"]


@cache
def _lenet_planner() -> Any:
    from planner.planning.plan import Planner

    return Planner(build_zoo_model("lenet5", weights=True), load("raspberry_pi_5"),
                   proxy="uniform", cache=False)


UNITS = {"size": "B", "latency": "s", "memory": "B", "energy": "J"}
"""The unit of each budget slot, in the order ``parse_budgets`` takes them."""


def _bad_budget(slot: str, text: str) -> str | None:
    """Why ``text`` cannot be a budget of ``slot`` (None when it may be one)."""
    bare = text.strip().lower()
    if bare in ("nan", "inf", "abc") or bare.startswith("-") or bare in ("1e400", "1e309s"):
        return f"--max-{slot} {text!r}"
    unit = bare.lstrip("0123456789.e+- ")[-1:].upper()
    if unit and unit != UNITS[slot].upper():
        return f"--max-{slot} {text!r}: a {UNITS[slot]} budget in {unit}"
    return None


def budget_case(rng: random.Random) -> Case:
    from planner.cli import parse_budgets
    from planner.planning.plan import InfeasibleBudgetError

    texts = [None if rng.random() < 0.6 else rng.choice(BUDGET_TEXT) for _ in range(4)]
    error = None if rng.random() < 0.6 else rng.choice([0.0, 1e-3, 1.0, -1.0, float("inf"),
                                                         float("nan")])
    bad = [_bad_budget(slot, text) for slot, text in zip(UNITS, texts, strict=True)
           if text is not None]
    if error is not None and not (math.isfinite(error) and error >= 0):
        bad.append(f"--max-error {error}")

    def run() -> object:
        budgets = parse_budgets(*texts, error)  # type: ignore[arg-type]
        try:
            plan = _lenet_planner().solve(budgets)
        except InfeasibleBudgetError as exc:
            raise PlanError(str(exc)) from None
        check_budgets(plan)
        return float(plan.totals.size_bytes + plan.totals.latency_s + plan.totals.error)

    return Case(run, next((b for b in bad if b), None))


@cache
def _cli_files() -> dict[str, str]:
    """Real files the command lines read: a plan of lenet5, its ONNX export, inputs."""
    from planner.export import export

    work = _work()
    plan, model, inputs = work / "cli-plan.json", work / "cli.onnx", work / "cli-in.npy"
    _plan().save(plan)
    export(build_zoo_model("lenet5", weights=True), _plan(), model, batch=1)
    np.save(inputs, np.zeros((2, 1, 32, 32), np.float32))
    return {"PLAN": str(plan), "ONNX": str(model), "INPUTS": str(inputs),
            "OUT": str(work / "cli-out.json"), "OUTONNX": str(work / "cli-out.onnx"),
            "DIR": str(work)}


COMMANDS = [
    "inspect lenet5 -f json",
    "inspect lenet5 --hardware raspberry_pi_5 --input-shape 1,1,32,32 --dtype int8",
    "profiles raspberry_pi_5 -f markdown",
    "plan lenet5 -H raspberry_pi_5 --max-size 20kB --proxy uniform --no-cache -o OUT",
    "plan lenet5 -H raspberry_pi_5 --max-latency 1ms --max-error 0.5 --proxy weights "
    "--no-cache --time-limit 30s --objective size --resolution 0.01 -o OUT",
    "simulate lenet5 PLAN --batch 2 --inputs INPUTS",
    "report lenet5 -H raspberry_pi_5 --plan PLAN -f json",
    "sweep lenet5 -H raspberry_pi_5 --points 3 --proxy uniform --no-cache --over size",
    "export lenet5 PLAN -o OUTONNX --batch 1",
    "measure ONNX --repeat 2 --warmup 0 --threads 1",
]
"""Valid command lines (upper-case words: the files of :func:`_cli_files`)."""
OUTPUTS = {"-o", "--output", "--plot"}
CLI_JUNK = ["", "abc", "-1", "nan", "inf", "1e400", "1e309s", "/nonexistent/x.json", "DIR",
            "0", "2", "0.5", "1MB", "15ms", "json", "lenet5", "raspberry_pi_5"]
"""Values put in place of one on a command line. The first nine are no option's value;
for an output path only ``""``, the missing folder and ``DIR`` (a folder) are invalid."""


def cli_case(rng: random.Random) -> Case:
    import contextlib
    import io

    from planner.cli import main

    files = _cli_files()
    argv = rng.choice(COMMANDS).split()
    invalid: str | None = None
    for _ in range(rng.randint(1, 2)):
        values = [i for i in range(1, len(argv)) if not argv[i].startswith("-")]
        edit = rng.randrange(4)
        if edit <= 1 and values:
            i, junk = rng.choice(values), rng.choice(CLI_JUNK)
            option = argv[i - 1]
            bad = CLI_JUNK[:9] if option not in OUTPUTS else ["", "/nonexistent/x.json", "DIR"]
            if junk in bad and argv[i] != junk:
                invalid = invalid or f"{option} {junk!r}"
            argv[i] = junk
        elif edit == 2 and values:
            i = rng.choice(values)
            if argv[i - 1].startswith("-"):
                invalid = invalid or f"{argv[i - 1]} without its value"
                del argv[i]
        else:  # right after the command, where it cannot be another option's value
            argv.insert(1, rng.choice(["--nope", "-Z", "--max-sizes"]))
            invalid = invalid or f"an unknown option {argv[1]}"
    argv = [files.get(a, a) for a in argv]

    def run() -> object:
        Path(files["OUT"]).unlink(missing_ok=True)
        here = Path(files["DIR"]) / "cwd"  # outputs named by junk land there, case by case
        shutil.rmtree(here, ignore_errors=True)
        here.mkdir()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                contextlib.chdir(here):
            try:
                main(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        if "Traceback" in err.getvalue() or code not in (0, 1, 2, 3):
            raise RuntimeError(f"planner {' '.join(argv)} exited {code}: "
                               f"{err.getvalue()[-300:]}")
        if code:
            last = err.getvalue().strip().splitlines()[-1:] or [""]
            raise PlanError(f"exit {code}: {last[0]}" if last[0] else "")
        if argv[0] == "plan" and Path(files["OUT"]).exists():
            check_budgets(load_plan(files["OUT"]))
        return 0.0

    return Case(run, invalid)


TARGETS: dict[str, Callable[[random.Random], Case]] = {
    "graph": graph_case, "onnx": onnx_case, "plan": plan_case, "profile": profile_case,
    "budget": budget_case, "export": export_case, "cli": cli_case,
}


def run_target(name: str, cases: int, seed: int) -> list[tuple[int, Outcome]]:
    """Every case of one target: (case seed, outcome)."""
    found = []
    for k in range(cases):
        case_seed = seed * 1_000_003 + k
        found.append((case_seed, classify(TARGETS[name](random.Random(case_seed)))))
    return found


DEFECTS = ("traceback", "accepted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3500,
                        help="cases in all, shared evenly by the targets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--show", type=int, default=3, help="defects shown per target")
    args = parser.parse_args()
    each = -(-args.cases // len(args.targets))
    print("target | cases | ok | error | traceback | invalid accepted")
    shown: list[str] = []
    total: Counter[str] = Counter()
    for name in args.targets:
        results = run_target(name, each, args.seed)
        counts = Counter(outcome.kind for _, outcome in results)
        total += counts
        print(f"{name} | {len(results)} | {counts['ok']} | {counts['error']} | "
              f"{counts['traceback']} | {counts['accepted']}", flush=True)
        shown += [f"  {name} case {s}: {o.kind}: {o.detail}" for s, o in results
                  if o.kind in DEFECTS][:args.show]
    print(f"all | {sum(total.values())} | {total['ok']} | {total['error']} | "
          f"{total['traceback']} | {total['accepted']}")
    if shown:
        print("defects (re-run one with classify(TARGETS[name](random.Random(case)))):")
        print("\n".join(shown))
    raise SystemExit(1 if any(total[k] for k in DEFECTS) else 0)


if __name__ == "__main__":
    main()
