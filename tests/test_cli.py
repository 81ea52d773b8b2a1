"""The command line through its real entry point (python -m planner)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True,
                          text=True, timeout=120)


def test_inspect_formats() -> None:
    table = run("inspect", "resnet18")
    assert table.returncode == 0, table.stderr
    assert "resnet18: 1.8 GMAC, 11,689,512 params" in table.stdout
    assert "layer4.1.conv2" in table.stdout
    rows = list(csv.DictReader(io.StringIO(run("inspect", "resnet18", "-f", "csv").stdout)))
    assert sum(int(r["macs"]) for r in rows) == 1_814_073_344
    assert sum(int(r["params"]) for r in rows) == 11_689_512
    doc = json.loads(run("inspect", "resnet18", "-f", "json").stdout)
    assert doc["totals"]["params"] == 11_689_512
    assert {c["key"] for c in doc["columns"]} >= {"macs", "weight_bytes", "activation_bytes"}
    md = run("inspect", "resnet18", "-f", "md").stdout
    assert "| layer | op | output |" in md and "**11,689,512**" in md


def test_inspect_writes_file_and_takes_input_shape(tmp_path: Path) -> None:
    out = tmp_path / "lenet.csv"
    result = run("inspect", "resnet18", "--input-shape", "2,3,112,112", "-f", "csv", "-o",
                 str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert rows[-1]["output_shape"] == "2x1000"


def test_exit_codes_and_one_line_errors() -> None:
    unknown = run("inspect", "resnet49")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: unknown model 'resnet49'")
    assert "Traceback" not in unknown.stderr
    assert run("inspect", "resnet18", "--format", "xml").returncode == 2
    bad_shape = run("inspect", "resnet18", "--input-shape", "1,three")
    assert bad_shape.returncode == 1 and "cannot read input shape" in bad_shape.stderr
    assert "Example:" in run("--help").stdout
    assert "Example:" in run("inspect", "--help").stdout


def test_inspect_on_hardware_with_roofline_plot(tmp_path: Path) -> None:
    chart = tmp_path / "roofline.png"
    result = run("inspect", "mobilenet_v1", "--hardware", "snapdragon_855", "-f", "csv",
                 "--plot", str(chart))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"cpu_latency_s", "gpu_latency_s", "dsp_latency_s", "dsp_bound",
            "best_processor"} <= set(rows[0])
    assert {r["best_processor"] for r in rows} <= {"cpu", "gpu", "dsp"}
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_profiles_list_and_show() -> None:
    listing = run("profiles")
    assert listing.returncode == 0
    assert "coral_edge_tpu" in listing.stdout and "jetson_orin_nano" in listing.stdout
    shown = json.loads(run("profiles", "coral_edge_tpu", "-f", "json").stdout)
    fields = {row["field"]: row for row in shown["rows"]}
    assert fields["processors.tpu.peak_ops_per_s.int8"]["raw"] == 4e12
    assert all(row["source"] for row in shown["rows"])


def test_malformed_profile_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "phone.yaml"
    bad.write_text("version: 1\nname: phone\ndisplay_name: x\nhost: cpu\nprocessors: {}\n")
    result = run("inspect", "lenet5", "--hardware", str(bad))
    assert result.returncode == 1
    assert "phone.yaml" in result.stderr and "dram_capacity_bytes: Field required" in (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_calibrate_writes_a_valid_profile(tmp_path: Path) -> None:
    out = tmp_path / "host.yaml"
    result = run("calibrate", "--quick", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "numpy at 1 thread(s), fp32 peak" in result.stdout
    from hardware_profiles import load_file

    profile = load_file(out)
    cpu = profile.processors["cpu"]
    assert cpu.peak_ops_per_s["fp32"].value > 1e8  # any machine that runs numpy
    assert profile.calibration is not None and profile.calibration.threads == 1
    assert all(n.source for _, n in profile.sourced_numbers())
    costed = run("inspect", "resnet18", "--hardware", str(out), "-f", "json")
    assert json.loads(costed.stdout)["totals"]["cpu_latency_s"] > 0


def test_calibrate_names_an_unknown_runtime(tmp_path: Path) -> None:
    result = run("calibrate", "--runtime", "tflite", "-o", str(tmp_path / "h.yaml"))
    assert result.returncode == 2
    assert "'tflite' is not one of numpy, onnxruntime" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "h.yaml").exists()


def test_plan_writes_a_plan_that_meets_the_budget(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = run("plan", "lenet5", "--hardware", "raspberry_pi_5", "--max-size", "20kB",
                 "--proxy", "weights", "-o", str(out), "-f", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(out.read_text())
    assert plan["version"] == 1 and plan["totals"]["size_bytes"] <= 20_000
    table = json.loads(result.stdout)
    assert table["totals"]["size_bytes"] == plan["totals"]["size_bytes"]


def test_plan_infeasible_exits_3_with_minimums() -> None:
    result = run("plan", "lenet5", "--hardware", "raspberry_pi_5", "--max-size", "100B",
                 "--proxy", "uniform")
    assert result.returncode == 3
    assert "smallest achievable" in result.stderr and "size <= 100" in result.stderr


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--max-error", "inf", "error budget must be a finite number"),
    ("--max-error", "nan", "error budget must be a finite number"),
    ("--max-error", "-1", "error budget must be a finite number"),
    ("--max-size", "1e400", "too large to be finite"),
    ("--max-latency", "1e309s", "too large to be finite"),
])
def test_budgets_that_are_no_finite_number_are_one_line_errors(flag: str, value: str,
                                                              says: str) -> None:
    result = run("plan", "lenet5", "--hardware", "raspberry_pi_5", "--proxy", "uniform",
                 flag, value)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ") and says in result.stderr
    assert "Traceback" not in result.stderr


def test_a_zero_error_budget_plans_without_compression_loss() -> None:
    result = run("plan", "lenet5", "--hardware", "raspberry_pi_5", "--proxy", "weights",
                 "--max-error", "0", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["error"] == 0


def test_an_infeasible_sweep_exits_3_with_minimums() -> None:
    result = run("sweep", "lenet5", "--hardware", "raspberry_pi_5", "--proxy", "uniform",
                 "--points", "2", "--max-memory", "1kB")
    assert result.returncode == 3, result.stderr
    assert "smallest achievable" in result.stderr and "Traceback" not in result.stderr


def test_a_sweep_solved_in_one_process_writes_what_the_workers_write() -> None:
    args = ("sweep", "lenet5", "-H", "raspberry_pi_5", "--proxy", "weights", "--points", "3",
            "-f", "csv")
    alone, default = run(*args, "--jobs", "1"), run(*args)
    assert alone.returncode == 0 and default.returncode == 0, alone.stderr + default.stderr
    assert len(alone.stdout.strip().splitlines()) == 4  # a header and three plans
    assert alone.stdout == default.stdout
    refused = run(*args, "--jobs", "0")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr


def test_identical_runs_write_identical_plans(tmp_path: Path) -> None:
    """Two processes, each measuring afresh: the same bytes; solve times only with
    --timings."""
    args = ("plan", "lenet5", "--hardware", "snapdragon_855", "--max-size", "30kB",
            "--max-latency", "1ms", "--proxy", "weights", "--no-cache")
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert run(*args, "-o", str(first)).returncode == 0
    assert run(*args, "-o", str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text())["solver"]["seconds"] is None
    timed = tmp_path / "t.json"
    assert run(*args, "--timings", "-o", str(timed)).returncode == 0
    assert json.loads(timed.read_text())["solver"]["seconds"] > 0


def test_plan_rejects_unknown_objective() -> None:
    result = run("plan", "lenet5", "--objective", "speed")
    assert result.returncode == 2 and "'speed' is not one of" in result.stderr


def test_simulate_a_plan_reports_accuracy_on_digits(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    plan = tmp_path / "plan.json"
    made = run("plan", "digits_cnn", "--hardware", "raspberry_pi_5", "--max-size", "40kB",
               "--proxy", "weights", "-o", str(plan))
    assert made.returncode == 0, made.stderr
    result_file = tmp_path / "result.json"
    result = run("simulate", "digits_cnn", str(plan), "-f", "csv", "-o", str(result_file))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"stored_bytes", "executed_macs", "own_error"} <= set(rows[0])
    saved = json.loads(result_file.read_text())
    output = saved["outputs"][0]
    assert output["baseline_accuracy"] > 0.97 and output["accuracy"] > 0.95
    assert saved["executed_macs"] == saved["predicted_macs"]


def test_simulate_rejects_a_plan_of_another_model(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    assert run("plan", "lenet5", "--hardware", "raspberry_pi_5", "--proxy", "uniform",
               "-o", str(plan)).returncode == 0
    result = run("simulate", "digits_cnn", str(plan))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: the plan is for 'lenet5'")


def test_simulate_checks_the_plan_and_inputs_against_the_model(tmp_path: Path) -> None:
    """A plan at another input shape, an unknown weight format, inputs of the wrong shape:
    each a one-line error naming what does not match. An .npy of inputs is accepted."""
    import numpy as np

    plan = tmp_path / "plan.json"
    assert run("plan", "lenet5", "--hardware", "raspberry_pi_5", "--proxy", "uniform",
               "--max-size", "40kB", "-o", str(plan)).returncode == 0
    shape = run("simulate", "lenet5", str(plan), "--input-shape", "4,1,32,32")
    assert shape.returncode == 1 and "another input shape" in shape.stderr
    doc = json.loads(plan.read_text())
    doc["layers"][1]["weight_format"] = "kmeans0"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    fmt = run("simulate", "lenet5", str(bad))
    assert fmt.returncode == 1 and "unknown weight format 'kmeans0'" in fmt.stderr
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3), np.float32))
    wrong = run("simulate", "lenet5", str(plan), "--inputs", str(tmp_path / "wrong.npy"))
    assert wrong.returncode == 1 and "do not fit lenet5" in wrong.stderr
    np.save(tmp_path / "good.npy", np.ones((3, 1, 32, 32), np.float32))
    good = run("simulate", "lenet5", str(plan), "--inputs", str(tmp_path / "good.npy"))
    assert good.returncode == 0, good.stderr
    for result in (shape, fmt, wrong):
        assert "Traceback" not in result.stderr


def test_an_output_path_that_cannot_be_written_is_refused_before_work(tmp_path: Path
                                                                     ) -> None:
    def said(result: subprocess.CompletedProcess[str]) -> str:  # unwrapped from its box
        return " ".join(result.stderr.replace("│", " ").split())

    folder = run("plan", "lenet5", "--hardware", "raspberry_pi_5", "-o", str(tmp_path))
    assert folder.returncode == 2 and "is a folder; give a file name" in said(folder)
    missing = run("inspect", "lenet5", "-o", str(tmp_path / "no" / "x.csv"))
    assert missing.returncode == 2 and "does not exist" in said(missing)


def test_sweep_then_report_in_every_format(tmp_path: Path) -> None:
    plan, sweep = tmp_path / "plan.json", tmp_path / "sweep.json"
    assert run("plan", "digits_cnn", "-H", "raspberry_pi_5", "--max-size", "20kB",
               "--proxy", "weights", "-o", str(plan)).returncode == 0
    swept = run("sweep", "digits_cnn", "-H", "raspberry_pi_5", "--points", "3", "--proxy",
                "weights", "-o", str(sweep), "-f", "csv")
    assert swept.returncode == 0, swept.stderr
    points = list(csv.DictReader(io.StringIO(swept.stdout)))
    sizes = [float(p["size_bytes"]) for p in points]
    errors = [float(p["error"]) for p in points]
    assert len(points) == 3 and sizes == sorted(sizes) and errors == sorted(errors)[::-1]
    html = tmp_path / "report.html"
    made = run("report", "digits_cnn", "-H", "raspberry_pi_5", "--plan", str(plan), "--sweep",
               str(sweep), "--simulate", "--batch", "4", "-f", "html", "-o", str(html))
    assert made.returncode == 0, made.stderr
    assert html.read_text().count("<svg") == 4
    doc = json.loads(run("report", "digits_cnn", "-H", "raspberry_pi_5", "--plan", str(plan),
                         "-f", "json").stdout)
    assert doc["planned"] and doc["tables"]["summary"]["rows"][0]["budget"] == 20_000
    md = run("report", "digits_cnn", "-H", "raspberry_pi_5", "-f", "md").stdout
    assert "**summary: digits_cnn on raspberry_pi_5**" in md and "fp32 on cpu" in md


def test_report_errors_exit_with_a_code() -> None:
    bad = run("report", "digits_cnn", "-f", "pdf")
    assert bad.returncode == 2 and "pdf" in bad.stderr
    missing = run("report", "digits_cnn", "--plan", "no-such-plan.json")
    assert missing.returncode == 1 and "no-such-plan.json" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_plan_is_reported_only_on_the_profile_it_was_made_for(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    assert run("plan", "lenet5", "--hardware", "raspberry_pi_5", "--proxy", "uniform",
               "-o", str(plan)).returncode == 0
    other = run("report", "lenet5", "-H", "snapdragon_855", "--plan", str(plan))
    assert other.returncode == 1
    assert "made for the profile 'raspberry_pi_5'" in other.stderr
    assert run("report", "lenet5", "-H", "raspberry_pi_5", "--plan", str(plan)
               ).returncode == 0


@pytest.mark.parametrize("command", ["inspect", "plan", "simulate", "report", "sweep",
                                     "profiles", "calibrate"])
def test_every_command_help_shows_an_example(command: str) -> None:
    helped = run(command, "--help")
    assert helped.returncode == 0 and f"Example: planner {command}" in helped.stdout


def test_the_time_limit_bounds_the_whole_command(tmp_path: Path) -> None:
    """A hard instance (three processors, a latency budget, no cache) under --time-limit 5s
    ends within 5 s plus a margin of 6 s for starting Python, importing torch and building
    the model: with a plan that meets every budget, or one line saying no plan was found."""
    import time

    from planner.contracts.plan_file import load_plan
    from planner.search.problem import Budgets

    start = time.perf_counter()
    done = run("plan", "mobilenet_v2", "-H", "snapdragon_855", "--max-size", "1MB",
               "--max-latency", "4ms", "--proxy", "uniform", "--time-limit", "5s",
               "--no-cache", "-o", str(tmp_path / "plan.json"))
    assert time.perf_counter() - start < 5 + 6
    if done.returncode == 0:
        plan = load_plan(tmp_path / "plan.json")
        assert plan.totals.violations(Budgets.of(**plan.budgets)) == []
    else:
        # out while measuring ("ran out before any solve") or solving ("no plan found")
        assert done.returncode == 1 and "time limit of 5 s" in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "plan.json").exists()


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "plan.json"
    running = subprocess.Popen(
        [sys.executable, "-m", "planner", "plan", "mobilenet_v2", "-H", "snapdragon_855",
         "--max-size", "1MB", "--max-latency", "4ms", "--proxy", "uniform", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)  # importing, or enumerating options: several seconds from the end
    running.send_signal(signal.SIGINT)
    sent = time.perf_counter()
    _, err = running.communicate(timeout=30)
    assert running.returncode == 130, err
    assert time.perf_counter() - sent < 2, "SIGINT took more than 2 s to end the plan"
    assert not out.exists() and "Traceback" not in err


def test_export_measure_and_report_an_exported_plan(tmp_path: Path) -> None:
    plan, model = tmp_path / "plan.json", tmp_path / "lenet5.onnx"
    made = run("plan", "lenet5", "-H", "raspberry_pi_5", "--max-size", "60kB", "--proxy",
               "weights", "-o", str(plan))
    assert made.returncode == 0, made.stderr
    exported = run("export", "lenet5", str(plan), "-o", str(model), "-f", "json")
    assert exported.returncode == 0, exported.stderr
    rows = {r["what"]: r for r in json.loads(exported.stdout)["rows"]}
    assert rows["file"]["written"] == model.stat().st_size
    assert rows["MACs (counted from the ONNX graph)"]["ratio"] == 1
    timed = run("measure", str(model), "--repeat", "3", "-f", "json")
    assert timed.returncode == 0, timed.stderr
    assert json.loads(timed.stdout)["totals"]["seconds"] > 0
    report = run("report", "lenet5", "-H", "raspberry_pi_5", "--plan", str(plan),
                 "--exported", str(model), "-f", "json")
    assert report.returncode == 0, report.stderr
    section = json.loads(report.stdout)["tables"]["exported"]
    assert {r["name"] for r in section["rows"]} >= {"conv1", "fc1"}
    assert any("relative L2" in n for n in section["notes"])


def test_export_refuses_what_does_not_match_and_writes_nothing(tmp_path: Path) -> None:
    plan, model = tmp_path / "plan.json", tmp_path / "m.onnx"
    assert run("plan", "lenet5", "-H", "raspberry_pi_5", "--max-size", "60kB", "--proxy",
               "weights", "-o", str(plan)).returncode == 0
    other = run("export", "digits_cnn", str(plan), "-o", str(model))
    assert other.returncode == 1 and "the plan is for 'lenet5'" in other.stderr
    profile = run("export", "lenet5", str(plan), "-o", str(model), "-H", "snapdragon_855")
    assert profile.returncode == 1 and "planned for the profile 'raspberry_pi_5'" in (
        profile.stderr)
    broken = tmp_path / "broken.json"
    broken.write_text(plan.read_text().replace('"weight_format": "', '"weight_format": "x'))
    bad = run("export", "lenet5", str(broken), "-o", str(model))
    assert bad.returncode == 1 and "unknown weight format 'xfp32'" in bad.stderr, bad.stderr
    broken.write_text(plan.read_text()[:100])  # cut short: not a plan file at all
    cut = run("export", "lenet5", str(broken), "-o", str(model))
    assert cut.returncode == 1 and str(broken) in cut.stderr, cut.stderr
    assert not model.exists()
    missing = run("measure", str(tmp_path / "none.onnx"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
    assert "Traceback" not in other.stderr + profile.stderr + bad.stderr + cut.stderr + (
        missing.stderr)


TORCH_FACTORY = '''
import torch
from torch import nn


class Tagger(nn.Module):
    """A sequence tagger: embeddings, a bidirectional LSTM, a per-step classifier."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(12, 32)
        self.rnn = nn.LSTM(32, 24, batch_first=True, bidirectional=True)
        self.head = nn.Linear(48, 5)

    def forward(self, x):
        y, _ = self.rnn(torch.relu(self.embed(x)))
        return self.head(y)


def tagger():
    return Tagger().eval()
'''


def test_a_pytorch_model_from_a_factory_a_torchscript_file_and_an_exported_program(
        tmp_path: Path) -> None:
    """`file.py:factory`, a TorchScript .pt and an ExportedProgram .pt2 all inspect with the
    module's parameter count and layer names; plan and simulate take the factory too, and
    `simulate -o x.npz` saves the inputs and both runs' outputs."""
    torch = pytest.importorskip("torch")
    import numpy as np

    source = tmp_path / "tagger_model.py"
    source.write_text(TORCH_FACTORY)
    factory = f"{source}:tagger"
    params = 12 * 32 + 32 + 2 * (4 * 24 * (32 + 24) + 8 * 24) + 48 * 5 + 5
    shape = ("--input-shape", "1,10,12")
    spec = importlib_spec(source)
    model = spec.tagger()
    torch.jit.save(torch.jit.trace(model, torch.randn(1, 10, 12)), str(tmp_path / "t.pt"))
    torch.export.save(torch.export.export(model, (torch.randn(1, 10, 12),)),
                      str(tmp_path / "t.pt2"))
    for name in (factory, str(tmp_path / "t.pt"), str(tmp_path / "t.pt2")):
        shown = run("inspect", name, *shape, "-f", "json")
        assert shown.returncode == 0, shown.stderr
        doc = json.loads(shown.stdout)
        assert doc["totals"]["params"] == params, name
    table = run("inspect", factory, *shape).stdout
    assert "rnn" in table and "head" in table  # the module's own names
    plan = tmp_path / "plan.json"
    made = run("plan", factory, *shape, "-H", "snapdragon_855", "--max-size", "16kB",
               "--proxy", "weights", "-o", str(plan))
    assert made.returncode == 0, made.stderr
    arrays = tmp_path / "outputs.npz"
    simulated = run("simulate", factory, str(plan), *shape, "--batch", "2", "-o", str(arrays))
    assert simulated.returncode == 0, simulated.stderr
    saved = np.load(arrays)
    out = next(k for k in saved.files if k.startswith("compressed/"))
    clean = saved["uncompressed/" + out.split("/", 1)[1]]
    assert saved[out].shape == clean.shape == (2, 10, 5)
    assert 0 < np.linalg.norm(saved[out] - clean) < np.linalg.norm(clean)
    with torch.no_grad():  # the uncompressed run is the module's own output
        want = model(torch.from_numpy(saved["inputs/x"])).numpy()
    assert np.allclose(clean, want, atol=1e-5)


def importlib_spec(path: Path) -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_pytorch_source_that_cannot_load_is_one_line_naming_it(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    source = tmp_path / "broken_model.py"
    source.write_text("def make():\n    return 42\n")
    cases = {
        f"{source}:make": "gives a int, not a torch nn.Module",
        f"{source}:absent": "has no attribute 'absent'",
        "no_such_package_xyz:make": "cannot import no_such_package_xyz",
        str(tmp_path / "missing.pt"): "no such file",
    }
    for name, message in cases.items():
        result = run("inspect", name, "--input-shape", "1,4")
        assert result.returncode == 1, (name, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, (name, last)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    result = run("inspect", str(bad), "--input-shape", "1,4")
    assert result.returncode == 1 and "not a readable TorchScript file" in result.stderr
    no_shape = run("inspect", f"{source}:make")
    assert no_shape.returncode == 1 and "needs an input shape" in no_shape.stderr
