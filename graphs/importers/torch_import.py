"""PyTorch import: an ``nn.Module`` and an example input become an annotated graph.

Structure comes from ``torch.fx.symbolic_trace``; one interpreted run records every node's
output shape (and the concrete value of every non-tensor node, such as ``x.size(0)``), so
reshapes and slices resolve to static shapes. Each fx node maps to a layer through the
handler tables in :mod:`graphs.importers.torch_ops`; a node with no handler becomes an ``opaque``
layer, listed by name and count in ``graph.unmapped_ops()`` (or an error with
``strict=True``), never silently counted as zero. Weights are carried as float32 numpy.

Counts are cross-checked with fvcore's ``FlopCountAnalysis`` when fvcore is installed: the
result lands in ``graph.metadata["fvcore"]``.

This module imports torch; :func:`graphs.from_torch` imports it only when called.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.fx
from torch import nn

from graphs.errors import UnsupportedOpsError
from graphs.importers.torch_base import (
    TorchImporter,
    TorchImportError,
    _Recorder,
)
from graphs.importers.torch_ops import handler_tables
from graphs.ir import Graph

# ---------------------------------------------------------------- entry point


def from_torch(
    module: nn.Module,
    example_input: torch.Tensor | Sequence[torch.Tensor] | None = None,
    input_shape: Sequence[int] | None = None,
    name: str | None = None,
    strict: bool = False,
    cross_check: bool = True,
    leaf_modules: Iterable[type] = (),
) -> Graph:
    """Import ``module`` (put in eval mode) run on ``example_input`` or on a random float
    tensor of ``input_shape``.

    ``strict``: raise ``UnsupportedOpsError`` instead of keeping unmapped ops opaque.
    ``cross_check``: compare MACs with fvcore (when installed), in ``metadata["fvcore"]``.
    ``leaf_modules``: module types to keep whole (mapped if the table knows them, else
    opaque) instead of tracing into them.
    """
    examples = _examples(example_input, input_shape)
    module = module.eval()
    name = name or type(module).__name__.lower()
    leaves = tuple(leaf_modules)

    class _Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return isinstance(m, leaves) or super().is_leaf_module(m, qualname)

    try:
        traced = _Tracer().trace(module)
    except Exception as exc:  # torch.fx raises many exception types
        raise TorchImportError(
            f"torch.fx cannot trace {type(module).__name__}: {exc}. Mark the module that "
            "fails as a leaf with leaf_modules=[...] or make its control flow static."
        ) from None
    gm = torch.fx.GraphModule(module, traced)
    importer = TorchImporter(module, gm, record_shapes(gm, examples, type(module).__name__),
                             name)
    graph = importer.run(handler_tables())
    unmapped = graph.unmapped_ops()
    if strict and unmapped:
        raise UnsupportedOpsError(f"torch module {type(module).__name__}", unmapped)
    all_params = {id(p): p.numel() for p in module.parameters()}
    unused = sum(n for pid, n in all_params.items() if pid not in importer.used_parameters)
    graph.metadata.update({
        "source": f"torch:{type(module).__module__}.{type(module).__qualname__}",
        "input_shapes": [list(e.shape) for e in examples],
        "module_parameters": sum(all_params.values()),
        "unused_parameters": unused,
        "import_warnings": importer.warnings,
    })
    if cross_check:
        graph.metadata["fvcore"] = fvcore_cross_check(module, examples, graph)
    return graph


def record_shapes(gm: torch.fx.GraphModule, examples: tuple[torch.Tensor, ...],
                  label: str) -> dict[torch.fx.Node, Any]:
    """Every node's output shapes and small values, from one run of the traced module.

    (A run on fake or meta tensors was measured slower or barely faster on ResNet-50, as
    their per-op overhead or the module copy costs about what the arithmetic does.)
    """
    recorder = _Recorder(gm)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            recorder.run(*examples)
    except Exception as exc:
        shapes = ", ".join(str(tuple(e.shape)) for e in examples)
        raise TorchImportError(
            f"{label} does not run on input(s) of shape {shapes}: {exc}") from None
    return recorder.meta


def _examples(example_input: torch.Tensor | Sequence[torch.Tensor] | None,
              input_shape: Sequence[int] | None) -> tuple[torch.Tensor, ...]:
    if example_input is None:
        if input_shape is None:
            raise TorchImportError("give an example input or an input shape, e.g. (1, 3, 224, 224)")
        generator = torch.Generator().manual_seed(0)
        return (torch.randn(*input_shape, generator=generator),)
    if isinstance(example_input, torch.Tensor):
        return (example_input,)
    return tuple(example_input)


FVCORE_MAC_OPS = ("conv", "linear", "addmm", "matmul", "bmm", "mm", "einsum")
"""fvcore op names whose counts are MACs of conv/linear/matmul (fvcore counts 1 per MAC)."""


def fvcore_cross_check(module: nn.Module, examples: tuple[torch.Tensor, ...],
                       graph: Graph) -> dict[str, Any]:
    """fvcore's MAC count next to the graph's, total and per conv/linear module."""
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return {"available": False, "note": "fvcore not installed (extra: torch)"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = FlopCountAnalysis(module, examples)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            by_op = analysis.by_operator()
            by_module = analysis.by_module()
            unsupported = dict(analysis.unsupported_ops())
    except Exception as exc:  # fvcore's jit trace fails on some models
        return {"available": True, "error": f"{type(exc).__name__}: {exc}"[:300]}
    fv_macs = sum(int(by_op.get(op, 0)) for op in FVCORE_MAC_OPS)
    ours = graph.total_work().macs
    mismatched = [
        layer.name for layer in graph
        if layer.op in ("conv2d", "linear") and layer.name in by_module
        and int(by_module[layer.name]) != graph.work(layer.name).macs
    ]
    return {
        "available": True,
        "macs": fv_macs,
        "graph_macs": ours,
        "relative_difference": (ours - fv_macs) / fv_macs if fv_macs else 0.0,
        "mismatched_layers": mismatched,
        "unsupported_ops": {str(k): int(v) for k, v in Counter(unsupported).items()},
    }
