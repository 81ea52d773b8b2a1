"""Architecture transforms from the mobile literature, as graph rewrites.

Each transform takes a graph and returns a new one whose shapes, MACs and parameters are
inferred again from the op table; weights are dropped (the result describes a network to
train, not one to run). A change that does not fit the graph (a fixed reshape that no
longer matches, a residual add whose branches now differ) raises :class:`TransformError`
naming the transform and the layer.

- :func:`scale_width`: MobileNets' width multiplier α on every conv and linear except the
  classifier;
- :func:`set_resolution`: MobileNets' resolution multiplier ρ (a new input height/width);
- :func:`depthwise_separable`: a k×k conv becomes a depthwise k×k conv, batch norm, ReLU
  and a pointwise 1×1 conv;
- :func:`global_pooling_head`: the fully connected head (flatten, linear, ReLU, dropout,
  linear) becomes global average pooling and one linear (Network in Network, SqueezeNet);
- :func:`move_downsampling`: the stride of one layer moves to another (SqueezeNet's late
  downsampling).

>>> from graphs.zoo import build_zoo_model
>>> g = scale_width(build_zoo_model("mobilenet_v1"), 0.5)
>>> round(g.total_work().macs / 1e6), round(g.total_work().params / 1e6, 2)
(149, 1.33)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphs.errors import GraphError
from graphs.ir import Graph, Layer
from graphs.zoo.mobile import make_divisible

WEIGHTED = ("conv2d", "linear")
HEAD_OPS = ("flatten", "reshape", "linear", "relu", "relu6", "dropout", "adaptive_avg_pool2d",
            "avg_pool2d", "max_pool2d", "identity")
"""Ops a fully connected head may consist of (walking back from the output)."""


class TransformError(GraphError):
    """An architecture transform that does not fit the graph."""

    def __init__(self, transform: str, message: str) -> None:
        super().__init__(f"{transform}: {message}")


@dataclass
class _Node:
    """A layer to (re)build: the op and attributes; shapes are inferred again."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


def _nodes(graph: Graph) -> list[_Node]:
    return [_Node(layer.name, layer.op, layer.inputs, dict(layer.attrs)) for layer in graph]


Edit = Callable[[_Node, Mapping[str, tuple[int, ...]]], None]
"""Changes a node's attributes, given the new output shapes of the layers before it."""


def _assemble(transform: str, nodes: Iterable[_Node], graph: Graph, suffix: str,
              edit: Edit | None = None) -> Graph:
    """A graph of ``nodes`` (in execution order) with shapes inferred again, no weights;
    ``edit`` sees each node just before its layer is built."""
    shapes: dict[str, tuple[int, ...]] = {}
    layers: list[Layer] = []
    for node in nodes:
        if edit is not None:
            edit(node, shapes)
        try:
            layer = Layer.create(node.name, node.op, node.inputs,
                                 [shapes[i] for i in node.inputs], node.attrs)
        except GraphError as exc:
            raise TransformError(transform, f"{exc} (after the change)") from None
        except KeyError as exc:
            raise TransformError(transform, f"layer {node.name!r} reads {exc}, which the "
                                 "change removed") from None
        shapes[node.name] = layer.output_shape
        layers.append(layer)
    metadata = {k: v for k, v in graph.metadata.items() if k != "unused_parameters"}
    try:
        return Graph(layers, graph.outputs, graph.name + suffix, metadata)
    except GraphError as exc:
        raise TransformError(transform, str(exc)) from None


def _classifiers(graph: Graph) -> set[str]:
    """Convs and linears whose output reaches a graph output through no other one."""
    found: set[str] = set()
    stack = list(graph.outputs)
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if graph[name].op in WEIGHTED:
            found.add(name)
        else:
            stack.extend(graph[name].inputs)
    return found


def scale_width(graph: Graph, alpha: float, divisor: int = 1) -> Graph:
    """Every conv and linear has ``alpha`` times its output channels (rounded to a
    multiple of ``divisor`` without losing more than 10%), except the classifier;
    depthwise convs follow their input. Costs scale by about α² (MobileNets, §3.3).

    >>> from graphs.zoo import build_zoo_model
    >>> scale_width(build_zoo_model("resnet18"), 0.5)["fc"].input_shapes
    ((1, 256),)
    """
    if alpha <= 0:
        raise TransformError("width multiplier", f"α must be positive, got {alpha}")
    keep = _classifiers(graph)

    def resize(node: _Node, shapes: Mapping[str, tuple[int, ...]]) -> None:
        if node.op == "conv2d":
            in_old = graph[node.name].input_shapes[0][1]
            in_new = shapes[node.inputs[0]][1]
            groups = node.attrs["groups"]
            if groups > 1 and groups == in_old:  # depthwise: one filter set per channel
                node.attrs["groups"] = in_new
                node.attrs["out_channels"] = in_new * (node.attrs["out_channels"] // in_old)
            elif node.name not in keep:
                node.attrs["out_channels"] = make_divisible(
                    node.attrs["out_channels"] * alpha, math.lcm(divisor, groups))
        elif node.op == "linear" and node.name not in keep:
            node.attrs["out_features"] = make_divisible(node.attrs["out_features"] * alpha,
                                                        divisor)

    return _assemble("width multiplier", _nodes(graph), graph, f"_x{alpha:g}", resize)


def set_resolution(graph: Graph, height: int, width: int | None = None) -> Graph:
    """Every image input (N, C, H, W) at ``height`` × ``width`` (default square).

    >>> from graphs.zoo import build_zoo_model
    >>> round(set_resolution(build_zoo_model("mobilenet_v1"), 160).total_work().macs / 1e6)
    291
    """
    width = height if width is None else width
    if height < 1 or width < 1:
        raise TransformError("resolution", f"height and width must be positive, got "
                             f"{height}×{width}")
    nodes = _nodes(graph)
    images = [n for n in nodes if n.op == "input" and len(n.attrs["shape"]) == 4]
    if not images:
        raise TransformError("resolution", f"{graph.name} has no (N, C, H, W) image input")
    for node in images:
        n, c = node.attrs["shape"][:2]
        node.attrs["shape"] = (n, c, height, width)
    return _assemble("resolution", nodes, graph, f"_{height}x{width}")


def depthwise_separable(graph: Graph, layers: Sequence[str] | None = None) -> Graph:
    """Each named conv (default: every k×k conv with k > 1, groups 1 and more than 3
    input channels) becomes depthwise k×k (same stride, padding, dilation), batch norm,
    ReLU, and a pointwise 1×1 conv that keeps the layer's name. The MACs of a layer fall
    by about 1/C_out + 1/k² (MobileNets, §3.1).

    >>> from graphs.zoo import build_zoo_model
    >>> g = depthwise_separable(build_zoo_model("vgg16"), ["features.28"])
    >>> g["features.28.dw"].attrs["groups"], g["features.28"].attrs["kernel_size"]
    (512, (1, 1))
    """
    chosen = list(layers) if layers is not None else [
        layer.name for layer in graph
        if layer.op == "conv2d" and layer.attrs["groups"] == 1
        and max(layer.attrs["kernel_size"]) > 1 and layer.input_shapes[0][1] > 3]
    for name in chosen:
        if name not in graph:
            raise TransformError("depthwise separable", f"no layer {name!r} in {graph.name}")
        layer = graph[name]
        if layer.op != "conv2d" or layer.attrs["groups"] != 1:
            raise TransformError("depthwise separable", f"layer {name!r} is a {layer.op} "
                                 f"with groups {layer.attrs.get('groups')}; expected a conv2d "
                                 "with groups 1")
    nodes: list[_Node] = []
    for node in _nodes(graph):
        if node.name not in chosen:
            nodes.append(node)
            continue
        channels = graph[node.name].input_shapes[0][1]
        dw = _Node(f"{node.name}.dw", "conv2d", node.inputs,
                   {**node.attrs, "groups": channels, "out_channels": channels, "bias": False})
        bn = _Node(f"{node.name}.dw_bn", "batch_norm", (dw.name,), {"eps": 1e-5})
        act = _Node(f"{node.name}.dw_relu", "relu", (bn.name,))
        pw = _Node(node.name, "conv2d", (act.name,),
                   {**node.attrs, "kernel_size": (1, 1), "stride": (1, 1),
                    "padding": (0, 0, 0, 0), "dilation": (1, 1)})
        nodes += [dw, bn, act, pw]
    return _assemble("depthwise separable", nodes, graph, "_dws")


def global_pooling_head(graph: Graph) -> Graph:
    """The fully connected head becomes global average pooling, flatten and one linear
    (same classes): walking back from the single output through linears, activations,
    dropout, pooling and flatten to the last feature map (N, C, H, W). The linear keeps the
    name of the head's last one.

    >>> from graphs.zoo import build_zoo_model
    >>> g = global_pooling_head(build_zoo_model("vgg16"))
    >>> g["classifier.6"].input_shapes, g.total_work().params
    (((1, 512),), 15227688)
    """
    if len(graph.outputs) != 1:
        raise TransformError("global pooling head", f"{graph.name} has "
                             f"{len(graph.outputs)} outputs; expected one classifier output")
    head: list[str] = []
    name = graph.outputs[0]
    while graph[name].op in HEAD_OPS and len(graph[name].inputs) == 1 \
            and len(graph[name].output_shape) != 4:
        head.append(name)
        name = graph[name].inputs[0]
    while graph[name].op in ("adaptive_avg_pool2d", "avg_pool2d", "max_pool2d") \
            and len(graph[name].inputs) == 1:  # pooling into the head belongs to it
        head.append(name)
        name = graph[name].inputs[0]
    linears = [n for n in head if graph[n].op == "linear"]
    features = graph[name].output_shape
    if not linears or len(features) != 4:
        raise TransformError("global pooling head", f"{graph.name} does not end in a fully "
                             "connected head after a (N, C, H, W) feature map")
    pooled = [n for n in head if len(graph[n].output_shape) == 4]
    if len(linears) == 1 and (features[2:] == (1, 1) or any(
            graph[n].output_shape[2:] == (1, 1) for n in pooled)):
        raise TransformError("global pooling head", f"{graph.name} already pools globally "
                             f"before its one linear {linears[0]!r}")
    last = graph[linears[0]]
    nodes = [n for n in _nodes(graph) if n.name not in head]
    pool = _Node(f"{last.name}.global_pool", "adaptive_avg_pool2d", (name,),
                 {"output_size": (1, 1)})
    flat = _Node(f"{last.name}.flatten", "flatten", (pool.name,), {"start_dim": 1})
    fc = _Node(last.name, "linear", (flat.name,), dict(last.attrs))
    return _assemble("global pooling head", [*nodes, pool, flat, fc], graph, "_gap")


def move_downsampling(graph: Graph, source: str, target: str) -> Graph:
    """The stride of ``source`` (a conv or pooling layer with stride > 1) moves to
    ``target``: ``source`` runs at stride 1 and ``target`` at the old stride. Moving a
    downsampling later keeps larger feature maps longer (more MACs, more activation
    memory; SqueezeNet §3.1 reports higher accuracy).

    >>> from graphs.zoo import build_zoo_model
    >>> g = move_downsampling(build_zoo_model("mobilenet_v1"), "blocks.2.dw.0", "blocks.3.dw.0")
    >>> g["blocks.2.dw.0"].attrs["stride"], g["blocks.3.dw.0"].attrs["stride"]
    ((1, 1), (2, 2))
    """
    for name in (source, target):
        if name not in graph:
            raise TransformError("move downsampling", f"no layer {name!r} in {graph.name}")
        if "stride" not in graph[name].attrs:
            raise TransformError("move downsampling", f"layer {name!r} is a "
                                 f"{graph[name].op}, which has no stride")
    stride = graph[source].attrs["stride"]
    if max(stride) <= 1:
        raise TransformError("move downsampling", f"layer {source!r} has stride {stride}; "
                             "nothing to move")
    nodes = _nodes(graph)
    for node in nodes:
        if node.name == source:
            node.attrs["stride"] = (1,) * len(stride)
        elif node.name == target:
            node.attrs["stride"] = stride
    return _assemble("move downsampling", nodes, graph, "_moved")


__all__ = [
    "TransformError",
    "depthwise_separable",
    "global_pooling_head",
    "move_downsampling",
    "scale_width",
    "set_resolution",
]
