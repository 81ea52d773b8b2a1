"""Structure-preserving graph rewrites.

>>> from graphs.zoo import build_zoo_model
>>> g = fold_batchnorm(build_zoo_model("resnet18"))
>>> sum(layer.op == "batch_norm" for layer in g), g["conv1"].attrs["bias"]
(0, True)
"""

from __future__ import annotations

import numpy as np

from graphs.ir import Graph, Layer


def folds_into(graph: Graph, layer: Layer) -> bool:
    """Whether ``layer`` is an inference batch norm that folds into the layer before it: a
    conv, or a linear with (N, features) output (where the norm's channel axis is the
    features), that the norm alone reads."""
    if layer.op != "batch_norm" or len(layer.inputs) != 1:
        return False
    producer = graph[layer.inputs[0]]
    foldable = producer.op == "conv2d" or (producer.op == "linear"
                                           and len(producer.output_shape) == 2)
    return foldable and graph.consumers(producer.name) == [layer.name]


def fold_batchnorm(graph: Graph) -> Graph:
    """Fold every inference batch norm that :func:`folds_into` its conv or linear into that
    layer's weight and bias, as deployment toolchains and ONNX exporters do.

    With weights: W' = W·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β.
    Without weights the structure changes the same way (the layer gains a bias).
    """
    fold = {layer.name: layer.inputs[0] for layer in graph if folds_into(graph, layer)}
    norm_of = {conv: bn for bn, conv in fold.items()}
    layers: list[Layer] = []
    renamed = dict(fold)
    for layer in graph:
        if layer.name in fold:
            continue
        inputs = tuple(renamed.get(i, i) for i in layer.inputs)
        if inputs != layer.inputs:
            layer = Layer.create(layer.name, layer.op, inputs, layer.input_shapes, layer.attrs,
                                 layer.weights)
        if layer.name in norm_of:
            layer = _folded(layer, graph[norm_of[layer.name]])
        layers.append(layer)
    outputs = [renamed.get(o, o) for o in graph.outputs]
    return Graph(layers, outputs, graph.name, graph.metadata)


def _folded(conv: Layer, bn: Layer) -> Layer:
    attrs = {**conv.attrs, "bias": True}
    weights = None
    if conv.weights is not None and bn.weights is not None:
        w = conv.weights["weight"].astype(np.float64)
        b = conv.weights["bias"].astype(np.float64) if "bias" in conv.weights else 0.0
        rows = (-1,) + (1,) * (w.ndim - 1)
        stats = bn.weights
        channels = stats["running_var"].shape
        gamma = stats.get("weight", np.ones(channels))
        beta = stats.get("bias", np.zeros(channels))
        scale = gamma / np.sqrt(stats["running_var"].astype(np.float64) + bn.attrs["eps"])
        weights = {
            "weight": (w * scale.reshape(rows)).astype(np.float32),
            "bias": ((b - stats["running_mean"]) * scale + beta).astype(np.float32),
        }
    return Layer.create(conv.name, conv.op, conv.inputs, conv.input_shapes, attrs, weights)
