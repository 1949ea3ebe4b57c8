"""`gradcli functions`: the primitive table, as a person or a script reads it."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from gradcli.cli.app import EXIT_INTERNAL, EXIT_OK, EXIT_OUTPUT, command, usual_exits
from gradcli.cli.options import Debug, NoColor
from gradcli.primitives import Primitive

Names = Annotated[
    list[str] | None,
    typer.Argument(metavar="NAME", help="Only these functions (default: all).", show_default=False),
]
Format = Annotated[
    Literal["table", "json"],
    typer.Option("--format", help="table (a terminal), tab-separated lines (piped), or json (also --json)."),
]
Json = Annotated[bool, typer.Option("--json", help="Same as --format json: one JSON object on stdout.")]


@command(exits=usual_exits(EXIT_OK, EXIT_INTERNAL, EXIT_OUTPUT, code_2="an unknown function name"))
def functions(
    names: Names = None,
    fmt: Format = "table",
    json_out: Json = False,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """The functions: arity, derivative rule, domain and conventions.

    On a terminal, a table; piped, a tab-separated header line, then one line per function;
    with --json, one JSON object {"functions": [...]}.

    \b
    Examples:
      gradcli functions
      gradcli functions sigmoid bce
      gradcli functions | grep convention
      gradcli functions --json
    """
    prims = chosen(names or [])
    if json_out or fmt == "json":
        from gradcli.cli.json_output import function_object, write

        write({"functions": [function_object(p) for p in prims]})
        return
    from gradcli.cli.human import function_row, functions_table

    functions_table([function_row(p) for p in prims], no_color=no_color)


def chosen(names: list[str]) -> list[Primitive]:
    """The public functions named (by name, alias or operator symbol), or all of them."""
    from gradcli.cli.docs import public_primitives
    from gradcli.errors import UnknownNameError, did_you_mean
    from gradcli.primitives import lookup, public_names

    prims = public_primitives()
    if not names:
        return prims
    out = []
    for name in names:
        prim = lookup(name) or next((p for p in prims if p.symbol == name), None)
        if prim is None or not prim.public:
            raise UnknownNameError(
                f"unknown function '{name}'",
                hint=did_you_mean(name, public_names()) or "gradcli functions lists them all",
            )
        out.append(prim)
    return list(dict.fromkeys(out))
