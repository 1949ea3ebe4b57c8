"""`--at FILE`: grad and eval over many points in one call (gradcli/batch.py), written as CSV,
JSON Lines or a table."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

import typer

from gradcli.cli.app import EXIT_BAD_INPUT, warn

At = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="FILE",
        help="Many points: a CSV file with a header of input names, JSON Lines (one object of "
        "bindings a line), or - for stdin. Bindings on the command line are shared by every row.",
        show_default=False,
    ),
]
AtFormat = Annotated[
    Literal["auto", "csv", "jsonl"],
    typer.Option("--at-format", help="The --at file's format (auto: '{' starts JSON Lines, else CSV)."),
]
RowsFormat = Annotated[
    Literal["table", "csv", "jsonl"],
    typer.Option(
        "--format", help="With --at: a table, CSV (input columns, value, d/dNAME columns), or JSON Lines."
    ),
]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="With --at: stop at the first bad row.")]
TABLE_ROWS = 50  # a table shows this many rows, with a note (CSV and JSON Lines have all)


def read_points(at: str, at_format: str | None) -> tuple[list[str], list[Any]]:
    from gradcli.batch import read_rows
    from gradcli.bindings import read_text_file
    from gradcli.limits import LIMITS

    if at == "-":
        text = sys.stdin.read(LIMITS.max_text_file_bytes + 1).removeprefix("\ufeff")
    else:  # at most the text-file limit, UTF-8, as a file of values
        text = read_text_file(at, "the points", LIMITS.max_text_file_bytes)
    return read_rows(text, None if at_format in (None, "auto") else at_format)


def run_points(
    source: str,
    values: dict[str, Any],
    at: str,
    at_format: str | None,
    fmt: str,
    fail_fast: bool,
    *,
    gradient: bool,
    wrt: str | None = None,
    mode: str = "reverse",
    no_color: bool = False,
    precision: int = 10,
) -> None:
    from gradcli.api import Compiled
    from gradcli.batch import csv_lines, run

    compiled = Compiled(source)
    columns, rows = read_points(at, at_format)
    results, vectorized = run(
        compiled, values, rows, gradient=gradient, wrt=wrt, mode=mode, fail_fast=fail_fast
    )
    names = compiled.check_wrt(wrt) if gradient else []
    bad = [r for r in results if r.error]
    for res in results:
        for w in res.warnings:
            warn(w if w.startswith("row ") else f"row {res.row.number}: {w}", no_color=no_color)
    if fmt == "csv":
        for line in csv_lines(columns, results, names):
            sys.stdout.write(line)
    elif fmt == "jsonl":
        _jsonl(columns, results, names)
    else:
        _table(columns, results, names, precision, no_color)
    for res in bad:
        warn(res.error, no_color=no_color)
    if not vectorized and len(rows) > 1:
        typer.echo("note: evaluated row by row (the program is not element-wise in the row inputs)", err=True)
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


def _jsonl(columns: list[str], results: list[Any], names: list[str]) -> None:
    from gradcli.output.jsondata import dumps, to_json

    for res in results:
        obj: dict[str, Any] = {"row": res.row.number, "inputs": to_json(res.row.values)}
        if res.error:
            obj["error"] = res.error
        else:
            obj["value"] = to_json(res.value)
            if names:
                obj["gradient"] = to_json(res.gradient)
            obj["warnings"] = res.warnings
        sys.stdout.write(dumps(obj) + "\n")


def _table(columns: list[str], results: list[Any], names: list[str], precision: int, no_color: bool) -> None:
    from gradcli.output.console import emit, make_console, make_table
    from gradcli.output.numbers import value_text

    console = make_console(no_color=no_color)
    headers = ["row", *columns, "value", *(f"d/d{n}" for n in names)]
    table = make_table(console, headers, right=[True] * len(headers))
    for res in results[:TABLE_ROWS]:
        cells = [
            str(res.row.number),
            *(
                value_text(res.row.values.get(c), precision, one_line=True) if c in res.row.values else ""
                for c in columns
            ),
        ]
        if res.error:
            cells += ["error", *("" for _ in names)]
        else:
            cells += [
                value_text(res.value, precision, one_line=True),
                *(value_text(res.gradient[n], precision, one_line=True) for n in names),
            ]
        table.add_row(*cells)
    emit(console, table)
    if len(results) > TABLE_ROWS:
        typer.echo(f"note: {TABLE_ROWS} of {len(results):,} rows shown (--format csv or jsonl has all)")
