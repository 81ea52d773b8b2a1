"""Multiply-accumulates of an ONNX model counted from its own graph, independently of the
planner's op table: ONNX shape inference at a fixed batch, then per node

- ``Conv``: output elements × (input channels / group) × kernel area;
- ``Gemm`` / ``MatMul``: output elements × the contracted length;
- ``Einsum`` of two operands: the product of every index size;
- ``LSTM`` / ``GRU``: both products of every step, T·N·D·G·H·(in + H) (W is (D, G·H, in)).

Other ops (pooling, normalisation, elementwise) count no MACs, as in the op table.
"""

from __future__ import annotations

import math
from typing import Any

from planner.export.onnx_builder import onnx_modules


def onnx_macs(model: Any, batch: int = 1) -> int:
    """MACs of one run of ``model`` (an ``onnx.ModelProto``) with every input's batch axis
    set to ``batch``."""
    onnx, _, _ = onnx_modules()
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for source in fixed.graph.input:
        dim = source.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_value = batch
    inferred = onnx.shape_inference.infer_shapes(fixed, data_prop=True)
    shapes = {v.name: _dims(v) for v in (*inferred.graph.value_info, *inferred.graph.input,
                                         *inferred.graph.output)}
    shapes.update({t.name: tuple(t.dims) for t in inferred.graph.initializer})
    total = 0
    for node in inferred.graph.node:
        total += _node_macs(node, shapes)
    return total


def _dims(value: Any) -> tuple[int, ...] | None:
    shape = value.type.tensor_type.shape
    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in shape.dim)
    return None if -1 in dims else dims


def _node_macs(node: Any, shapes: dict[str, tuple[int, ...] | None]) -> int:
    def shape(name: str) -> tuple[int, ...]:
        found = shapes.get(name)
        if found is None:
            raise ValueError(f"node {node.name!r} ({node.op_type}): the shape of {name!r} "
                             "is unknown after ONNX shape inference")
        return found

    if node.op_type == "Conv":
        weight = shape(node.input[1])
        return math.prod(shape(node.output[0])) * math.prod(weight[1:])
    if node.op_type == "Gemm":
        a = shape(node.input[0])
        trans_a = next((at.i for at in node.attribute if at.name == "transA"), 0)
        return math.prod(shape(node.output[0])) * (a[0] if trans_a else a[1])
    if node.op_type == "MatMul":
        return math.prod(shape(node.output[0])) * shape(node.input[0])[-1]
    if node.op_type in ("LSTM", "GRU"):
        steps, batch = shape(node.input[0])[:2]
        dirs, rows, width = shape(node.input[1])
        hidden = shape(node.input[2])[2]
        return steps * batch * dirs * rows * (width + hidden)
    if node.op_type == "Einsum" and len(node.input) == 2:
        equation = next(at.s.decode() for at in node.attribute if at.name == "equation")
        sizes: dict[str, int] = {}
        for term, name in zip(equation.split("->")[0].split(","), node.input, strict=True):
            sizes.update(zip(term.strip(), shape(name), strict=True))
        return math.prod(sizes.values())
    return 0
