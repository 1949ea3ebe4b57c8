"""`gradcli eval` and `gradcli grad`: the value, and the value with its gradient."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from gradcli.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_OUTPUT,
    command,
    fail,
    usual_exits,
    warn,
)
from gradcli.cli.options import Bindings, Debug, Json, Mode, NoColor, Precision, Program, Strict, Style, Wrt
from gradcli.cli.points import At, AtFormat, FailFast, RowsFormat


def load(program: str, bindings: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    """The program text ('-' stdin, '@path' a file) and the NAME=VALUE bindings, evaluated."""
    from gradcli.bindings import parse_bindings, read_program

    if program == "-" and sys.stdin.isatty():
        typer.echo("reading the program from standard input (end it with Ctrl-D)", err=True)
    source = read_program(program)
    from gradcli.bindings import NOTES

    NOTES.clear()
    values = parse_bindings(list(bindings or []))

    while NOTES:
        typer.echo(f"note: {NOTES.pop(0)}", err=True)
    return source, values


@dataclass
class Outcome:
    """What grad and eval print: the value, the inputs, the gradients by mode, the warnings."""

    source: str
    value: Any
    inputs: Mapping[str, Any]
    warnings: list[str]
    mode: str | None = None
    gradients: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # mode -> input -> gradient
    extra: dict[str, Any] = field(default_factory=dict)  # more keys of the JSON object
    route: str = ""  # which evaluator, and why (--debug)
    second: dict[str, Any] = field(default_factory=dict)  # --order 2: d²L/dx² per input
    intermediates: dict[str, Any] = field(default_factory=dict)  # --wrt of assigned names


def report(out: Outcome, style: Style, *, strict: bool) -> None:
    """Warnings on stderr, then the result on stdout: one JSON object, or the human rendering.
    With `strict`, a NaN/inf value or gradient exits 1."""
    if style.json:
        from gradcli.cli.json_output import result_object, write

        obj = result_object(
            out.source,
            out.value,
            out.inputs,
            out.warnings,
            mode=out.mode,
            gradients=out.gradients,
            extra=out.extra,
        )
        for w in obj["warnings"]:
            warn(w, no_color=style.no_color)
        write(obj)
    else:
        from gradcli.cli.human import result
        from gradcli.output.console import make_console

        for w in out.warnings:
            warn(w, no_color=style.no_color)
        columns = dict(out.gradients)
        if len(columns) == 1:
            columns = {"gradient": next(iter(columns.values()))}
        if out.second:
            columns["second derivative"] = out.second
        shown = dict(out.inputs)
        for name, v in out.intermediates.items():  # a row of its own, named as such
            shown[f"{name} (intermediate)"] = v
            columns = {
                t: {**g, f"{name} (intermediate)": g[name]} if name in g else g for t, g in columns.items()
            }
        result(
            make_console(no_color=style.no_color),
            out.value,
            shown,
            style.precision,
            columns if out.mode is not None else None,
        )
    if strict:
        from gradcli.arrays import all_finite

        grads = [g for gs in out.gradients.values() for g in gs.values()]
        if not (all_finite(out.value) and all(all_finite(g) for g in grads)):
            fail("the result is NaN or infinite (--strict)", no_color=style.no_color)
            raise typer.Exit(EXIT_CHECK_FAILED)


@command(
    "eval",
    exits=usual_exits(
        EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OUTPUT, code_1="NaN or infinite value with --strict"
    ),
)
def eval_(
    program: Program,
    bindings: Bindings = None,
    json_out: Json = False,
    precision: Precision = 10,
    strict: Strict = False,
    no_color: NoColor = False,
    debug: Debug = False,
    at: At = None,
    at_format: AtFormat = "auto",
    rows_format: RowsFormat = "table",
    fail_fast: FailFast = False,
) -> None:
    """Value of a program, without gradient tracking.

    Like torch.no_grad(): only the value is computed.

    \b
    Examples:
      gradcli eval 'sin(x**2)' x=3
      gradcli eval 'mean(x**2)' 'x=[1, 2, 3]' --json
      echo 'z = w*x + b; sigmoid(z)' | gradcli eval - w=1 x=6.7 b=0
    """
    from gradcli.api import Compiled

    source, values = load(program, bindings)
    if at is not None:
        from gradcli.cli.points import run_points

        fmt = "jsonl" if json_out else rows_format
        run_points(
            source,
            values,
            at,
            at_format,
            fmt,
            fail_fast,
            gradient=False,
            no_color=no_color,
            precision=precision,
        )
        return
    compiled = Compiled(source)
    value, warnings = compiled.evaluate_full(values)
    inputs = {name: values[name] for name in compiled.inputs}
    report(Outcome(source, value, inputs, warnings), Style(json_out, precision, no_color), strict=strict)


GradOrder = Annotated[
    int,
    typer.Option(
        "--order",
        min=1,
        max=2,
        metavar="N",
        help="2: also the second derivative d²L/dx² of each input, exact (single-number programs).",
    ),
]
ExplainFlag = Annotated[
    bool,
    typer.Option(
        "--explain",
        help="Then show the chain rule step by step, as `gradcli explain` does "
        '(with --json: under the key "explain").',
    ),
]


@command(
    exits=usual_exits(
        EXIT_OK,
        EXIT_BAD_INPUT,
        EXIT_INTERNAL,
        EXIT_OUTPUT,
        code_1="--mode both: the modes disagree; --strict: a NaN or infinite result",
    )
)
def grad(
    program: Program,
    bindings: Bindings = None,
    wrt: Wrt = None,
    mode: Mode = "reverse",
    json_out: Json = False,
    precision: Precision = 10,
    strict: Strict = False,
    no_color: NoColor = False,
    debug: Debug = False,
    explain_: ExplainFlag = False,
    order: GradOrder = 1,
    at: At = None,
    at_format: AtFormat = "auto",
    rows_format: RowsFormat = "table",
    fail_fast: FailFast = False,
) -> None:
    """Value and gradient of a program.

    The gradient is taken with respect to every input, or only those in --wrt (the
    others are constants, like requires_grad=False).

    \b
    Examples:
      gradcli grad 'sin(x**2)' x=3
      gradcli grad 'bce(sigmoid(w*x+b), y)' x=6.7 y=0 w=1 b=0 --wrt w,b
      gradcli grad 'mean(x**2)' 'x=linspace(0, 1, 5)' --mode both --json
      gradcli grad -x**2 x=-1
    """
    from gradcli.api import Compiled

    style = Style(json_out, precision, no_color)
    source, values = load(program, bindings)
    names = ",".join(wrt) if wrt else None
    if at is not None:
        _points(source, values, (at, at_format, rows_format, fail_fast), names, mode, style)
        return
    compiled = Compiled(source)
    out, disagreement = _gradients(compiled, values, names, mode)
    if debug:
        typer.echo(f"debug: evaluated {out.route}", err=True)
    if order == 2:
        out.second = _second(source, values, names)
        out.extra["second_derivative"] = out.second
    if not compiled.inputs:
        out.warnings.append(_no_inputs(source))
    explanation = _explain(source, values, names, mode) if explain_ else None
    if explanation is not None and json_out:
        from gradcli.cli.json_output import explanation_object
        from gradcli.explain.render import DEFAULT_MAX_ROWS

        out.extra["explain"] = explanation_object(explanation, max_rows=DEFAULT_MAX_ROWS)
    report(out, style, strict=strict)
    if disagreement is not None:
        fail(disagreement, no_color=no_color, label="check failed")
        raise typer.Exit(EXIT_CHECK_FAILED)
    if mode == "both" and not json_out and out.gradients["reverse"]:
        from gradcli.check.tolerance import describe

        typer.echo(f"\nforward and reverse mode agree to rounding ({describe()})")
    if explanation is not None and not json_out:
        from gradcli.cli.explain import show
        from gradcli.explain.render import PRECISION

        typer.echo("")
        show(explanation, "table", None, Style(precision=min(precision, PRECISION), no_color=no_color))


def _gradients(
    compiled: Any, values: dict[str, Any], names: str | None, mode: str
) -> tuple[Outcome, str | None]:
    """The result in one mode, or in both; with both, the disagreement message (None if they agree)."""
    if mode != "both":
        result = compiled.grad(values, wrt=names, mode=mode)
        out = Outcome(
            compiled.source, result.value, result.inputs, list(result.warnings), mode, {mode: result.gradient}
        )
        out.route = result.route
        _intermediates(out, result)
        if result.nan_origin is not None:
            out.extra["nan_origin"] = result.nan_origin
        return out, None
    from gradcli.check.both import grad_both
    from gradcli.check.tolerance import describe

    both = grad_both(compiled, values, names)
    r = both.reverse
    out = Outcome(
        compiled.source,
        r.value,
        r.inputs,
        list(r.warnings),
        mode,
        {"reverse": r.gradient, "forward": both.forward.gradient},
        {"agree": both.agree},
    )
    out.route = f"{r.route}; forward mode {both.forward.route}"
    _intermediates(out, r)
    if r.nan_origin is not None:
        out.extra["nan_origin"] = r.nan_origin
    if both.agree:
        return out, None
    detail = ", ".join(f"'{n}' (relative difference {d:.3g})" for n, d in both.differences.items())
    return out, f"forward and reverse mode disagree beyond rounding ({describe()}) on {detail}"


def _points(
    source: str,
    values: dict[str, Any],
    at: tuple[str, str, str, bool],
    names: str | None,
    mode: str,
    style: Style,
) -> None:
    from gradcli.cli.points import run_points

    path, at_format, rows_format, fail_fast = at
    fmt = "jsonl" if style.json else rows_format
    mode_one = "reverse" if mode == "both" else mode
    run_points(
        source, values, path, at_format, fmt, fail_fast, gradient=True, wrt=names, mode=mode_one,
        no_color=style.no_color, precision=style.precision,
    )  # fmt: skip


def _intermediates(out: Outcome, result: Any) -> None:
    """--wrt z of an assigned name: its value (JSON: `intermediates`; human: a row of its own)."""
    if result.intermediates:
        out.intermediates = dict(result.intermediates)
        out.extra["intermediates"] = dict(result.intermediates)


def _second(source: str, values: Mapping[str, Any], names: str | None) -> dict[str, Any]:
    """∂²L/∂x² of each input (element by element for arrays): the Hessian's diagonal, exact."""
    import numpy as np

    from gradcli.higher import hessian

    m = hessian(source, values, wrt=names)
    diagonal = np.diagonal(m.matrix)
    out: dict[str, Any] = {}
    start = 0
    for name in dict.fromkeys(r[0] for r in m.rows):
        shape = np.shape(values[name])
        size = int(np.prod(shape))
        out[name] = diagonal[start : start + size].reshape(shape)[()]
        start += size
    return out


def _no_inputs(source: str) -> str:
    looks_bound = re.fullmatch(r"\s*[A-Za-z_]\w*\s*=[^;\n]*", source)
    return "the program has no inputs: there is nothing to differentiate" + (
        "; the program comes first, then the bindings: gradcli grad 'x**2' x=3" if looks_bound else ""
    )


def _explain(source: str, values: Mapping[str, Any], wrt: str | None, mode: str) -> Any:
    from gradcli.explain.model import explain

    return explain(source, values, wrt=wrt, mode=mode)
