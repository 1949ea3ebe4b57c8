"""Human output: the value, then a table of input, value, gradient; arrays shape-aware.

Numbers show `precision` significant digits; arrays show their shape and their values,
summarised (first and last items) when long. On a terminal the tables have light rules
and colour; otherwise (piped, NO_COLOR, --no-color) plain aligned text without trailing
spaces. rich is imported here only, and only when something is printed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcli.output.console import plain_boxes

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

    from gradcli.primitives import Primitive

SUMMARY_THRESHOLD = 12  # arrays with more elements are summarised
EDGE_ITEMS = 3  # items shown at each end of a summarised axis
CONSTANT = "constant"  # gradient cell of an input left out of --wrt (requires_grad=False)


def number(x: float, precision: int) -> str:
    """`precision` significant digits, shortest form: 3, -5.466781571, 1e-20, nan, -inf."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{precision}g}"


def shape_text(value: Any) -> str:
    """'' for a scalar, '(3,)' / '(2, 3)' for an array."""
    shape = np.shape(value)
    return str(shape) if shape else ""


def values_text(value: Any, precision: int) -> str:
    """A scalar as one number; an array as nested brackets, summarised when long."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return number(float(arr), precision)
    if arr.size == 0:
        return "[]"
    return np.array2string(
        arr,
        separator=", ",
        threshold=SUMMARY_THRESHOLD,
        edgeitems=EDGE_ITEMS,
        max_line_width=10**6,  # rows stay on one line; the table wraps if it must
        formatter={"float_kind": lambda v: number(float(v), precision)},
    )


def make_table(
    console: Console, headers: Sequence[str], *, right: Sequence[bool] = (), styles: Sequence[str] = ()
) -> Table:
    """The one table style of human output (grad, functions, check, explain): light rules and
    bold headers on a terminal; plain aligned columns two spaces apart otherwise. `right`
    right-aligns columns and `styles` styles them (by position; default left, unstyled)."""
    from rich import box
    from rich.table import Table

    plain = plain_boxes(console)
    out = Table(
        box=None if plain else box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 2, 0, 0) if plain else (0, 1),
        header_style="" if plain else "bold",
    )
    for k, header in enumerate(headers):
        out.add_column(
            header,
            justify="right" if k < len(right) and right[k] else "left",
            style=styles[k] if k < len(styles) else "",
            overflow="fold",
        )
    return out


def emit(console: Console, *renderables: RenderableType) -> None:
    """Print; when not on a terminal, without the padding spaces rich leaves at line ends."""
    if not plain_boxes(console):
        for item in renderables:
            console.print(item)
        return
    with console.capture() as capture:
        for item in renderables:
            console.print(item)
    text = "\n".join(line.rstrip() for line in capture.get().split("\n"))
    console.file.write(text)
    console.file.flush()


def value_line(value: Any, precision: int) -> str:
    shape = shape_text(value)
    label = f"value  shape {shape}  " if shape else "value  "
    return label + values_text(value, precision).replace("\n", "\n" + " " * len(label))


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
            cells = [name, *([shape_text(v)] if any_array else []), values_text(v, precision)]
            row = [Text(c) for c in cells]
            for grads in columns.values():
                if name in grads:
                    row.append(Text(values_text(grads[name], precision), style="" if plain else "cyan"))
                else:
                    row.append(Text(CONSTANT, style="" if plain else "dim"))
            table.add_row(*row)
        parts += [Text(""), table]
    emit(console, *parts)


def functions_table(rows: Sequence[tuple[str, str, str, str]], *, no_color: bool = False) -> None:
    """`gradcli functions` on stdout: a table on a terminal (or with FORCE_COLOR); otherwise a
    tab-separated header line, then one line per function, written without importing rich."""
    import sys

    from gradcli.output.console import wants_color

    headers = ("function", "arity", "derivative rule", "notes")
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


def function_row(prim: Primitive) -> tuple[str, str, str, str]:
    """One row of `gradcli functions`, from the primitive table via gradcli.cli.docs."""
    from gradcli.cli.docs import aliases_of, derivative_text, notes, spellings

    name = ", ".join(spellings(prim))
    aliases = aliases_of(prim)
    if aliases:
        name += " (also " + ", ".join(aliases) + ")"
    return name, prim.arity, derivative_text(prim), "; ".join(notes(prim)).replace("`", "")
