"""A small imperative builder for graphs, used by the zoo and by tests.

Every helper adds one layer, infers its output shape from the op table and returns the
layer's name, so model definitions read like a PyTorch ``forward``:

>>> b = GraphBuilder("mlp")
>>> x = b.input((1, 784))
>>> x = b.relu(b.linear(x, 128, name="fc1"))
>>> b.build([b.linear(x, 10, name="fc2")]).total_work().params
101770
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphs.ir import Graph, Layer
from graphs.ops import Shape


class GraphBuilder:
    """Accumulates layers in order; :meth:`build` returns the validated :class:`Graph`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._layers: dict[str, Layer] = {}
        self._counts: dict[str, int] = {}

    # ----------------------------------------------------------- core

    def add(self, op: str, inputs: Sequence[str], name: str | None = None,
            weights: Mapping[str, np.ndarray] | None = None, **attrs: Any) -> str:
        """Add a layer of ``op`` reading ``inputs``; returns its (unique) name."""
        unique = self.unique_name(name or op)
        shapes = [self._layers[i].output_shape for i in inputs]
        return self.append(Layer.create(unique, op, inputs, shapes, attrs, weights))

    def append(self, layer: Layer) -> str:
        """Add a layer built elsewhere (its name must come from :meth:`unique_name`)."""
        self._layers[layer.name] = layer
        return layer.name

    def __contains__(self, name: object) -> bool:
        """True when a layer of this name was added."""
        return name in self._layers

    def shape(self, name: str) -> Shape:
        """Output shape of a layer added earlier."""
        return self._layers[name].output_shape

    def build(self, outputs: Sequence[str], metadata: Mapping[str, Any] | None = None) -> Graph:
        """The finished graph with the given output layers."""
        return Graph(self._layers.values(), outputs, self.name, metadata)

    def unique_name(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``… when taken (torch.fx's convention)."""
        if name not in self._layers:
            self._counts.setdefault(name, 0)
            return name
        while True:
            self._counts[name] = self._counts.get(name, 0) + 1
            candidate = f"{name}_{self._counts[name]}"
            if candidate not in self._layers:
                return candidate

    # ----------------------------------------------------------- sources

    def input(self, shape: Sequence[int], name: str = "input", dtype: str = "float32") -> str:
        """A graph input of ``shape`` (NCHW for images, (N, L) int64 for token ids)."""
        return self.add("input", [], name, shape=tuple(shape), dtype=dtype)

    def constant(self, value: np.ndarray, name: str, trainable: bool = False) -> str:
        """A stored tensor (a parameter when ``trainable``)."""
        return self.add("constant", [], name, weights={"value": value}, shape=value.shape,
                        trainable=trainable, dtype=str(value.dtype))

    # ----------------------------------------------------------- layers with weights

    def conv(self, x: str, out_channels: int, kernel_size: int | tuple[int, int],
             stride: int | tuple[int, int] = 1, padding: int | Sequence[int] = 0,
             groups: int = 1, bias: bool = True, dilation: int = 1,
             name: str | None = None) -> str:
        """2-D convolution (OIHW weights)."""
        return self.add("conv2d", [x], name or "conv", out_channels=out_channels,
                        kernel_size=kernel_size, stride=stride, padding=padding,
                        groups=groups, bias=bias, dilation=dilation)

    def linear(self, x: str, out_features: int, bias: bool = True,
               name: str | None = None) -> str:
        """Fully connected layer on the last axis."""
        return self.add("linear", [x], name or "linear", out_features=out_features, bias=bias)

    def batch_norm(self, x: str, name: str | None = None, eps: float = 1e-5) -> str:
        """Inference batch norm over axis 1."""
        return self.add("batch_norm", [x], name or "bn", eps=eps)

    def layer_norm(self, x: str, name: str | None = None, eps: float = 1e-12) -> str:
        """Layer norm over the last axis."""
        return self.add("layer_norm", [x], name or "layer_norm",
                        normalized_shape=(self.shape(x)[-1],), eps=eps)

    def embedding(self, x: str, num_embeddings: int, embedding_dim: int,
                  name: str | None = None) -> str:
        """Table lookup of integer ids."""
        return self.add("embedding", [x], name or "embedding", num_embeddings=num_embeddings,
                        embedding_dim=embedding_dim)

    # ----------------------------------------------------------- activations and arithmetic

    def relu(self, x: str, name: str | None = None) -> str:
        """max(x, 0)."""
        return self.add("relu", [x], name or "relu")

    def relu6(self, x: str, name: str | None = None) -> str:
        """min(max(x, 0), 6)."""
        return self.add("relu6", [x], name or "relu6")

    def act(self, op: str, x: str, name: str | None = None) -> str:
        """Any one-input elementwise op by kind (hardswish, sigmoid, gelu, …)."""
        return self.add(op, [x], name or op)

    def add_(self, a: str, b: str, name: str | None = None) -> str:
        """Elementwise a + b (residual connection)."""
        return self.add("add", [a, b], name or "add")

    def mul(self, a: str, b: str, name: str | None = None) -> str:
        """Elementwise a × b with broadcasting (squeeze-excitation gating)."""
        return self.add("mul", [a, b], name or "mul")

    def scale(self, x: str, factor: float, name: str | None = None) -> str:
        """x × a constant scalar."""
        return self.add("mul", [x], name or "mul", scalar=factor)

    # ----------------------------------------------------------- pooling and shape

    def max_pool(self, x: str, kernel_size: int, stride: int | None = None, padding: int = 0,
                 ceil_mode: bool = False, name: str | None = None) -> str:
        """Max pooling."""
        return self.add("max_pool2d", [x], name or "maxpool", kernel_size=kernel_size,
                        stride=stride, padding=padding, ceil_mode=ceil_mode)

    def avg_pool(self, x: str, kernel_size: int, stride: int | None = None, padding: int = 0,
                 name: str | None = None) -> str:
        """Average pooling."""
        return self.add("avg_pool2d", [x], name or "avgpool", kernel_size=kernel_size,
                        stride=stride, padding=padding)

    def adaptive_avg_pool(self, x: str, output_size: int | tuple[int, int] = 1,
                          name: str | None = None) -> str:
        """Adaptive average pooling (global pooling for output_size 1)."""
        return self.add("adaptive_avg_pool2d", [x], name or "avgpool", output_size=output_size)

    def flatten(self, x: str, start_dim: int = 1, name: str | None = None) -> str:
        """Merge the axes from ``start_dim`` on."""
        return self.add("flatten", [x], name or "flatten", start_dim=start_dim)

    def reshape(self, x: str, shape: Sequence[int], name: str | None = None) -> str:
        """View with a new shape."""
        return self.add("reshape", [x], name or "reshape", shape=tuple(shape))

    def permute(self, x: str, dims: Sequence[int], name: str | None = None) -> str:
        """Reorder axes."""
        return self.add("permute", [x], name or "permute", dims=tuple(dims))

    def concat(self, xs: Sequence[str], axis: int = 1, name: str | None = None) -> str:
        """Concatenate along ``axis``."""
        return self.add("concat", list(xs), name or "cat", axis=axis)

    def dropout(self, x: str, p: float = 0.5, name: str | None = None) -> str:
        """Dropout (the identity at inference)."""
        return self.add("dropout", [x], name or "dropout", p=p)

    def slice_channels(self, x: str, start: int, stop: int, name: str | None = None) -> str:
        """Channels ``start:stop`` of an NCHW tensor."""
        return self.add("slice", [x], name or "slice",
                        index=((None, None, None), (start, stop, 1)))
