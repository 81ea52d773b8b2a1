"""The ``planner`` command line.

Exit codes: 0 success; 1 bad input (unknown model, malformed file, unreadable quantity);
2 usage error (unknown option); 3 no plan meets the budgets.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from graphs import GraphError, MissingExtraError
from hardware_profiles import HardwareProfile, ProfileError
from planner.api import load_model
from planner.plan import PlanError
from planner.report import FORMATS, render
from planner.report.layers import graph_table
from planner.simulate import SimulationError
from planner.units import UnitError

EXIT_INPUT = 1
EXIT_INFEASIBLE = 3

app = typer.Typer(
    name="planner",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelArg = Annotated[str, typer.Argument(
    help="A zoo name (see `planner inspect --list`), a .onnx file or a planner .json graph.")]
FormatOpt = Annotated[str, typer.Option(
    "--format", "-f", help=f"Output format: {'|'.join(FORMATS)}.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to this file instead of standard output.")]
HardwareOpt = Annotated[str | None, typer.Option(
    "--hardware", "-H", help="A bundled profile (see `planner profiles`) or a profile YAML.")]
ShapeOpt = Annotated[str | None, typer.Option(
    "--input-shape", help="Input shape, e.g. 1,3,160,160 (zoo and ONNX models).")]


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
        help="With --hardware: write a roofline chart (.png, .svg or .pdf).")] = None,
) -> None:
    """Per-layer MACs, parameters, bytes and arithmetic intensity of a model; with
    --hardware, its latency and bound on every processor and the fastest one.

    Example: planner inspect mobilenet_v2 --hardware snapdragon_855 --plot roofline.png
    """
    _check_format(fmt)
    if list_models:
        from graphs.zoo import ZOO

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
        from planner.costs import display_dtype, per_processor_costs
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
        "--output", "-o", help="Where to write the host profile (YAML).")] = Path("host.yaml"),
    quick: Annotated[bool, typer.Option(
        "--quick", help="Smaller sizes and shorter runs (seconds instead of a minute).")
    ] = False,
) -> None:
    """Microbenchmark this machine with numpy and write a hardware profile for it.

    Example: planner calibrate -o host.yaml && planner inspect resnet18 --hardware host.yaml
    """
    from rich.console import Console
    from rich.progress import Progress

    from hardware_profiles import save
    from hardware_profiles.calibrate import STEPS
    from hardware_profiles.calibrate import calibrate as measure

    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("calibrating", total=len(STEPS))

        def progress(label: str, index: int, total: int) -> None:
            bar.update(task, completed=index - 1, description=f"{label} ({index}/{total})")

        profile = measure(progress, quick=quick)
        bar.update(task, completed=len(STEPS))
    save(profile, output)
    cpu = profile.processors["cpu"]
    typer.echo(f"wrote {output}: fp32 GEMM {cpu.peak_ops_per_s['fp32'].value / 1e9:.1f} GFLOP/s, "
               f"DRAM {cpu.dram_bytes_per_s.value / 1e9:.1f} GB/s")


@app.command()
def plan(
    model: ModelArg = "mobilenet_v2",
    hardware: Annotated[str, typer.Option(
        "--hardware", "-H", help="A bundled profile (see `planner profiles`) or a YAML.")
    ] = "snapdragon_855",
    max_size: Annotated[str | None, typer.Option(help="Stored weights, e.g. 2MB.")] = None,
    max_latency: Annotated[str | None, typer.Option(help="End-to-end, e.g. 15ms.")] = None,
    max_memory: Annotated[str | None, typer.Option(
        help="Peak live activations, e.g. 4MB.")] = None,
    max_energy: Annotated[str | None, typer.Option(help="Per inference, e.g. 5mJ.")] = None,
    max_error: Annotated[float | None, typer.Option(
        help="Bound on the accuracy proxy (predicted relative output error energy).")] = None,
    objective: Annotated[str, typer.Option(
        help="accuracy | latency | size | energy | memory")] = "accuracy",
    proxy: Annotated[str, typer.Option(
        help="measured (sensitivities by perturbation) | weights | uniform")] = "measured",
    solver: Annotated[str, typer.Option(help="cbc | highs")] = "cbc",
    time_limit: Annotated[str | None, typer.Option(
        help="Stop the solver after this long (e.g. 60s) and keep the best plan found.")
    ] = None,
    resolution: Annotated[float, typer.Option(
        help="Merge options within this relative factor (0: exact option fronts).")] = 0.0,
    output: OutputOpt = None,
    fmt: FormatOpt = "table",
    input_shape: ShapeOpt = None,
) -> None:
    """Choose per layer a pruning ratio, sparsity, weight format, rank and processor that
    minimise the objective within the budgets; write the plan as JSON with -o.

    Example: planner plan mobilenet_v2 --hardware snapdragon_855 --max-size 2MB
    --max-latency 15ms -o plan.json
    """
    from planner.ilp import SOLVERS
    from planner.options import OptionSpace
    from planner.plan import InfeasibleBudgetError
    from planner.plan import plan as make_plan
    from planner.problem import OBJECTIVES
    from planner.report.plan_table import plan_table
    from planner.units import parse_bytes, parse_joules, parse_seconds

    _check_format(fmt)
    for value, allowed, hint in ((objective, OBJECTIVES, "--objective"),
                                 (proxy, ("measured", "weights", "uniform"), "--proxy"),
                                 (solver, SOLVERS, "--solver")):
        if value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}",
                                     param_hint=hint)
    graph = load_model(model, parse_shape(input_shape), weights=True)
    profile = load_profile(hardware)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("measuring proxies", total=None)

        def progress(label: str, index: int, total: int) -> None:
            bar.update(task, completed=index, total=total, description=label[:60])

        try:
            result = make_plan(
                graph, profile,
                max_size_bytes=parse_bytes(max_size) if max_size else None,
                max_latency_s=parse_seconds(max_latency) if max_latency else None,
                max_memory_bytes=parse_bytes(max_memory) if max_memory else None,
                max_energy_j=parse_joules(max_energy) if max_energy else None,
                max_error=max_error, objective=objective,  # type: ignore[arg-type]
                proxy=proxy,  # type: ignore[arg-type]
                solver=solver,  # type: ignore[arg-type]
                space=OptionSpace(resolution=resolution),
                time_limit_s=parse_seconds(time_limit) if time_limit else None,
                progress=progress)
        except InfeasibleBudgetError as exc:
            bar.stop()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_INFEASIBLE) from None
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
        help="An .npz with an 'inputs' array (N, …) and optionally 'labels' (N,).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the full result as JSON to this file.")] = None,
    fmt: FormatOpt = "table",
    input_shape: ShapeOpt = None,
) -> None:
    """Apply a plan to the model's weights (prune, factorise, quantize, share), execute it
    with numpy and compare with the uncompressed run: stored bytes, MACs and output error,
    per layer and in total. digits_cnn runs on the digits test set and reports accuracy.

    Example: planner simulate mobilenet_v2 plan.json --batch 4
    """
    import numpy as np
    from rich.console import Console
    from rich.progress import Progress

    from planner.plan import load_plan
    from planner.report.simulation_table import simulation_table
    from planner.simulate import simulate as run_plan

    _check_format(fmt)
    graph = load_model(model, parse_shape(input_shape), weights=True)
    plan = load_plan(plan_file)
    arrays, labels = None, None
    if inputs is not None:
        try:
            stored = np.load(inputs)
            arrays = stored["inputs"]
        except (OSError, ValueError, KeyError) as exc:
            raise PlanError(f"{inputs}: expected an .npz with an 'inputs' array ({exc})"
                            ) from None
        labels = stored.get("labels")
    elif model == "digits_cnn" and input_shape is None:
        from graphs.zoo.digits import digits_split

        _, _, arrays, labels = digits_split()
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("simulating", total=None)

        def progress(label: str, index: int, total: int) -> None:
            bar.update(task, completed=index, total=total, description=label[:60])

        result = run_plan(graph, plan, arrays, batch=batch, labels=labels, progress=progress)
    if output is not None:
        output.write_text(result.model_dump_json(indent=1))
        typer.echo(f"wrote {output}", err=True)
    typer.echo(render(simulation_table(result), fmt).rstrip("\n"))


@app.callback()
def _root() -> None:
    """Plan how to prune, quantize and decompose a neural network for a phone or an edge
    board.

    Example: planner inspect mobilenet_v2
    """


def main() -> None:
    """Entry point: usage errors exit 2 (click's convention); bad input prints one line
    ``error: …`` and exits 1."""
    try:
        app()
    except (GraphError, ProfileError, UnitError, MissingExtraError, FileNotFoundError,
            PlanError, SimulationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)


if __name__ == "__main__":
    main()
