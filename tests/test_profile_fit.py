"""planner fit: a profile's efficiency factors fitted to measured latencies, with
leave-one-out errors, and the fitted profile's error band shown by plans."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from graphs import build_zoo_model
from hardware_profiles import load, load_file
from planner.contracts.latency_file import read_latencies
from planner.contracts.plan_file import PlanError
from planner.cost import LatencyMeasurement, fit_profile, validation_note
from planner.cost.profile_fit import predicted_seconds, scaled_processor

MODELS = ("mobilenet_v1", "squeezenet1_1", "resnet18")


def test_the_fit_recovers_a_known_slowdown() -> None:
    """Latencies 'measured' on a profile whose CPU reaches 0.55 of the bundled efficiencies:
    the fit finds 0.55 and predicts every held-out model within 2%."""
    profile = load("snapdragon_855")
    cpu = profile.processors["cpu"]
    truth = profile.model_copy(update={"processors": {
        **profile.processors, "cpu": scaled_processor(cpu, 0.55, "test")}})
    rows = []
    for name in MODELS:
        graph = build_zoo_model(name)
        m = LatencyMeasurement(name, graph, "cpu", "fp32", 1.0)
        rows.append(LatencyMeasurement(name, graph, "cpu", "fp32", predicted_seconds(m, truth)))
    fit = fit_profile(profile, rows, "synthetic")
    assert fit.factors["cpu"] == pytest.approx(0.55, rel=0.01)
    for row in fit.rows:
        assert row.before_s < 0.9 * row.measurement.seconds  # the bundled profile is optimistic
        assert row.held_out_s == pytest.approx(row.measurement.seconds, rel=0.02)
    assert fit.rms_log_error("held_out") < 0.02 < fit.rms_log_error("before")
    assert fit.within(0.10, "before") == 0 and fit.within(0.10) == 3
    v = fit.profile.validation
    assert v is not None and v.measurements == 3 and v.leave_one_out
    source = fit.profile.processors["cpu"].efficiency["default"].source
    assert "fitted by planner fit to 3" in source
    # the other processors are untouched
    assert fit.profile.processors["gpu"] == profile.processors["gpu"]
    note = validation_note(fit.profile)
    assert note is not None and "leave-one-out over 3 measured latencies" in note
    assert validation_note(profile) is None


def test_a_row_alone_on_its_processor_is_held_out_with_the_unfitted_profile() -> None:
    profile = load("snapdragon_855")
    graph = build_zoo_model("mobilenet_v1")
    rows = [LatencyMeasurement("a", graph, "gpu", "fp16", 0.02)]
    fit = fit_profile(profile, rows, "one row")
    assert fit.rows[0].held_out_s == pytest.approx(fit.rows[0].before_s)
    assert math.log(fit.rows[0].fitted_s / 0.02) ** 2 < math.log(fit.rows[0].before_s / 0.02) ** 2


def test_measurements_the_profile_cannot_run_are_refused() -> None:
    profile = load("snapdragon_855")
    graph = build_zoo_model("lenet5")
    with pytest.raises(ValueError, match="no processor 'npu'"):
        fit_profile(profile, [LatencyMeasurement("x", graph, "npu", "int8", 0.01)], "t")
    with pytest.raises(ValueError, match="does not compute in fp32"):
        fit_profile(profile, [LatencyMeasurement("x", graph, "dsp", "fp32", 0.01)], "t")
    with pytest.raises(ValueError, match="must be positive"):
        fit_profile(profile, [LatencyMeasurement("x", graph, "cpu", "fp32", 0.0)], "t")


def test_latency_files_name_the_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("- {model: resnet18, processor: cpu, dtype: fp32, ms: [10, 40]}\n"
                    "- {model: resnet18, processor: cpu, dtype: fp32, ms: 5, profile: other}\n")
    rows = read_latencies(path, "snapdragon_855")
    assert len(rows) == 1 and rows[0].seconds == pytest.approx(0.02)
    path.write_text("- {model: resnet18, processor: cpu, dtype: fp32, ms: -3}\n")
    with pytest.raises(PlanError, match=r"row 1, field 'ms.*got -3"):
        read_latencies(path)
    path.write_text("- {model: resnet18, processor: cpu, dtype: fp32, ms: 3, speed: 2}\n")
    with pytest.raises(PlanError, match="row 1, field 'speed'"):
        read_latencies(path)
    path.write_text("model: resnet18\n")
    with pytest.raises(PlanError, match="expected a YAML list"):
        read_latencies(path)
    path.write_text("- {model: resnet18, processor: cpu, dtype: fp32, ms: 3, profile: a}\n")
    with pytest.raises(PlanError, match="no row is for profile 'b'"):
        read_latencies(path, "b")


def test_cli_fit_writes_a_validated_profile_that_plans_show(tmp_path: Path) -> None:
    out = tmp_path / "fitted.yaml"
    run = [sys.executable, "-m", "planner"]
    published = Path(__file__).parents[1] / "docs" / "published_latencies.yaml"
    result = subprocess.run([*run, "fit", "snapdragon_855", str(published), "-o", str(out),
                             "-f", "md"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "held out / measured" in result.stdout and "leave-one-out" in result.stdout
    fitted = load_file(out)
    assert fitted.validation is not None and fitted.validation.measurements == 4
    plan = subprocess.run([*run, "plan", "lenet5", "-H", str(out), "--max-size", "40kB",
                           "--proxy", "uniform", "-f", "md"],
                          capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr
    assert "latency predictions of snapdragon_855 are expected within" in plan.stdout
    bad = subprocess.run([*run, "fit", "snapdragon_855", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "missing.yaml" in bad.stderr and "Traceback" not in bad.stderr
