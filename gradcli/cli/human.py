"""Human output: the value, then a table of input, value, gradient; arrays shape-aware.

Numbers show `precision` significant digits; arrays show their shape and their values,
summarised (first and last items) when long. On a terminal the tables have light rules
and colour; otherwise (piped, NO_COLOR, --no-color) plain aligned text without trailing
spaces. rich is imported here only, and only when something is printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcli.output.console import emit, make_table, plain_boxes
from gradcli.output.numbers import shape_text, value_text

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from gradcli.primitives import Primitive

CONSTANT = "constant"  # gradient cell of an input left out of --wrt (requires_grad=False)


def value_line(value: Any, precision: int) -> str:
    label = "value  "
    return label + value_text(value, precision).replace("\n", "\n" + " " * len(label))


def result(
    console: Console,
    value: Any,
    inputs: Mapping[str, Any],
    precision: int,
    gradients: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """The value, then one row per input: [shape], value, and one gradient column per mode.

    `gradients` maps a column title ("gradient", or "reverse"/"forward") to the gradient
    by input name; inputs missing from it are constants (left out of --wrt).
    """
    from rich.text import Text  # cells are Text, so '[1, 2]' is never read as rich markup

    plain = plain_boxes(console)
    parts: list[RenderableType] = [Text(value_line(value, precision), style="" if plain else "bold")]
    if inputs:
        any_array = any(np.ndim(v) for v in inputs.values())
        columns = gradients or {}
        headers = ["input", *(["shape"] if any_array else []), "value", *columns]
        table = make_table(console, headers)
        for name, v in inputs.items():
            cells = [name, *([shape_text(v)] if any_array else []), value_text(v, precision, shape=False)]
            row = [Text(c) for c in cells]
            for grads in columns.values():
                if name in grads:
                    row.append(
                        Text(value_text(grads[name], precision, shape=False), style="" if plain else "cyan")
                    )
                else:
                    row.append(Text(CONSTANT, style="" if plain else "dim"))
            table.add_row(*row)
        parts += [Text(""), table]
    emit(console, *parts)


def functions_table(rows: Sequence[tuple[str, ...]], *, no_color: bool = False) -> None:
    """`gradcli functions` on stdout: a table on a terminal (or with FORCE_COLOR); otherwise a
    tab-separated header line, then one line per function, written without importing rich."""
    import sys

    from gradcli.output.console import wants_color

    headers = ("name", "written", "arity", "derivative rule", "notes")
    isatty = _isatty(sys.stdout)
    if not (isatty or wants_color(isatty, no_color)):
        lines = ["\t".join(headers), *("\t".join(row) for row in rows)]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return
    from rich.text import Text

    from gradcli.output.console import make_console

    console = make_console(no_color=no_color)
    table = make_table(console, headers)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: '[x > 0]' is not rich markup
    emit(console, table)


def _isatty(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def function_row(prim: Primitive) -> tuple[str, str, str, str, str]:
    """One row of `gradcli functions`, from the primitive table via gradcli.cli.docs: the name
    alone first (what `grep` and `cut -f1` want; `mul` too), then how programs write it."""
    from gradcli.cli.docs import aliases_of, derivative_text, notes

    spelled = ", ".join(prim.spelled())
    aliases = aliases_of(prim)
    if aliases:
        spelled += " (also " + ", ".join(aliases) + ")"
    return prim.name, spelled, prim.arity, derivative_text(prim), "; ".join(notes(prim)).replace("`", "")
