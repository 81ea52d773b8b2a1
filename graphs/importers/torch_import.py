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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.fx
from torch import nn

from graphs.errors import UnsupportedOpsError
from graphs.importers.torch_base import (
    Handler,
    HandlerTables,
    TorchImporter,
    TorchImportError,
    _Recorder,
)
from graphs.importers.torch_ops import handler_tables
from graphs.importers.torch_via_onnx import (
    from_torch_via_onnx,
    in_eval_mode,
    keyword_module,
)
from graphs.ir import Graph

# ---------------------------------------------------------------- entry point


def from_torch(
    module: nn.Module,
    example_input: torch.Tensor | Sequence[torch.Tensor] | Mapping[str, torch.Tensor] | None
    = None,
    input_shape: Sequence[int] | None = None,
    name: str | None = None,
    strict: bool = False,
    cross_check: bool = True,
    leaf_modules: Iterable[type] = (),
    via: str = "auto",
    handlers: Mapping[type, Handler] | None = None,
) -> Graph:
    """Import ``module`` (put in eval mode) run on ``example_input`` or on a random float
    tensor of ``input_shape``. ``example_input`` may be a dict of keyword tensors (a
    Hugging Face model's ``input_ids`` and ``attention_mask``).

    ``strict``: raise ``UnsupportedOpsError`` instead of keeping unmapped ops opaque.
    ``cross_check``: compare MACs with fvcore (when installed), in ``metadata["fvcore"]``.
    ``leaf_modules``: module types to keep whole (mapped if the table knows them, else
    opaque) instead of tracing into them.
    ``via``: ``"fx"`` (torch.fx only), ``"onnx"`` (torch's ONNX export, then the ONNX
    importer: see :mod:`graphs.importers.torch_via_onnx`), or ``"auto"``: torch.fx, and the
    ONNX path when fx cannot trace the module, or (no ``leaf_modules`` given) leaves ops
    unmapped that the export maps with the same parameter count.
    ``metadata["import_path"]`` says which path the graph came from, and why.
    ``handlers``: your own handlers by module type (kept whole, as leaves), each called as
    ``handler(importer, node, module)`` to emit layers through
    :class:`~graphs.importers.torch_base.TorchImporter` (``importer.emit(node, "linear",
    [importer.tensor(node.args[0])], importer.weights(weight=module.w), out_features=…)``).
    """
    if via not in ("auto", "fx", "onnx"):
        raise TorchImportError(f"via={via!r}: expected 'auto', 'fx' or 'onnx'")
    module = in_eval_mode(module)
    name = name or type(module).__name__.lower()
    leaves = (*leaf_modules, *(handlers or {}))
    graph: Graph | None = None
    if isinstance(example_input, Mapping):
        if via == "fx":
            raise TorchImportError("keyword inputs (a dict example_input) need via='auto' or "
                                   "'onnx': torch.fx traces positional inputs only")
        keyword, examples = keyword_module(module, example_input)
        graph = from_torch_via_onnx(keyword, examples, name, "keyword inputs")
        cross_check = False  # fvcore traces positional inputs only
    else:
        examples = _examples(example_input, input_shape)
    fx_error = ""
    if graph is None and via != "onnx":
        try:
            graph = _via_fx(module, examples, name, leaves, handlers or {})
        except _Untraceable as exc:
            if via == "fx":
                raise TorchImportError(str(exc)) from None
            fx_error = exc.reason
        if graph is not None and via == "auto" and graph.unmapped_ops() and not leaves:
            graph = _fewer_unmapped(graph, module, examples, name)  # leaves: kept as asked
    if graph is None:
        graph = from_torch_via_onnx(module, examples, name,
                                    fx_error or "not tried (via='onnx')")
    if strict and graph.unmapped_ops():
        raise UnsupportedOpsError(f"torch module {type(module).__name__}", graph.unmapped_ops())
    return _finish(graph, module, examples, cross_check)


class _Untraceable(Exception):
    """torch.fx could not trace the module (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"torch.fx cannot trace {reason}. Mark the module that fails as a leaf with "
            "leaf_modules=[...], make its control flow static, or import with via='auto'.")
        self.reason = reason


def _via_fx(module: nn.Module, examples: tuple[torch.Tensor, ...], name: str,
            leaves: tuple[type, ...], handlers: Mapping[type, Handler]) -> Graph:
    class _Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return isinstance(m, leaves) or super().is_leaf_module(m, qualname)

    try:
        traced = _Tracer().trace(module)
    except Exception as exc:  # torch.fx raises many exception types
        raise _Untraceable(f"{type(module).__name__}: {str(exc)[:200]}") from None
    gm = torch.fx.GraphModule(module, traced)
    importer = TorchImporter(module, gm, record_shapes(gm, examples, type(module).__name__),
                             name)
    tables = handler_tables()
    if handlers:
        tables = HandlerTables({**tables.modules, **handlers}, tables.functions, tables.methods)
    graph = importer.run(tables)
    all_params = {id(p): p.numel() for p in module.parameters()}
    graph.metadata.update({
        "import_path": "torch.fx",
        "unused_parameters": sum(n for pid, n in all_params.items()
                                 if pid not in importer.used_parameters),
        "import_warnings": importer.warnings,
    })
    return graph


def _fewer_unmapped(graph: Graph, module: nn.Module, examples: tuple[torch.Tensor, ...],
                    name: str) -> Graph:
    """The fx graph, or the ONNX export's when that maps more of the module (same
    parameter count, fewer opaque layers)."""
    unmapped = graph.unmapped_ops()
    reason = f"{sum(unmapped.values())} op(s) unmapped: {', '.join(sorted(unmapped))}"
    try:
        other = from_torch_via_onnx(module, examples, name, reason)
    except TorchImportError:
        return graph
    params = sum(p.numel() for p in module.parameters())
    if sum(other.unmapped_ops().values()) < sum(unmapped.values()) \
            and other.total_work().params == params:
        return other
    return graph


def _finish(graph: Graph, module: nn.Module, examples: tuple[torch.Tensor, ...],
            cross_check: bool) -> Graph:
    params = sum(p.numel() for p in module.parameters())
    graph.metadata.setdefault("unused_parameters", max(params - graph.total_work().params, 0))
    graph.metadata.setdefault("import_warnings", [])
    graph.metadata.update({
        "source": f"torch:{type(module).__module__}.{type(module).__qualname__}",
        "input_shapes": [list(e.shape) for e in examples],
        "module_parameters": params,
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
