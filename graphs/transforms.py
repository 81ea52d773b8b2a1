"""Structure-preserving graph rewrites.

>>> from graphs.zoo import build_zoo_model
>>> g = fold_batchnorm(build_zoo_model("resnet18"))
>>> sum(layer.op == "batch_norm" for layer in g), g["conv1"].attrs["bias"]
(0, True)
"""

from __future__ import annotations

import numpy as np

from graphs.ir import Graph, Layer


def fold_batchnorm(graph: Graph) -> Graph:
    """Fold every inference batch norm that directly follows a conv (and is that conv's only
    reader) into the conv's weight and bias, as deployment toolchains and ONNX exporters do.

    With weights: W' = W·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β.
    Without weights the structure changes the same way (the conv gains a bias).
    """
    fold: dict[str, str] = {}  # batch norm -> conv it folds into
    for layer in graph:
        if layer.op != "batch_norm" or len(layer.inputs) != 1:
            continue
        producer = graph[layer.inputs[0]]
        if producer.op == "conv2d" and graph.consumers(producer.name) == [layer.name]:
            fold[layer.name] = producer.name
    conv_of_bn = {conv: bn for bn, conv in fold.items()}
    layers: list[Layer] = []
    renamed: dict[str, str] = {bn: conv for bn, conv in fold.items()}
    for layer in graph:
        if layer.name in fold:
            continue
        inputs = tuple(renamed.get(i, i) for i in layer.inputs)
        if inputs != layer.inputs:
            layer = Layer.create(layer.name, layer.op, inputs, layer.input_shapes, layer.attrs,
                                 layer.weights)
        if layer.name in conv_of_bn:
            layer = _folded_conv(layer, graph[conv_of_bn[layer.name]])
        layers.append(layer)
    outputs = [renamed.get(o, o) for o in graph.outputs]
    return Graph(layers, outputs, graph.name, graph.metadata)


def _folded_conv(conv: Layer, bn: Layer) -> Layer:
    attrs = {**conv.attrs, "bias": True}
    weights = None
    if conv.weights is not None and bn.weights is not None:
        w = conv.weights["weight"].astype(np.float64)
        b = conv.weights["bias"].astype(np.float64) if "bias" in conv.weights else 0.0
        stats = bn.weights
        channels = stats["running_var"].shape
        gamma = stats.get("weight", np.ones(channels))
        beta = stats.get("bias", np.zeros(channels))
        scale = gamma / np.sqrt(stats["running_var"].astype(np.float64) + bn.attrs["eps"])
        weights = {
            "weight": (w * scale[:, None, None, None]).astype(np.float32),
            "bias": ((b - stats["running_mean"]) * scale + beta).astype(np.float32),
        }
    return Layer.create(conv.name, "conv2d", conv.inputs, conv.input_shapes, attrs, weights)
