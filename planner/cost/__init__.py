"""The roofline cost model: latency and energy of every layer on every processor, and of a
whole model on a placement (transfers included)."""

from planner.cost.placement import (
    Placement,
    PlacementCost,
    TransferCost,
    best_processor,
    display_dtype,
    per_processor_costs,
    placement_cost,
    single_processor_placement,
    transfers,
    weights_fit_on_chip,
)
from planner.cost.roofline import (
    FUSABLE_ACTIVATIONS,
    Bound,
    Cost,
    Infeasible,
    LayerCost,
    dtype_bits,
    fused_layers,
    layer_cost,
    roofline,
    roofline_terms,
    sparse_speedup,
)

__all__ = [
    "FUSABLE_ACTIVATIONS",
    "Bound",
    "Cost",
    "Infeasible",
    "LayerCost",
    "Placement",
    "PlacementCost",
    "TransferCost",
    "best_processor",
    "display_dtype",
    "dtype_bits",
    "fused_layers",
    "layer_cost",
    "per_processor_costs",
    "placement_cost",
    "roofline",
    "roofline_terms",
    "single_processor_placement",
    "sparse_speedup",
    "transfers",
    "weights_fit_on_chip",
]
