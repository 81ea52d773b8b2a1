"""The graph IR: a typed :class:`Layer` per node of a networkx DiGraph.

A layer produces exactly one tensor. Ops that return several tensors in a framework (chunk,
split) become one ``slice`` layer per piece. Edges carry ``slots`` (the input positions of
the consumer that read the producer) and ``bytes`` (the fp32 size of the tensor), so graph
algorithms can run with ``weight="bytes"``. Every node carries its fp32 :class:`Work` under
``work`` and its numbers (``macs``, ``flops``, ``params``, ``weight_bytes``) as attributes.

>>> from graphs.builder import GraphBuilder
>>> b = GraphBuilder("tiny")
>>> x = b.input((1, 3, 8, 8))
>>> y = b.conv(x, 4, 3, padding=1, name="conv")
>>> g = b.build([y])
>>> g["conv"].output_shape, g.total_work().macs
((1, 4, 8, 8), 6912)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx
import numpy as np

from graphs.errors import CycleError, ShapeError, UnknownOpError
from graphs.ops import OPS, OpArgumentError, OpSpec, Shape, WeightSpec, known_ops, numel
from graphs.work import Work, op_work


def _freeze(value: Any) -> Any:
    """Lists become tuples (recursively) so attributes compare and hash the same after JSON."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _freeze(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _spec(op: str, layer: str) -> OpSpec:
    try:
        return OPS[op]
    except KeyError:
        raise UnknownOpError(op, layer, known_ops()) from None


@dataclass(frozen=True, eq=False)
class Layer:
    """One node: an op applied to the outputs of earlier layers.

    Build layers with :meth:`Layer.create`, which fills default attributes, infers the output
    shape and checks the weights. ``weights`` maps weight names (``weight``, ``bias``,
    ``running_mean``, …) to read-only float32 arrays, or is ``None`` when the graph describes
    structure only.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    attrs: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, np.ndarray] | None = None

    @classmethod
    def create(
        cls,
        name: str,
        op: str,
        inputs: Sequence[str],
        input_shapes: Sequence[Sequence[int]],
        attrs: Mapping[str, Any] | None = None,
        weights: Mapping[str, np.ndarray] | None = None,
    ) -> Layer:
        """Validate and build a layer; the output shape comes from the op table.

        Raises ``UnknownOpError`` or ``ShapeError`` naming the layer.
        """
        spec = _spec(op, name)
        shapes = tuple(tuple(int(d) for d in s) for s in input_shapes)
        if len(shapes) != len(inputs):
            raise ShapeError(name, f"{len(inputs)} inputs but {len(shapes)} input shapes")
        try:
            spec.check_arity(len(shapes))
            clean = _freeze(spec.prepare_attrs(_freeze(dict(attrs or {}))))
            out = tuple(int(d) for d in spec.infer(shapes, clean))
        except OpArgumentError as exc:
            raise ShapeError(name, str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ShapeError(name, f"bad attributes for op {op!r}: {exc!r}") from None
        layer = cls(name, op, tuple(inputs), shapes, out, clean)
        return layer.with_weights(weights) if weights is not None else layer

    # ----------------------------------------------------------- derived facts

    @property
    def spec(self) -> OpSpec:
        """The op table entry of this layer's op."""
        return _spec(self.op, self.name)

    @property
    def weight_specs(self) -> dict[str, WeightSpec]:
        """The weight tensors this layer holds, derived from its op, shapes and attributes."""
        return self.spec.weights(self.input_shapes, self.attrs)

    @property
    def weight_shapes(self) -> dict[str, Shape]:
        """Shape of each weight tensor, e.g. ``{"weight": (64, 3, 7, 7)}``."""
        return {name: w.shape for name, w in self.weight_specs.items()}

    @property
    def op_class(self) -> str:
        """Hardware efficiency class (conv, depthwise_conv, gemm, elementwise, …)."""
        return self.spec.class_of(self.input_shapes, self.attrs)

    @property
    def output_elements(self) -> int:
        """Number of elements of the output tensor."""
        return numel(self.output_shape)

    def work(self, weight_bits: float = 32, activation_bits: float = 32) -> Work:
        """MACs, FLOPs, parameters and bytes with weights/activations at the given bits."""
        return op_work(self.op, self.input_shapes, self.output_shape, self.attrs,
                       weight_bits, activation_bits)

    # ----------------------------------------------------------- functional updates

    def with_weights(self, weights: Mapping[str, np.ndarray] | None) -> Layer:
        """A copy holding ``weights`` (checked against :attr:`weight_shapes`), or none."""
        if weights is None:
            return replace(self, weights=None)
        expected = self.weight_shapes
        unknown = sorted(set(weights) - set(expected))
        missing = sorted(set(expected) - set(weights))
        if unknown or missing:
            raise ShapeError(
                self.name,
                f"weights {sorted(weights)} do not match the op's weights {sorted(expected)}"
                + (f"; unexpected {unknown}" if unknown else "")
                + (f"; missing {missing}" if missing else ""),
            )
        frozen: dict[str, np.ndarray] = {}
        for key, value in weights.items():
            array = np.asarray(value)
            if array.shape != expected[key]:
                raise ShapeError(
                    self.name, f"weight {key!r} has shape {array.shape}, expected {expected[key]}"
                )
            if array.dtype.kind == "f" and array.dtype != np.float32:
                array = array.astype(np.float32)
            elif array.flags.writeable:
                array = array.copy()
            array.setflags(write=False)
            frozen[key] = array
        return replace(self, weights=frozen)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (weights excluded)."""
        return {
            "name": self.name,
            "op": self.op,
            "inputs": list(self.inputs),
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_shape": list(self.output_shape),
            "attrs": _jsonable(self.attrs),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class Graph:
    """A model as a DAG of layers, annotated with each layer's fp32 work.

    ``dag`` is the networkx DiGraph (node = layer name). Iterating a graph yields layers in a
    deterministic topological order (the order they were given when that is topological).
    ``metadata`` holds JSON-ready facts about where the graph came from (source, import
    cross-checks).
    """

    def __init__(self, layers: Iterable[Layer], outputs: Sequence[str], name: str = "graph",
                 metadata: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.outputs = tuple(outputs)
        self.dag = _build_dag(list(layers), self.outputs, name)
        index = {n: i for i, n in enumerate(self.dag.nodes)}
        self._order: tuple[str, ...] = tuple(
            nx.lexicographical_topological_sort(self.dag, key=index.__getitem__)
        )
        self._position = {n: i for i, n in enumerate(self._order)}

    # ----------------------------------------------------------- access

    def __getitem__(self, name: str) -> Layer:
        try:
            layer: Layer = self.dag.nodes[name]["layer"]
        except KeyError:
            raise KeyError(f"graph {self.name!r} has no layer {name!r}") from None
        return layer

    def __contains__(self, name: object) -> bool:
        return name in self.dag

    def __iter__(self) -> Iterator[Layer]:
        return (self[n] for n in self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        total = self.total_work()
        return (f"Graph({self.name!r}, {len(self)} layers, {total.macs / 1e9:.3f} GMACs, "
                f"{total.params:,} params)")

    @property
    def order(self) -> tuple[str, ...]:
        """Layer names in topological order."""
        return self._order

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the graph's input layers."""
        return tuple(n for n in self._order if self[n].op == "input")

    def consumers(self, name: str) -> list[str]:
        """Layers that read ``name``'s output, in topological order."""
        return sorted(self.dag.successors(name), key=self._position.__getitem__)

    def work(self, name: str) -> Work:
        """fp32 work of one layer."""
        work: Work = self.dag.nodes[name]["work"]
        return work

    def total_work(self) -> Work:
        """fp32 work of the whole graph."""
        return sum((self.work(n) for n in self._order), Work())

    @property
    def has_weights(self) -> bool:
        """True when every layer that holds weights has them."""
        return all(layer.weights is not None for layer in self if layer.weight_specs)

    def unmapped_ops(self) -> Counter[str]:
        """Ops an importer could not map, by original name, with their counts."""
        return Counter(str(layer.attrs["target"]) for layer in self if layer.op == "opaque")

    # ----------------------------------------------------------- functional updates

    def replace_layers(self, layers: Mapping[str, Layer], name: str | None = None) -> Graph:
        """A new graph with some layers replaced (same names, same wiring or new)."""
        return Graph([layers.get(n, self[n]) for n in self._order], self.outputs,
                     name or self.name, self.metadata)

    def without_weights(self) -> Graph:
        """The same structure with no weight arrays."""
        return self.replace_layers({layer.name: layer.with_weights(None) for layer in self})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready structure: name, metadata, outputs, layers in order (no weights)."""
        return {
            "name": self.name,
            "metadata": _jsonable(self.metadata),
            "outputs": list(self.outputs),
            "layers": [layer.to_dict() for layer in self],
        }


def _build_dag(layers: list[Layer], outputs: tuple[str, ...], graph_name: str) -> nx.DiGraph:
    dag = nx.DiGraph(name=graph_name)
    for layer in layers:
        if layer.name in dag:
            raise ShapeError(layer.name, "two layers have this name; names must be unique")
        work = layer.work()
        dag.add_node(layer.name, layer=layer, work=work, macs=work.macs, flops=work.flops,
                     params=work.params, weight_bytes=work.weight_bytes)
    for layer in layers:
        for slot, (src, shape) in enumerate(zip(layer.inputs, layer.input_shapes, strict=True)):
            if src not in dag:
                raise ShapeError(layer.name, f"input {slot} reads {src!r}, which is not a layer")
            produced = dag.nodes[src]["layer"].output_shape
            if produced != shape:
                raise ShapeError(
                    layer.name,
                    f"input {slot} from {src!r} has shape {produced}, but the layer expects "
                    f"{shape}",
                )
            if dag.has_edge(src, layer.name):
                dag.edges[src, layer.name]["slots"].append(slot)
            else:
                dag.add_edge(src, layer.name, slots=[slot], bytes=4 * numel(shape))
    missing = [o for o in outputs if o not in dag]
    if missing:
        raise ShapeError(missing[0], "listed as a graph output but no layer has this name")
    if not outputs:
        raise ShapeError(graph_name, "a graph needs at least one output")
    twice = [o for i, o in enumerate(outputs) if o in outputs[:i]]
    if twice:
        raise ShapeError(twice[0], "listed twice as a graph output")
    if not nx.is_directed_acyclic_graph(dag):
        raise CycleError([str(u) for u, _ in nx.find_cycle(dag)], f"graph {graph_name!r}")
    return dag
