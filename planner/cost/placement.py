"""Whole-model costs on a placement: every layer where the placement puts it, plus the
transfers where a tensor changes processor.

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
from dataclasses import dataclass, field

from graphs import Graph, Work
from hardware_profiles import HardwareProfile, Processor
from planner.cost.roofline import (
    Cost,
    Infeasible,
    LayerCost,
    dtype_bits,
    fused_layers,
    layer_cost,
)

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
    with_adds = fused_layers(graph, residual_add=True) if any(
        p.fuses_residual_add for p in profile.processors.values()) else fused
    on_chip = {name: weights_fit_on_chip(graph, profile, name, placement)
               for name, proc in profile.processors.items() if proc.weights_stay_on_chip}
    layers: dict[str, LayerCost] = {}
    infeasible: list[Infeasible] = []
    for layer in graph:
        processor, dtype = placement[layer.name]
        root = (with_adds if profile.processors[processor].fuses_residual_add
                else fused).get(layer.name)
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
    fused = {proc: fused_layers(graph, residual_add=p.fuses_residual_add)
             for proc, p in profile.processors.items()}
    return {
        proc: {layer.name: layer_cost(layer, profile, proc, dtypes[proc],
                                      fused=layer.name in fused[proc]) for layer in graph}
        for proc in profile.processors
    }


def best_processor(costs: Mapping[str, LayerCost | Infeasible]) -> str | None:
    """The processor with the lowest latency among ``processor → cost`` (None if none runs
    the layer)."""
    feasible = [(c.latency_s, p) for p, c in costs.items() if isinstance(c, LayerCost)]
    return min(feasible)[1] if feasible else None
