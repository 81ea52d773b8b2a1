"""Exceptions raised while building, importing or validating graphs.

Every message says what was wrong, where (file, layer, field) and what to do about it, so a
user never has to read a traceback from deep inside numpy or networkx.
"""

from __future__ import annotations

from collections.abc import Mapping


class GraphError(ValueError):
    """Base class of every graph problem a user can fix by changing their input."""


class UnknownModelError(GraphError):
    """A model source (zoo name, path) that names nothing the planner can load."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(
            f"unknown model {name!r}: not a zoo model and not a .onnx/.json file. "
            f"Zoo models: {', '.join(known)}"
        )


class UnknownOpError(GraphError):
    """An op kind that has no handler in the op table."""

    def __init__(self, op: str, layer: str, known: list[str]) -> None:
        self.op = op
        self.layer = layer
        super().__init__(
            f"layer {layer!r}: op {op!r} is not in the op table. Known ops: {', '.join(known)}"
        )


class UnsupportedOpsError(GraphError):
    """A model uses ops the importer cannot map; lists each by name and count."""

    def __init__(self, source: str, counts: Mapping[str, int]) -> None:
        self.source = source
        self.counts = dict(counts)
        listed = ", ".join(f"{op} ×{n}" for op, n in sorted(counts.items()))
        super().__init__(
            f"{source}: {sum(counts.values())} node(s) use ops the planner cannot map: {listed}. "
            "Import with strict=False to keep them as opaque layers whose cost is not counted."
        )


class ShapeError(GraphError):
    """A layer whose shapes or attributes are inconsistent."""

    def __init__(self, layer: str, message: str) -> None:
        self.layer = layer
        super().__init__(f"layer {layer!r}: {message}")


class CycleError(GraphError):
    """A graph that is not a DAG."""

    def __init__(self, cycle: list[str], where: str = "graph") -> None:
        self.cycle = cycle
        path = " -> ".join([*cycle, cycle[0]]) if cycle else "?"
        super().__init__(f"{where} has a cycle: {path}. A computation graph must be acyclic.")


class GraphFileError(GraphError):
    """A graph, ONNX or weights file that cannot be read."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class MissingExtraError(ImportError):
    """An optional framework is not installed; names the extra that installs it."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package} is not installed. Install it with: "
            f"pip install 'edge-compression-planner[{extra}]'"
        )
