"""`gradcli plot`: f and df/dx over a range, with the tangent at a point (gradcli/curve.py,
drawn by gradcli/output/plotting.py)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from gradcli.cli.app import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_OUTPUT, command, usual_exits, warn
from gradcli.cli.options import Bindings, Debug, Json, NoColor, Program, Wrt

At = Annotated[
    float | None, typer.Option("--at", metavar="X0", help="Where to draw the tangent (default: the middle).")
]
Points = Annotated[int, typer.Option("--points", min=2, max=100_000, metavar="N", help="Points sampled.")]
Export = Annotated[
    str | None,
    typer.Option(
        "--export",
        metavar="FILE",
        help="Also write a figure: .svg, .png or .pdf (needs gradcli[plot]).",
        show_default=False,
    ),
]
RANGE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.+?)\.\.(.+)$")


@command(exits=usual_exits(EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OUTPUT))
def plot(
    program: Program,
    bindings: Bindings = None,
    wrt: Wrt = None,
    at: At = None,
    points: Points = 2000,
    export: Export = None,
    json_out: Json = False,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """f and df/dx over a range of one input, with a tangent.

    Exact derivatives, every point at once. The input plotted is the one bound to a range, x=a..b (or an array such as
    x=linspace(a, b, n), or the one named by --wrt); the other bindings are fixed. NaN and
    infinite points are gaps; kinks are marked.

    \b
    Examples:
      gradcli plot 'sin(x**2)' x=-3..3 --at 1
      gradcli plot 'relu(x - 0.5)*x' x=-1..2
      gradcli plot 'bce(sigmoid(w*x + b), 1)' w=-4..4 x=1 b=0 --export bce.svg
      gradcli plot 'log(x)' x=0..2 --json
    """
    import numpy as np

    from gradcli.bindings import parse_bindings, read_program
    from gradcli.curve import sample
    from gradcli.errors import BindingError

    source = read_program(program)
    words, ranges = [], {}
    for word in bindings or []:
        m = RANGE.match(word)
        if m:
            ranges[m.group(1)] = (_number(m.group(2)), _number(m.group(3)))
        else:
            words.append(word)
    values = parse_bindings(words)
    for k, v in values.items():
        if np.ndim(v) == 1 and k not in ranges:
            ranges[k] = (float(np.min(v)), float(np.max(v)))
    names = list(ranges) if not wrt else [n for w in wrt for n in w.split(",")]
    if len(names) != 1 or names[0] not in ranges:
        raise BindingError(
            "plot draws one input over a range: bind exactly one as x=a..b (or an array)",
            hint="gradcli plot 'sin(x**2)' x=-3..3",
        )
    name = names[0]
    lo, hi = ranges[name]
    fixed = {k: v for k, v in values.items() if k != name}
    curve = sample(source, fixed, name, lo, hi, points, at)
    if export:
        from gradcli.output.plotting import export as write_figure

        write_figure(curve, export, source)
    if json_out:
        _json(source, curve)
        return
    _terminal(curve, no_color)


def _number(text: str) -> float:
    from gradcli.api import evaluate

    return float(evaluate(text.strip()))


def _json(source: str, curve: Any) -> None:
    from gradcli.cli.json_output import write
    from gradcli.output.jsondata import to_json

    warnings: list[str] = []
    write(
        {
            "program": source,
            "input": curve.input,
            "x": to_json(curve.x, "x", warnings),
            "f": to_json(curve.f, "f", warnings),
            "df": to_json(curve.df, "df", warnings),
            "at": curve.at,
            "value_at": to_json(curve.value_at, "value_at", warnings),
            "slope": to_json(curve.slope, "slope", warnings),
            "kinks": [{"x": x, "function": fn} for x, fn in curve.kinks],
            "warnings": warnings,
        }
    )


def _terminal(curve: Any, no_color: bool) -> None:
    import sys

    import numpy as np

    from gradcli.output.console import wants_color
    from gradcli.output.numbers import number_text
    from gradcli.output.plotting import terminal

    bad = int(np.count_nonzero(~np.isfinite(curve.f)) + np.count_nonzero(~np.isfinite(curve.df)))
    if bad:
        warn(f"{bad:,} NaN or infinite values are left as gaps", no_color=no_color)
    typer.echo(terminal(curve, wants_color(sys.stdout.isatty(), no_color)))
    name = curve.input
    typer.echo(
        f"tangent at {name} = {curve.at:g}: f = {number_text(curve.value_at, 10)}, "
        f"slope df/d{name} = {number_text(curve.slope, 10)}"
    )
    if curve.kinks:
        shown = ", ".join(f"{name} = {x:.6g} ({fn})" for x, fn in curve.kinks[:10])
        typer.echo(f"kinks (marked x): {shown}")
    if not curve.vectorized:
        typer.echo(f"note: not element-wise in {name}: one pass per point", err=True)
