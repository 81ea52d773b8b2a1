"""Apply a plan to a graph's real weights: the compressed, executable graph and what each
unit stores.

Batch norms are folded into their conv or linear (as deployment does, and as the planner
prices it), channel groups are pruned to their planned keep ratio (channels ranked by summed
L1 norm, :func:`planner.compression.transforms.channel_selection`), low-rank layers are
replaced by their factors (SVD, Tucker-2), and every weight tensor is magnitude-pruned and
encoded in its format by :func:`planner.compression.storage.encode`, which returns the
exact stored bits and the decoded values an execution computes with. The planner measures
the sizes it extrapolated with :func:`compress`; the simulation and export run its graph.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphs import Graph, GraphError, Layer, fold_batchnorm, folds_into, is_depthwise
from hardware_profiles import DTYPE_BITS
from planner.compression.coupling import Coupling, couple
from planner.compression.decision_units import (
    COMPRESSIBLE,
    Unit,
    build_units,
    keep_ratios,
    pruned_io,
)
from planner.compression.storage import Encoded, format_bits
from planner.compression.transforms import (
    Choice,
    Factor,
    at_width,
    channel_selection,
    factorize,
    plain_bits,
    prune_weights,
    store,
    tensor_indices,
)
from planner.contracts.plan_file import LayerPlan, Plan


class CompressionError(ValueError):
    """A plan that does not fit the graph it is applied to."""




@dataclass
class CompressedUnit:
    """How one planned unit was realised: its layers in the compressed graph, the layer
    whose output it hands on, the stored bits of its weights and, per layer, the fraction
    of its stored weight values that are non-zero and the encoded tensors (for export)."""

    name: str
    layers: list[str]
    output: str
    stored_bits: int = 0
    nonzero_fraction: dict[str, float] = field(default_factory=dict)
    encodings: dict[str, dict[str, Encoded]] = field(default_factory=dict)
    """Per layer of the compressed graph, its encoded weight tensors (by weight name)."""


@dataclass
class Compressed:
    """The executable compressed graph and what each unit became. ``reference`` is the
    uncompressed graph with the same batch norms folded (the baseline it is compared to);
    ``dtypes`` maps each unit's output layer to the dtype its activations are stored at."""

    graph: Graph
    reference: Graph
    units: dict[str, CompressedUnit]
    dtypes: dict[str, str]
    fixed_bits: int
    coupling: Coupling
    selection: dict[int, np.ndarray]

    def kept(self, tensor: str) -> tuple[np.ndarray | None, int]:
        """Indices along its channel axis that ``tensor`` keeps (None: all), and the axis."""
        space = self.coupling.space(tensor)
        if space is None:
            return None, 1
        return tensor_indices(space, self.selection), space.axis

    def restricted(self, tensor: str, value: np.ndarray) -> np.ndarray:
        """An uncompressed value of ``tensor`` cut to the channels the plan keeps."""
        index, axis = self.kept(tensor)
        return value if index is None else np.take(value, index, axis=axis)

    def expanded(self, tensor: str, value: np.ndarray, like: np.ndarray) -> np.ndarray:
        """A compressed value of ``tensor`` placed in zeros of the uncompressed shape."""
        index, axis = self.kept(tensor)
        if index is None:
            return value
        full = np.zeros(like.shape, dtype=np.float64)
        where: list[Any] = [slice(None)] * like.ndim
        where[axis] = index
        full[tuple(where)] = value
        return full


def compress(graph: Graph, plan: Plan) -> Compressed:
    """Apply ``plan`` to ``graph`` (which must carry weights); see the module docstring."""
    if not graph.has_weights:
        raise CompressionError(f"{graph.name} has no weights; simulation compresses real "
                              "weights (zoo models: weights=True)")
    coupling = couple(graph)
    units, owner = build_units(graph, coupling)
    _check_plan(graph, plan, units)
    ratios = {int(gid): ratio for gid, ratio in plan.groups.items()}
    _check_keep_ratios(plan, units, coupling, ratios)
    reference = fold_batchnorm(graph)
    selection = channel_selection(reference, coupling, ratios)
    folded = {layer.name: layer.inputs[0] for layer in graph if folds_into(graph, layer)}
    shapes: dict[str, tuple[int, ...]] = {}
    layers: list[Layer] = []
    done: dict[str, CompressedUnit] = {}
    for unit in units:
        entry = plan.layer(unit.name)
        output = folded.get(unit.output, unit.output)
        done[unit.name] = CompressedUnit(unit.name, [], output)
        if entry.keep_out < 1 and tensor_indices(coupling.space(output), selection) is None:
            raise CompressionError(f"layer {unit.name!r}: the plan keeps {entry.keep_out:.3g} "
                                  "of its channels but its group is not pruned")
    fixed_bits = 0
    for layer in reference:
        expected = pruned_io(graph[layer.name], coupling, ratios)[1]
        if layer.op == "constant":
            fixed_bits += layer.output_elements * 32
            new = [layer]
        elif layer.op == "input":
            new = [layer]
        else:
            part = done[owner[layer.name]]
            entry = plan.layer(part.name)
            in_shapes = [shapes[i] for i in layer.inputs]
            in_idx = tensor_indices(coupling.space(layer.inputs[0]), selection)
            out_idx = tensor_indices(coupling.space(layer.name), selection)
            weights = prune_weights(layer, in_idx, out_idx)
            if layer.name == part.name and entry.op in COMPRESSIBLE:
                new = _compressed_layers(layer, in_shapes, expected, weights, entry, part)
            else:
                width = plain_bits("", None, DTYPE_BITS[entry.dtype])
                stored = {k: at_width(v, width) for k, v in weights.items()}
                new = [_rebuilt(layer, in_shapes, expected, stored or None)]
                kept = {k for k, spec in layer.weight_specs.items() if spec.stored}
                part.stored_bits += sum(v.size for k, v in weights.items() if k in kept) * width
            part.layers += [n.name for n in new]
        if new[-1].output_shape[1:] != expected[1:]:
            raise CompressionError(f"layer {layer.name!r} ({layer.op}): pruned output shape "
                                  f"{new[-1].output_shape} differs from the planned {expected}")
        for n in new:
            shapes[n.name] = n.output_shape
        layers += new
    try:
        compressed = Graph(layers, reference.outputs, f"{graph.name}-compressed",
                           dict(graph.metadata))
    except GraphError as exc:
        raise CompressionError(f"the compressed graph is invalid: {exc}") from None
    dtypes = {u.output: plan.layer(name).dtype for name, u in done.items()}
    return Compressed(compressed, reference, done, dtypes, fixed_bits, coupling, selection)


def _check_plan(graph: Graph, plan: Plan, units: list[Unit]) -> None:
    if plan.model != graph.name:
        raise CompressionError(f"the plan is for {plan.model!r}, the graph is {graph.name!r}")
    planned = {entry.name for entry in plan.layers}
    missing = [u.name for u in units if u.name not in planned]
    if missing:
        raise CompressionError(f"the plan has no entry for {len(missing)} layer(s) of "
                              f"{graph.name}: {', '.join(missing[:5])}")
    extra = sorted(planned - {u.name for u in units})
    if extra:
        raise CompressionError(f"the plan has entries for {len(extra)} layer(s) that "
                              f"{graph.name} does not have: {', '.join(extra[:5])}")
    for unit in units:
        entry = plan.layer(unit.name)
        if entry.op != unit.layer.op or entry.members != unit.members:
            raise CompressionError(
                f"layer {unit.name!r} of the plan is a {entry.op} of {entry.members}; in "
                f"{graph.name} it is a {unit.layer.op} of {unit.members}")
    for entry in plan.layers:
        try:
            format_bits(entry.weight_format)
        except ValueError as exc:
            raise CompressionError(f"layer {entry.name!r} of the plan: {exc}") from None
    macs = graph.total_work().macs
    if plan.baseline.macs and macs != plan.baseline.macs:
        raise CompressionError(
            f"the plan was made for {graph.name} at {plan.baseline.macs:,} MACs; this graph "
            f"has {macs:,} (another input shape?): plan again at this shape or load the "
            "model at the shape it was planned for")


def _check_keep_ratios(plan: Plan, units: list[Unit], coupling: Coupling,
                       ratios: dict[int, float]) -> None:
    """The plan keeps a ratio for exactly the channel groups of its units, and each unit's
    ``keep_in``/``keep_out`` are its groups' ratios (what the planner writes)."""
    expected = {gid for unit in units for gid in unit.groups}
    if set(ratios) != expected:
        odd = sorted(set(ratios) ^ expected)
        raise CompressionError(f"the plan's channel groups {sorted(ratios)} differ from the "
                              f"model's {sorted(expected)} (at group {odd[0]})")
    for unit in units:
        entry = plan.layer(unit.name)
        for what, given, keep in zip(("keep_in", "keep_out"), (entry.keep_in, entry.keep_out),
                                     keep_ratios(unit, coupling, ratios), strict=True):
            if not math.isclose(given, keep, rel_tol=1e-9):
                raise CompressionError(f"layer {unit.name!r} of the plan: {what} is {given:g}, "
                                      f"but its channel group keeps {keep:g}")


def _compressed_layers(layer: Layer, in_shapes: list[tuple[int, ...]],
                       out_shape: tuple[int, ...], weights: dict[str, np.ndarray],
                       entry: LayerPlan, unit: CompressedUnit) -> list[Layer]:
    """A compressible layer after low-rank factorisation and weight encoding."""
    if entry.rank < 1:
        factors = factorize(layer, weights, entry.rank)
    else:
        factors = [Factor(layer.op, dict(_attrs_at(layer, in_shapes, out_shape)), weights)]
    wide = max(16, DTYPE_BITS[entry.dtype])
    new: list[Layer] = []
    x = in_shapes
    for i, factor in enumerate(factors):
        decoded, bits, parts = store(factor.weights, entry.weight_format, entry.sparsity, wide)
        unit.stored_bits += bits
        name = layer.name if i == len(factors) - 1 else f"{layer.name}/factor{i}"
        if parts:
            unit.encodings[name] = {p.name: p.encoded for p in parts}
            unit.nonzero_fraction[name] = (
                sum(np.count_nonzero(p.encoded.decoded) for p in parts)
                / sum(p.encoded.decoded.size for p in parts))
        inputs = layer.inputs if i == 0 else (new[-1].name,)
        shapes = [*x, *in_shapes[1:]] if i == 0 else x
        try:
            made = Layer.create(name, factor.op, inputs, shapes, factor.attrs, decoded)
        except GraphError as exc:
            raise CompressionError(f"layer {layer.name!r}: cannot rebuild it compressed "
                                  f"({exc})") from None
        new.append(made)
        x = [made.output_shape]
    return new


def _rebuilt(layer: Layer, in_shapes: list[tuple[int, ...]], out_shape: tuple[int, ...],
             weights: Mapping[str, np.ndarray] | None) -> Layer:
    if [tuple(s) for s in layer.input_shapes] == in_shapes and layer.output_shape == out_shape:
        return layer.with_weights(weights) if weights is not None else layer
    try:
        return Layer.create(layer.name, layer.op, layer.inputs, in_shapes,
                            _attrs_at(layer, in_shapes, out_shape), weights)
    except GraphError as exc:
        raise CompressionError(f"layer {layer.name!r} ({layer.op}) cannot run on pruned "
                              f"inputs {in_shapes}: {exc}") from None


def _attrs_at(layer: Layer, in_shapes: list[tuple[int, ...]], out_shape: tuple[int, ...]
              ) -> dict[str, Any]:
    """``layer``'s attributes for pruned input shapes and output shape."""
    a = dict(layer.attrs)
    if layer.op == "conv2d":
        a["out_channels"] = out_shape[1]
        if is_depthwise(layer.input_shapes[0][1], layer.attrs):
            a["groups"] = in_shapes[0][1]
    elif layer.op == "linear":
        a["out_features"] = out_shape[-1]
    elif layer.op == "embedding":
        a["embedding_dim"] = out_shape[-1]
    elif layer.op == "layer_norm":
        n = len(a["normalized_shape"])
        a["normalized_shape"] = in_shapes[0][len(in_shapes[0]) - n:]
    elif layer.op in ("reshape", "expand"):
        a["shape"] = out_shape
    return a


def stored_bits(reference: Graph, coupling: Coupling, unit: Unit, choice: Choice,
                ratios: Mapping[int, float]) -> int:
    """Exact stored bits of one compressible unit's weights under ``choice``, with its
    channel groups at ``ratios`` (group id → keep ratio): what :func:`compress` stores for
    it, measured on that unit alone. ``reference`` has its batch norms folded
    (:func:`graphs.fold_batchnorm`)."""
    layer = reference[unit.name]
    selection = channel_selection(reference, coupling,
                                  {g: ratios.get(g, 1.0) for g in unit.groups})
    weights = prune_weights(layer, tensor_indices(coupling.space(layer.inputs[0]), selection),
                            tensor_indices(coupling.space(layer.name), selection))
    factors = (factorize(layer, weights, choice.rank) if choice.rank < 1
               else [Factor(layer.op, dict(layer.attrs), weights)])
    wide = max(16, DTYPE_BITS[choice.dtype])
    return sum(store(f.weights, choice.fmt, choice.sparsity, wide)[1] for f in factors)
