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
from planner.report import FORMATS, render
from planner.report.layers import graph_table
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
    from rich.progress import Progress

    from hardware_profiles import save
    from hardware_profiles.calibrate import STEPS
    from hardware_profiles.calibrate import calibrate as measure

    with Progress(transient=True) as bar:
        task = bar.add_task("calibrating", total=len(STEPS))

        def progress(label: str, index: int, total: int) -> None:
            bar.update(task, completed=index - 1, description=f"{label} ({index}/{total})")

        profile = measure(progress, quick=quick)
        bar.update(task, completed=len(STEPS))
    save(profile, output)
    cpu = profile.processors["cpu"]
    typer.echo(f"wrote {output}: fp32 GEMM {cpu.peak_ops_per_s['fp32'].value / 1e9:.1f} GFLOP/s, "
               f"DRAM {cpu.dram_bytes_per_s.value / 1e9:.1f} GB/s")


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
    except (GraphError, ProfileError, UnitError, MissingExtraError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)


if __name__ == "__main__":
    main()
