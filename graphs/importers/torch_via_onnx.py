"""The PyTorch importer's second path: a module torch.fx cannot trace goes through ONNX.

torch.fx traces symbolically, so data-dependent Python (``if x.shape[1] > 8``, item
assignment into a tensor, iterating a tensor) stops it; that is most Hugging Face models,
timm's hybrid attention networks and torchvision's detectors. torch's TorchScript exporter
records one concrete run at the example input instead, where that Python simply ran, and
writes ONNX that :mod:`graphs.importers.onnx_import` reads. The export keeps batch norms
unfused (``TrainingMode.PRESERVE`` on a module in eval mode), so parameters count as in
the module, and layers holding a module's weights take that module's name.

This module imports torch, and onnx when it exports; :func:`graphs.from_torch` exports only
when torch.fx fails.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphs.errors import GraphError
from graphs.importers.torch_base import TorchImportError
from graphs.ir import Graph

OPSET = 17
"""LayerNormalization is in the standard domain from opset 17; onnxruntime runs 17 widely."""


class KeywordCall(nn.Module):
    """Calls ``module`` with keyword tensors (``input_ids=..., attention_mask=...``) given
    positionally, so exporters that take positional inputs can trace it."""

    def __init__(self, module: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.module = module
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> Any:
        """The wrapped module on the named tensors."""
        return self.module(**dict(zip(self.names, tensors, strict=True)))


def in_eval_mode(module: nn.Module) -> nn.Module:
    """``module.eval()``; an ExportedProgram's module, which refuses ``eval()``, was
    exported in the mode it runs in."""
    try:
        return module.eval()
    except NotImplementedError:
        return module


def input_names(module: nn.Module, count: int) -> list[str] | None:
    """The forward's own names for ``count`` positional inputs, or None when it does not
    name that many (``forward(*args)``)."""
    if isinstance(module, KeywordCall):
        return list(module.names)
    try:
        params = [p.name for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return None
    return params[:count] if len(params) >= count else None


def onnx_input_names(module: nn.Module, count: int) -> list[str]:
    """The exported model's input names: the forward's (:func:`input_names`), or
    ``input_0``, ``input_1``…"""
    return input_names(module, count) or [f"input_{i}" for i in range(count)]


def export_onnx(module: nn.Module, examples: tuple[torch.Tensor, ...], path: Path) -> None:
    """Write ``module`` run on ``examples`` as ONNX (static shapes, eval-mode semantics,
    batch norms kept apart from their convolutions)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, examples, str(path), dynamo=False, opset_version=OPSET,
                          training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=onnx_input_names(module, len(examples)),
                          do_constant_folding=True)


def from_torch_via_onnx(module: nn.Module, examples: tuple[torch.Tensor, ...], name: str,
                        fx_error: str) -> Graph:
    """Import ``module`` (in eval mode) through an ONNX export of one run on ``examples``.

    Raises ``TorchImportError`` saying why both paths failed.
    """
    from graphs.importers.onnx_import import from_onnx

    label = type(module.module if isinstance(module, KeywordCall) else module).__name__
    names = input_names(module, len(examples))
    candidates = [module]
    if names is not None and not isinstance(module, KeywordCall):
        # called by keyword first: positional tracing trips some wrappers (Hugging Face's);
        # an ExportedProgram's module takes positional inputs only
        candidates.insert(0, KeywordCall(module, names))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.onnx"
        failures: list[Exception] = []
        for candidate in candidates:
            try:
                export_onnx(candidate, examples, path)
                module = candidate
                break
            except Exception as exc:  # the exporter raises many exception types
                failures.append(exc)
        else:
            first = failures[0]
            raise TorchImportError(
                f"{label} cannot be imported: torch.fx cannot trace it ({fx_error}), and "
                f"torch.onnx.export fails on it ({type(first).__name__}: {str(first)[:300]}). "
                "Mark the submodule that fails as a leaf with leaf_modules=[...], or export "
                "it to ONNX yourself and import the file.")
        try:
            names = onnx_input_names(module, len(examples))
            graph = from_onnx(path, name=name,
                              root_scope="module" if isinstance(module, KeywordCall) else "",
                              examples={n: e.detach().cpu().numpy()
                                        for n, e in zip(names, examples, strict=False)})
        except GraphError as exc:
            detail = str(exc).replace(f"{path}: ", "")  # a temporary file, gone after this
            raise TorchImportError(
                f"{label}: torch.fx cannot trace it ({fx_error}); its ONNX export does not "
                f"import: {detail}") from None
    graph.metadata["import_path"] = f"onnx export (torch.fx: {fx_error})"
    graph.metadata.setdefault("import_warnings", []).insert(
        0, "imported through torch's ONNX export of one run: Python control flow and "
           "data-dependent shapes are as they were at the example input")
    return graph


def keyword_module(module: nn.Module, example: Mapping[str, torch.Tensor]
                   ) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """A module called with keyword tensors, as one that takes them positionally."""
    names = list(example)
    return KeywordCall(module, names), tuple(example[n] for n in names)
