"""The planner's JSON graph format: identical round trips and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphs import Graph, GraphFileError, build_zoo_model, load_graph, save_graph


def assert_identical(a: Graph, b: Graph) -> None:
    assert a.to_dict() == b.to_dict()
    assert a.total_work() == b.total_work()
    for la, lb in zip(a, b, strict=True):
        assert (la.weights is None) == (lb.weights is None)
        if la.weights is not None and lb.weights is not None:
            assert la.weights.keys() == lb.weights.keys()
            for key in la.weights:
                np.testing.assert_array_equal(la.weights[key], lb.weights[key])
                assert la.weights[key].dtype == lb.weights[key].dtype


@pytest.mark.parametrize("name", ["lenet5", "shufflenet_v2_x0_5", "bert_encoder"])
def test_round_trip_with_weights(tmp_path: Path, name: str) -> None:
    graph = build_zoo_model(name, weights=True)
    save_graph(graph, tmp_path / f"{name}.json")
    loaded = load_graph(tmp_path / f"{name}.json")
    assert_identical(graph, loaded)
    doc = json.loads((tmp_path / f"{name}.json").read_text())
    assert doc["format"] == "planner.graph" and doc["version"] == 1
    assert doc["weights_file"] == f"{name}.npz"


def test_round_trip_structure_only(tmp_path: Path) -> None:
    graph = build_zoo_model("mobilenet_v3_small")
    save_graph(graph, tmp_path / "m.json")
    assert not (tmp_path / "m.npz").exists()
    assert_identical(graph, load_graph(tmp_path / "m.json"))


def write(tmp_path: Path, doc: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    return path


def base_doc() -> dict:  # type: ignore[type-arg]
    return json.loads(json.dumps({"format": "planner.graph", "version": 1,
                                  **build_zoo_model("lenet5").to_dict()}))


def test_cycle_names_file_and_layers(tmp_path: Path) -> None:
    doc = base_doc()
    conv1 = next(layer for layer in doc["layers"] if layer["name"] == "conv1")
    conv1["inputs"] = ["fc3"]
    conv1["input_shapes"] = [[1, 10]]
    path = write(tmp_path, doc)
    with pytest.raises(GraphFileError, match=r"bad.json.*conv1"):
        load_graph(path)


def test_real_cycle(tmp_path: Path) -> None:
    doc = {"format": "planner.graph", "version": 1, "name": "loop", "outputs": ["b"],
           "layers": [
               {"name": "a", "op": "relu", "inputs": ["b"], "input_shapes": [[1, 4]],
                "output_shape": [1, 4], "attrs": {}},
               {"name": "b", "op": "relu", "inputs": ["a"], "input_shapes": [[1, 4]],
                "output_shape": [1, 4], "attrs": {}},
           ]}
    with pytest.raises(GraphFileError, match=r"bad.json: graph 'loop' has a cycle"):
        load_graph(write(tmp_path, doc))


def test_wrong_output_shape_names_layer(tmp_path: Path) -> None:
    doc = base_doc()
    fc1 = next(layer for layer in doc["layers"] if layer["name"] == "fc1")
    fc1["output_shape"] = [1, 121]
    with pytest.raises(GraphFileError,
                       match=r"bad.json: layer 'fc1': output_shape \(1, 121\) in the file, but "
                             r"op 'linear' gives \(1, 120\)"):
        load_graph(write(tmp_path, doc))


def test_unknown_op_is_named(tmp_path: Path) -> None:
    doc = base_doc()
    doc["layers"][1]["op"] = "warp_drive"
    with pytest.raises(GraphFileError, match=r"layer 'conv1': op 'warp_drive' is not in the op"):
        load_graph(write(tmp_path, doc))


def test_not_json_wrong_format_wrong_version_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{nope")
    with pytest.raises(GraphFileError, match=r"x.json: not valid JSON"):
        load_graph(path)
    with pytest.raises(GraphFileError, match="not a planner graph"):
        load_graph(write(tmp_path, {"layers": []}))
    with pytest.raises(GraphFileError, match="version 7"):
        load_graph(write(tmp_path, {**base_doc(), "version": 7}))
    with pytest.raises(GraphFileError, match="version True"):  # True == 1 in Python
        load_graph(write(tmp_path, {**base_doc(), "version": True}))
    with pytest.raises(GraphFileError, match="cannot read"):
        load_graph(tmp_path / "absent.json")
    doc = base_doc()
    del doc["layers"][2]["inputs"]
    with pytest.raises(GraphFileError, match="missing field 'inputs'"):
        load_graph(write(tmp_path, doc))


def test_missing_weights_file(tmp_path: Path) -> None:
    save_graph(build_zoo_model("lenet5", weights=True), tmp_path / "l.json")
    (tmp_path / "l.npz").unlink()
    with pytest.raises(GraphFileError, match=r"l.npz: cannot read weights"):
        load_graph(tmp_path / "l.json")


def _mutated(tmp_path: Path, change: object) -> Path:
    save_graph(build_zoo_model("lenet5", weights=True), tmp_path / "g.json")
    doc = json.loads((tmp_path / "g.json").read_text())
    change(doc)  # type: ignore[operator]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    return tmp_path / "bad.json"


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d["layers"][1]["attrs"].__setitem__("biass", True),
     "op 'conv2d' has no attribute(s) 'biass'"),
    (lambda d: d["layers"][1]["attrs"].__setitem__("stride", [0, 0]),
     "attribute 'stride' must be positive"),
    (lambda d: d["layers"][1]["attrs"].__setitem__("stride", 0),
     "attribute 'stride' must be positive"),
    (lambda d: d["layers"][1]["attrs"].__setitem__("padding", -1),
     "padding must not be negative"),
    (lambda d: d["layers"][1]["attrs"].__setitem__("out_channels", 0),
     "out_channels must be positive"),
    (lambda d: d["layers"][1].__setitem__("shape", [1]), "unknown field(s) 'shape'"),
    (lambda d: d.__setitem__("extra", 1), "unknown field(s) 'extra'"),
    (lambda d: d.__setitem__("layers", {"a": 1}), "must be a list of objects"),
    (lambda d: d.__setitem__("weights_file", "../../etc/passwd"),
     "weights_file must name a file beside the graph"),
])
def test_bad_fields_are_named(tmp_path: Path, change: object, says: str) -> None:
    """Unknown fields and attributes, non-positive windows and paths out of the graph's
    folder: each an error naming the file, the layer where there is one, and the value."""
    with pytest.raises(GraphFileError, match=r"bad\.json") as caught:
        load_graph(_mutated(tmp_path, change))
    assert says in str(caught.value)
