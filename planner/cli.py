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
) -> None:
    """Per-layer MACs, parameters, bytes and arithmetic intensity of a model.

    Example: planner inspect resnet50 --format md -o resnet50.md
    """
    _check_format(fmt)
    if list_models:
        from graphs.zoo import ZOO

        for name, entry in ZOO.items():
            typer.echo(f"{name:22s} {entry.summary}")
        return
    graph = load_model(model, parse_shape(input_shape))
    emit(render(graph_table(graph, all_layers), fmt), output)


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
    except (GraphError, UnitError, MissingExtraError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)


if __name__ == "__main__":
    main()
