"""What-if analysis: architecture transforms reproduce the literature's arithmetic, and
per-layer overrides are costed exactly as the planner costs the same choice."""

from __future__ import annotations

import math

import pytest

from graphs import build_zoo_model
from graphs.architecture import (
    TransformError,
    depthwise_separable,
    global_pooling_head,
    move_downsampling,
    scale_width,
    set_resolution,
)
from hardware_profiles import load
from planner import (
    GlobalPoolingHead,
    OptionSpace,
    Override,
    PlanError,
    Resolution,
    WidthMultiplier,
    plan,
    simulate,
    whatif,
)
from planner.report import render
from planner.report.whatif_table import whatif_layer_table, whatif_totals_table

PHONE = load("snapdragon_855")


def test_width_multiplier_half_gives_the_published_mobilenet() -> None:
    result = whatif(build_zoo_model("mobilenet_v1"), PHONE, [WidthMultiplier(0.5)])
    macs, params = result.totals()["macs"][1], result.totals()["params"][1]
    # MobileNets, Table 6: 0.50 MobileNet-224 has 149 M mult-adds and 1.3 M parameters
    assert math.isclose(macs, 149e6, rel_tol=0.01)
    assert round(params / 1e6, 1) == 1.3  # the paper gives two significant digits
    # the generic rewrite equals the zoo's own α builder layer for layer
    for alpha in (0.5, 0.75):
        built = build_zoo_model("mobilenet_v1", width_multiplier=alpha).total_work()
        scaled = scale_width(build_zoo_model("mobilenet_v1"), alpha).total_work()
        assert (scaled.macs, scaled.params) == (built.macs, built.params)


def test_resolution_multiplier_gives_the_published_mobilenet() -> None:
    result = whatif(build_zoo_model("mobilenet_v1"), PHONE, [Resolution(160)])
    # MobileNets, Table 7: 1.0 MobileNet-160 has 290 M mult-adds, parameters unchanged
    assert math.isclose(result.totals()["macs"][1], 290e6, rel_tol=0.01)
    assert result.totals()["params"][0] == result.totals()["params"][1]
    assert result.after.totals.latency_s < result.before.totals.latency_s


def test_depthwise_separable_arithmetic() -> None:
    g = depthwise_separable(build_zoo_model("vgg16"), ["features.28"])
    # 512 → 512 channels, 3×3, 14×14 output: depthwise 512·9·196, pointwise 512·512·196
    assert g.work("features.28.dw").macs == 512 * 9 * 196
    assert g.work("features.28").macs == 512 * 512 * 196
    before = build_zoo_model("vgg16").work("features.28").macs
    assert before == 512 * 512 * 9 * 196
    with pytest.raises(TransformError, match=r"features\.29"):
        depthwise_separable(build_zoo_model("vgg16"), ["features.29"])  # a ReLU


def test_global_pooling_head_replaces_the_fully_connected_head() -> None:
    g = global_pooling_head(build_zoo_model("vgg16"))
    features = sum(build_zoo_model("vgg16").work(n.name).params for n in g
                   if n.name.startswith("features"))
    assert features == 14_714_688  # VGG-16's 13 convs
    assert g.total_work().params == features + 512 * 1000 + 1000
    assert g["classifier.6"].output_shape == (1, 1000)
    result = whatif(build_zoo_model("alexnet"), PHONE, [GlobalPoolingHead()])
    assert result.totals()["params"][1] < result.totals()["params"][0] / 20
    with pytest.raises(TransformError, match="already pools globally"):
        global_pooling_head(build_zoo_model("resnet18"))


def test_moving_a_downsampling_stage_later() -> None:
    base = build_zoo_model("mobilenet_v1")
    moved = move_downsampling(base, "blocks.2.dw.0", "blocks.3.dw.0")
    # block 2 (64-channel 3×3 depthwise, 64 → 128 pointwise) now runs at 112² instead of 56²
    extra = (64 * 9 + 64 * 128) * (112 * 112 - 56 * 56)
    assert moved.total_work().macs - base.total_work().macs == extra
    assert moved.outputs and moved[moved.outputs[0]].output_shape == (1, 1000)
    # ResNet v1 → v1.5: the stride moves from the 1×1 to the 3×3 conv of the block
    # (here resnet18's 3×3 pair); shapes agree, so the residual add still fits
    v15 = move_downsampling(build_zoo_model("resnet18"), "layer2.0.conv1", "layer2.0.conv2")
    assert v15["layer2.0.conv2"].output_shape == (1, 128, 28, 28)
    # but moved out of the block, the shortcut (still stride 2) no longer matches
    with pytest.raises(TransformError, match="move downsampling"):
        move_downsampling(build_zoo_model("resnet18"), "layer2.0.conv1", "layer2.1.conv1")


def test_transform_errors_name_the_layer() -> None:
    with pytest.raises(TransformError, match="stage2"):
        scale_width(build_zoo_model("shufflenet_v2_x1_0"), 0.5)
    with pytest.raises(TransformError, match="no \\(N, C, H, W\\) image input"):
        set_resolution(build_zoo_model("bert_encoder"), 160)


def test_override_costs_equal_the_planner_with_the_same_single_choice() -> None:
    graph = build_zoo_model("mobilenet_v2", weights=True, input_shape=(1, 3, 64, 64),
                            width_multiplier=0.5, num_classes=10)
    result = whatif(graph, PHONE, [Override("*", bits=8, processor="dsp")])
    only = OptionSpace(keep_ratios=(1.0,), sparsities=(0.0,), formats=("int8",), ranks=(1.0,),
                       processors=("dsp",), dtypes=("int8",))
    solved = plan(graph, PHONE, space=only, proxy="weights", objective="latency")
    assert result.after.totals.size_bytes == solved.totals.size_bytes
    assert math.isclose(result.after.totals.latency_s, solved.totals.latency_s, rel_tol=1e-9)
    assert math.isclose(result.after.totals.error, solved.totals.error, rel_tol=1e-9)
    assert all(e.processor == "dsp" for e in result.after.layers if e.op != "input")
    # int8 weights with per-channel fp32 scales: a little under 4x smaller than fp32
    assert 3.5 < result.before.totals.size_bytes / result.after.totals.size_bytes < 4


def test_keep_override_prunes_the_consumer_and_can_be_simulated() -> None:
    graph = build_zoo_model("resnet18", weights=True, input_shape=(1, 3, 32, 32),
                            num_classes=10)
    result = whatif(graph, PHONE, [Override("layer1.0.conv1", keep=0.5, bits=8)])
    before = {e.name: e for e in result.before.layers}
    after = {e.name: e for e in result.after.layers}
    assert after["layer1.0.conv1"].keep_out == 0.5
    assert after["layer1.0.conv2"].keep_in == 0.5
    assert after["layer1.0.conv2"].macs == before["layer1.0.conv2"].macs // 2
    executed = simulate(graph, result.after, batch=2)
    assert executed.stored_bytes == result.after.totals.size_bytes
    assert executed.executed_macs == result.after.totals.macs
    table = render(whatif_layer_table(result), "md")
    assert "layer1.0.conv1" in table and "int8" in table
    totals = whatif_totals_table(result)
    assert {r["key"] for r in totals.rows} >= {"macs", "size_bytes", "latency_s"}
    assert "key" not in render(totals, "md") and "key" in render(totals, "csv")


def test_override_errors_say_what_to_fix() -> None:
    graph = build_zoo_model("resnet18", input_shape=(1, 3, 32, 32), num_classes=10)
    with pytest.raises(PlanError, match=r"did you mean layer1\.0\.conv2, layer1\.0\.conv1"):
        whatif(graph, PHONE, [Override("layer1.0.conv", bits=8)])
    with pytest.raises(PlanError, match="cannot be pruned"):
        whatif(graph, PHONE, [Override("fc", keep=0.5)])  # the graph output's channels
    with pytest.raises(PlanError, match="coupled"):  # residual add ties these two
        whatif(graph, PHONE, [Override("layer1.0.conv2", keep=0.5),
                              Override("layer1.1.conv2", keep=0.75)])
    with pytest.raises(PlanError, match="has no processor 'npu'"):
        whatif(graph, PHONE, [Override("*", processor="npu")])
    with pytest.raises(PlanError, match="bits must be one of"):
        Override("fc", bits=3)
