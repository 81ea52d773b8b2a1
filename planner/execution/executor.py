"""Execute a graph with numpy: the kernels of :mod:`planner.execution.kernels` in topological order.

>>> import numpy as np
>>> from graphs import build_zoo_model
>>> g = build_zoo_model("lenet5", weights=True)
>>> run = execute(g, np.zeros((2, 1, 32, 32), np.float32))
>>> run.outputs["fc3"].shape, run.macs["conv1"]
((2, 10), 235200)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

import networkx as nx
import numpy as np

from graphs import Graph, Layer
from planner.execution.kernels import KERNELS, KernelError

Hook = Callable[[str, np.ndarray], np.ndarray]


@dataclass
class Execution:
    """What one run produced: graph outputs, per-layer executed MACs and wall seconds, and
    the layer outputs that were asked to be kept."""

    outputs: dict[str, np.ndarray]
    macs: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    kept: dict[str, np.ndarray] = field(default_factory=dict)


def input_arrays(graph: Graph, inputs: np.ndarray | Mapping[str, np.ndarray]
                 ) -> dict[str, np.ndarray]:
    """Map inputs to the graph's input layers (one array for a single-input graph)."""
    names = graph.inputs
    given = dict(inputs) if isinstance(inputs, Mapping) else {names[0]: inputs}
    missing = [n for n in names if n not in given]
    if missing:
        raise KernelError(f"no array given for input(s) {', '.join(missing)}")
    for name in names:
        expected = graph[name].output_shape[1:]
        if tuple(given[name].shape[1:]) != expected:
            raise KernelError(f"input {name!r} has shape {given[name].shape}, expected "
                              f"(batch, {', '.join(map(str, expected))})")
    return given


def execute(graph: Graph, inputs: np.ndarray | Mapping[str, np.ndarray], *,
            dtype: type = np.float32, keep: Collection[str] | bool = False,
            given: Mapping[str, np.ndarray] | None = None, hook: Hook | None = None,
            only: Collection[str] | None = None) -> Execution:
    """Run ``graph`` on ``inputs`` (any batch size).

    ``keep``: layer outputs to return (True for all). ``given``: precomputed layer outputs
    to use instead of computing them. ``hook(name, output)`` may replace any computed
    output (to inject a perturbation). ``only``: compute just these layers (the rest must
    be given or unneeded). Intermediate arrays are freed after their last reader.
    """
    feeds = input_arrays(graph, inputs)
    first = graph.inputs[0]
    batch_ratio = feeds[first].shape[0] / graph[first].output_shape[0]
    values: dict[str, np.ndarray] = {}
    readers = {n: len(graph.consumers(n)) for n in graph.order}
    keep_all = keep is True
    keep_set = set() if isinstance(keep, bool) else set(keep)
    result = Execution({})
    given = given or {}
    for layer in graph:
        name = layer.name
        if name in given:
            out = given[name]
        elif only is not None and name not in only:
            continue
        elif layer.op == "input":
            out = feeds[name].astype(dtype if graph[name].attrs["dtype"] == "float32"
                                     else np.int64, copy=False)
        else:
            start = time.perf_counter()
            args = [values[i] for i in layer.inputs]
            ratio = batch_ratio
            if layer.op == "reshape":  # scales as its input did: a constant's does not
                ratio = args[0].size / max(1, math.prod(layer.input_shapes[0]))
            out, macs = run_layer(at_batch(layer, ratio), args, dtype)
            result.seconds[name] = time.perf_counter() - start
            result.macs[name] = macs
            if hook is not None:
                out = hook(name, out)
        values[name] = out
        if keep_all or name in keep_set:
            result.kept[name] = out
        for src in layer.inputs:
            readers[src] -= 1
            if readers[src] == 0 and src not in graph.outputs:
                values.pop(src, None)
    result.outputs = {o: values[o] for o in graph.outputs if o in values}
    return result


def at_batch(layer: Layer, ratio: float) -> Layer:
    """``layer`` with its declared leading dimension scaled to the batch being run (only
    ops that take their output shape from the layer need it: reshape, expand)."""
    if ratio == 1 or layer.op not in ("reshape", "expand"):
        return layer
    lead = layer.output_shape[0] * ratio
    if lead != int(lead):
        raise KernelError(f"layer {layer.name!r}: cannot run at this batch size (its leading "
                          f"dimension {layer.output_shape[0]} does not scale with the batch)")
    return replace(layer, output_shape=(int(lead), *layer.output_shape[1:]))


def run_layer(layer: Layer, inputs: list[np.ndarray], dtype: type = np.float32
              ) -> tuple[np.ndarray, int]:
    """One layer's output and executed MACs."""
    if layer.op == "constant":
        if layer.weights is None:
            raise KernelError(f"layer {layer.name!r}: constant without a value")
        value = layer.weights["value"]
        return (value.astype(dtype) if value.dtype.kind == "f" else value), 0
    kernel = KERNELS.get(layer.op)
    if kernel is None:
        target = layer.attrs.get("target", layer.op)
        raise KernelError(f"layer {layer.name!r}: the simulator cannot execute {target!r}")
    weights: Mapping[str, np.ndarray] = {}
    if layer.weight_specs:
        if layer.weights is None:
            raise KernelError(f"layer {layer.name!r} has no weights; load a model with "
                              "weights (zoo models: weights=True)")
        weights = {k: v.astype(dtype, copy=False) for k, v in layer.weights.items()}
    return kernel(layer, inputs, weights)


def runnable_layers(graph: Graph) -> set[str]:
    """Layers the executor can compute: inputs, constants with a value, and layers whose op
    has a kernel and whose inputs are all runnable (milliseconds: no arrays are touched).

    >>> from graphs import build_zoo_model
    >>> g = build_zoo_model("lenet5")
    >>> runnable_layers(g) == set(g.order)
    True
    """
    runnable: set[str] = set()
    for layer in graph:
        if layer.op == "input" or (layer.op == "constant" and layer.weights is not None) or (
                layer.op in KERNELS and all(i in runnable for i in layer.inputs)):
            runnable.add(layer.name)
    return runnable


def downstream(graph: Graph, name: str) -> set[str]:
    """``name`` and every layer that depends on it."""
    return {name} | nx.descendants(graph.dag, name)


def scales_with_batch(graph: Graph) -> bool:
    """True when the graph runs at any batch size: every layer that fixes its output shape
    (reshape, expand) keeps the input's batch as its leading dimension. A model that loops
    over the samples of its input (a detector's per-image transform) runs only at the batch
    it was imported with."""
    batch = graph[graph.inputs[0]].output_shape[0]
    return all(layer.output_shape[:1] == (batch,) for layer in graph
               if layer.op in ("reshape", "expand"))


def calibration_inputs(graph: Graph, batch: int = 2, seed: int = 0
                       ) -> dict[str, np.ndarray]:
    """Inputs for measurements when none are given: standard normal images, or token ids
    uniform over the vocabulary of the embedding that reads them; at the graph's own batch
    when it does not :func:`scale with the batch <scales_with_batch>`."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    if not scales_with_batch(graph):
        batch = graph[graph.inputs[0]].output_shape[0]
    for name in graph.inputs:
        shape = (batch, *graph[name].output_shape[1:])
        if graph[name].attrs["dtype"] == "float32":
            feeds[name] = rng.standard_normal(shape).astype(np.float32)
        else:
            vocab = min((graph[c].attrs["num_embeddings"] for c in graph.consumers(name)
                         if graph[c].op == "embedding"), default=2)
            feeds[name] = rng.integers(0, vocab, shape)
    return feeds
