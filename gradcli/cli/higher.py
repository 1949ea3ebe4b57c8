"""`gradcli diff`, `gradcli hessian`, `gradcli jacobian`: the derivative as a formula, and
exact second derivatives and Jacobians (gradcli/higher.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from gradcli.cli.app import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_OUTPUT, command, usual_exits, warn
from gradcli.cli.grad import load
from gradcli.cli.options import Bindings, Debug, Json, NoColor, Precision, Program, Wrt

Format = Annotated[
    Literal["text", "latex", "json"],
    typer.Option("--format", help="text (a program that parses back), latex, or json."),
]
Order = Annotated[
    int,
    typer.Option(
        "--order", min=1, max=8, metavar="N", help="The N-th derivative (inputs that are single numbers)."
    ),
]
JacobianMode = Annotated[
    Literal["auto", "forward", "reverse"],
    typer.Option("--mode", help="forward (a pass per input), reverse (a sweep per output element), or auto."),
]


@command(exits=usual_exits(EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OUTPUT))
def diff(
    program: Program,
    bindings: Bindings = None,
    wrt: Wrt = None,
    fmt: Format = "text",
    order: Order = 1,
    json_out: Json = False,
    precision: Precision = 10,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """The derivative as a formula, in gradcli's own language.

    For each input (or those in --wrt), the derivative of the output, written as a program
    that `gradcli eval` evaluates and `gradcli check --manual` accepts; named intermediates
    stay named, and the adjoint of each is its own statement. With bindings, the formula is
    written for their shapes and its value at the point is printed too.

    \b
    Examples:
      gradcli diff 'sin(x**2)'
      gradcli diff 'z = w*x + b; p = sigmoid(z); bce(p, y)' --wrt w
      gradcli diff 'x**3' --order 2 x=2
      gradcli diff 'sin(x)*y' --format latex
    """
    from gradcli.higher import diff as differentiate
    from gradcli.symbolic.latex import formula_latex

    source, values = load(program, bindings)
    names = ",".join(wrt) if wrt else None
    results = differentiate(source, values or None, wrt=names, order=order)
    for note in next(iter(results.values())).warnings if results else []:
        warn(note, no_color=no_color)
    if json_out or fmt == "json":
        from gradcli.cli.json_output import write
        from gradcli.output.jsondata import to_json

        write(
            {
                "program": source,
                "order": order,
                "derivatives": {
                    name: {
                        "formula": d.text,
                        "latex": formula_latex(d.formula),
                        "operations": d.formula.operations,
                        "value": None if d.value is None else to_json(d.value),
                    }
                    for name, d in results.items()
                },
            }
        )
        return
    from gradcli.output.numbers import value_text

    prime = {1: "", 2: "²", 3: "³"}.get(order, f"^{order}")
    for n, (name, d) in enumerate(results.items()):
        if n:
            typer.echo("")
        head = f"d{prime}/d{name}{prime}"
        if fmt == "latex":
            typer.echo(f"% {head}")
            typer.echo(formula_latex(d.formula))
        else:
            lines = d.text.split("\n")
            typer.echo(f"{head} = {lines[0]}" if len(lines) == 1 else f"{head}:")
            if len(lines) > 1:
                for line in lines:
                    typer.echo(f"  {line}")
        if d.value is not None:
            typer.echo(f"{'%' if fmt == 'latex' else ''}  at the point: {value_text(d.value, precision)}")


def _label(entry: tuple[str, tuple[int, ...]]) -> str:
    name, idx = entry
    return f"{name}[{', '.join(str(i) for i in idx)}]" if idx else name


def _matrix_out(kind: str, m: Any, source: str, json_out: bool, precision: int, no_color: bool) -> None:
    for w in m.warnings:
        warn(w, no_color=no_color)
    if json_out:
        from gradcli.cli.json_output import write
        from gradcli.output.jsondata import to_json

        obj: dict[str, Any] = {
            "program": source,
            kind: to_json(m.matrix),
            "rows": [_label(r) for r in m.rows],
            "columns": [_label(c) for c in m.columns],
            "mode": m.mode,
        }
        if kind == "hessian":
            obj["asymmetry"] = m.asymmetry
        write(obj)
        return
    from gradcli.output.console import emit, make_console, make_table
    from gradcli.output.numbers import number_text

    cap = 40
    console = make_console(no_color=no_color)
    headers = ["", *(_label(c) for c in m.columns[:cap])]
    out = make_table(console, headers, right=[False] + [True] * (len(headers) - 1))
    for r, row in zip(m.rows[:cap], m.matrix[:cap], strict=False):
        out.add_row(_label(r), *(number_text(float(v), precision) for v in row[:cap]))
    emit(console, out)
    if len(m.rows) > cap or len(m.columns) > cap:
        typer.echo(
            f"note: the first {cap} rows and columns of {len(m.rows)} x {len(m.columns)} (--json has all)"
        )
    if kind == "hessian":
        layout = "rows and columns: the inputs in order, each array flattened row by row"
        sym = (
            "symmetric to rounding"
            if m.asymmetry <= 1e-10
            else f"NOT symmetric (max |H - Hᵀ| {m.asymmetry:.2g} of the largest entry)"
        )
        typer.echo(f"note: {layout}; {sym} (exact: {m.mode})")
    else:
        typer.echo(f"note: rows: the output's elements; columns: the inputs' elements ({m.mode} mode)")


@command(exits=usual_exits(EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OUTPUT))
def hessian(
    program: Program,
    bindings: Bindings = None,
    wrt: Wrt = None,
    json_out: Json = False,
    precision: Precision = 10,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """The Hessian: second partial derivatives, exactly.

    For a single-number program at a point. Exact (not finite differences): the gradient written out as a program, then its Jacobian.
    Array inputs are flattened row by row, in the order of --wrt (default: all inputs).

    \b
    Examples:
      gradcli hessian 'x**2*y + y**3' x=1 y=2
      gradcli hessian 'sum(log(1 + exp(A @ w)))' 'A=[[1,2],[3,4]]' 'w=[0.1,-0.2]' --wrt w --json
    """
    from gradcli.higher import hessian as second

    source, values = load(program, bindings)
    m = second(source, values, wrt=",".join(wrt) if wrt else None)
    _matrix_out("hessian", m, source, json_out, precision, no_color)


@command(exits=usual_exits(EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OUTPUT))
def jacobian(
    program: Program,
    bindings: Bindings = None,
    wrt: Wrt = None,
    mode: JacobianMode = "auto",
    json_out: Json = False,
    precision: Precision = 10,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """The Jacobian of a program at a point.

    Rows are the output's elements, columns the inputs' elements (row by row). Forward mode when the inputs have fewer elements than the
    output, reverse mode otherwise (--mode to choose).

    \b
    Examples:
      gradcli jacobian 'sin(x)*y' 'x=[1, 2]' y=3
      gradcli jacobian 'W @ x' 'W=[[1,2],[3,4]]' 'x=[1,1]' --wrt x --json
    """
    from gradcli.higher import jacobian as first

    source, values = load(program, bindings)
    m = first(source, values, wrt=",".join(wrt) if wrt else None, mode=mode)
    _matrix_out("jacobian", m, source, json_out, precision, no_color)
