"""The Python API for scripts: load a model from any source.

>>> from planner import load_model
>>> load_model("mobilenet_v2").total_work().params
3504872
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graphs import (
    Graph,
    GraphError,
    UnknownModelError,
    build_zoo_model,
    from_onnx,
    from_torch,
    is_torch_source,
    load_graph,
    torch_module_from,
    zoo_names,
)


def _is_torch_module(source: Any) -> bool:
    return any(c.__module__ == "torch.nn.modules.module" and c.__name__ == "Module"
               for c in type(source).__mro__)


def load_model(source: str | Path | Graph | Any, input_shape: Sequence[int] | None = None,
               *, weights: bool = False, seed: int = 0, strict: bool = False,
               example_input: Any = None, leaf_modules: Sequence[type] = (),
               via: str = "auto", handlers: Mapping[type, Any] | None = None) -> Graph:
    """A graph from a zoo name, a ``.onnx`` or ``.json`` path, an ``nn.Module``, a PyTorch
model named as text (``package.module:factory``, ``file.py:factory``, a TorchScript
``.pt`` or an ExportedProgram ``.pt2`` file), or a graph.

    ``input_shape`` overrides the zoo default (N, C, H, W) or (N, L), fixes an ONNX model's
    symbolic dimensions, or makes the example input of a module. ``weights=True`` gives zoo
    models deterministic seeded weights (other sources carry their own). ``strict`` turns
    unmapped ops into an error instead of opaque layers. For a module: ``example_input`` is
    a tensor, a tuple of them, or a dict of keyword tensors (``input_ids``,
    ``attention_mask``); ``leaf_modules``, ``via`` and ``handlers`` are
    :func:`graphs.importers.torch_import.from_torch`'s (module types kept whole; torch.fx,
    its ONNX export, or "auto": fx, then the export where fx fails; your own handlers by
    module type).

    Raises ``UnknownModelError`` (listing the zoo) for a name that is neither a zoo model
    nor an existing file.
    """
    if isinstance(source, Graph):
        return source
    module: Any = None
    if _is_torch_module(source):
        if example_input is None and input_shape is None:
            raise ValueError("a torch module needs input_shape=(N, C, H, W) or example_input")
        module = source
    elif isinstance(source, str) and is_torch_source(source):
        if example_input is None and input_shape is None:
            raise GraphError(f"{source}: a PyTorch model needs an input shape, e.g. "
                             "--input-shape 1,3,224,224")
        module = torch_module_from(source)
    if module is not None:
        return from_torch(module, example_input, input_shape, strict=strict,
                          leaf_modules=leaf_modules, via=via, handlers=handlers)
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
