"""Host calibration: the efficiency-curve fit, the onnxruntime microbenchmarks, what a
calibrated profile records, and how the roofline prices shapes with a curve."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphs import OPS, build_zoo_model
from hardware_profiles import EfficiencyCurve, load, save
from hardware_profiles.calibrate import calibrate
from hardware_profiles.calibrate_onnxruntime import memory_seconds
from hardware_profiles.efficiency_fit import Observation, fit_curve
from hardware_profiles.onnx_kernels import FLOPS_PER_ELEMENT, Timer, conv_case, int8_conv_case
from planner.cost import gemm_shape, layer_cost


@pytest.mark.parametrize("truth", [(0.6, 16.0, 64.0, 0.0), (0.9, 0.0, 500.0, 32.0),
                                   (0.3, 4.0, 0.0, 8.0)])
def test_the_fit_recovers_a_curve_it_was_given(truth: tuple[float, float, float, float]
                                               ) -> None:
    ceiling, hm, hn, hk = truth
    peak = 1e11
    rng = np.random.default_rng(0)
    obs = []
    for _ in range(60):
        m, n, k = (float(2 ** rng.integers(0, 11)) for _ in range(3))
        flops = 2 * m * n * k
        eff = ceiling * m / (m + hm) * n / (n + hn) * k / (k + hk)
        obs.append(Observation(m, n, k, flops, 0.0, flops / (peak * eff)))
    curve = fit_curve(obs, peak, "synthetic")
    # the fitted curve predicts the data (the grid is coarse, so parameters are near)
    assert curve.rms_log_error < 0.05
    assert curve.ceiling == pytest.approx(ceiling, rel=0.1)
    assert curve.points == 60


def test_memory_bound_kernels_do_not_pull_the_curve() -> None:
    # kernels whose memory time exceeds any compute time carry no information on efficiency
    peak = 1e11
    obs = [Observation(m, 100.0, 100.0, 2e6 * m, 0.0, 2e6 * m / (peak * 0.5))
           for m in (8.0, 32.0, 128.0)]
    obs += [Observation(4.0, 100.0, 100.0, 1e3, 1e-3, 1e-3)]  # memory-bound: 1 ms
    curve = fit_curve(obs, peak, "synthetic")
    # the three compute-bound kernels are predicted at the efficiency they ran at
    assert all(curve.at(m, 100.0, 100.0) == pytest.approx(0.5, rel=0.05)
               for m in (8.0, 32.0, 128.0))
    assert curve.rms_log_error < 0.03


def test_a_curve_prices_small_shapes_at_a_smaller_fraction_of_peak() -> None:
    curve = EfficiencyCurve(ceiling=0.8, half_m=16, half_n=64, half_k=32, points=3,
                            rms_log_error=0.1, source="unit test")
    # 0.8 · 16/32 · 64/128 · 32/64 = 0.1
    assert curve.at(16, 64, 32) == pytest.approx(0.1)
    assert curve.at(256, 4096, 1152) > curve.at(32, 4096, 1152) > curve.at(8, 4096, 1152)


def test_gemm_shapes_of_convs_linears_matmuls_and_other_ops() -> None:
    g = build_zoo_model("mobilenet_v2")
    first = g["features.0.0"]  # 3 -> 32, 3x3 stride 2 on 224: 112·112 outputs
    assert gemm_shape(first.op, first.input_shapes, first.output_shape, first.attrs) == (
        32.0, 112 * 112, 3 * 3 * 3)
    dw = g["features.2.conv.1.0"]  # depthwise 3x3 stride 2, 96 channels, 56x56 out
    assert gemm_shape(dw.op, dw.input_shapes, dw.output_shape, dw.attrs) == (
        96.0, 56 * 56, 9 / 4)
    fc = g["classifier.1"]  # 1280 -> 1000, one row
    assert gemm_shape(fc.op, fc.input_shapes, fc.output_shape, fc.attrs) == (1000.0, 1.0, 1280.0)
    assert gemm_shape("matmul", [(2, 12, 128, 64), (2, 12, 64, 128)], (2, 12, 128, 128),
                      {}) == (128.0, 2 * 12 * 128, 64.0)
    # ops without MACs: output elements and FLOPs per element; views compute nothing
    assert gemm_shape("relu", [(1, 8)], (1, 8), {}) == (1.0, 8.0, 1.0)
    assert gemm_shape("sigmoid", [(2, 8)], (2, 8), {}) == (1.0, 16.0, 4.0)
    assert gemm_shape("reshape", [(2, 8)], (16,), {"shape": (16,)}) is None


def test_elementwise_flops_match_the_op_table() -> None:
    kinds = {"LayerNormalization": "layer_norm"}
    for op, flops in FLOPS_PER_ELEMENT.items():
        spec = OPS[kinds.get(op, op.lower())]
        assert spec.other_flops([(1, 10), (1, 10)][:spec.arity[0]], (1, 10), {}) == 10 * flops


@pytest.fixture(scope="module")
def ort_profile():  # type: ignore[no-untyped-def]
    pytest.importorskip("onnxruntime")
    return calibrate(quick=True, runtime="onnxruntime", threads=1, name="host_ort")


def test_an_onnxruntime_calibration_records_how_it_was_measured(ort_profile, tmp_path
                                                                 ) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime

    calibration = ort_profile.calibration
    assert calibration.runtime == "onnxruntime" and calibration.threads == 1
    assert calibration.version == onnxruntime.__version__
    cpu = ort_profile.processors["cpu"]
    assert set(cpu.efficiency_curves) >= {"conv", "depthwise_conv", "gemm", "matmul"}
    assert "fp16" not in cpu.peak_ops_per_s  # onnxruntime's x86 kernels have no fp16 path
    assert all(n.source for _, n in ort_profile.sourced_numbers())
    save(ort_profile, tmp_path / "host.yaml")
    assert load(tmp_path / "host.yaml") == ort_profile


def test_the_fitted_curve_predicts_a_conv_it_was_not_fitted_to(ort_profile) -> None:  # type: ignore[no-untyped-def]
    # 96 -> 96 channels on 28x28 is not in the quick grid (32/128 channels at 14/56)
    case = conv_case(96, 96, 28, 3)
    measured = Timer(1, 0.05).time(case)
    cpu = ort_profile.processors["cpu"]
    roofs = {"onchip_bytes": cpu.onchip_bytes.value,
             "onchip_bytes_per_s": cpu.onchip_bytes_per_s.value,
             "dram_bytes_per_s": cpu.dram_bytes_per_s.value}
    eff = cpu.efficiency_at("conv", case.dims)
    predicted = max(case.flops / (cpu.peak_ops_per_s["fp32"].value * eff),
                    memory_seconds(measured, roofs)) + cpu.overhead_of("conv", case.op)
    # a shared machine: a factor of two, not the ±10% the benchmark measures on 15 models
    assert abs(math.log(predicted / measured.seconds)) < math.log(2.0)


@pytest.mark.parametrize("shape", [(64, 64, 14, 3, 1, 64), (48, 96, 28, 1, 1, 1)],
                         ids=["depthwise", "pointwise"])
def test_int8_convolutions_are_priced_by_their_own_curves(  # type: ignore[no-untyped-def]
        ort_profile, shape: tuple[int, int, int, int, int, int]) -> None:
    """onnxruntime's int8 kernels, timed as the exporter writes them, within a factor of
    two of the int8 curves' prediction (the pointwise conv is not in the quick grid; the
    quick grid's one depthwise conv is, since one point cannot price another shape); the
    fp32 curve at the int8 peak is not (its depthwise kernels are slower in int8 than in
    fp32)."""
    cpu = ort_profile.processors["cpu"]
    assert set(cpu.dtype_curves["int8"]) == {"conv", "depthwise_conv"}
    case = int8_conv_case(*shape)
    measured = Timer(1, 0.05).time(case)
    roofs = {"onchip_bytes": cpu.onchip_bytes.value,
             "onchip_bytes_per_s": cpu.onchip_bytes_per_s.value,
             "dram_bytes_per_s": cpu.dram_bytes_per_s.value}
    eff = cpu.efficiency_at(case.op_class, case.dims, dtype="int8")
    # the roofline plus the curve's fixed cost: most of a small depthwise conv's time
    predicted = max(case.flops / (cpu.peak_ops_per_s["int8"].value * eff),
                    memory_seconds(measured, roofs)) \
        + cpu.overhead_of(case.op_class, case.op, "int8")
    assert abs(math.log(predicted / measured.seconds)) < math.log(2.0)
    if case.op_class == "depthwise_conv":
        plain = case.flops / (cpu.peak_ops_per_s["int8"].value
                              * cpu.efficiency_at(case.op_class, case.dims))
        assert plain < measured.seconds / 2


def test_the_roofline_uses_the_curve_where_the_profile_has_one(ort_profile) -> None:  # type: ignore[no-untyped-def]
    g = build_zoo_model("resnet18")
    conv = g["layer1.0.conv1"]
    cost = layer_cost(conv, ort_profile, "cpu", "fp32")
    cpu = ort_profile.processors["cpu"]
    gemm = gemm_shape(conv.op, conv.input_shapes, conv.output_shape, conv.attrs)
    peak = cpu.peak_ops_per_s["fp32"].value * cpu.efficiency_at("conv", gemm)
    assert cost.cost.compute_s == pytest.approx(conv.work().flops / peak)
    assert cpu.efficiency_at("conv", gemm) != cpu.efficiency_of("conv")


def test_openblas_coretype_is_recorded_and_warned_about(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    profile = calibrate(quick=True, threads=1)
    assert profile.calibration is not None
    assert profile.calibration.environment["OPENBLAS_CORETYPE"] == "Haswell"
    assert any("OPENBLAS_CORETYPE=Haswell" in w for w in profile.calibration.warnings)


def test_a_thread_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        calibrate(quick=True, threads=0)


def test_corrections_give_each_alignment_its_own_measured_efficiency() -> None:
    """Kernels on 64 channels reach half of peak and on 58 (no 8-channel blocks) a tenth:
    one smooth curve cannot say both, its corrections do, at and near the grid's shapes."""
    peak = 1e11
    obs = []
    for m, eff in ((64, 0.5), (58, 0.1), (128, 0.5), (116, 0.1)):
        for n in (196, 784, 3136):
            flops = 2.0 * m * n * 9
            obs.append(Observation(m, n, 9, flops, 0.0, flops / (peak * eff)))
    curve = fit_curve(obs, peak, "synthetic")
    assert curve.corrections
    assert curve.efficiency(58, 784, 9) == pytest.approx(0.1, rel=0.25)
    assert curve.efficiency(64, 784, 9) == pytest.approx(0.5, rel=0.25)
    # between grid points, within the same alignment
    assert curve.efficiency(100, 1568, 9) < 0.2 < 0.35 < curve.efficiency(96, 1568, 9)


def test_fused_activations_cost_the_same_in_the_roofline_and_the_program() -> None:
    """With a per-element cost for fused ReLU6 (onnxruntime applies it in a pass over the
    conv's output), MobileNet v2 costs that much more, in placement_cost and in the plan
    the ILP's options price (the same difference in both)."""
    from hardware_profiles import load as load_profile
    from planner.cost import placement_cost, single_processor_placement
    from planner.planning.whatif import fixed_plan

    base = load_profile("raspberry_pi_5")
    cpu = base.processors["cpu"].model_copy(
        update={"fused_activation_s_per_element": {"relu6": 1e-9}})
    profile = base.model_copy(update={"processors": {**base.processors, "cpu": cpu}})
    g = build_zoo_model("mobilenet_v2")
    elements = sum(layer.output_elements for layer in g if layer.op == "relu6")

    def latency(p):  # type: ignore[no-untyped-def]
        return placement_cost(g, p, single_processor_placement(g, p, "cpu", "fp32")
                              ).total.latency_s

    assert latency(profile) - latency(base) == pytest.approx(elements * 1e-9, rel=1e-6)

    def planned(p):  # type: ignore[no-untyped-def]
        return fixed_plan(g, p, [], proxy="uniform").totals.latency_s

    assert planned(profile) - planned(base) == pytest.approx(elements * 1e-9, rel=1e-6)


def test_an_onnxruntime_calibration_measures_fused_activations(ort_profile) -> None:  # type: ignore[no-untyped-def]
    rates = ort_profile.processors["cpu"].fused_activation_s_per_element
    assert set(rates) == {"relu", "relu6"} and all(r >= 0 for r in rates.values())
    assert ort_profile.processors["cpu"].onchip_bytes.value >= 1 << 16
