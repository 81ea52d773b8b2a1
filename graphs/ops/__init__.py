"""The op table: every op kind the planner understands, mapped to its handlers.

>>> from graphs.ops import op_spec
>>> op_spec("conv2d").summary.split(";")[0]
'2-D convolution'
"""

from __future__ import annotations

from collections.abc import Mapping

from graphs.ops import conv, dense, elementwise, movement, recurrent
from graphs.ops.base import (
    OP_CLASSES,
    Attrs,
    OpArgumentError,
    OpSpec,
    Shape,
    WeightSpec,
    numel,
)

OPS: Mapping[str, OpSpec] = {
    spec.kind: spec
    for spec in (*conv.SPECS, *dense.SPECS, *elementwise.SPECS, *movement.SPECS,
                 *recurrent.SPECS)
}


def op_spec(kind: str) -> OpSpec:
    """The handlers of ``kind``; raises ``KeyError`` for an op the table does not know."""
    return OPS[kind]


def known_ops() -> list[str]:
    """Every op kind in the table, sorted."""
    return sorted(OPS)


__all__ = [
    "OPS",
    "OP_CLASSES",
    "Attrs",
    "OpArgumentError",
    "OpSpec",
    "Shape",
    "WeightSpec",
    "known_ops",
    "numel",
    "op_spec",
]
