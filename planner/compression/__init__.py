"""What compression does to a network, shared by the proxies (before the ILP), the
re-measuring of chosen options, the simulation and export: channel coupling, decision units,
weight transforms (pruning, low rank), storage formats and applying a whole plan."""

from planner.compression.apply import (
    Compressed,
    CompressedUnit,
    CompressionError,
    compress,
    stored_bits,
)
from planner.compression.coupling import Coupling, Group, Space, couple, coupled_names
from planner.compression.decision_units import COMPRESSIBLE, Unit, build_units, pruned_io
from planner.compression.transforms import Choice

__all__ = [
    "COMPRESSIBLE",
    "Choice",
    "Compressed",
    "CompressedUnit",
    "CompressionError",
    "Coupling",
    "Group",
    "Space",
    "Unit",
    "build_units",
    "compress",
    "couple",
    "coupled_names",
    "pruned_io",
    "stored_bits",
]
