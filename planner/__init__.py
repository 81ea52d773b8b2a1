"""Plan how to prune, quantize and decompose a neural network for a phone or an edge board.

The public API: load a model (zoo name, ONNX/JSON file, PyTorch module), cost it on a
hardware profile, plan compression under budgets, and validate the plan by executing it.
"""

from planner.api import load_model
from planner.planning.plan import (
    InfeasibleBudgetError,
    Plan,
    PlanError,
    Planner,
    load_plan,
    pareto,
    plan,
)
from planner.planning.whatif import (
    DepthwiseSeparable,
    GlobalPoolingHead,
    MoveDownsampling,
    Override,
    Resolution,
    WhatIf,
    WidthMultiplier,
    whatif,
)
from planner.search.options import OptionSpace
from planner.search.problem import Budgets
from planner.validate import SimulationError, SimulationResult, simulate

__all__ = [
    "Budgets",
    "DepthwiseSeparable",
    "GlobalPoolingHead",
    "InfeasibleBudgetError",
    "MoveDownsampling",
    "OptionSpace",
    "Override",
    "Plan",
    "PlanError",
    "Planner",
    "Resolution",
    "SimulationError",
    "SimulationResult",
    "WhatIf",
    "WidthMultiplier",
    "load_model",
    "load_plan",
    "pareto",
    "plan",
    "simulate",
    "whatif",
]
