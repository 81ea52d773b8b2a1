"""Computation graphs annotated with work: the IR, the op table, importers and the model zoo.

>>> from graphs import build_zoo_model
>>> g = build_zoo_model("mobilenet_v2")
>>> g.total_work().params, round(g.total_work().macs / 1e6, 1)
(3504872, 300.8)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphs.architecture import (
    depthwise_separable,
    global_pooling_head,
    move_downsampling,
    scale_width,
    set_resolution,
)
from graphs.builder import GraphBuilder
from graphs.errors import (
    CycleError,
    GraphError,
    GraphFileError,
    MissingExtraError,
    ShapeError,
    UnknownModelError,
    UnknownOpError,
    UnsupportedOpsError,
)
from graphs.importers.io_json import load_graph, save_graph
from graphs.importers.torch_source import is_torch_source
from graphs.ir import Graph, Layer
from graphs.ops import OPS, known_ops, op_spec
from graphs.ops.base import ChannelRule
from graphs.ops.conv import adaptive_windows, is_depthwise
from graphs.ops.dense import parse_einsum
from graphs.ops.movement import slice_entries
from graphs.ops.recurrent import layer_inputs as recurrent_layer_inputs
from graphs.ops.recurrent import onnx_rows as recurrent_onnx_rows
from graphs.ops.recurrent import weight_name as recurrent_weight_name
from graphs.transforms import fold_batchnorm, folds_into
from graphs.work import Summable, Work, bits_to_bytes, op_work
from graphs.zoo import ZOO, build_zoo_model, seeded_weights, zoo_names
from graphs.zoo.digits import digits_split

if TYPE_CHECKING:
    import torch


def _require(package: str, extra: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise MissingExtraError(package, extra)


def from_torch(module: torch.nn.Module, example_input: Any = None,
               input_shape: Sequence[int] | None = None, **options: Any) -> Graph:
    """Import a PyTorch module (see :func:`graphs.importers.torch_import.from_torch`)."""
    _require("torch", "torch")
    from graphs.importers.torch_import import from_torch as _from_torch

    return _from_torch(module, example_input, input_shape, **options)


def torch_module_from(text: str) -> torch.nn.Module:
    """A PyTorch model named as text: ``package.module:factory``, ``file.py:factory``, a
    TorchScript ``.pt`` or ExportedProgram ``.pt2`` file (see
    :mod:`graphs.importers.torch_source`)."""
    _require("torch", "torch")
    from graphs.importers.torch_source import torch_module_from as _load

    return _load(text)


def from_onnx(path: str | Path, input_shape: Sequence[int] | None = None,
              **options: Any) -> Graph:
    """Import an ONNX file (see :func:`graphs.importers.onnx_import.from_onnx`)."""
    _require("onnx", "onnx")
    from graphs.importers.onnx_import import from_onnx as _from_onnx

    return _from_onnx(path, input_shape, **options)


__all__ = [
    "OPS",
    "ZOO",
    "ChannelRule",
    "CycleError",
    "Graph",
    "GraphBuilder",
    "GraphError",
    "GraphFileError",
    "Layer",
    "MissingExtraError",
    "ShapeError",
    "Summable",
    "UnknownModelError",
    "UnknownOpError",
    "UnsupportedOpsError",
    "Work",
    "adaptive_windows",
    "bits_to_bytes",
    "build_zoo_model",
    "depthwise_separable",
    "digits_split",
    "fold_batchnorm",
    "folds_into",
    "from_onnx",
    "from_torch",
    "global_pooling_head",
    "is_depthwise",
    "is_torch_source",
    "known_ops",
    "load_graph",
    "move_downsampling",
    "op_spec",
    "op_work",
    "parse_einsum",
    "recurrent_layer_inputs",
    "recurrent_onnx_rows",
    "recurrent_weight_name",
    "save_graph",
    "scale_width",
    "seeded_weights",
    "set_resolution",
    "slice_entries",
    "torch_module_from",
    "zoo_names",
]
