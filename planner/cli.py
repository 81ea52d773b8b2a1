"""The ``planner`` command line.

Exit codes: 0 success; 1 bad input (unknown model, malformed file, unreadable quantity, a
plan that does not fit the model);
2 usage error (unknown option); 3 no plan meets the budgets.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from graphs import Graph, GraphError, MissingExtraError
from hardware_profiles import HardwareProfile, ProfileError
from planner.api import load_model
from planner.contracts.plan_file import Plan, PlanError
from planner.contracts.quantities import BudgetError
from planner.contracts.units import UnitError
from planner.export import ExportError, RuntimeFailure
from planner.report import FORMATS, render
from planner.report.layers import graph_table
from planner.search.problem import Budgets
from planner.validate import SimulationError, SimulationResult

EXIT_INPUT = 1
EXIT_INFEASIBLE = 3
EXIT_INTERRUPTED = 130
"""Ctrl-C: 128 + SIGINT, the shell's convention."""
PROXIES = ("measured", "weights", "uniform")

app = typer.Typer(
    name="planner",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelArg = Annotated[str, typer.Argument(
    help="A zoo name (see `planner inspect --list`), a .onnx file, a planner .json graph, or "
         "a PyTorch model: package.module:factory, file.py:factory, a TorchScript .pt or an "
         "ExportedProgram .pt2 (with --input-shape).")]
FormatOpt = Annotated[str, typer.Option(
    "--format", "-f", help=f"Output format: {'|'.join(FORMATS)}.")]
def writable(path: Path | None) -> Path | None:
    """An output path a command can write: not a folder, in a folder that exists, not a
    name that starts with "-" (``-o --batch 1`` with the file name forgotten would write a
    file called ``--batch``); checked before any work is done."""
    if path is None:
        return None
    if path.name.startswith("-"):
        raise typer.BadParameter(f"{path} reads as an option, not a file name; give the "
                                 "file name")
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise typer.BadParameter(f"the folder {path.parent} does not exist")
    return path


OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to this file instead of standard output.",
    callback=writable)]
HardwareOpt = Annotated[str | None, typer.Option(
    "--hardware", "-H", help="A bundled profile (see `planner profiles`) or a profile YAML.")]
ShapeOpt = Annotated[str | None, typer.Option(
    "--input-shape", help="Input shape, e.g. 1,3,160,160 (zoo and ONNX models).")]
ProfileOpt = Annotated[str, typer.Option(
    "--hardware", "-H", help="A bundled profile (see `planner profiles`) or a YAML.")]
MaxSizeOpt = Annotated[str | None, typer.Option(help="Stored weights, e.g. 2MB.")]
MaxLatencyOpt = Annotated[str | None, typer.Option(help="End-to-end, e.g. 15ms.")]
MaxMemoryOpt = Annotated[str | None, typer.Option(help="Peak live activations, e.g. 4MB.")]
MaxEnergyOpt = Annotated[str | None, typer.Option(help="Per inference, e.g. 5mJ.")]
ObjectiveOpt = Annotated[str, typer.Option(help="accuracy | latency | size | energy | memory")]
NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="Measure proxies afresh instead of reading (and writing) the facts "
    "cache under $XDG_CACHE_HOME/edge-compression-planner.")]
TimingsOpt = Annotated[bool, typer.Option(
    "--timings", help="Record solve times in the written plans (without it identical runs "
    "write identical files).")]
ProxyOpt = Annotated[str, typer.Option(
    help="measured (sensitivities by perturbation) | weights | uniform")]


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``1,3,224,224`` or ``1x3x224x224`` as a tuple of ints."""
    if text is None:
        return None
    try:
        return tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise UnitError(f"cannot read input shape {text!r}; expected e.g. 1,3,224,224") from None


def load_profile(name: str) -> HardwareProfile:
    """A bundled profile or a YAML file (errors name the file and field)."""
    from hardware_profiles import load

    return load(name)


def emit(text: str, output: Path | None) -> None:
    """Print ``text`` or write it to ``output``."""
    if output is None:
        typer.echo(text.rstrip("\n"))
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A transient progress bar on standard error; yields ``update(label, done, total)``."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=None)

        def update(text: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=text[:60])

        yield update


def _check_choices(**given: tuple[str, Sequence[str]]) -> None:
    for flag, (value, allowed) in given.items():
        if value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}",
                                     param_hint=f"--{flag.replace('_', '-')}")


def parse_budgets(max_size: str | None, max_latency: str | None, max_memory: str | None,
                  max_energy: str | None, max_error: float | None = None) -> Budgets:
    """Human budgets (``2MB``, ``15ms``, ``4MB``, ``5mJ``) in base units."""
    from planner.contracts.quantities import QUANTITIES

    given = {"size": max_size, "latency": max_latency, "memory": max_memory,
             "energy": max_energy, "error": max_error}
    return Budgets.of(**{name: QUANTITIES[name].parse(text) if text is not None else None
                         for name, text in given.items()})


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}",
                                 param_hint="--format")


@app.command()
def inspect(
    model: ModelArg = "mobilenet_v2",
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    input_shape: ShapeOpt = None,
    all_layers: Annotated[bool, typer.Option(
        "--all-layers", help="Also list layers that do no work (inputs, views).")] = False,
    list_models: Annotated[bool, typer.Option("--list", help="List the zoo models.")] = False,
    hardware: HardwareOpt = None,
    dtype: Annotated[str, typer.Option(
        help="Dtype to cost each processor at, where it computes in it (else its widest).")
    ] = "fp32",
    plot: Annotated[Path | None, typer.Option(
        help="With --hardware: write a roofline chart (.png, .svg or .pdf).",
        callback=writable)] = None,
) -> None:
    """Per-layer MACs, parameters, bytes and arithmetic intensity of a model; with
    --hardware, its latency and bound on every processor and the fastest one.

    Example: planner inspect mobilenet_v2 --hardware snapdragon_855 --plot roofline.png
    """
    from hardware_profiles import DTYPE_BITS

    _check_format(fmt)
    _check_choices(dtype=(dtype, tuple(DTYPE_BITS)))
    if list_models:
        from graphs import ZOO

        for name, entry in ZOO.items():
            typer.echo(f"{name:22s} {entry.summary}")
        return
    graph = load_model(model, parse_shape(input_shape))
    if hardware is None:
        if plot is not None:
            raise typer.BadParameter("a roofline chart needs --hardware", param_hint="--plot")
        emit(render(graph_table(graph, all_layers), fmt), output)
        return
    from planner.report.hardware import hardware_table

    profile = load_profile(hardware)
    emit(render(hardware_table(graph, profile, dtype), fmt), output)
    if plot is not None:
        from planner.cost import display_dtype, per_processor_costs
        from planner.report.plots import roofline_figure, save_figure

        dtypes = {n: display_dtype(p, dtype) for n, p in profile.processors.items()}
        figure = roofline_figure(profile, dtypes, per_processor_costs(graph, profile, dtypes),
                                 f"{graph.name} on {profile.display_name}")
        save_figure(figure, plot)
        typer.echo(f"wrote {plot}", err=True)


@app.command()
def profiles(
    name: Annotated[str | None, typer.Argument(
        help="A bundled profile name or a profile YAML file; omit to list the bundled ones.")
    ] = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """List the bundled hardware profiles, or show every number of one with its source.

    Example: planner profiles snapdragon_855
    """
    _check_format(fmt)
    from hardware_profiles import available
    from planner.report.hardware import profile_table, profiles_table

    if name is None:
        table = profiles_table([load_profile(n) for n in available()])
    else:
        table = profile_table(load_profile(name))
    emit(render(table, fmt), output)


@app.command()
def calibrate(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write the host profile (YAML).",
        callback=writable)] = Path("host.yaml"),
    runtime: Annotated[str, typer.Option(
        "--runtime", help="Whose kernels to measure: numpy (the planner's executor, "
        "what planner simulate runs) or onnxruntime (what planner export writes runs in)."
    )] = "numpy",
    threads: Annotated[int, typer.Option(
        "--threads", min=1, help="Threads the runtime may use (recorded in the profile); "
        "1 gives stable numbers on a shared machine.")] = 1,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Smaller sizes and shorter runs (seconds instead of minutes).")
    ] = False,
) -> None:
    """Microbenchmark this machine's runtime and write a hardware profile for it.

    Example: planner calibrate --runtime onnxruntime -o host.yaml && planner inspect resnet18
    --hardware host.yaml
    """
    from rich.console import Console
    from rich.progress import Progress

    from hardware_profiles import save
    from hardware_profiles.calibrate import calibrate as measure
    from planner.validate import calibrate_executor

    _check_choices(runtime=(runtime, ("numpy", "onnxruntime")))
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("calibrating", total=None)

        def progress(label: str, index: int, total: int) -> None:
            bar.update(task, total=total, completed=index - 1,
                       description=f"{label} ({index}/{total})")

        try:
            profile = (calibrate_executor(progress, quick=quick, threads=threads)
                       if runtime == "numpy" else
                       measure(progress, quick=quick, runtime=runtime, threads=threads))
        except ImportError as exc:
            raise typer.BadParameter(str(exc), param_hint="--runtime") from None
    save(profile, output)
    cpu = profile.processors["cpu"]
    typer.echo(f"wrote {output}: {runtime} at {threads} thread(s), fp32 peak "
               f"{cpu.peak_ops_per_s['fp32'].value / 1e9:.1f} GFLOP/s, "
               f"DRAM {cpu.dram_bytes_per_s.value / 1e9:.1f} GB/s")
    calibration = profile.calibration
    for warning in calibration.warnings if calibration else []:
        typer.echo(f"warning: {warning}", err=True)


@app.command()
def fit(
    profile: Annotated[str, typer.Argument(
        help="A bundled profile (see `planner profiles`) or a profile YAML.")],
    measurements: Annotated[Path, typer.Argument(
        help="Measured latencies (YAML rows {model, processor, dtype, ms}, the format of "
             "docs/published_latencies.yaml).")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write the fitted profile (YAML).",
        callback=writable)] = Path("fitted.yaml"),
    fmt: FormatOpt = "table",
) -> None:
    """Fit a profile's efficiency factors to measured latencies and write the fitted
    profile; prints each row before, after and held out of the fit (leave-one-out).

    Example: planner fit snapdragon_855 docs/published_latencies.yaml -o sd855_fitted.yaml
    """
    from hardware_profiles import save
    from planner.contracts.latency_file import read_latencies
    from planner.cost.profile_fit import LatencyMeasurement, fit_profile
    from planner.report.fit_table import fit_table

    device = load_profile(profile)
    rows = read_latencies(measurements, device.name)
    measured = [LatencyMeasurement(r.label, load_model(r.model, r.input), r.processor, r.dtype,
                                   r.seconds) for r in rows]
    try:
        result = fit_profile(device, measured, str(measurements))
    except ValueError as exc:
        raise PlanError(f"{measurements}: {exc}") from None
    save(result.profile, output)
    emit(render(fit_table(result, profile), fmt), None)
    typer.echo(f"wrote {output}", err=True)


@app.command()
def plan(
    model: ModelArg = "mobilenet_v2",
    hardware: ProfileOpt = "snapdragon_855",
    max_size: MaxSizeOpt = None,
    max_latency: MaxLatencyOpt = None,
    max_memory: MaxMemoryOpt = None,
    max_energy: MaxEnergyOpt = None,
    max_error: Annotated[float | None, typer.Option(
        help="Bound on the accuracy proxy (predicted relative output error energy).")] = None,
    objective: ObjectiveOpt = "accuracy",
    proxy: ProxyOpt = "measured",
    solver: Annotated[str, typer.Option(help="highs | cbc")] = "highs",
    time_limit: Annotated[str | None, typer.Option(
        help="Stop after this long in all (e.g. 60s; measuring proxies, building the "
             "options and every solve share it) and keep the best plan found that meets "
             "every budget.")
    ] = None,
    resolution: Annotated[float, typer.Option(
        help="Merge options within this relative factor (0: exact option fronts).")] = 0.0,
    output: OutputOpt = None,
    fmt: FormatOpt = "table",
    input_shape: ShapeOpt = None,
    no_cache: NoCacheOpt = False,
    timings: TimingsOpt = False,
) -> None:
    """Choose per layer a pruning ratio, sparsity, weight format, rank and processor that
    minimise the objective within the budgets; write the plan as JSON with -o.

    Example: planner plan mobilenet_v2 --hardware snapdragon_855 --max-size 2MB
    --max-latency 15ms -o plan.json
    """
    from planner.contracts.units import parse_seconds
    from planner.planning.plan import BudgetBrokenError, InfeasibleBudgetError
    from planner.planning.plan import plan as make_plan
    from planner.report.plan_table import plan_table
    from planner.search.ilp import SOLVERS
    from planner.search.options import OptionSpace
    from planner.search.problem import OBJECTIVES

    _check_format(fmt)
    _check_choices(objective=(objective, OBJECTIVES), proxy=(proxy, PROXIES),
                   solver=(solver, SOLVERS))
    graph = load_model(model, parse_shape(input_shape), weights=True)
    profile = load_profile(hardware)
    b = parse_budgets(max_size, max_latency, max_memory, max_energy, max_error)
    try:
        space = OptionSpace(resolution=resolution)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--resolution") from None
    with progress_bar("measuring proxies") as progress:
        try:
            result = make_plan(
                graph, profile, max_size_bytes=b.size_bytes, max_latency_s=b.latency_s,
                max_memory_bytes=b.memory_bytes, max_energy_j=b.energy_j, max_error=b.error,
                objective=objective,  # type: ignore[arg-type]
                proxy=proxy,  # type: ignore[arg-type]
                solver=solver,  # type: ignore[arg-type]
                space=space,
                time_limit_s=parse_seconds(time_limit) if time_limit is not None else None,
                progress=progress, cache=not no_cache)
        except (InfeasibleBudgetError, BudgetBrokenError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_INFEASIBLE) from None
    if not timings:
        result = result.without_timings()
    if output is not None:
        result.save(output)
        typer.echo(f"wrote {output}", err=True)
    typer.echo(render(plan_table(result), fmt).rstrip("\n"))


@app.command()
def simulate(
    model: ModelArg,
    plan_file: Annotated[Path, typer.Argument(
        metavar="PLAN", help="A plan written by `planner plan -o plan.json`.")],
    batch: Annotated[int, typer.Option(
        min=1, help="Seeded calibration inputs to run (without --inputs).")] = 8,
    inputs: Annotated[Path | None, typer.Option(
        help="An .npy of inputs (N, …), or an .npz with an 'inputs' array and optionally "
             "'labels' (N,).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the full result as JSON to this file, or, to a .npz, "
                               "the inputs and both runs' outputs (inputs/NAME, "
                               "uncompressed/NAME, compressed/NAME).",
        callback=writable)] = None,
    fmt: FormatOpt = "table",
    input_shape: ShapeOpt = None,
) -> None:
    """Apply a plan to the model's weights (prune, factorise, quantize, share), execute it
    with numpy and compare with the uncompressed run: stored bytes, MACs and output error,
    per layer and in total. digits_cnn runs on the digits test set and reports accuracy.

    Example: planner simulate mobilenet_v2 plan.json --batch 4 -o outputs.npz
    """
    from planner.contracts.plan_file import load_plan
    from planner.report.simulation_table import simulation_table

    _check_format(fmt)
    graph = load_model(model, parse_shape(input_shape), weights=True)
    result = run_simulation(graph, load_plan(plan_file), model, input_shape, inputs, batch)
    if output is not None and output.suffix.lower() == ".npz":
        import numpy as np

        arrays: dict[str, Any] = result.arrays()
        np.savez(output, **arrays)
        typer.echo(f"wrote {output}", err=True)
    elif output is not None:
        output.write_text(result.model_dump_json(indent=1))
        typer.echo(f"wrote {output}", err=True)
    typer.echo(render(simulation_table(result), fmt).rstrip("\n"))


InputsOpt = Annotated[Path | None, typer.Option(
    help="An .npy of inputs (N, …), or an .npz with an 'inputs' array.")]


@app.command("export")
def export_model(
    model: ModelArg,
    plan_file: Annotated[Path, typer.Argument(
        metavar="PLAN", help="A plan written by `planner plan -o plan.json`.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The .onnx file to write.", callback=writable)],
    inputs: Annotated[Path | None, typer.Option(
        help="Calibration inputs for the static activation scales: an .npy (N, …) or an "
             ".npz with an 'inputs' array (default: --batch seeded inputs).")] = None,
    batch: Annotated[int, typer.Option(
        min=1, help="Seeded calibration inputs (without --inputs).")] = 8,
    hardware: HardwareOpt = None,
    fmt: FormatOpt = "table",
    input_shape: ShapeOpt = None,
) -> None:
    """Write the plan applied to the model's weights as an ONNX model that onnxruntime
    runs: pruned channels removed, low-rank layers as their factors, int8/int4 weights as
    QDQ, fp16 weights as fp16, k-means weights as indices into a codebook, activations as
    the plan stores them (static int8 QDQ calibrated on the inputs). Nothing is written
    unless the whole model exports and validates.

    Example: planner export mobilenet_v2 plan.json -o mobilenet_v2.onnx
    """
    from planner.contracts.plan_file import load_plan
    from planner.export import export
    from planner.report.export_table import export_result_table

    _check_format(fmt)
    plan = load_plan(plan_file)
    if hardware is not None and load_profile(hardware).name != plan.profile:
        raise PlanError(f"{plan_file} was planned for the profile {plan.profile!r}, not "
                        f"{hardware!r}")
    graph = load_model(model, parse_shape(input_shape), weights=True)
    arrays = load_inputs(inputs)[0] if inputs is not None else None
    result = export(graph, plan, output, arrays, batch=batch)
    typer.echo(f"wrote {output}", err=True)
    typer.echo(render(export_result_table(result), fmt).rstrip("\n"))


@app.command()
def measure(
    onnx_file: Annotated[Path, typer.Argument(
        metavar="MODEL.onnx", help="An ONNX model, e.g. from `planner export`.")],
    threads: Annotated[int, typer.Option(min=1, help="onnxruntime intra-op threads.")] = 1,
    repeat: Annotated[int, typer.Option(min=1, help="Timed runs.")] = 20,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs first.")] = 3,
    inputs: InputsOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the measurement as JSON to this file.",
        callback=writable)] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Time a model in onnxruntime on this machine: the median of --repeat runs after
    --warmup, their spread, and each layer's kernel time from onnxruntime's profiler, with
    the thread count pinned and recorded.

    Example: planner measure mobilenet_v2.onnx --threads 1 --repeat 50
    """
    from planner.export import measure as time_model
    from planner.report.export_table import measurement_table

    _check_format(fmt)
    if not onnx_file.is_file():
        raise FileNotFoundError(f"{onnx_file}: no such file")
    arrays = load_inputs(inputs)[0] if inputs is not None else None
    timing = time_model(onnx_file, arrays, threads=threads, repeat=repeat, warmup=warmup)
    if output is not None:
        output.write_text(timing.model_dump_json(indent=1))
        typer.echo(f"wrote {output}", err=True)
    typer.echo(render(measurement_table(timing), fmt).rstrip("\n"))


@app.command()
def sweep(
    model: ModelArg = "mobilenet_v2",
    hardware: ProfileOpt = "snapdragon_855",
    over: Annotated[str, typer.Option(
        help="The budget swept: size | latency | memory | energy.")] = "size",
    points: Annotated[int, typer.Option(min=1, help="Budgets along the sweep.")] = 8,
    objective: ObjectiveOpt = "accuracy",
    proxy: ProxyOpt = "measured",
    max_size: MaxSizeOpt = None,
    max_latency: MaxLatencyOpt = None,
    max_memory: MaxMemoryOpt = None,
    max_energy: MaxEnergyOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write every plan of the sweep as JSON (for `report`).",
        callback=writable)
    ] = None,
    fmt: FormatOpt = "table",
    input_shape: ShapeOpt = None,
    no_cache: NoCacheOpt = False,
    timings: TimingsOpt = False,
    jobs: Annotated[int | None, typer.Option(
        min=1, help="Processes solving the points (default: one per core; 1: this one). "
                    "Every plan is the same whichever solves it.")] = None,
) -> None:
    """The Pareto frontier: optimal plans at budgets spaced geometrically from the
    smallest achievable value of --over to what the unconstrained optimum uses; the other
    --max-* budgets hold at every point.

    Example: planner sweep mobilenet_v2 --hardware snapdragon_855 --points 8 -o sweep.json
    """
    from planner.contracts.plan_file import Sweep
    from planner.planning.plan import BudgetBrokenError, InfeasibleBudgetError, pareto
    from planner.report.document import frontier_table
    from planner.search.problem import OBJECTIVES

    _check_format(fmt)
    _check_choices(over=(over, ("size", "latency", "memory", "energy")),
                   objective=(objective, OBJECTIVES), proxy=(proxy, PROXIES))
    graph = load_model(model, parse_shape(input_shape), weights=True)
    profile = load_profile(hardware)
    b = parse_budgets(max_size, max_latency, max_memory, max_energy)
    with progress_bar("measuring proxies") as progress:
        try:
            plans = pareto(graph, profile, over, points,
                           objective=objective,  # type: ignore[arg-type]
                           proxy=proxy,  # type: ignore[arg-type]
                           max_size_bytes=b.size_bytes, max_latency_s=b.latency_s,
                           max_memory_bytes=b.memory_bytes, max_energy_j=b.energy_j,
                           progress=progress, cache=not no_cache,
                           processes=None if jobs is None else 0 if jobs == 1 else jobs)
        except (InfeasibleBudgetError, BudgetBrokenError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_INFEASIBLE) from None
    if not timings:
        plans = [p.without_timings() for p in plans]
    if output is not None:
        Sweep(model=graph.name, profile=profile.name, over=over,
              objective=objective,  # type: ignore[arg-type]
              plans=plans).save(output)
        typer.echo(f"wrote {output}", err=True)
    typer.echo(render(frontier_table(plans), fmt).rstrip("\n"))


@app.command()
def report(
    model: ModelArg = "mobilenet_v2",
    hardware: ProfileOpt = "snapdragon_855",
    plan_file: Annotated[Path | None, typer.Option(
        "--plan", help="A plan from `planner plan -o`; without it, the fp32 baseline.")
    ] = None,
    simulation: Annotated[Path | None, typer.Option(
        help="A result from `planner simulate -o` (predicted against measured).")] = None,
    simulate: Annotated[bool, typer.Option(
        "--simulate", help="Run the simulation of --plan now (see `planner simulate`).")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, help="Inputs for --simulate.")] = 8,
    exported: Annotated[Path | None, typer.Option(
        help="The plan exported by `planner export`: its file size, onnxruntime's outputs "
             "against the simulation's, and its measured latency against the plan's.")
    ] = None,
    threads: Annotated[int, typer.Option(
        min=1, help="onnxruntime threads for --exported.")] = 1,
    sweep_file: Annotated[Path | None, typer.Option(
        "--sweep", help="Plans from `planner sweep -o` (the Pareto chart).")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="table | md | csv | json | html.")] = "table",
    output: OutputOpt = None,
    input_shape: ShapeOpt = None,
) -> None:
    """Everything about one model on one device: the summary with every budget's use,
    per-layer work, bound, choice, size and latency before and after, predicted and
    measured error; as HTML, with the roofline, per-layer bars, the Pareto frontier and
    predicted against measured charts.

    Example: planner report mobilenet_v2 -H snapdragon_855 --plan plan.json --sweep
    sweep.json --simulate -f html -o report.html
    """
    from planner.contracts.plan_file import load_plan, load_sweep
    from planner.report.document import build_report
    from planner.report.output import REPORT_FORMATS, render_report

    if fmt not in REPORT_FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(REPORT_FORMATS)}",
                                 param_hint="--format")
    if simulate and (plan_file is None or simulation is not None):
        raise typer.BadParameter("--simulate needs --plan and no --simulation",
                                 param_hint="--simulate")
    graph = load_model(model, parse_shape(input_shape), weights=True)
    profile = load_profile(hardware)
    plan = load_plan(plan_file) if plan_file is not None else None
    result = None
    if simulation is not None:
        try:
            result = SimulationResult.model_validate_json(simulation.read_text())
        except (OSError, ValueError) as exc:
            raise PlanError(f"{simulation}: not a simulation result ({str(exc)[:200]})"
                            ) from None
    elif simulate and plan is not None:
        result = run_simulation(graph, plan, model, input_shape, None, batch)
    frontier = load_sweep(sweep_file).plans if sweep_file is not None else None
    check = None
    if exported is not None:
        from planner.export import check_export

        if plan is None:
            raise typer.BadParameter("--exported needs the --plan it was exported from",
                                     param_hint="--exported")
        check = check_export(graph, plan, exported, threads=threads)
    try:
        built = build_report(graph, profile, plan, result, frontier, check)
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    emit(render_report(built, fmt), output)


def run_simulation(graph: Graph, plan: Plan, model: str, input_shape: str | None,
                   inputs: Path | None, batch: int) -> SimulationResult:
    """Simulate ``plan`` on the inputs of an .npz, the digits test set (digits_cnn at its
    own shape) or ``batch`` seeded inputs, with a progress bar."""

    from planner.validate import simulate as run_plan

    arrays, labels = load_inputs(inputs) if inputs is not None else (None, None)
    if inputs is None and model == "digits_cnn" and input_shape is None:
        from graphs import digits_split

        _, _, arrays, labels = digits_split()
    with progress_bar("simulating") as progress:
        return run_plan(graph, plan, arrays, batch=batch, labels=labels, progress=progress)


def load_inputs(path: Path) -> tuple[Any, Any]:
    """(inputs, labels or None) from an .npy of inputs or an .npz with an 'inputs' array
    and optionally 'labels'."""
    import numpy as np

    try:
        stored = np.load(path, allow_pickle=False)
        if isinstance(stored, np.ndarray):  # an .npy: the inputs alone
            return stored, None
        return stored["inputs"], stored.get("labels")
    except (OSError, ValueError, KeyError) as exc:
        raise PlanError(f"{path}: expected an .npy of inputs (N, …) or an .npz with an "
                        f"'inputs' array and optional 'labels' ({exc})") from None


@app.callback()
def _root() -> None:
    """Plan how to prune, quantize and decompose a neural network for a phone or an edge
    board.

    Example: planner inspect mobilenet_v2
    """


_NOTES = logging.StreamHandler(sys.stderr)
_NOTES.setFormatter(logging.Formatter("note: %(message)s"))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point (``argv``: the arguments after ``planner``; default ``sys.argv``): usage
    errors exit 2 (click's convention); bad input prints one line ``error: …`` and exits
    1; Ctrl-C stops even a running solve and exits 130."""
    interrupted = False

    def interrupt(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        signal.default_int_handler(signum, frame)  # type: ignore[arg-type]

    signal.signal(signal.SIGINT, interrupt)
    _NOTES.setStream(sys.stderr)  # the stream of this call (a caller may redirect it)
    log = logging.getLogger("planner")
    if _NOTES not in log.handlers:
        log.addHandler(_NOTES)
    log.setLevel(logging.INFO)
    try:
        app(args=None if argv is None else list(argv), prog_name="planner")
    except SystemExit:
        if interrupted:  # click reports "Aborted!" and exits 1; a shell expects 128 + SIGINT
            sys.exit(EXIT_INTERRUPTED)
        raise
    except (GraphError, ProfileError, UnitError, BudgetError, MissingExtraError,
            FileNotFoundError, PlanError, SimulationError, ExportError, RuntimeFailure) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)


if __name__ == "__main__":
    main()
