"""Work: the arithmetic and bytes of a layer, a value you add.

A model's work is ``sum(layer works)``; a report is a grouping of the same values.

>>> from graphs.work import Work
>>> (Work(macs=10, flops=20) + Work(macs=1, flops=2)).macs
11
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Self

from graphs.ops import Attrs, Shape, numel, op_spec


class Summable:
    """A frozen dataclass of numbers that adds field by field, so that ``sum(values)`` of
    layer records is the model's record (tinygrad's ``Estimates``)."""

    def __add__(self, other: Self) -> Self:
        cls: Any = type(self)
        return cls(*(getattr(self, f.name) + getattr(other, f.name)
                     for f in fields(cls)))

    def __radd__(self, other: object) -> Self:
        if other == 0:  # so that sum() works without a start value
            return self
        return NotImplemented


@dataclass(frozen=True)
class Work(Summable):
    """Arithmetic and memory traffic of one execution (one batch) of a layer or model.

    macs: multiply-accumulates of conv/linear/matmul, bias excluded.
    flops: all floating-point operations, 2 per MAC plus the op's other arithmetic.
    params: learnable parameters (elements).
    weight_bytes: bytes of weights stored in the deployed model.
    weight_read_bytes: bytes of weights read per execution (an embedding reads few rows).
    input_bytes / output_bytes: activation bytes read / written (0 for views).
    """

    macs: int = 0
    flops: int = 0
    params: int = 0
    weight_bytes: int = 0
    weight_read_bytes: int = 0
    input_bytes: int = 0
    output_bytes: int = 0

    @property
    def activation_bytes(self) -> int:
        """Activation bytes read plus written."""
        return self.input_bytes + self.output_bytes

    @property
    def traffic_bytes(self) -> int:
        """All bytes that cross the memory interface if nothing stays on chip."""
        return self.weight_read_bytes + self.input_bytes + self.output_bytes

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in FLOP per byte of traffic (0 when no traffic)."""
        return self.flops / self.traffic_bytes if self.traffic_bytes else 0.0


def bits_to_bytes(elements: int, bits: float) -> int:
    """Bytes to hold ``elements`` values of ``bits`` each, rounded up to whole bytes."""
    return math.ceil(elements * bits / 8)


def op_work(op: str, input_shapes: Sequence[Shape], output_shape: Shape, attrs: Attrs,
            weight_bits: float = 32, activation_bits: float = 32) -> Work:
    """Work of one op from its shapes and attributes, with weights and activations stored at
    ``weight_bits`` and ``activation_bits`` bits per element.

    >>> w = op_work("linear", [(1, 512)], (1, 1000), {"out_features": 1000, "bias": True})
    >>> w.macs, w.params, w.weight_bytes
    (512000, 513000, 2052000)
    """
    spec = op_spec(op)
    weights = spec.weights(input_shapes, attrs)
    params = sum(numel(w.shape) for w in weights.values() if w.counted)
    stored = sum(numel(w.shape) for w in weights.values() if w.stored)
    reads = stored if spec.weight_reads is None else spec.weight_reads(
        input_shapes, output_shape, attrs)
    macs = spec.macs(input_shapes, output_shape, attrs)
    moved = spec.moves_data
    return Work(
        macs=macs,
        flops=2 * macs + spec.other_flops(input_shapes, output_shape, attrs),
        params=params,
        weight_bytes=bits_to_bytes(stored, weight_bits),
        weight_read_bytes=bits_to_bytes(reads, weight_bits),
        input_bytes=bits_to_bytes(sum(numel(s) for s in input_shapes), activation_bits)
        if moved else 0,
        output_bytes=bits_to_bytes(numel(output_shape), activation_bits) if moved else 0,
    )
