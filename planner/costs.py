"""The roofline cost model: latency and energy of layers on the processors of a profile.

One layer on one processor at one dtype costs ``max(compute, memory) + launch overhead``:

- compute time = FLOPs / (peak ops/s at the dtype × the op class's efficiency), with the MAC
  part sped up on processors that skip zeros when the weights are sparse enough;
- memory time = weight bytes read from DRAM (or from on-chip memory when the processor keeps
  weights on chip and the whole model fits) + activation bytes read and written, at on-chip
  bandwidth when the layer's activations fit on chip, else at DRAM bandwidth.

Layers fused into their producer at deployment (batch norm after a conv or linear, and the
activation after them, as TFLite, NNAPI, Core ML and TensorRT do) and views (reshape,
dropout) are free. An op or a dtype the processor cannot run is :class:`Infeasible` with a
reason, never a number. Costs are values you add: a model's cost is the sum of its layers'
and of the transfers where consecutive layers change processor, each tensor charged once
per processor it moves to.

>>> from graphs import build_zoo_model
>>> from hardware_profiles import load
>>> g, p = build_zoo_model("mobilenet_v1"), load("snapdragon_855")
>>> on_cpu = single_processor_placement(g, p, "cpu", "fp32")
>>> 5e-3 < placement_cost(g, p, on_cpu).total.latency_s < 30e-3
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal, cast

import numpy as np

from graphs import Graph, Layer, Work, folds_into
from hardware_profiles import DTYPE_BITS, HardwareProfile, Processor
from hardware_profiles.schema import Dtype

Num = float | np.ndarray
"""A count or an array of counts (see :func:`roofline_terms`)."""
Bound = Literal["compute", "memory", "free"]
SparsityPattern = Literal["unstructured", "2:4"]

FUSABLE_ACTIVATIONS = frozenset({"relu", "relu6", "clamp", "hardswish", "hardsigmoid",
                                 "sigmoid", "silu", "gelu", "tanh"})


@dataclass(frozen=True)
class Cost:
    """Seconds, joules and DRAM bytes of some execution; add costs with ``+``."""

    latency_s: float = 0.0
    compute_s: float = 0.0
    memory_s: float = 0.0
    overhead_s: float = 0.0
    transfer_s: float = 0.0
    energy_j: float = 0.0
    dram_bytes: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __radd__(self, other: object) -> Cost:
        if other == 0:
            return self
        return NotImplemented


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer on one processor at one dtype, and what bounds it."""

    layer: str
    processor: str
    dtype: str
    cost: Cost
    bound: Bound
    flops: int
    traffic_bytes: int
    unknown_compute: bool = False

    @property
    def latency_s(self) -> float:
        """End-to-end seconds of this layer."""
        return self.cost.latency_s

    @property
    def intensity(self) -> float:
        """FLOPs per byte of memory traffic."""
        return self.flops / self.traffic_bytes if self.traffic_bytes else math.inf

    @property
    def achieved_ops_per_s(self) -> float:
        """FLOPs per second this layer reaches (for the roofline chart)."""
        return self.flops / self.cost.latency_s if self.cost.latency_s else 0.0


@dataclass(frozen=True)
class Infeasible:
    """A layer that cannot run on a processor at a dtype, and why."""

    layer: str
    processor: str
    dtype: str
    reason: str

    @property
    def latency_s(self) -> float:
        """Infinite: the placement is not possible."""
        return math.inf


def dtype_bits(dtype: str) -> int:
    """Bits per element of a compute dtype."""
    return DTYPE_BITS[dtype]


def roofline(name: str, work: Work, op: str, op_class: str, processor_name: str,
             processor: Processor, dtype: str, *, sparsity: float = 0.0,
             pattern: SparsityPattern = "unstructured",
             weights_on_chip: bool = False) -> LayerCost | Infeasible:
    """Cost of one execution with ``work`` (already at the dtype's byte widths).

    ``sparsity`` is the fraction of zero weights, in ``pattern`` (speeds up the MACs only on
    processors that skip that pattern); ``weights_on_chip`` reads weights at on-chip
    bandwidth.
    """
    if not processor.runs_op(op):
        return Infeasible(name, processor_name, dtype, f"{processor_name} does not run {op}")
    if dtype not in processor.peak_ops_per_s:
        return Infeasible(name, processor_name, dtype,
                          f"{processor_name} computes in {', '.join(processor.dtypes)}, "
                          f"not {dtype}")
    if work.flops == 0 and work.traffic_bytes == 0:
        return LayerCost(name, processor_name, dtype, Cost(), "free", 0, 0,
                         unknown_compute=op == "opaque")
    compute_s, memory_s, dram_bytes, energy = roofline_terms(
        work.macs, work.flops, work.weight_read_bytes, work.input_bytes + work.output_bytes,
        sparse_speedup(processor, sparsity, pattern), processor, dtype, op_class,
        weights_on_chip)
    compute_s, memory_s = float(compute_s), float(memory_s)
    dram_bytes, energy = float(dram_bytes), float(energy)
    overhead_s = processor.launch_overhead_s.value
    cost = Cost(latency_s=max(compute_s, memory_s) + overhead_s, compute_s=compute_s,
                memory_s=memory_s, overhead_s=overhead_s, energy_j=energy,
                dram_bytes=dram_bytes)
    return LayerCost(name, processor_name, dtype, cost,
                     "compute" if compute_s >= memory_s else "memory", work.flops,
                     work.traffic_bytes, unknown_compute=op == "opaque")


def roofline_terms(macs: Num, flops: Num, weight_read_bytes: Num, activation_bytes: Num,
                   speedup: Num, processor: Processor, dtype: str, op_class: str,
                   weights_on_chip: bool = False) -> tuple[Num, Num, Num, Num]:
    """Compute seconds, memory seconds, DRAM bytes and joules of one execution; every count
    may be a numpy array (the option enumeration prices many variants of a layer at once).

    >>> from hardware_profiles import load
    >>> cpu = load("raspberry_pi_5").processors["cpu"]
    >>> c, m, d, e = roofline_terms(np.array([1e6, 1e9]), np.array([2e6, 2e9]),
    ...                             np.array([4e6, 4e6]), 0, 1.0, cpu, "fp32", "conv")
    >>> bool(c[0] < m[0]) and bool(c[1] > m[1])  # small layer memory-, large compute-bound
    True
    """
    which = cast(Dtype, dtype)
    peak = processor.peak_ops_per_s[which].value * processor.efficiency_of(op_class)
    mac_flops = np.multiply(macs, 2)
    compute_s = (mac_flops / speedup + (np.subtract(flops, mac_flops))) / peak
    onchip_bw = processor.onchip_bytes_per_s.value
    dram_bw = processor.dram_bytes_per_s.value
    on_chip = np.less_equal(activation_bytes, processor.onchip_bytes.value)
    weight_bw = onchip_bw if weights_on_chip else dram_bw
    memory_s = np.divide(weight_read_bytes, weight_bw) + np.divide(
        activation_bytes, np.where(on_chip, onchip_bw, dram_bw))
    dram_bytes = np.multiply(weight_read_bytes, 0 if weights_on_chip else 1) + np.where(
        on_chip, 0, activation_bytes)
    onchip_bytes = np.add(weight_read_bytes, activation_bytes) - dram_bytes
    e_mac = processor.energy_per_mac_j[which].value
    energy = (np.multiply(macs, e_mac) + np.subtract(flops, mac_flops) / 2 * e_mac
              + dram_bytes * processor.energy_per_dram_byte_j.value
              + onchip_bytes * processor.energy_per_onchip_byte_j.value)
    return compute_s, memory_s, dram_bytes, energy


def sparse_speedup(processor: Processor, sparsity: float,
                   pattern: SparsityPattern = "unstructured") -> float:
    """Speed-up of the MACs from zero weights: min(1/(1 − sparsity), the processor's best)
    where the processor skips zeros of this ``pattern`` and the weights are sparse enough;
    1 elsewhere."""
    support = processor.sparse
    if support is None or support.pattern != pattern or sparsity < support.min_sparsity:
        return 1.0
    return min(1.0 / (1.0 - sparsity), support.max_speedup.value)


def fused_layers(graph: Graph) -> dict[str, str]:
    """Layers that deployment runtimes fuse into the conv or linear before them, mapped to
    that conv or linear: a batch norm or an activation whose only input is a conv/linear (or
    such a fused chain) that feeds nothing else. A batch norm folds only into the conv or
    linear itself, where :func:`graphs.transforms.folds_into` says it folds."""
    fused: dict[str, str] = {}
    for layer in graph:
        if len(layer.inputs) != 1 or layer.attrs.get("scalar") is not None:
            continue
        producer = graph[layer.inputs[0]]
        if graph.consumers(producer.name) != [layer.name]:
            continue
        root = producer.name if producer.op in ("conv2d", "linear") else fused.get(producer.name)
        if root is None:
            continue
        if folds_into(graph, layer) or layer.op in FUSABLE_ACTIVATIONS:
            fused[layer.name] = root
    return fused


def layer_cost(layer: Layer, profile: HardwareProfile, processor: str, dtype: str, *,
               work: Work | None = None, sparsity: float = 0.0, fused: bool = False,
               weights_on_chip: bool = False) -> LayerCost | Infeasible:
    """Cost of ``layer`` on ``processor`` at ``dtype`` (weights and activations stored at the
    dtype's width unless ``work`` is given). Fused layers are free where the processor runs
    the op."""
    proc = profile.processors[processor]
    if fused:
        if not proc.runs_op(layer.op):
            return Infeasible(layer.name, processor, dtype, f"{processor} does not run "
                              f"{layer.op}")
        return LayerCost(layer.name, processor, dtype, Cost(), "free", 0, 0)
    bits = dtype_bits(dtype)
    work = work if work is not None else layer.work(weight_bits=bits, activation_bits=bits)
    return roofline(layer.name, work, layer.op, layer.op_class, processor, proc, dtype,
                    sparsity=sparsity, weights_on_chip=weights_on_chip)


# ---------------------------------------------------------------- whole models

Placement = Mapping[str, tuple[str, str]]
"""Layer name → (processor, dtype)."""


@dataclass(frozen=True)
class TransferCost:
    """One tensor moved once from one processor to another."""

    tensor: str
    source: str
    destination: str
    bytes: int
    seconds: float


@dataclass
class PlacementCost:
    """A model's cost on a placement: per layer, per transfer, and in total."""

    layers: dict[str, LayerCost]
    transfers: list[TransferCost]
    infeasible: list[Infeasible] = field(default_factory=list)

    @property
    def total(self) -> Cost:
        """Sum of layer costs and transfer times (sequential execution)."""
        transfer_s = sum(t.seconds for t in self.transfers)
        return sum((c.cost for c in self.layers.values()), Cost()) + Cost(
            latency_s=transfer_s, transfer_s=transfer_s)

    @property
    def feasible(self) -> bool:
        """True when every layer can run where it is placed."""
        return not self.infeasible


def weights_fit_on_chip(graph: Graph, profile: HardwareProfile, processor: str,
                        placement: Placement) -> bool:
    """Whether all weights placed on ``processor`` fit its on-chip memory together."""
    proc = profile.processors[processor]
    total = sum(graph[name].work(weight_bits=dtype_bits(dtype)).weight_bytes
                for name, (where, dtype) in placement.items() if where == processor)
    return total <= proc.onchip_bytes.value


def placement_cost(graph: Graph, profile: HardwareProfile, placement: Placement,
                   works: Mapping[str, Work] | None = None) -> PlacementCost:
    """Cost of running ``graph`` with each layer where ``placement`` puts it.

    Inputs arrive on the host and outputs return to it. A tensor that crosses to another
    processor pays that link's latency plus bytes over its bandwidth, once per destination
    processor however many layers read it there. Constants travel with their consumer.
    """
    fused = fused_layers(graph)
    on_chip = {name: weights_fit_on_chip(graph, profile, name, placement)
               for name, proc in profile.processors.items() if proc.weights_stay_on_chip}
    layers: dict[str, LayerCost] = {}
    infeasible: list[Infeasible] = []
    for layer in graph:
        processor, dtype = placement[layer.name]
        root = fused.get(layer.name)
        result = layer_cost(layer, profile, processor, dtype,
                            work=works.get(layer.name) if works else None,
                            fused=root is not None and placement[root] == (processor, dtype),
                            weights_on_chip=on_chip.get(processor, False))
        if isinstance(result, Infeasible):
            infeasible.append(result)
        else:
            layers[layer.name] = result
    return PlacementCost(layers, transfers(graph, profile, placement), infeasible)


def transfers(graph: Graph, profile: HardwareProfile, placement: Placement) -> list[TransferCost]:
    """Every tensor move a placement implies (see :func:`placement_cost`)."""
    moves: list[TransferCost] = []
    for layer in graph:
        if layer.op == "constant":
            continue
        source, dtype = placement[layer.name]
        if layer.op == "input":
            source = profile.host
        destinations = {placement[c][0] for c in graph.consumers(layer.name)}
        if layer.name in graph.outputs:
            destinations.add(profile.host)
        nbytes = math.ceil(layer.output_elements * dtype_bits(dtype) / 8)
        for destination in sorted(destinations - {source}):
            link = profile.transfer(source, destination)
            moves.append(TransferCost(layer.name, source, destination, nbytes,
                                      link.latency_s.value + nbytes / link.bytes_per_s.value))
    return moves


def single_processor_placement(graph: Graph, profile: HardwareProfile, processor: str,
                               dtype: str, fallback: str | None = None) -> dict[str, tuple[
                                   str, str]]:
    """Every layer on ``processor`` at ``dtype``; layers it cannot run go to ``fallback``
    (the host by default) at ``dtype`` if that runs there, else the fallback's widest dtype.
    This is what NNAPI-style partial delegation does."""
    fallback = fallback or profile.host
    spare = profile.processors[fallback]
    placement: dict[str, tuple[str, str]] = {}
    for layer in graph:
        proc = profile.processors[processor]
        if proc.runs_op(layer.op) and dtype in proc.peak_ops_per_s:
            placement[layer.name] = (processor, dtype)
        else:
            placement[layer.name] = (fallback, dtype if dtype in spare.peak_ops_per_s
                                     else spare.dtypes[0])
    return placement


def display_dtype(processor: Processor, preferred: str = "fp32") -> str:
    """``preferred`` when the processor computes in it, else its widest dtype."""
    return preferred if preferred in processor.peak_ops_per_s else processor.dtypes[0]


def per_processor_costs(graph: Graph, profile: HardwareProfile,
                        dtypes: Mapping[str, str]) -> dict[str, dict[str, LayerCost | Infeasible]]:
    """For each processor (at ``dtypes[processor]``), every layer's cost alone (no transfers)."""
    fused = fused_layers(graph)
    return {
        proc: {layer.name: layer_cost(layer, profile, proc, dtypes[proc],
                                      fused=layer.name in fused) for layer in graph}
        for proc in profile.processors
    }


def best_processor(costs: Mapping[str, LayerCost | Infeasible]) -> str | None:
    """The processor with the lowest latency among ``processor → cost`` (None if none runs
    the layer)."""
    feasible = [(c.latency_s, p) for p, c in costs.items() if isinstance(c, LayerCost)]
    return min(feasible)[1] if feasible else None
