"""`gradcli explain`: the chain rule, step by step, with the numbers at the point."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

import typer

from gradcli.cli.app import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_OUTPUT, command, usual_exits, warn
from gradcli.cli.grad import load
from gradcli.cli.options import (
    Bindings,
    Debug,
    ExplainMode,
    Export,
    Json,
    MaxRows,
    NoColor,
    Precision,
    Program,
    Style,
    Wrt,
)

Format = Annotated[
    Literal["table", "markdown", "json"],
    typer.Option("--format", help="table (terminal), markdown (GitHub tables), or json (also --json)."),
]


def show(explanation: Any, fmt: str, export: str | None, style: Style, max_rows: int | None = None) -> None:
    """The explanation on stdout as tables, markdown or JSON; and, with `export`, to a file."""
    from gradcli.explain import render

    rows = render.DEFAULT_MAX_ROWS if max_rows is None else max_rows
    if fmt == "json":
        from gradcli.cli.json_output import explanation_object, write

        obj = explanation_object(explanation, max_rows=rows)
        for w in obj["warnings"]:
            warn(w, no_color=style.no_color)
        write(obj)
    elif fmt == "markdown":
        sys.stdout.write(render.markdown(explanation, precision=style.precision, max_rows=rows))
        sys.stdout.flush()
    else:
        import os

        from gradcli.output.console import make_console

        # piped, COLUMNS (when set) is the width to fit, as on a terminal of that width
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and not sys.stdout.isatty() and int(columns) >= 40 else None
        console = make_console(no_color=style.no_color, width=width)
        render.print_tables(explanation, console, precision=style.precision, max_rows=rows)
    if export:
        render.export(explanation, export, precision=style.precision, max_rows=rows)
        typer.echo(f"wrote {export}", err=True)


@command(exits=usual_exits(EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OUTPUT))
def explain(
    program: Program,
    bindings: Bindings = None,
    wrt: Wrt = None,
    mode: ExplainMode = "reverse",
    fmt: Format = "table",
    json_out: Json = False,
    export: Export = None,
    max_rows: MaxRows = 60,
    precision: Precision = 5,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """The chain rule, step by step, with the numbers at the given point.

    Three tables: the forward pass (the value of every node); the backward pass (for
    every node, its gradient and the local derivative it multiplies in, from the
    primitive table's rules); and, per input, each path from the output down to the
    input as a product of local derivatives, summed over the paths. --mode forward
    shows the tangents each seeded input carries forward instead of the backward pass.

    \b
    Examples:
      gradcli explain 'z = w*x + b; p = sigmoid(z); bce(p, y)' x=6.7 y=0 w=1 b=0 --wrt w,b
      gradcli explain 'sin(x**2)' x=3 --mode forward
      gradcli explain 'mean(x**2)' 'x=[1, 2, 3]' --format markdown
      gradcli explain 'bce(sigmoid(w*x+b), y)' x=6.7 y=0 w=1 b=0 --export chain.svg
    """
    from gradcli.explain.model import explain as build

    if export:
        from gradcli.explain.render import export_kind

        export_kind(export)  # a bad file name is an error before anything is printed
    if json_out:
        fmt = "json"
    source, values = load(program, bindings)
    explanation = build(source, values, wrt=",".join(wrt) if wrt else None, mode=mode)
    if fmt != "json":
        for w in explanation.warnings:
            warn(w, no_color=no_color)
    show(explanation, fmt, export, Style(json_out, precision, no_color), max_rows)
