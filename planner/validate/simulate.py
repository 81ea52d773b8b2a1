"""Validate a plan by executing it: compress the real weights, run, measure.

The plan is applied by :func:`planner.compression.compress` (batch norms folded, channel
groups pruned, low-rank layers factorised, every weight encoded in its format: the exact
stored bits and the decoded values the simulation computes with). Activations are stored
at each layer's planned dtype (:func:`planner.execution.fake_quant`).

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
>>> from planner.planning.plan import plan
>>> g = build_zoo_model("lenet5", weights=True)
>>> p = plan(g, load("raspberry_pi_5"), max_size_bytes=30_000, proxy="weights")
>>> result = simulate(g, p, batch=4)
>>> result.stored_bytes == p.totals.size_bytes
True
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, PrivateAttr

from graphs import Graph
from planner.compression import Compressed, CompressedUnit, CompressionError, compress
from planner.compression.storage import relative_error
from planner.contracts.plan_file import Plan
from planner.execution import (
    KERNELS,
    Execution,
    KernelError,
    activation_scale,
    calibration_inputs,
    execute,
    fake_quant,
    input_arrays,
    runnable_layers,
)

Progress = Callable[[str, int, int], None]


class SimulationError(ValueError):
    """A plan that does not fit the graph, or a graph the simulator cannot run."""


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
    notes: list[str] = []
    """What the simulation could not measure as asked (layers it cannot execute)."""
    _arrays: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """The run's arrays (not part of the JSON): ``inputs/<name>`` fed, and for every
        measured output ``uncompressed/<name>`` and ``compressed/<name>``."""
        return dict(self._arrays)


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

    try:
        built = compress(graph, plan)
    except CompressionError as exc:
        raise SimulationError(str(exc)) from None
    try:
        feeds = dict(input_arrays(graph, inputs if inputs is not None
                                  else calibration_inputs(graph, batch=batch, seed=seed)))
    except KernelError as exc:
        raise SimulationError(f"the inputs do not fit {graph.name}: {exc}") from None
    n = next(iter(feeds.values())).shape[0]
    if labels is not None and np.shape(labels) != (n,):
        raise SimulationError(f"labels have shape {np.shape(labels)}; expected one per input "
                              f"({n},)")
    per_input = graph[graph.inputs[0]].output_shape[0] / n
    steps = 2 + len(built.units)
    runnable = runnable_layers(built.reference)
    compressed_runnable = runnable_layers(built.graph)
    targets, notes = measured_outputs(built.reference, runnable)
    try:
        clean = execute(built.reference, feeds, keep=True, only=runnable)
        tick("uncompressed run", steps)
        run = run_compressed(built, feeds, only=compressed_runnable, keep=targets)
        tick("compressed run", steps)
    except KernelError as exc:
        raise SimulationError(str(exc)) from None
    layers = []
    for entry in plan.layers:
        unit = built.units[entry.name]
        if not set(unit.layers) <= compressed_runnable or unit.output not in runnable:
            tick(f"layer {entry.name}", steps)
            continue  # not executable: its entry in the plan stands unmeasured
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
    outputs = [_output(name, clean.kept[name], run.kept[name], labels) for name in targets]
    energy = sum(float(np.sum(np.square(clean.kept[o], dtype=np.float64))) for o in targets
                 if clean.kept[o].dtype.kind == "f")
    change = sum(float(np.sum(np.square(clean.kept[o].astype(np.float64) - run.kept[o])))
                 for o in targets if clean.kept[o].dtype.kind == "f")
    stored = sum(u.stored_bits for u in built.units.values()) + built.fixed_bits
    result = SimulationResult(
        model=graph.name, batch=n, predicted_bytes=plan.totals.size_bytes,
        stored_bytes=stored / 8, baseline_bytes=plan.baseline.size_bytes,
        predicted_macs=plan.totals.macs, executed_macs=sum(r.executed_macs for r in layers),
        nonzero_macs=sum(r.nonzero_macs for r in layers), baseline_macs=plan.baseline.macs,
        predicted_error=plan.totals.error, error=change / energy if energy else 0.0,
        baseline_seconds=sum(clean.seconds.values()), seconds=sum(run.seconds.values()),
        outputs=outputs, layers=layers, notes=notes)
    result._arrays = {
        **{f"inputs/{k}": v for k, v in feeds.items()},
        **{f"uncompressed/{o}": clean.kept[o] for o in targets},
        **{f"compressed/{o}": run.kept[o] for o in targets}}
    return result


def measured_outputs(graph: Graph, runnable: set[str]) -> tuple[list[str], list[str]]:
    """The tensors a simulation compares: the graph's outputs, or, where layers the
    simulator cannot execute stand before them (a detector's post-processing), the
    runnable layers that feed those; and a note saying so."""
    if set(graph.outputs) <= runnable:
        return list(graph.outputs), []
    blocked = [layer for layer in graph if layer.name not in runnable]
    frontier = [name for name in graph.order if name in runnable
                and graph[name].op not in ("input", "constant")
                and (name in graph.outputs
                     or any(c not in runnable for c in graph.consumers(name)))]
    if not frontier:
        raise SimulationError(f"{graph.name}: no layer before the first one the simulator "
                              f"cannot execute ({blocked[0].name!r}, "
                              f"{blocked[0].attrs.get('target', blocked[0].op)}) to measure")
    causes = [layer for layer in blocked if layer.op not in KERNELS]
    kinds = Counter(str(layer.attrs.get("target", layer.op)) for layer in causes)
    listed = ", ".join(f"{k} ×{v}" for k, v in kinds.most_common(4))
    return frontier, [f"{len(causes)} layer(s) cannot be executed ({listed}), nor the "
                      f"{len(blocked) - len(causes)} after them: outputs are measured at the "
                      f"{len(frontier)} runnable layer(s) that feed them"]


def _quantizer(dtypes: Mapping[str, str], scales: dict[str, float] | None = None
               ) -> Callable[[str, np.ndarray], np.ndarray]:
    def hook(name: str, out: np.ndarray) -> np.ndarray:
        dtype = dtypes.get(name)
        if dtype is None:
            return out
        scale = activation_scale(out, dtype)
        if scales is not None and scale is not None:
            scales[name] = scale
        return fake_quant(out, dtype, scale)
    return hook


def run_compressed(built: Compressed, feeds: Mapping[str, np.ndarray], *,
                   scales: dict[str, float] | None = None, only: set[str] | None = None,
                   keep: Collection[str] = ()) -> Execution:
    """The compressed graph run on ``feeds`` with every activation stored at its planned
    dtype (the unit outputs are kept); ``scales``, when given, receives the per-tensor
    scale of every activation stored as integers (what a static QDQ export calibrates);
    ``only``: run just these layers (the runnable ones); ``keep``: more outputs to keep."""
    hook = _quantizer(built.dtypes, scales)
    quantized = {name: hook(name, value) for name, value in feeds.items()}
    return execute(built.graph, quantized, keep=[*(u.output for u in built.units.values()),
                                                 *keep], hook=hook, only=only)


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
    "LayerResult",
    "OutputResult",
    "SimulationError",
    "SimulationResult",
    "run_compressed",
    "simulate",
]
