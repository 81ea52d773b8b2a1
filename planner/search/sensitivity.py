"""Sensitivities by perturbation runs: Gaussian noise of relative energy ε² on one unit's
output, the relative energy of the change in the network output over ε².

Each run computes only the layers downstream of the perturbed unit, so a network of n
units in a chain costs n²/2 layer runs. Where layers are small, a layer's run is mostly
numpy's per-call overhead rather than arithmetic, so the perturbations of several units
are stacked along the batch axis and share one run: block b of the batch carries unit b's
noise, every other block computes the clean values (:func:`perturbation_groups` decides
where that saves time). Each block's output change is its unit's alone: the executor's
kernels compute every sample on its own, and the first stacked run is checked against a
run of its first unit alone before stacking is trusted.

>>> from graphs import GraphBuilder, seeded_weights
>>> b = GraphBuilder("chain")
>>> x = b.input((1, 4, 6, 6))
>>> for k in range(3):
...     x = b.relu(b.conv(x, 4, 3, padding=1, name=f"conv{k}"))
>>> g = seeded_weights(b.build([x]), 0)
>>> [len(group) for group in perturbation_groups(g, ["conv0", "conv1", "conv2"], 2)]
[3]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphs import Graph
from planner.execution import input_arrays
from planner.execution.executor import downstream, execute, scales_with_batch
from planner.execution.kernels import KernelError

PERTURBATION = 0.01
"""ε: the noise's energy relative to the unit's output energy is ε²."""
MAX_STACKED = 32
"""Units whose perturbations share one run at most."""
MAX_STACKED_BYTES = 64 << 20
"""Bytes of the largest layer output of a stacked run at most."""
LAYER_OVERHEAD_S = 50e-6
"""Seconds a layer's run costs beyond its arithmetic (numpy's per-call overhead), as
:func:`perturbation_groups` models it."""
ELEMENTS_PER_S = 1e10
"""MACs (or output elements, for layers without MACs) per second, as
:func:`perturbation_groups` models a layer's arithmetic."""
STACK_GAIN = 0.5
"""A unit joins the stacked run before it when the run's modelled time grows by at most
this share of the unit's own run."""


def perturbation_groups(graph: Graph, names: Sequence[str], batch: int,
                        affected: Mapping[str, set[str]] | None = None) -> list[list[str]]:
    """``names`` (in order) cut into runs of consecutive units whose perturbations share
    one stacked run: a unit joins the run before it when that adds at most
    :data:`STACK_GAIN` of the modelled time of its own run (a layer:
    :data:`LAYER_OVERHEAD_S` plus its MACs or output elements at :data:`ELEMENTS_PER_S`
    per sample of ``batch``; joining adds one block's arithmetic over every layer of the
    run and the overhead of the layers new to it) and keeps the run within
    :data:`MAX_STACKED` units and :data:`MAX_STACKED_BYTES`. Deterministic: the
    model reads shapes, not clocks. A graph that does not :func:`scale with the batch
    <scales_with_batch>` gets one unit per run."""
    if not scales_with_batch(graph):
        return [[name] for name in names]
    below = affected or {name: downstream(graph, name) for name in names}
    per_sample = {layer.name: max(layer.work().macs, layer.output_elements)
                  for layer in graph}
    out_bytes = {layer.name: 4 * layer.output_elements for layer in graph}

    def run_s(layers: set[str]) -> float:
        """A perturbation run of one unit alone over ``layers``."""
        return sum(LAYER_OVERHEAD_S + batch * per_sample[k] / ELEMENTS_PER_S for k in layers)

    groups: list[list[str]] = []
    group: list[str] = []
    union: set[str] = set()
    for name in names:
        if group:
            joined = union | below[name]
            count = len(group) + 1
            # one more block of arithmetic over every layer, overheads of new layers only
            added = (len(joined) - len(union)) * LAYER_OVERHEAD_S + sum(
                batch * per_sample[k] / ELEMENTS_PER_S for k in joined)
            largest = max(out_bytes[k] for k in joined) * count * batch
            if (count <= MAX_STACKED and largest <= MAX_STACKED_BYTES
                    and added <= STACK_GAIN * run_s(below[name])):
                group.append(name)
                union = joined
                continue
            groups.append(group)
        group, union = [name], set(below[name])
    if group:
        groups.append(group)
    return groups


class Perturbations:
    """The sensitivity runs of one graph on one batch of inputs: the clean layer outputs
    (``clean``), the graph outputs and their energy; :meth:`of` measures a group of
    units, drawing each unit's noise from ``rng`` in order."""

    def __init__(self, graph: Graph, feeds: Any, clean: Mapping[str, np.ndarray],
                 outputs: Mapping[str, np.ndarray], rng: np.random.Generator) -> None:
        self.graph, self.clean, self.outputs, self.rng = graph, clean, outputs, rng
        self.feeds = input_arrays(graph, feeds)
        self.batch = next(iter(self.feeds.values())).shape[0]
        self.reference = sum(float(np.sum(np.square(o, dtype=np.float64)))
                             for o in outputs.values())
        self.stacking: bool | None = None
        """Whether stacked runs agree with single ones (None: not checked yet)."""
        self.batched = set().union(*(downstream(graph, i) for i in graph.inputs))
        """Layers whose outputs carry the batch (constants and what follows from them
        alone do not)."""

    def of(self, group: Sequence[str], affected: Mapping[str, set[str]]) -> list[float]:
        """The sensitivity of each unit of ``group`` (see the module's docstring)."""
        noises: dict[str, np.ndarray] = {}
        for name in group:
            noise = self._noise(name)
            if noise is not None:
                noises[name] = noise
        live = [name for name in group if name in noises]
        found: dict[str, float] = {}
        if len(live) > 1 and self.stacking is not False:
            stacked = self._stacked(live, noises, affected)
            if stacked is not None and self.stacking is None:
                alone = self._single(live[0], noises[live[0]], affected[live[0]])
                self.stacking = math.isclose(stacked[0], alone, rel_tol=1e-4, abs_tol=1e-9)
            if stacked is not None and self.stacking:
                found = dict(zip(live, stacked, strict=True))
            else:
                self.stacking = False
        for name in live:
            if name not in found:
                found[name] = self._single(name, noises[name], affected[name])
        return [found.get(name, 0.0) for name in group]

    def _noise(self, name: str) -> np.ndarray | None:
        """Noise of relative energy ε² for the unit's output (None: the output or the
        network's output has no energy, sensitivity 0)."""
        value = self.clean[name]
        finite = np.isfinite(value)  # an attention mask's −inf stays as it is
        energy = float(np.sum(np.square(np.where(finite, value, 0), dtype=np.float64)))
        if energy == 0 or self.reference == 0:
            return None
        noise = np.where(finite, self.rng.standard_normal(value.shape), 0.0)
        noise *= PERTURBATION * np.sqrt(energy / float(np.sum(noise * noise)))
        return noise

    def _change(self, run: dict[str, np.ndarray], within: set[str],
                block: slice = slice(None)) -> float:
        """Relative energy of the change in the graph outputs ``within`` the perturbed
        layers, over ε² (the rest equal the clean outputs)."""
        change = sum(float(np.sum(np.square(run[o][block].astype(np.float64) - ref)))
                     for o, ref in self.outputs.items() if o in within and o in run)
        return change / self.reference / PERTURBATION**2

    def _single(self, name: str, noise: np.ndarray, affected: set[str]) -> float:
        given = {k: v for k, v in self.clean.items() if k not in affected}

        def perturb(layer: str, out: np.ndarray) -> np.ndarray:
            return (out + noise).astype(out.dtype) if layer == name else out

        run = execute(self.graph, self.feeds, given=given, only=affected, hook=perturb)
        return self._change(run.outputs, affected)

    def _stacked(self, names: list[str], noises: Mapping[str, np.ndarray],
                 affected: Mapping[str, set[str]]) -> list[float] | None:
        """One run with unit b's noise on block b of a batch of len(names) blocks; None
        where a kernel cannot run the stacked batch (a layer with a fixed batch)."""
        count, n = len(names), self.batch
        union = set().union(*(affected[name] for name in names))
        readers = {k for k in self.clean if k not in union
                   and any(c in union for c in self.graph.consumers(k))}
        given = {k: _stack(self.clean[k], count) if k in self.batched else self.clean[k]
                 for k in readers}
        feeds = {k: _stack(v, count) for k, v in self.feeds.items()}
        blocks = {name: slice(b * n, (b + 1) * n) for b, name in enumerate(names)}

        def perturb(layer: str, out: np.ndarray) -> np.ndarray:
            if layer not in blocks:
                return out
            out = out.copy()
            out[blocks[layer]] = (out[blocks[layer]] + noises[layer]).astype(out.dtype)
            return out

        try:
            run = execute(self.graph, feeds, given=given, only=union, hook=perturb)
        except (KernelError, ValueError):
            return None
        return [self._change(run.outputs, affected[name], blocks[name]) for name in names]


def _stack(value: np.ndarray, count: int) -> np.ndarray:
    """``count`` copies of ``value`` along its first (batch) axis."""
    return np.concatenate([value] * count)


__all__ = ["PERTURBATION", "Perturbations", "perturbation_groups"]
