"""The `gradcli` command: Typer app, with user errors turned into exit code 2.

Exit codes: 0 success; 1 a check failed (`--mode both` disagreement, `check`);
2 usage, parse, name, arity, shape or binding error.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from gradcli import __version__
from gradcli.errors import GradcliError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Value and gradient of a formula, exactly, from the shell.\n\n"
    "Exit codes: 0 success, 1 a check failed, 2 bad input (usage, parse, name, arity, shape, binding).",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Programs may start with '-' ('-x**2'): unknown options are kept as arguments.
_ARGS = {"ignore_unknown_options": True, "allow_interspersed_args": True}

Program = Annotated[str, typer.Argument(help="Expression or program; '-' reads stdin, '@path' a file.")]
Bindings = Annotated[list[str] | None, typer.Argument(help="Input values: NAME=VALUE ...", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gradcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Value and gradient of a formula, exactly, from the shell."""


def _load(program: str, bindings: list[str] | None) -> tuple[str, dict[str, Any]]:
    from gradcli.bindings import parse_binding, read_program

    source = read_program(program)
    values: dict[str, Any] = {}
    for word in bindings or []:
        name, value = parse_binding(word)
        values[name] = value
    return source, values


def _to_json(value: Any) -> Any:
    import math

    import numpy as np

    if np.ndim(value) == 0:
        f = float(value)
        return f if math.isfinite(f) else None
    return [_to_json(v) for v in np.asarray(value)]


def _emit_json(obj: dict[str, Any]) -> None:
    import json

    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")


@app.command("eval", context_settings=_ARGS)
def eval_(program: Program, bindings: Bindings = None, json_out: Json = False) -> None:
    """Evaluate a program (no gradient tracking).

    Example: gradcli eval 'x**2' x=3
    """
    from gradcli.api import Compiled

    source, values = _load(program, bindings)
    compiled = Compiled(source)
    value, warnings = compiled.evaluate_full(values)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    if json_out:
        _emit_json({"program": source, "inputs": {k: _to_json(v) for k, v in values.items()},
                    "value": _to_json(value), "warnings": warnings})
    else:
        typer.echo(f"{value}")


@app.command(context_settings=_ARGS)
def grad(
    program: Program,
    bindings: Bindings = None,
    wrt: Annotated[str | None, typer.Option(help="Inputs to differentiate, comma-separated (default: all).")] = None,
    mode: Annotated[str, typer.Option(help="reverse or forward.")] = "reverse",
    json_out: Json = False,
) -> None:
    """Value and gradient of a program.

    Example: gradcli grad 'sin(x**2)' x=3
    """
    from gradcli.api import Compiled

    source, values = _load(program, bindings)
    result = Compiled(source).grad(values, wrt=wrt, mode=mode)
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    if json_out:
        _emit_json({"program": source, "inputs": {k: _to_json(v) for k, v in result.inputs.items()},
                    "value": _to_json(result.value),
                    "gradient": {k: _to_json(v) for k, v in result.gradient.items()},
                    "mode": result.mode, "warnings": result.warnings})
    else:
        typer.echo(f"value = {result.value}")
        for name, g in result.gradient.items():
            typer.echo(f"d/d{name} = {g}")


@app.command()
def functions() -> None:
    """List the functions: name, arity, derivative rule, conventions.

    Example: gradcli functions
    """
    from gradcli.primitives import PRIMITIVES

    for prim in PRIMITIVES.values():
        if prim.public:
            typer.echo(f"{prim.signature:24} {prim.doc}")


def main() -> None:
    """Entry point: run the app; user errors print a message and exit 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except GradcliError as err:
        typer.echo(str(err), err=True)
        sys.exit(err.exit_code)
    except Exception as exc:  # click's usage errors and exits arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise
