"""A quick slice of the fuzz harness (``benchmarks/fuzz.py``): structured mutations of real
graph, ONNX, plan and profile files, of budgets and of whole command lines end in a result
or a typed error with a message, never in another exception, and an input the harness
knows to be invalid never comes back as a result."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("onnx")


def _harness() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("planner_fuzz", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


FUZZ = _harness()


@pytest.mark.parametrize("target", sorted(FUZZ.TARGETS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_inputs_end_in_a_result_or_a_clear_error(target: str, seed: int) -> None:
    outcome = FUZZ.classify(FUZZ.TARGETS[target](random.Random(seed)))
    assert outcome.kind not in FUZZ.DEFECTS, f"{target} case {seed}: {outcome.detail}"


@pytest.mark.parametrize(("target", "seed", "edit"), [
    ("graph", 123, "a conv's bias flag made [0]"),
    ("graph", 90, "a padding made 0.5"),
    ("onnx", 67, "Gemm transB made -1"),
    ("onnx", 15, "a kernel_shape that is not the weight's"),
    ("plan", 14, "a member listed twice"),
    ("plan", 53, "a member dropped"),
    ("plan", 20, "negative MACs"),
    ("profile", 179, "a peak made true"),
    ("profile", 10251, "the version made true"),
    ("cli", 160, "inspect --dtype --nope"),
    ("cli", 179035518, "export … -o --batch (the file name and --batch's value forgotten)"),
    ("export", 23508378, "a plan's objective made '../../etc/passwd'"),
])
def test_inputs_once_accepted_invalid_are_refused(target: str, seed: int, edit: str) -> None:
    """Cases an earlier revision accepted although the harness knew them invalid."""
    case = FUZZ.TARGETS[target](random.Random(seed))
    assert case.invalid is not None, edit
    assert FUZZ.classify(case).kind == "error", edit


def test_the_harness_tells_a_defect_from_a_clear_error() -> None:
    def defect() -> object:
        return {}["missing"]

    def clear() -> object:
        raise FUZZ.PlanError("the plan is for another model")

    assert FUZZ.classify(defect).kind == "traceback"
    assert FUZZ.classify(clear).kind == "error"
    assert FUZZ.classify(lambda: float("nan")).kind == "traceback"
    assert FUZZ.classify(lambda: 1.0).kind == "ok"
    assert FUZZ.classify(FUZZ.Case(lambda: 1.0, "a stride of 0")).kind == "accepted"
