"""The planner's own graph format: versioned JSON for structure, an ``.npz`` beside it for
weights.

>>> import tempfile, pathlib
>>> from graphs.zoo import build_zoo_model
>>> path = pathlib.Path(tempfile.mkdtemp()) / "lenet5.json"
>>> save_graph(build_zoo_model("lenet5"), path)
>>> load_graph(path).total_work().params
61706
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from graphs.errors import GraphError, GraphFileError, ShapeError
from graphs.ir import Graph, Layer
from graphs.ops import OPS

FORMAT = "planner.graph"
VERSION = 1
_KEY_SEP = "::"
_FIELDS = {"format", "version", "name", "metadata", "outputs", "layers", "weights_file"}
_LAYER_FIELDS = {"name", "op", "inputs", "input_shapes", "output_shape", "attrs"}


def save_graph(graph: Graph, path: str | Path, weights: bool = True) -> None:
    """Write ``graph`` to ``path`` (JSON); weights, when present and wanted, go to the
    ``.npz`` file of the same stem, named in the JSON's ``weights_file``."""
    path = Path(path)
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, **graph.to_dict()}
    arrays = {
        f"{layer.name}{_KEY_SEP}{key}": value
        for layer in graph if weights and layer.weights
        for key, value in layer.weights.items()
    }
    doc["weights_file"] = None
    if arrays:
        weights_path = path.with_suffix(".npz")
        np.savez(weights_path, **arrays)  # type: ignore[arg-type]
        doc["weights_file"] = weights_path.name
    path.write_text(json.dumps(doc, indent=1))


def load_graph(path: str | Path) -> Graph:
    """Read a graph written by :func:`save_graph`, re-deriving and checking every shape.

    Raises ``GraphFileError`` naming the file and, where it applies, the layer and field.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise GraphFileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GraphFileError(str(path), f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise GraphFileError(str(path), f"not a planner graph (expected \"format\": \"{FORMAT}\")")
    if isinstance(doc.get("version"), bool) or doc.get("version") != VERSION:  # True == 1
        raise GraphFileError(
            str(path), f"graph format version {doc.get('version')!r}; this planner reads {VERSION}"
        )
    unknown = sorted(set(doc) - _FIELDS)
    if unknown:
        raise GraphFileError(str(path), f"unknown field(s) {', '.join(map(repr, unknown))}; a "
                             f"graph has {', '.join(sorted(_FIELDS))}")
    weights = _read_weights(path, doc.get("weights_file"))
    if not isinstance(doc.get("layers"), list) or not all(
            isinstance(entry, dict) for entry in doc["layers"]):
        raise GraphFileError(str(path), "\"layers\" must be a list of objects")
    for key, kind, what in (("metadata", dict, "an object"), ("name", str, "a string")):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise GraphFileError(str(path), f"\"{key}\" must be {what}, got {doc[key]!r}")
    outputs = doc.get("outputs")
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise GraphFileError(str(path), f"\"outputs\" must be a list of layer names, got "
                             f"{outputs!r}")
    try:
        layers = [_layer_from_dict(entry, i, weights) for i, entry in enumerate(doc["layers"])]
        return Graph(layers, doc["outputs"], doc.get("name", path.stem), doc.get("metadata"))
    except KeyError as exc:
        raise GraphFileError(str(path), f"missing field {exc}") from None
    except GraphError as exc:
        raise GraphFileError(str(path), str(exc)) from exc


def _layer_from_dict(entry: dict[str, Any], index: int,
                     weights: dict[str, dict[str, np.ndarray]]) -> Layer:
    where = str(entry.get("name", f"#{index}"))
    for key in ("name", "op", "inputs", "input_shapes", "output_shape"):
        if key not in entry:
            raise ShapeError(where, f"missing field {key!r}")
    _check_types(entry, where)
    unknown = sorted(set(entry) - _LAYER_FIELDS)
    if unknown:
        raise ShapeError(where, f"unknown field(s) {', '.join(map(repr, unknown))}; a layer "
                         f"has {', '.join(sorted(_LAYER_FIELDS))}")
    attrs = entry.get("attrs", {})
    if not isinstance(attrs, dict):
        raise ShapeError(where, f"attrs must be an object, got {attrs!r}")
    if entry["op"] != "opaque" and isinstance(entry["op"], str):
        spec = OPS.get(entry["op"])  # an unknown op: Layer.create names it
        extra = sorted(set(attrs) - set(spec.required) - set(spec.defaults)) if spec else []
        if spec is not None and extra:
            raise ShapeError(where, f"op {entry['op']!r} has no attribute(s) "
                             f"{', '.join(map(repr, extra))}; it takes "
                             f"{', '.join(sorted({*spec.required, *spec.defaults}))}")
    try:
        layer = Layer.create(entry["name"], entry["op"], entry["inputs"],
                             entry["input_shapes"], attrs, weights.get(entry["name"]))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        if isinstance(exc, GraphError):
            raise
        raise ShapeError(where, f"op {entry['op']!r} cannot take attrs {attrs} and input "
                         f"shapes {entry['input_shapes']}: {exc}") from None
    stored = tuple(entry["output_shape"])
    if layer.output_shape != stored:
        raise ShapeError(
            layer.name,
            f"output_shape {stored} in the file, but op {layer.op!r} gives {layer.output_shape}",
        )
    return layer


def _is_shape(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value)


def _check_types(entry: dict[str, Any], where: str) -> None:
    """The layer fields have the types the format writes (names are strings, shapes lists
    of non-negative ints)."""
    for key in ("name", "op"):
        if not isinstance(entry[key], str):
            raise ShapeError(where, f"{key} must be a string, got {entry[key]!r}")
    if not isinstance(entry["inputs"], list) or not all(
            isinstance(i, str) for i in entry["inputs"]):
        raise ShapeError(where, f"inputs must be a list of layer names, got "
                         f"{entry['inputs']!r}")
    shapes = entry["input_shapes"]
    if not isinstance(shapes, list) or not all(_is_shape(x) for x in shapes):
        raise ShapeError(where, f"input_shapes must be a list of shapes (lists of "
                         f"non-negative ints), got {shapes!r}")
    if not _is_shape(entry["output_shape"]):
        raise ShapeError(where, f"output_shape must be a list of non-negative ints, got "
                         f"{entry['output_shape']!r}")


def _read_weights(path: Path, name: object) -> dict[str, dict[str, np.ndarray]]:
    if not name:
        return {}
    if not isinstance(name, str) or Path(name).name != name or name in (".", ".."):
        raise GraphFileError(str(path), f"weights_file must name a file beside the graph "
                             f"(no folders), got {name!r}")
    weights_path = path.parent / name
    try:
        with np.load(weights_path) as archive:
            by_layer: dict[str, dict[str, np.ndarray]] = {}
            for key in archive.files:
                layer, _, tensor = key.rpartition(_KEY_SEP)
                by_layer.setdefault(layer, {})[tensor] = archive[key]
    except (OSError, ValueError) as exc:
        raise GraphFileError(str(weights_path), f"cannot read weights: {exc}") from None
    return by_layer
