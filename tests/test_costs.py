"""The roofline cost model: crossover at the ridge, support rules, transfers, fusion."""

from __future__ import annotations

import math
from typing import Any

import pytest

from graphs import GraphBuilder, Work, build_zoo_model
from hardware_profiles import HardwareProfile, load, validate
from planner.cost import (
    Cost,
    Infeasible,
    LayerCost,
    fused_layers,
    layer_cost,
    placement_cost,
    roofline,
    single_processor_placement,
    sparse_speedup,
)

SOURCE = {"source": "test fixture, made-up numbers"}


def number(value: float) -> dict[str, Any]:
    return {"value": value, **SOURCE}


def processor(peak: float = 1e12, dram: float = 1e10, onchip: float = 0.0,
              overhead: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "cpu", "description": "test",
        "peak_ops_per_s": {"fp32": number(peak), "int8": number(4 * peak)},
        "dram_bytes_per_s": number(dram), "onchip_bytes": number(onchip),
        "onchip_bytes_per_s": number(10 * dram), "launch_overhead_s": number(overhead),
        "efficiency": {"default": number(1.0)},
        "energy_per_mac_j": {"fp32": number(1e-12), "int8": number(1e-13)},
        "energy_per_dram_byte_j": number(1e-11), "energy_per_onchip_byte_j": number(1e-12),
        **extra,
    }


def toy_profile(**processors: dict[str, Any]) -> HardwareProfile:
    names = list(processors)
    return validate({
        "version": 1, "name": "toy", "display_name": "toy", "host": names[0],
        "dram_capacity_bytes": number(1e9), "processors": processors,
        "transfers": [{"between": [a, b], "shared_memory": True, "bytes_per_s": number(1e9),
                       "latency_s": number(1e-4)}
                      for i, a in enumerate(names) for b in names[i + 1:]],
    })


def test_roofline_crossover_at_the_ridge_point() -> None:
    proc = toy_profile(cpu=processor(peak=1e12, dram=1e10)).processors["cpu"]
    ridge = 1e12 / 1e10  # 100 FLOP per byte
    traffic = 1_000_000  # bytes, all weights: read from DRAM
    below = roofline("a", Work(flops=int(0.5 * ridge * traffic), weight_read_bytes=traffic),
                     "linear", "gemm", "cpu", proc, "fp32")
    at = roofline("b", Work(flops=int(ridge * traffic), weight_read_bytes=traffic),
                  "linear", "gemm", "cpu", proc, "fp32")
    above = roofline("c", Work(flops=int(2 * ridge * traffic), weight_read_bytes=traffic),
                     "linear", "gemm", "cpu", proc, "fp32")
    assert isinstance(below, LayerCost) and isinstance(at, LayerCost)
    assert isinstance(above, LayerCost)
    assert below.bound == "memory" and above.bound == "compute"
    assert at.cost.compute_s == pytest.approx(at.cost.memory_s)  # 1e8 FLOP / 1e12 = 1e6 B / 1e10
    assert below.latency_s == pytest.approx(1e-4)  # memory: 1e6 bytes at 10 GB/s
    assert at.latency_s == pytest.approx(1e-4)
    assert above.latency_s == pytest.approx(2e-4)  # compute: 2e8 FLOP at 1 TFLOP/s


def test_efficiency_overhead_and_on_chip_activations() -> None:
    proc = toy_profile(cpu=processor(peak=1e12, dram=1e10, onchip=1e6, overhead=1e-5,
                                     efficiency={"default": number(0.5),
                                                 "conv": number(0.25)})).processors["cpu"]
    work = Work(flops=int(1e9), input_bytes=400_000, output_bytes=400_000)
    conv = roofline("c", work, "conv2d", "conv", "cpu", proc, "fp32")
    assert isinstance(conv, LayerCost)
    assert conv.cost.compute_s == pytest.approx(1e9 / (1e12 * 0.25))
    assert conv.cost.memory_s == pytest.approx(800_000 / 1e11)  # fits on chip: 100 GB/s
    assert conv.latency_s == pytest.approx(4e-3 + 1e-5)
    assert conv.cost.dram_bytes == 0
    big = roofline("d", Work(flops=1, input_bytes=800_000, output_bytes=800_000), "relu",
                   "elementwise", "cpu", proc, "fp32")
    assert isinstance(big, LayerCost) and big.cost.dram_bytes == 1_600_000  # spills to DRAM


def test_dtype_and_op_support_are_enforced() -> None:
    p = load("snapdragon_855")
    g = build_zoo_model("mobilenet_v2")
    conv = g["features.0.0"]
    on_dsp_fp32 = layer_cost(conv, p, "dsp", "fp32")
    assert isinstance(on_dsp_fp32, Infeasible)
    assert on_dsp_fp32.reason == "dsp computes in int8, not fp32"
    assert math.isinf(on_dsp_fp32.latency_s)
    assert isinstance(layer_cost(conv, p, "dsp", "int8"), LayerCost)
    encoder = build_zoo_model("bert_encoder")
    lookup = encoder["embeddings.word_embeddings"]
    assert layer_cost(lookup, p, "gpu", "fp16") == Infeasible(
        lookup.name, "gpu", "fp16", "gpu does not run embedding")
    gelu = encoder["encoder.layer.0.intermediate.gelu"]
    assert isinstance(layer_cost(gelu, p, "dsp", "int8"), Infeasible)


def diamond() -> Any:
    b = GraphBuilder("diamond")
    x = b.input((1, 8, 16, 16))
    c = b.conv(x, 8, 3, padding=1, name="conv")
    left = b.act("sigmoid", c, name="left")
    right = b.act("tanh", c, name="right")
    return b.build([b.add_(left, right, name="add")])


def test_transfer_charged_once_per_processor_change() -> None:
    profile = toy_profile(cpu=processor(), gpu=processor())
    g = diamond()
    placement = {"input": ("cpu", "fp32"), "conv": ("cpu", "fp32"),
                 "left": ("gpu", "fp32"), "right": ("gpu", "fp32"), "add": ("gpu", "fp32")}
    result = placement_cost(g, profile, placement)
    moved = [(t.tensor, t.source, t.destination) for t in result.transfers]
    # conv's output feeds two gpu layers but crosses once; the output returns to the host
    assert moved == [("conv", "cpu", "gpu"), ("add", "gpu", "cpu")]
    nbytes = 4 * 8 * 16 * 16
    assert result.transfers[0].bytes == nbytes
    assert result.transfers[0].seconds == pytest.approx(1e-4 + nbytes / 1e9)
    layers_only = sum((c.cost for c in result.layers.values()), Cost())
    assert result.total.latency_s == pytest.approx(
        layers_only.latency_s + sum(t.seconds for t in result.transfers))
    all_cpu = placement_cost(g, profile, {n: ("cpu", "fp32") for n in placement})
    assert all_cpu.transfers == []


def test_fused_activation_is_free_only_beside_its_producer() -> None:
    g = build_zoo_model("resnet18")
    fused = fused_layers(g)
    assert fused["bn1"] == "conv1" and fused["relu"] == "conv1"
    assert "layer1.0.add" not in fused and "maxpool" not in fused
    profile = load("snapdragon_855")
    together = single_processor_placement(g, profile, "cpu", "fp32")
    assert placement_cost(g, profile, together).layers["relu"].bound == "free"
    apart = dict(together, relu=("gpu", "fp32"))
    cost = placement_cost(g, profile, apart)
    assert cost.layers["relu"].bound != "free"
    assert {(t.tensor, t.destination) for t in cost.transfers} >= {("bn1", "gpu"),
                                                                     ("relu", "cpu")}


def test_a_runtime_that_fuses_residual_adds_charges_nothing_for_them() -> None:
    g = build_zoo_model("resnet18")
    extra = set(fused_layers(g, residual_add=True)) - set(fused_layers(g))
    # 8 basic blocks, each ending in add + relu
    assert len(extra) == 16 and {"layer1.0.add", "layer1.0.relu_1"} <= extra
    assert fused_layers(g, residual_add=True)["layer2.0.add"] == "layer2.0.conv2"
    plain = toy_profile(cpu=processor(dram=1e9, overhead=1e-5))
    fusing = toy_profile(cpu=processor(dram=1e9, overhead=1e-5, fuses_residual_add=True))
    on_cpu = single_processor_placement(g, plain, "cpu", "fp32")
    before = placement_cost(g, plain, on_cpu)
    after = placement_cost(g, fusing, on_cpu)
    assert after.layers["layer1.0.add"].bound == "free"
    assert before.layers["layer1.0.add"].latency_s > 1e-5  # reads 2 x 802,816 B at 1 GB/s
    saved = sum(before.layers[n].latency_s for n in extra)
    assert after.total.latency_s == pytest.approx(before.total.latency_s - saved)


def test_fallback_placement_moves_unsupported_ops_to_the_host() -> None:
    profile = load("coral_edge_tpu")
    g = build_zoo_model("mobilenet_v3_small")  # hardswish does not run on the Edge TPU
    placement = single_processor_placement(g, profile, "tpu", "int8")
    assert placement["features.0.2"] == ("cpu", "int8")
    assert placement["features.0.0"] == ("tpu", "int8")
    result = placement_cost(g, profile, placement)
    assert result.feasible
    assert result.total.transfer_s > 0


def test_sparse_speedup_rules() -> None:
    cpu = load("snapdragon_855").processors["cpu"]  # unstructured, from 70%, at most 2x
    assert sparse_speedup(cpu, 0.5) == 1.0
    assert sparse_speedup(cpu, 0.75) == pytest.approx(2.0)  # 1/(1 − 0.75) = 4, capped at 2
    assert sparse_speedup(load("snapdragon_855").processors["gpu"], 0.9) == 1.0
    orin = load("jetson_orin_nano").processors["gpu"]
    assert sparse_speedup(orin, 0.5, "2:4") == 2.0
    assert sparse_speedup(orin, 0.9, "unstructured") == 1.0


def test_edge_tpu_streams_weights_that_do_not_fit() -> None:
    profile = load("coral_edge_tpu")
    small = build_zoo_model("mobilenet_v1")  # 4.2 MB of int8 weights: cached in the 8 MB
    big = build_zoo_model("resnet50")  # 25.6 MB: streamed over PCIe every inference
    cost_small = placement_cost(small, profile,
                                single_processor_placement(small, profile, "tpu", "int8"))
    cost_big = placement_cost(big, profile, single_processor_placement(big, profile, "tpu",
                                                                        "int8"))
    assert cost_small.total.memory_s < 0.2e-3
    streamed = big.total_work().weight_bytes / 4 / 5e8  # int8 bytes over 500 MB/s
    assert cost_big.total.memory_s == pytest.approx(streamed, rel=0.05)
    assert cost_big.total.latency_s > 40e-3  # Coral publishes 49-56 ms at 299×299


def test_quantized_costs_less_energy_and_time() -> None:
    profile = load("snapdragon_855")
    g = build_zoo_model("resnet18")
    fp32 = placement_cost(g, profile, single_processor_placement(g, profile, "cpu", "fp32"))
    int8 = placement_cost(g, profile, single_processor_placement(g, profile, "cpu", "int8"))
    assert int8.total.latency_s < fp32.total.latency_s / 2
    assert int8.total.energy_j < fp32.total.energy_j / 4
    assert int8.total.dram_bytes < fp32.total.dram_bytes

