"""Deterministic seeded weights for any graph, so simulation runs anywhere without downloads.

Each layer draws from its own generator seeded by (seed, crc32(layer name)): a layer's
weights do not change when other layers are added or removed.
"""

from __future__ import annotations

import zlib

import numpy as np

from graphs.ir import Graph, Layer


def _layer_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _init_tensor(layer: Layer, key: str, shape: tuple[int, ...],
                 rng: np.random.Generator) -> np.ndarray:
    """He-normal weights for convs and linears (std √(2/fan_in)), PyTorch's uniform bias,
    plausible normalisation statistics, BERT's N(0, 0.02) for embeddings."""
    if layer.op == "embedding":
        return rng.normal(0.0, 0.02, shape)
    if layer.op == "batch_norm":
        return {
            "weight": lambda: rng.uniform(0.5, 1.5, shape),
            "bias": lambda: rng.normal(0.0, 0.1, shape),
            "running_mean": lambda: rng.normal(0.0, 0.1, shape),
            "running_var": lambda: rng.uniform(0.5, 1.5, shape),
        }[key]()
    if layer.op == "layer_norm":
        return rng.normal(1.0 if key == "weight" else 0.0, 0.05, shape)
    if key.endswith("bias"):
        weight_shape = layer.weight_shapes[key.replace("bias", "weight")]
        bound = 1.0 / np.sqrt(np.prod(weight_shape[1:]))
        return rng.uniform(-bound, bound, shape)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)


def seeded_weights(graph: Graph, seed: int = 0) -> Graph:
    """A copy of ``graph`` in which every layer that holds weights has seeded float32 ones.

    Layers that already carry weights (constants such as position ids) keep them.

    >>> from graphs.zoo import build_zoo_model
    >>> g = seeded_weights(build_zoo_model("lenet5"), seed=1)
    >>> g["conv1"].weights["weight"].shape
    (6, 1, 5, 5)
    """
    replaced: dict[str, Layer] = {}
    for layer in graph:
        specs = layer.weight_specs
        if not specs or layer.weights is not None:
            continue
        rng = _layer_rng(seed, layer.name)
        replaced[layer.name] = layer.with_weights({
            key: _init_tensor(layer, key, spec.shape, rng).astype(np.float32)
            for key, spec in specs.items()
        })
    return graph.replace_layers(replaced)
