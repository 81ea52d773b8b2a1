"""The Python API for scripts: load a model from any source.

>>> from planner import load_model
>>> load_model("mobilenet_v2").total_work().params
3504872
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphs import (
    Graph,
    UnknownModelError,
    build_zoo_model,
    from_onnx,
    from_torch,
    load_graph,
    zoo_names,
)


def _is_torch_module(source: Any) -> bool:
    return any(c.__module__ == "torch.nn.modules.module" and c.__name__ == "Module"
               for c in type(source).__mro__)


def load_model(source: str | Path | Graph | Any, input_shape: Sequence[int] | None = None,
               *, weights: bool = False, seed: int = 0, strict: bool = False,
               example_input: Any = None) -> Graph:
    """A graph from a zoo name, a ``.onnx`` or ``.json`` path, an ``nn.Module``, or a graph.

    ``input_shape`` overrides the zoo default (N, C, H, W) or (N, L), fixes an ONNX model's
    symbolic dimensions, or makes the example input of a module. ``weights=True`` gives zoo
    models deterministic seeded weights (other sources carry their own). ``strict`` turns
    unmapped ops into an error instead of opaque layers.

    Raises ``UnknownModelError`` (listing the zoo) for a name that is neither a zoo model
    nor an existing file.
    """
    if isinstance(source, Graph):
        return source
    if _is_torch_module(source):
        if example_input is None and input_shape is None:
            raise ValueError("a torch module needs input_shape=(N, C, H, W) or example_input")
        module: Any = source
        return from_torch(module, example_input, input_shape, strict=strict)
    text = str(source)
    path = Path(text)
    if path.suffix.lower() == ".onnx":
        return from_onnx(path, input_shape, strict=strict)
    if path.suffix.lower() == ".json":
        return load_graph(path)
    if text in zoo_names():
        shape = tuple(input_shape) if input_shape is not None else None
        return build_zoo_model(text, shape, weights=weights, seed=seed)
    raise UnknownModelError(text, zoo_names())
