"""PyTorch import against torchvision's classifiers, FlopCounterMode and fvcore."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from graphs import UnsupportedOpsError, build_zoo_model, from_torch  # noqa: E402
from graphs.importers.torch_import import TorchImportError  # noqa: E402
from planner.report import graph_table  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning)


def torchvision_model(name: str) -> Any:
    torch.manual_seed(0)
    return torchvision.models.get_model(name).eval()


def flop_counter_macs(model: Any, x: Any) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 2


ARCHITECTURES = [
    "resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2", "mobilenet_v3_large",
    "squeezenet1_1", "shufflenet_v2_x1_0", "densenet121", "efficientnet_b0", "googlenet",
    "inception_v3", "regnet_y_400mf", "mnasnet1_0", "convnext_tiny", "maxvit_t",
]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_torchvision_params_exact_and_macs_match_flop_counter(name: str) -> None:
    model = torchvision_model(name)
    size = 299 if name == "inception_v3" else 224
    x = torch.randn(1, 3, size, size)
    graph = from_torch(model, x)
    params = sum(p.numel() for p in model.parameters())
    unused = graph.metadata["unused_parameters"]  # GoogLeNet/Inception auxiliary heads
    assert graph.total_work().params == params - unused
    assert unused == 0 or name in ("googlenet", "inception_v3")
    reference = flop_counter_macs(model, x)
    assert abs(graph.total_work().macs - reference) <= 0.005 * reference
    assert graph.metadata["import_warnings"] == [] or name == "maxvit_t"


def test_fvcore_cross_check_agrees_layer_by_layer() -> None:
    graph = from_torch(torchvision_model("resnet50"), input_shape=(1, 3, 224, 224))
    check = graph.metadata["fvcore"]
    assert check["available"]
    assert check["macs"] == graph.total_work().macs == 4_089_184_256
    assert check["mismatched_layers"] == []


def test_vit_attention_counts_match_published() -> None:
    # FlopCounterMode does not see the CPU attention kernels; torchvision publishes 17.564 GMACs
    graph = from_torch(torchvision_model("vit_b_16"), input_shape=(1, 3, 224, 224),
                       cross_check=False)
    assert graph.total_work().params == 86_567_656
    assert round(graph.total_work().macs / 1e9, 3) == 17.564
    assert Counter(layer.op for layer in graph)["multihead_attention"] == 12


def test_weights_are_carried_as_numpy() -> None:
    model = torchvision_model("resnet18")
    graph = from_torch(model, input_shape=(1, 3, 64, 64), cross_check=False)
    assert graph.has_weights
    np.testing.assert_array_equal(graph["conv1"].weights["weight"],  # type: ignore[index]
                                  model.conv1.weight.detach().numpy())
    np.testing.assert_array_equal(graph["bn1"].weights["running_var"],  # type: ignore[index]
                                  model.bn1.running_var.numpy())


ZOO_IN_TORCHVISION = [
    "alexnet", "vgg11", "resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large",
    "mobilenet_v3_small", "squeezenet1_0", "squeezenet1_1", "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
]


@pytest.mark.parametrize("name", ZOO_IN_TORCHVISION)
def test_zoo_matches_torchvision_layer_by_layer(name: str) -> None:
    zoo = build_zoo_model(name)
    imported = from_torch(torchvision_model(name), input_shape=(1, 3, 224, 224),
                          cross_check=False)
    for layer in zoo:
        if layer.op in ("conv2d", "linear", "batch_norm"):
            twin = imported[layer.name]
            assert twin.op == layer.op
            assert twin.weight_shapes == layer.weight_shapes
            assert twin.output_shape == layer.output_shape
            assert imported.work(layer.name) == zoo.work(layer.name)
    assert imported.total_work().macs == zoo.total_work().macs


def test_unmapped_ops_are_listed_by_name_and_count() -> None:
    model = torchvision_model("swin_t")
    graph = from_torch(model, input_shape=(1, 3, 224, 224), cross_check=False, via="fx")
    prefix = "torchvision.models.swin_transformer."
    assert graph.unmapped_ops() == Counter({
        prefix + "shifted_window_attention": 12,
        prefix + "_get_relative_position_bias": 12,
        prefix + "_patch_merging_pad": 3,
    })
    assert graph.total_work().params == sum(p.numel() for p in model.parameters())
    notes = graph_table(graph).notes
    assert any("12 node(s) of " + prefix + "shifted_window_attention" in n for n in notes)
    with pytest.raises(UnsupportedOpsError, match=r"shifted_window_attention ×12"):
        from_torch(model, input_shape=(1, 3, 224, 224), strict=True, cross_check=False,
                   via="fx")


class Custom(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)
        self.gate = Gate()

    def forward(self, x: Any) -> Any:
        return self.gate(torch.cumsum(self.fc(x), dim=1))


class Gate(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(8))

    def forward(self, x: Any) -> Any:
        return x * self.scale


def test_unknown_function_and_custom_leaf_module() -> None:
    graph = from_torch(Custom(), input_shape=(2, 8), leaf_modules=[Gate], cross_check=False)
    assert graph.unmapped_ops() == Counter({"torch.cumsum": 1, "test_torch_import.Gate": 1})
    assert graph.total_work().params == 8 * 8 + 8 + 8  # the leaf's parameter is counted
    assert graph.total_work().macs == 64 * 2  # only the linear layer's, batch 2


def test_a_handler_of_your_own_maps_a_custom_module_through_load_model() -> None:
    """A handler for Gate (x · scale, a per-feature multiply) given to load_model maps it
    to a mul by a constant layer holding the parameter, which the executor runs."""
    import numpy as np

    from graphs import Layer
    from planner import load_model
    from planner.execution import execute

    def gate(importer: Any, node: Any, module: Any) -> None:
        scale = importer.builder.append(Layer.create(
            importer.builder.unique_name(f"{node.target}.scale"), "constant", [], [],
            {"shape": (8,), "trainable": True, "dtype": "float32"},
            {"value": importer.numpy(module.scale)}))
        importer.emit(node, "mul", [importer.tensor(node.args[0]), scale])

    model = Custom().eval()
    torch.nn.init.normal_(model.gate.scale)
    graph = load_model(model, input_shape=(2, 8), handlers={Gate: gate})
    assert graph.unmapped_ops() == Counter({"torch.cumsum": 1})  # Gate is mapped now
    assert graph.total_work().params == 8 * 8 + 8 + 8
    assert "gate" in graph.order
    with torch.no_grad():
        inner = torch.cumsum(model.fc(torch.ones(2, 8)), dim=1)
        want = model.gate(inner).numpy()
    got = execute(graph, {graph.inputs[0]: np.ones((2, 8), np.float32)},
                  given={"cumsum": inner.numpy()}).outputs[graph.outputs[0]]
    assert np.allclose(got, want, atol=1e-6)


class DataDependent(torch.nn.Module):
    def forward(self, x: Any) -> Any:
        if x.sum() > 0:
            return x
        return -x


def test_untraceable_module_goes_through_onnx_and_says_so() -> None:
    with pytest.raises(TorchImportError, match=r"cannot trace DataDependent.*leaf_modules"):
        from_torch(DataDependent(), input_shape=(1, 4), via="fx")
    x = torch.ones(1, 4)  # the branch taken at this input is the one imported
    graph = from_torch(DataDependent(), x, cross_check=False)
    assert graph.metadata["import_path"].startswith("onnx export (torch.fx: DataDependent")
    assert "control flow" in graph.metadata["import_warnings"][0]
    assert graph.unmapped_ops() == Counter() and len(graph.outputs) == 1
    with pytest.raises(TorchImportError, match="via='sideways'"):
        from_torch(DataDependent(), x, via="sideways")


def test_untraceable_and_bad_input_errors() -> None:
    with pytest.raises(TorchImportError, match=r"does not run on input\(s\) of shape \(1, 5\)"):
        from_torch(torch.nn.Linear(4, 2), input_shape=(1, 5))
    with pytest.raises(TorchImportError, match="example input or an input shape"):
        from_torch(torch.nn.Linear(4, 2))


class _Decoder(torch.nn.Module):
    """A small encoder-decoder (the shape of a segmentation head): strided convs down,
    transposed convs (grouped, dilated, with output padding) back up."""

    def __init__(self) -> None:
        super().__init__()
        self.down1 = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.down2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.up1 = torch.nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1, groups=2)
        self.up2 = torch.nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1,
                                            dilation=1)
        self.head = torch.nn.ConvTranspose2d(8, 5, 3, padding=2, dilation=2, bias=False)

    def forward(self, x: Any) -> Any:
        x = torch.relu(self.down2(torch.relu(self.down1(x))))
        return self.head(torch.relu(self.up2(torch.relu(self.up1(x)))))


def test_transposed_convolutions_import_execute_plan_and_export(tmp_path: Any) -> None:
    pytest.importorskip("onnxruntime")
    from graphs import from_onnx
    from hardware_profiles import load
    from planner import Budgets, Planner, simulate
    from planner.compression import compress
    from planner.execution import execute
    from planner.export import export, run_onnx
    from planner.validate import run_compressed

    torch.manual_seed(0)
    model = _Decoder().eval()
    x = torch.randn(2, 3, 32, 32)
    graph = from_torch(model, x)
    assert graph.total_work().params == sum(p.numel() for p in model.parameters())
    assert graph.total_work().macs == flop_counter_macs(model, x)
    assert graph[graph.outputs[0]].output_shape == (2, 5, 32, 32)
    with torch.no_grad():
        expected = model(x).numpy()
    (ours,) = execute(graph, x.numpy()).outputs.values()
    assert np.linalg.norm(ours - expected) / np.linalg.norm(expected) < 1e-5
    path = tmp_path / "decoder.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (x,), str(path), dynamo=False)
    again = from_onnx(path)
    assert again.total_work().macs == graph.total_work().macs
    assert Counter(layer.op for layer in again)["conv_transpose2d"] == 3
    planner = Planner(graph, load("raspberry_pi_5"), cache=False)
    plan = planner.solve(Budgets(size_bytes=graph.total_work().weight_bytes * 0.6))
    assert simulate(graph, plan, x.numpy()).stored_bytes == plan.totals.size_bytes
    export(graph, plan, tmp_path / "planned.onnx")
    (ran,) = run_onnx(tmp_path / "planned.onnx", x.numpy()).values()
    built = compress(graph, plan)
    (simulated,) = run_compressed(built, {graph.inputs[0]: x.numpy()}).outputs.values()
    integer = any(d in ("int8", "int4") for d in built.dtypes.values())
    assert np.linalg.norm(ran - simulated) / np.linalg.norm(simulated) < (
        0.05 if integer else 1e-4)
