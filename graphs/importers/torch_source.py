"""A PyTorch model named on a command line: ``package.module:factory``, ``file.py:factory``,
a TorchScript file (``.pt``, ``torch.jit.save``) or an ExportedProgram (``.pt2``,
``torch.export.save``).

A factory is called without arguments and must return an ``nn.Module`` (a class is a
factory too); its layer names are the module's own. :func:`is_torch_source` tells such text
apart without torch; :func:`torch_module_from` imports torch when called.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphs.errors import GraphFileError

if TYPE_CHECKING:
    from torch import nn

SUFFIXES = (".pt", ".pt2")
"""Files that hold a whole PyTorch model (TorchScript, ExportedProgram)."""


def is_torch_source(text: str) -> bool:
    """True for text naming a factory (``module:attr``) or a saved PyTorch model file."""
    if Path(text).suffix.lower() in SUFFIXES:
        return True
    module, sep, attr = text.rpartition(":")
    return bool(sep and module and attr.isidentifier() and not Path(text).exists())


def torch_module_from(text: str) -> nn.Module:
    """The module ``text`` names; ``GraphFileError`` naming it when it cannot be loaded."""
    import torch

    path = Path(text)
    if path.suffix.lower() in SUFFIXES:
        if not path.is_file():
            raise GraphFileError(text, "no such file")
        try:
            if path.suffix.lower() == ".pt2":
                return _as_module(torch.export.load(str(path)).module(), text)
            return _as_module(torch.jit.load(str(path), map_location="cpu"), text)
        except GraphFileError:
            raise
        except Exception as exc:  # torch raises many exception types for bad files
            kind = "ExportedProgram" if path.suffix.lower() == ".pt2" else "TorchScript"
            raise GraphFileError(text, f"not a readable {kind} file: {exc}") from None
    module_name, _, attr = text.rpartition(":")
    factory = getattr(_import(module_name, text), attr, None)
    if factory is None:
        raise GraphFileError(text, f"{module_name} has no attribute {attr!r}")
    if not callable(factory):
        raise GraphFileError(text, f"{module_name}.{attr} is not callable: give a function "
                                   "or class that returns an nn.Module")
    try:
        made = factory()
    except Exception as exc:
        raise GraphFileError(text, f"{module_name}.{attr}() failed: "
                                   f"{type(exc).__name__}: {exc}") from None
    return _as_module(made, text)


def _import(name: str, text: str) -> Any:
    """A module by dotted name, or a ``.py`` file by path."""
    try:
        if name.endswith(".py"):
            path = Path(name)
            if not path.is_file():
                raise GraphFileError(text, f"no such file {name}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None:
                raise GraphFileError(text, f"{name} cannot be imported")
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault(path.stem, module)
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(name)
    except GraphFileError:
        raise
    except Exception as exc:  # an import runs arbitrary code
        raise GraphFileError(text, f"cannot import {name}: {type(exc).__name__}: {exc}"
                             ) from None


def _as_module(made: Any, text: str) -> nn.Module:
    from torch import nn

    if not isinstance(made, nn.Module):
        raise GraphFileError(text, f"gives a {type(made).__name__}, not a torch nn.Module")
    return made
