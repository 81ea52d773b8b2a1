"""The PyTorch importer's machinery: the fx interpreter that records shapes, the importer
that maps fx nodes to layers through handler tables, and the names the tables use.

This module imports torch; only the torch importer imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn

from graphs.builder import GraphBuilder
from graphs.errors import GraphError
from graphs.ir import Graph, Layer
from graphs.ops import Shape


class TorchImportError(GraphError):
    """A module that torch.fx cannot trace or run with the given input."""


class Unsupported(Exception):
    """Raised by a handler: this node cannot be mapped; the importer keeps it opaque."""


class _Recorder(torch.fx.Interpreter):
    """Runs the traced module once, keeping each node's tensor shapes and small values."""

    def __init__(self, module: torch.fx.GraphModule) -> None:
        super().__init__(module)
        self.meta: dict[torch.fx.Node, Any] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        result = super().run_node(n)
        self.meta[n] = _describe(result)
        return result


class TensorInfo:
    """Shape and dtype of a tensor seen during the recorded run."""

    __slots__ = ("dtype", "shape")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.shape: Shape = tuple(int(d) for d in tensor.shape)
        self.dtype = str(tensor.dtype).removeprefix("torch.")


def _describe(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorInfo(value)
    if isinstance(value, torch.Size):
        return tuple(int(d) for d in value)
    if isinstance(value, tuple | list):
        return type(value)(_describe(v) for v in value)
    if isinstance(value, int | float | bool | str | slice | type(None)):
        return value
    return None


Handler = Callable[["TorchImporter", torch.fx.Node, Any], None]


class TorchImporter:
    """Walks a traced module, emitting one layer per tensor-producing node."""

    def __init__(self, root: nn.Module, gm: torch.fx.GraphModule,
                 meta: dict[torch.fx.Node, Any], name: str) -> None:
        self.root = root
        self.gm = gm
        self.meta = meta
        self.builder = GraphBuilder(name)
        self.alias: dict[torch.fx.Node, str] = {}
        self.pieces: dict[torch.fx.Node, Callable[[int, torch.fx.Node], object]] = {}
        self.constant_layers: dict[str, str] = {}
        self.used_parameters: set[int] = set()
        self.warnings: list[str] = []

    # ----------------------------------------------------------- argument access

    def info(self, node: Any) -> TensorInfo:
        """Tensor shape and dtype of a node's output; Unsupported if it is not a tensor."""
        info = self.meta.get(node)
        if not isinstance(info, TensorInfo):
            raise Unsupported(f"{node.name} is not a single tensor")
        return info

    def tensor(self, arg: Any) -> str:
        """Layer name holding the tensor value of ``arg`` (an fx node)."""
        if not isinstance(arg, torch.fx.Node):
            raise Unsupported(f"expected a tensor, got {type(arg).__name__}")
        if arg.op == "get_attr":
            return self._constant_layer(arg)
        if arg not in self.alias:
            raise Unsupported(f"input {arg.name} has no layer (it is not a mapped tensor)")
        return self.alias[arg]

    def value(self, arg: Any) -> Any:
        """A concrete Python value for ``arg``: nodes that produced ints resolve to them."""
        if isinstance(arg, torch.fx.Node):
            recorded = self.meta.get(arg)
            if isinstance(recorded, TensorInfo) or recorded is None:
                raise Unsupported(f"{arg.name} is not a static value")
            return recorded
        if isinstance(arg, tuple | list):
            return type(arg)(self.value(a) for a in arg)
        if isinstance(arg, slice):
            return slice(self.value(arg.start), self.value(arg.stop), self.value(arg.step))
        return arg

    def is_none(self, arg: Any) -> bool:
        """True for None, or a node that was None in the recorded run (an optional input
        left at its default, such as ``attn_mask``)."""
        return arg is None or (isinstance(arg, torch.fx.Node) and arg in self.meta
                               and self.meta[arg] is None)

    def attr_tensor(self, target: str) -> torch.Tensor:
        """The parameter or buffer a ``get_attr`` target names."""
        obj: Any = self.gm
        for part in target.split("."):
            obj = getattr(obj, part)
        if not isinstance(obj, torch.Tensor):
            raise Unsupported(f"attribute {target} is not a tensor")
        return obj

    def numpy(self, tensor: torch.Tensor | None) -> np.ndarray | None:
        """A detached float32 (or integer) numpy copy; marks parameters as used."""
        if tensor is None:
            return None
        if isinstance(tensor, nn.Parameter):
            self.used_parameters.add(id(tensor))
        array = tensor.detach().cpu().numpy()
        return array.astype(np.float32) if array.dtype.kind == "f" else array.copy()

    def param(self, arg: Any) -> np.ndarray | None:
        """A weight passed to a functional op: a ``get_attr`` node, or None."""
        if arg is None:
            return None
        if isinstance(arg, torch.fx.Node) and arg.op == "get_attr":
            return self.numpy(self.attr_tensor(str(arg.target)))
        raise Unsupported("weights computed at run time (not a parameter) are not supported")

    def weights(self, **tensors: torch.Tensor | None) -> dict[str, np.ndarray]:
        """Numpy copies of the given module tensors, dropping the ones that are None."""
        out = {k: self.numpy(v) for k, v in tensors.items() if v is not None}
        return {k: v for k, v in out.items() if v is not None}

    # ----------------------------------------------------------- emitting layers

    def emit(self, node: torch.fx.Node, op: str, inputs: Sequence[str],
             weights: dict[str, np.ndarray] | None = None, name: str | None = None,
             expected: Shape | None = None, **attrs: Any) -> str:
        """Add a layer for ``node``; its inferred shape must equal the recorded one."""
        unique = self.builder.unique_name(name or _layer_name(node))
        shapes = [self.builder.shape(i) for i in inputs]
        layer = Layer.create(unique, op, inputs, shapes, attrs, weights)
        want = expected if expected is not None else self.info(node).shape
        if layer.output_shape != want:
            raise Unsupported(
                f"op table gives {op} output {layer.output_shape}, torch gives {want}"
            )
        self.builder.append(layer)
        self.alias[node] = unique
        return unique

    def alias_to(self, node: torch.fx.Node, source: Any) -> None:
        """``node`` returns its input unchanged (same tensor): no layer."""
        self.alias[node] = self.tensor(source)

    def _constant_layer(self, node: torch.fx.Node) -> str:
        target = str(node.target)
        if target not in self.constant_layers:
            tensor = self.attr_tensor(target)
            value = self.numpy(tensor)
            assert value is not None
            name = self.builder.unique_name(target)
            self.constant_layers[target] = self.builder.append(Layer.create(
                name, "constant", [], [], {
                    "shape": tuple(value.shape),
                    "trainable": isinstance(tensor, nn.Parameter),
                    "dtype": str(value.dtype),
                }, {"value": value},
            ))
        return self.constant_layers[target]

    def opaque(self, node: torch.fx.Node, target: str, reason: str,
               module: nn.Module | None = None) -> None:
        """Keep ``node`` as an opaque layer (counted params, unknown arithmetic)."""
        inputs = [self.tensor(a) for a in _node_args(node) if self._is_tensor_node(a)]
        info = self.meta.get(node)
        weight_shapes: dict[str, Shape] = {}
        weights: dict[str, np.ndarray] = {}
        if module is not None:
            for pname, p in module.named_parameters():
                weight_shapes[pname] = tuple(p.shape)
                array = self.numpy(p)
                assert array is not None
                weights[pname] = array
        self.warnings.append(f"{node.name}: {target} kept opaque ({reason})")
        if isinstance(info, TensorInfo):
            self.emit(node, "opaque", inputs, weights or None, target=target,
                      output_shape=info.shape, weight_shapes=weight_shapes)
            return
        if isinstance(info, tuple | list):
            pieces = [i for i in info if isinstance(i, TensorInfo)]
            if pieces:
                self.pieces[node] = lambda index, getitem: self.emit(
                    getitem, "opaque", inputs, target=f"{target}[{index}]",
                    output_shape=self.info(getitem).shape)

    def _is_tensor_node(self, arg: Any) -> bool:
        return isinstance(arg, torch.fx.Node) and (
            arg.op == "get_attr" or isinstance(self.meta.get(arg), TensorInfo))

    # ----------------------------------------------------------- the walk

    def run(self, handlers: HandlerTables) -> Graph:
        """Map every node; return the graph (outputs from the fx output node)."""
        outputs: list[str] = []
        for node in self.gm.graph.nodes:
            if node.op == "output":
                outputs = [self.tensor(n) for n in _flatten_nodes(node.args[0])
                           if n in self.alias or n.op == "get_attr"]
                continue
            if node.op == "get_attr":
                continue  # constants become layers when something reads them as tensors
            if node.op == "placeholder":
                if not isinstance(self.meta.get(node), TensorInfo):
                    continue  # an optional argument left at its default (attn_mask=None)
                info = self.info(node)
                self.emit(node, "input", [], name=node.name, shape=info.shape,
                          dtype="int64" if "int" in info.dtype else "float32")
                continue
            if node.users:  # a result nothing reads (``_`` of a tuple) is dead code
                self._map(node, handlers)
        if not outputs:
            raise TorchImportError("the module returns no tensor that the importer mapped")
        return self.builder.build(outputs)

    def _map(self, node: torch.fx.Node, handlers: HandlerTables) -> None:
        module = self.gm.get_submodule(str(node.target)) if node.op == "call_module" else None
        handler, target = handlers.find(node, module)
        produces_tensor = self._produces_tensors(node)
        if handler is None:
            if produces_tensor:
                self.opaque(node, target, "no handler", module)
            return
        try:
            handler(self, node, module)
        except Unsupported as exc:
            if produces_tensor:
                self.opaque(node, target, str(exc), module)

    def _produces_tensors(self, node: torch.fx.Node) -> bool:
        info = self.meta.get(node)
        if isinstance(info, TensorInfo):
            return True
        return isinstance(info, tuple | list) and any(isinstance(i, TensorInfo) for i in info)


class HandlerTables:
    """Handlers by module type, function qualified name and tensor method name."""

    def __init__(self, modules: dict[type, Handler], functions: dict[str, Handler],
                 methods: dict[str, Handler]) -> None:
        self.modules = modules
        self.functions = functions
        self.methods = methods

    def find(self, node: torch.fx.Node, module: Any) -> tuple[Handler | None, str]:
        """The handler of ``node`` (or None) and the name reports use for its op."""
        if node.op == "call_module":
            for cls in type(module).__mro__:
                if cls in self.modules:
                    return self.modules[cls], _type_name(type(module))
            return None, _type_name(type(module))
        if node.op == "call_method":
            return self.methods.get(str(node.target)), f"Tensor.{node.target}"
        name = qualified_name(node.target)
        return self.functions.get(name), name


def qualified_name(fn: Any) -> str:
    """``module.name`` of a function as fx records it (``torch.flatten``, ``_operator.add``)."""
    module = getattr(fn, "__module__", None) or "torch"
    return f"{module}.{getattr(fn, '__name__', repr(fn))}"


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _layer_name(node: torch.fx.Node) -> str:
    return str(node.target) if node.op == "call_module" else node.name


def _node_args(node: torch.fx.Node) -> list[Any]:
    return [*_flatten_nodes(node.args), *_flatten_nodes(node.kwargs)]


def _flatten_nodes(value: Any) -> list[torch.fx.Node]:
    if isinstance(value, torch.fx.Node):
        return [value]
    if isinstance(value, tuple | list):
        return [n for v in value for n in _flatten_nodes(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _flatten_nodes(v)]
    return []
