"""A small CNN for scikit-learn's 8×8 handwritten digits, with trained weights in the repo.

The one zoo model with real (trained) weights, so a simulation can report the real test
accuracy of a compressed network. ``examples/train_digits_cnn.py`` trains it with PyTorch
and writes ``data/digits_cnn.npz``; :func:`digits_split` is the train/test split it used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from graphs.builder import GraphBuilder
from graphs.errors import MissingExtraError
from graphs.ir import Graph

WEIGHTS = Path(__file__).parent / "data" / "digits_cnn.npz"
TEST_FRACTION = 0.25


def digits_cnn(input_shape: tuple[int, ...] = (1, 1, 8, 8), num_classes: int = 10,
               name: str = "digits_cnn") -> Graph:
    """conv3×3(16)-BN-ReLU, conv3×3(32)-BN-ReLU, maxpool 2, conv3×3(32)-BN-ReLU, flatten,
    linear(64)-ReLU, linear(classes): 47,610 parameters, 485 k MACs."""
    b = GraphBuilder(name)
    x = b.input(input_shape, name="image")
    for i, channels in enumerate((16, 32, 32), start=1):
        x = b.conv(x, channels, 3, padding=1, bias=False, name=f"conv{i}")
        x = b.relu(b.batch_norm(x, name=f"bn{i}"), name=f"relu{i}")
        if i == 2:
            x = b.max_pool(x, 2, name="pool")
    x = b.flatten(x, name="flatten")
    x = b.relu(b.linear(x, 64, name="fc1"), name="relu4")
    return b.build([b.linear(x, num_classes, name="fc2")])


def trained_weights(graph: Graph) -> Graph:
    """``graph`` (a :func:`digits_cnn`) with the trained weights of ``data/digits_cnn.npz``."""
    stored = np.load(WEIGHTS)
    replaced = {}
    for layer in graph:
        if layer.weight_specs:
            replaced[layer.name] = layer.with_weights(
                {key: stored[f"{layer.name}.{key}"] for key in layer.weight_specs})
    return graph.replace_layers(replaced)


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as (train images, train labels, test images, test labels):
    images (N, 1, 8, 8) float32 scaled to [0, 1], the last quarter of a seed-0
    permutation held out for testing."""
    if importlib.util.find_spec("sklearn") is None:
        raise MissingExtraError("sklearn", "test")
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    labels = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    cut = len(labels) - round(TEST_FRACTION * len(labels))
    train, test = order[:cut], order[cut:]
    return images[train], labels[train], images[test], labels[test]
