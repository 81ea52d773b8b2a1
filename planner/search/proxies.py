"""Accuracy proxies: how much each option of each unit perturbs the network output.

For a unit u under option o the planner predicts a contribution ``s_u · e_u(o)`` to the
relative energy of the output error, and assumes contributions add:

    predicted error = Σ_u s_u · e_u(o_u)

- ``e_u(o)`` is the relative error of the unit's own output: the output energy of the
  channels structured pruning removes, plus the relative weight error of low-rank
  factorisation, of magnitude pruning and of the weight format, each measured alone on the
  layer's real weights (the sum assumes they add), plus the relative error of storing the
  unit's output activations at the dtype, measured on real activations.
- ``s_u`` (sensitivity) is measured once with the numpy executor: Gaussian noise of relative
  energy ε² is added to the unit's output and the relative energy of the change in the
  network output, divided by ε², is recorded (ε = 1%). Where layers are small, several
  units' perturbations share one run, stacked along the batch
  (:mod:`planner.search.sensitivity`).

Both assumptions (errors add across transforms and across layers; small-noise sensitivity
holds for large errors) are checked by the simulation, which measures the real error of the
compressed network: see docs/accuracy_proxy.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from graphs import Graph, Layer, fold_batchnorm
from planner.compression import Unit
from planner.compression.coupling import Coupling
from planner.compression.storage import (
    encode,
    is_entropy_coded,
    magnitude_mask,
    relative_error,
    sorted_values,
    sparse_index_bits,
)
from planner.compression.transforms import channel_selection, rank_errors, tensor_indices
from planner.execution import calibration_inputs, fake_quant, runnable_layers
from planner.execution.executor import downstream, execute
from planner.search.beside import Beside
from planner.search.options import LayerFacts, OptionSpace
from planner.search.sensitivity import Perturbations, perturbation_groups

Progress = Callable[[str, int, int], None]


def _main_weight(layer: Layer) -> np.ndarray | None:
    weights = layer.weights
    if weights is None:
        return None
    for key in ("weight", "in_proj_weight"):
        if key in weights and weights[key].ndim >= 2:
            return weights[key]
    matrices = [w for k, w in weights.items() if k.endswith("weight") and w.ndim >= 2]
    return max(matrices, key=lambda w: w.size) if matrices else None  # an LSTM's largest


def weight_facts(unit: Unit, graph: Graph, coupling: Coupling, space: OptionSpace,
                 facts: LayerFacts) -> None:
    """Fill the weight-dependent proxies and size rates of one compressible unit.
    ``graph`` has its batch norms folded (:func:`graphs.fold_batchnorm`): the weights
    measured are the ones deployment (and the simulation) stores."""
    w = _main_weight(graph[unit.name])
    if w is None:
        return
    ordered = None  # the sorted weights, shared by the k-means formats
    for fmt in space.formats:
        if is_entropy_coded(fmt) and ordered is None:
            ordered = sorted_values(np.asarray(w, np.float32))
        enc = encode(w, fmt, ordered=ordered if is_entropy_coded(fmt) else None)
        facts.format_error[fmt] = relative_error(w, enc.decoded)
        if is_entropy_coded(fmt):
            facts.kmeans_bits_per_value[fmt] = enc.value_bits / w.size
    for sparsity in space.sparsities:
        if sparsity == 0:
            continue
        mask = magnitude_mask(w, sparsity)
        facts.sparsity_error[sparsity] = relative_error(w, np.where(mask, w, 0))
        facts.index_bits_per_weight[sparsity] = sparse_index_bits(mask)[0] / w.size
        facts.huffman_index_bits_per_weight[sparsity] = sparse_index_bits(mask, True)[0] / w.size
    if unit.layer.op in ("conv2d", "linear"):
        facts.rank_error.update(rank_errors(unit.layer, w, space.ranks))
    gid = coupling.output_group(unit.name)
    if gid is None or coupling.group(gid).locked or unit.layer.op == "multihead_attention":
        return
    rows = np.square(w.astype(np.float64)).reshape(w.shape[0], -1).sum(1)
    if unit.layer.op == "embedding":
        rows = np.square(w.astype(np.float64)).sum(0)
    for ratio in space.keep_ratios:
        keep = tensor_indices(coupling.space(unit.name),
                              channel_selection(graph, coupling, {gid: ratio}))
        kept_energy = rows.sum() if keep is None else rows[keep].sum()
        facts.prune_error[ratio] = float(1 - kept_energy / rows.sum()) if rows.sum() else 0.0


def measure_facts(graph: Graph, coupling: Coupling, units: list[Unit], space: OptionSpace,
                  inputs: Mapping[str, np.ndarray] | np.ndarray | None = None,
                  sensitivity: str = "measured", seed: int = 0,
                  progress: Progress | None = None,
                  ready: Callable[[str, LayerFacts], None] | None = None
                  ) -> dict[str, LayerFacts]:
    """Proxies of every unit. ``sensitivity``: "measured" (perturbation runs) or "uniform"
    (every sensitivity 1, no runs). Needs a graph with weights. ``ready(name, facts)`` is
    called once per unit, from this thread or the one measuring weights, as soon as its
    facts but for the sensitivity are final (what option tables depend on)."""
    facts = {u.name: LayerFacts() for u in units}
    steps = len(units) * (2 if sensitivity == "measured" else 1)
    plain = sum(u.kind != "compressible" for u in units)  # no weights to measure
    runs = 0  # sensitivity runs made (this thread); the weights' thread counts its own
    # what each unit still waits for: its activation errors, and its weights' facts
    waiting = {u.name: 1 + (u.kind == "compressible") for u in units}
    lock = threading.Lock()

    def tick(label: str) -> None:
        nonlocal runs
        runs += label.startswith("sensitivity")
        if progress is not None:
            progress(label, min(steps, plain + weights.done + runs), steps)

    def measured(name: str) -> None:
        with lock:
            waiting[name] -= 1
            final = waiting[name] == 0
        if final and ready is not None:
            ready(name, facts[name])

    def weigh(unit: Unit) -> None:
        weight_facts(unit, folded, coupling, space, facts[unit.name])
        measured(unit.name)

    folded = fold_batchnorm(graph)
    with Beside(weigh, [u for u in units if u.kind == "compressible"]) as weights:
        _measure_runs(graph, units, facts, inputs, sensitivity, seed, tick, measured)
        weights.wait(lambda _: tick("weights"))
    return facts


def _measure_runs(graph: Graph, units: list[Unit], facts: dict[str, LayerFacts],
                  inputs: Mapping[str, np.ndarray] | np.ndarray | None, sensitivity: str,
                  seed: int, tick: Callable[[str], None],
                  measured: Callable[[str], None]) -> None:
    """The proxies that run the executor: every unit's activation errors (then
    ``measured(name)`` for each unit) and (``sensitivity`` = "measured") its sensitivity
    by a perturbation run, ``tick(label)`` before the clean run and before each
    perturbation run."""
    tick("activations")
    feeds: Any = inputs if inputs is not None else calibration_inputs(graph, seed=seed)
    runnable = runnable_layers(graph)  # the rest (opaque ops) keep nominal facts
    clean = execute(graph, feeds, keep=True, only=runnable)
    outputs = {o: clean.kept[o] for o in graph.outputs if o in clean.kept}
    rng = np.random.default_rng(seed)
    for unit in units:
        value = clean.kept.get(unit.output)
        if value is None:  # not executable: a standard normal tensor of its shape stands in
            value = rng.standard_normal(graph[unit.output].output_shape).astype(np.float32)
        if value.dtype.kind == "f":
            facts[unit.name].act_error = {
                d: relative_error(value, fake_quant(value, d)) for d in ("fp16", "int8")}
            facts[unit.name].act_error["int4"] = facts[unit.name].act_error["int8"]
        measured(unit.name)
    if sensitivity != "measured":
        return
    runs = Perturbations(graph, feeds, clean.kept, outputs, rng)
    affected: dict[str, set[str]] = {}
    for unit in units:
        value = clean.kept.get(unit.name)
        below = None if unit.kind == "input" or value is None or value.dtype.kind != "f" \
            else downstream(graph, unit.name)
        if below is not None and below <= runnable:
            affected[unit.name] = below
        else:  # sensitivity 1: the network after it cannot be run
            tick(f"sensitivity of {unit.name}")
    perturbed = [u.name for u in units if u.name in affected]
    for group in perturbation_groups(graph, perturbed, runs.batch, affected):
        for name in group:
            tick(f"sensitivity of {name}")
        for name, found in zip(group, runs.of(group, affected), strict=True):
            facts[name].sensitivity = found
