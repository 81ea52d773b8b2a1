"""Decision units: the layers the planner decides for, each with the layers that execute
with it, and the shapes of a layer when its channel groups are pruned.

A *unit* is a layer together with the layers that run fused with it (activations after a
conv or linear) and the views that follow it for free (reshape, flatten, dropout). Units are
compressible (conv, linear, embedding, attention: weight options) or plain (every other op:
only where and in which dtype it runs). Inputs are units on the host with a dtype choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from graphs import OPS, Graph, Layer, folds_into
from planner.compression.coupling import Coupling, Space, space_channels
from planner.cost import fused_layers

COMPRESSIBLE = frozenset(kind for kind, spec in OPS.items() if spec.compressible)
"""Ops with weights the planner compresses (``OpSpec.compressible``)."""


@dataclass
class Unit:
    """A decision unit: a root layer and the layers that execute with it."""

    name: str
    layer: Layer
    members: list[str]
    kind: Literal["input", "compressible", "plain"]
    groups: tuple[int, ...] = ()
    consumers: list[str] = field(default_factory=list)
    folds_norm: bool = False
    """A batch norm among the members folds into the root (which then stores a bias)."""
    activations: list[str] = field(default_factory=list)
    """Op kinds of the activations among the members (fused into the root)."""

    @property
    def output(self) -> str:
        """The member whose output other units read last (sizes are all equal)."""
        return self.members[-1]


def build_units(graph: Graph, coupling: Coupling) -> tuple[list[Unit], dict[str, str]]:
    """Decision units in topological order, and the unit each layer belongs to (constants
    belong to none: they are fixed storage)."""
    fused = fused_layers(graph)
    owner: dict[str, str] = {}
    units: dict[str, Unit] = {}
    for layer in graph:
        if layer.op == "constant":
            continue
        view = not layer.spec.moves_data and layer.op != "input" and len(layer.inputs) == 1
        source = layer.inputs[0] if layer.inputs else None
        if (layer.name in fused or view) and source in owner:
            root = owner[source]
            units[root].members.append(layer.name)
            units[root].folds_norm |= folds_into(graph, layer)
            if layer.spec.fuses:
                units[root].activations.append(layer.op)
            owner[layer.name] = root
            continue
        kind: Literal["input", "compressible", "plain"] = (
            "input" if layer.op == "input" else
            "compressible" if layer.spec.compressible else "plain")
        units[layer.name] = Unit(layer.name, layer, [layer.name], kind,
                                 _touched_groups(layer, coupling))
        owner[layer.name] = layer.name
    for layer in graph:
        for src in layer.inputs:
            if src in owner and layer.name in owner and owner[src] != owner[layer.name]:
                consumers = units[owner[src]].consumers
                if owner[layer.name] not in consumers:
                    consumers.append(owner[layer.name])
    return list(units.values()), owner


def keep_ratios(unit: Unit, coupling: Coupling, by_group: Mapping[int, float]
                ) -> tuple[float, float]:
    """(keep_in, keep_out) of ``unit`` at the keep ratios of its own groups: the ratio of
    the group its first input's channels belong to, and of its output's (1 for a tensor
    with no prunable channel axis, or a group the unit does not touch)."""
    layer = unit.layer
    source = coupling.output_group(layer.inputs[0]) if layer.inputs else None
    gid = coupling.output_group(unit.name)
    own = {g: by_group[g] for g in unit.groups if g in by_group}
    return (own.get(source, 1.0) if source is not None else 1.0,
            own.get(gid, 1.0) if gid is not None else 1.0)


def _touched_groups(layer: Layer, coupling: Coupling) -> tuple[int, ...]:
    """Free groups of the layer's inputs and output, in order, without repeats."""
    found: list[int] = []
    for name in [*layer.inputs, layer.name]:
        gid = coupling.output_group(name)
        if gid is not None and not coupling.group(gid).locked and gid not in found:
            found.append(gid)
    return tuple(found)


def _channels(space: Space | None, full: int, ratio: float, coupling: Coupling) -> int:
    if space is None or coupling.group(space.group).locked:
        return full
    return space_channels(space, ratio, coupling.group(space.group).quantum)


def pruned_io(layer: Layer, coupling: Coupling, ratios: Mapping[int, float]
              ) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
    """Input shapes and output shape of ``layer`` with its groups at ``ratios``."""
    def scaled(shape: tuple[int, ...], tensor: str) -> tuple[int, ...]:
        space = coupling.space(tensor)
        if space is None or space.size != shape[space.axis]:
            return shape
        new = list(shape)
        new[space.axis] = _channels(space, shape[space.axis], ratios.get(space.group, 1.0),
                                    coupling)
        return tuple(new)

    ins = [scaled(s, t) for s, t in zip(layer.input_shapes, layer.inputs, strict=True)]
    return ins, scaled(layer.output_shape, layer.name)
