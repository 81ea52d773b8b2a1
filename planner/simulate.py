"""Validate a plan by executing it: compress the real weights, run, measure.

``compress`` applies a :class:`~planner.plan.Plan` to a graph with weights and returns an
executable graph: batch norms are folded into their conv or linear (as deployment does, and
as the planner prices it), channel groups are pruned to their planned keep ratio (channels
ranked by summed L1 norm, :func:`planner.compress.channel_selection`), low-rank layers are
replaced by their factors (SVD, Tucker-2), and every weight tensor is magnitude-pruned and
encoded in its format by :func:`planner.storage.encode`, which returns the exact stored
bits and the decoded values the simulation computes with (fake quantization: integer codes
times per-channel scales, k-means centroids, signs times α). Activations are stored at each
layer's planned dtype (:func:`planner.proxies.fake_quant`).

``simulate`` runs the uncompressed (folded) graph and the compressed one on the same inputs
and reports, per planned layer and in total, predicted against measured stored bytes,
MACs and error:

- *stored bytes*: the bits of the encoded arrays (values, sparse positions, scales,
  codebooks, Huffman codes), plus fixed constants;
- *MACs*: multiply-accumulates the kernels performed on the executed shapes, per input
  (dense: a zero weight still costs a MAC), and the MACs with a non-zero weight;
- *error*: relative output energy ‖y − ŷ‖² / ‖y‖², the quantity the accuracy proxy
  predicts. Per layer, ``own_error`` runs the compressed layer alone on the uncompressed
  network's inputs to it (restricted to the channels the plan keeps), with removed output
  channels counted as zeros; it is the measured counterpart of the plan's per-layer error
  before sensitivity. ``error`` is the accumulated error at the layer in the full
  compressed run. At the output: relative L2, cosine similarity, and top-1 agreement (and
  accuracy when labels are given) for classifiers.

>>> from graphs import build_zoo_model
>>> from hardware_profiles import load
>>> from planner.plan import plan
>>> g = build_zoo_model("lenet5", weights=True)
>>> p = plan(g, load("raspberry_pi_5"), max_size_bytes=30_000, proxy="weights")
>>> result = simulate(g, p, batch=4)
>>> result.stored_bytes == p.totals.size_bytes
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from graphs import Graph, GraphError, Layer, fold_batchnorm, folds_into
from graphs.ops.conv import is_depthwise
from hardware_profiles import DTYPE_BITS
from planner.compress import (
    Factor,
    channel_selection,
    factorize,
    prune_weights,
    store,
    tensor_indices,
)
from planner.coupling import Coupling, couple
from planner.executor import execute, input_arrays
from planner.kernels import KernelError
from planner.options import COMPRESSIBLE, Unit, build_units, pruned_io
from planner.plan_file import LayerPlan, Plan
from planner.proxies import calibration_inputs, fake_quant
from planner.storage import relative_error

Progress = Callable[[str, int, int], None]


class SimulationError(ValueError):
    """A plan that does not fit the graph, or a graph the simulator cannot run."""


# ---------------------------------------------------------------- applying a plan


@dataclass
class CompressedUnit:
    """How one planned unit was realised: its layers in the compressed graph, the layer
    whose output it hands on, the stored bits of its weights and, per layer, the fraction
    of its stored weight values that are non-zero."""

    name: str
    layers: list[str]
    output: str
    stored_bits: int = 0
    nonzero_fraction: dict[str, float] = field(default_factory=dict)


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
        raise SimulationError(f"{graph.name} has no weights; simulation compresses real "
                              "weights (zoo models: weights=True)")
    coupling = couple(graph)
    units, owner = build_units(graph, coupling)
    _check_plan(graph, plan, units)
    ratios = {int(gid): ratio for gid, ratio in plan.groups.items()}
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
            raise SimulationError(f"layer {unit.name!r}: the plan keeps {entry.keep_out:.3g} "
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
                new = [_rebuilt(layer, in_shapes, expected, weights or None)]
                part.stored_bits += sum(v.size for v in weights.values()) * max(
                    16, DTYPE_BITS[entry.dtype])
            part.layers += [n.name for n in new]
        if new[-1].output_shape[1:] != expected[1:]:
            raise SimulationError(f"layer {layer.name!r} ({layer.op}): pruned output shape "
                                  f"{new[-1].output_shape} differs from the planned {expected}")
        for n in new:
            shapes[n.name] = n.output_shape
        layers += new
    try:
        compressed = Graph(layers, reference.outputs, f"{graph.name}-compressed",
                           dict(graph.metadata))
    except GraphError as exc:
        raise SimulationError(f"the compressed graph is invalid: {exc}") from None
    dtypes = {u.output: plan.layer(name).dtype for name, u in done.items()}
    return Compressed(compressed, reference, done, dtypes, fixed_bits, coupling, selection)


def _check_plan(graph: Graph, plan: Plan, units: list[Unit]) -> None:
    if plan.model != graph.name:
        raise SimulationError(f"the plan is for {plan.model!r}, the graph is {graph.name!r}")
    planned = {entry.name for entry in plan.layers}
    missing = [u.name for u in units if u.name not in planned]
    if missing:
        raise SimulationError(f"the plan has no entry for {len(missing)} layer(s) of "
                              f"{graph.name}: {', '.join(missing[:5])}")


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
            unit.nonzero_fraction[name] = (
                sum(np.count_nonzero(p.encoded.decoded) for p in parts)
                / sum(p.encoded.decoded.size for p in parts))
        inputs = layer.inputs if i == 0 else (new[-1].name,)
        shapes = [*x, *in_shapes[1:]] if i == 0 else x
        try:
            made = Layer.create(name, factor.op, inputs, shapes, factor.attrs, decoded)
        except GraphError as exc:
            raise SimulationError(f"layer {layer.name!r}: cannot rebuild it compressed "
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
        raise SimulationError(f"layer {layer.name!r} ({layer.op}) cannot run on pruned "
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


# ---------------------------------------------------------------- results


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerResult(_Model):
    """One planned layer: predicted (from the plan) against measured (from the run).
    Bytes, MACs per input, relative output energy errors, seconds for the whole batch."""

    name: str
    op: str
    predicted_bytes: float
    stored_bytes: float
    predicted_macs: int
    executed_macs: int
    nonzero_macs: int
    predicted_error: float
    own_error: float
    error: float
    seconds: float


class OutputResult(_Model):
    """Agreement of one graph output with the uncompressed run."""

    name: str
    error: float
    relative_l2: float
    cosine: float
    top1_agreement: float | None
    baseline_accuracy: float | None
    accuracy: float | None


class SimulationResult(_Model):
    """What executing a plan measured (see the module docstring)."""

    model: str
    batch: int
    predicted_bytes: float
    stored_bytes: float
    baseline_bytes: float
    predicted_macs: int
    executed_macs: int
    nonzero_macs: int
    baseline_macs: int
    predicted_error: float
    error: float
    baseline_seconds: float
    seconds: float
    outputs: list[OutputResult]
    layers: list[LayerResult]


# ---------------------------------------------------------------- running


def simulate(graph: Graph, plan: Plan, inputs: np.ndarray | Mapping[str, np.ndarray] | None
             = None, *, batch: int = 8, labels: np.ndarray | None = None, seed: int = 0,
             progress: Progress | None = None) -> SimulationResult:
    """Execute ``plan`` on ``graph`` (with weights) and measure it against the
    uncompressed run. ``inputs`` default to ``batch`` seeded calibration inputs;
    ``labels`` (class per input) add accuracy to a classifier's output."""
    done = 0

    def tick(label: str, total: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(label, done, total)

    built = compress(graph, plan)
    feeds = dict(input_arrays(graph, inputs if inputs is not None
                              else calibration_inputs(graph, batch=batch, seed=seed)))
    n = next(iter(feeds.values())).shape[0]
    per_input = graph[graph.inputs[0]].output_shape[0] / n
    steps = 2 + len(built.units)
    try:
        clean = execute(built.reference, feeds, keep=True)
        tick("uncompressed run", steps)
        run = _run_compressed(built, feeds)
        tick("compressed run", steps)
    except KernelError as exc:
        raise SimulationError(str(exc)) from None
    layers = []
    for entry in plan.layers:
        unit = built.units[entry.name]
        own = _own_error(built, unit, feeds, clean.kept)
        tick(f"layer {entry.name}", steps)
        measured = _relative(built, unit.output, clean.kept[unit.output],
                             run.kept[unit.output])
        executed = sum(run.macs.get(name, 0) for name in unit.layers)
        nonzero = sum(run.macs.get(name, 0) * unit.nonzero_fraction.get(name, 1.0)
                      for name in unit.layers)
        layers.append(LayerResult(
            name=entry.name, op=entry.op, predicted_bytes=entry.size_bytes,
            stored_bytes=unit.stored_bits / 8, predicted_macs=entry.macs,
            executed_macs=round(executed * per_input),
            nonzero_macs=round(nonzero * per_input),
            predicted_error=entry.error / entry.sensitivity if entry.sensitivity else 0.0,
            own_error=own, error=measured,
            seconds=sum(run.seconds.get(name, 0.0) for name in unit.layers)))
    outputs = [_output(name, clean.outputs[name], run.outputs[name], labels)
               for name in built.reference.outputs]
    energy = sum(float(np.sum(np.square(clean.outputs[o], dtype=np.float64)))
                 for o in built.reference.outputs)
    change = sum(float(np.sum(np.square(clean.outputs[o].astype(np.float64)
                                        - run.outputs[o])))
                 for o in built.reference.outputs)
    stored = sum(u.stored_bits for u in built.units.values()) + built.fixed_bits
    return SimulationResult(
        model=graph.name, batch=n, predicted_bytes=plan.totals.size_bytes,
        stored_bytes=stored / 8, baseline_bytes=plan.baseline.size_bytes,
        predicted_macs=plan.totals.macs, executed_macs=sum(r.executed_macs for r in layers),
        nonzero_macs=sum(r.nonzero_macs for r in layers), baseline_macs=plan.baseline.macs,
        predicted_error=plan.totals.error, error=change / energy if energy else 0.0,
        baseline_seconds=sum(clean.seconds.values()), seconds=sum(run.seconds.values()),
        outputs=outputs, layers=layers)


def _quantizer(dtypes: Mapping[str, str]) -> Callable[[str, np.ndarray], np.ndarray]:
    def hook(name: str, out: np.ndarray) -> np.ndarray:
        dtype = dtypes.get(name)
        return fake_quant(out, dtype) if dtype is not None else out
    return hook


def _run_compressed(built: Compressed, feeds: Mapping[str, np.ndarray]) -> Any:
    quantized = {name: fake_quant(value, built.dtypes.get(name, "fp32"))
                 for name, value in feeds.items()}
    return execute(built.graph, quantized, keep=[u.output for u in built.units.values()],
                   hook=_quantizer(built.dtypes))


def _own_error(built: Compressed, unit: CompressedUnit, feeds: Mapping[str, np.ndarray],
               clean: Mapping[str, np.ndarray]) -> float:
    """The unit alone, fed the uncompressed run's values at its kept input channels."""
    out = unit.output
    if not unit.layers:  # an input: only its stored dtype changes it
        return relative_error(clean[out], fake_quant(clean[out], built.dtypes[out]))
    inside = set(unit.layers)
    sources = {src for name in unit.layers for src in built.graph[name].inputs
               if src not in inside}
    run = execute(built.graph, feeds, only=inside, keep=[out],
                  given={src: built.restricted(src, clean[src]) for src in sources},
                  hook=_quantizer({out: built.dtypes[out]}))
    reference = clean[out]
    if any(built.kept(src)[0] is not None for src in sources):
        # removed input channels are the producer's error: compare with the uncompressed
        # layer fed the same inputs with those channels zeroed
        zeroed = {src: built.expanded(src, built.restricted(src, clean[src]), clean[src])
                  .astype(clean[src].dtype) for src in sources}
        reference = execute(built.reference, feeds, given=zeroed, keep=[out],
                            only=inside & set(built.reference.order)).kept[out]
    return _relative(built, out, reference, run.kept[out])


def _relative(built: Compressed, tensor: str, clean: np.ndarray, compressed: np.ndarray
              ) -> float:
    """Relative output energy error of ``tensor``, removed channels counted as zeros."""
    if clean.dtype.kind != "f":
        return 0.0 if np.array_equal(clean, compressed) else 1.0
    return relative_error(clean, built.expanded(tensor, compressed, clean))


def _output(name: str, clean: np.ndarray, compressed: np.ndarray,
            labels: np.ndarray | None) -> OutputResult:
    a = clean.astype(np.float64).reshape(clean.shape[0], -1)
    b = compressed.astype(np.float64).reshape(compressed.shape[0], -1)
    energy = float(np.sum(a * a))
    error = float(np.sum((a - b) ** 2)) / energy if energy else 0.0
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = float(np.mean(np.where(norms > 0, np.sum(a * b, axis=1) / np.maximum(norms, 1e-300),
                                    1.0)))
    classifier = clean.ndim == 2 and clean.shape[1] > 1
    agreement = base_acc = acc = None
    if classifier:
        agreement = float(np.mean(a.argmax(1) == b.argmax(1)))
        if labels is not None:
            labels = np.asarray(labels).ravel()
            if labels.shape[0] != a.shape[0]:
                raise SimulationError(f"{labels.shape[0]} labels for {a.shape[0]} inputs")
            base_acc = float(np.mean(a.argmax(1) == labels))
            acc = float(np.mean(b.argmax(1) == labels))
    return OutputResult(name=name, error=error, relative_l2=math.sqrt(error), cosine=cosine,
                        top1_agreement=agreement, baseline_accuracy=base_acc, accuracy=acc)


__all__ = [
    "Compressed",
    "CompressedUnit",
    "LayerResult",
    "OutputResult",
    "SimulationError",
    "SimulationResult",
    "compress",
    "simulate",
]
