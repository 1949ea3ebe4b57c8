"""The `gradcli` command (also `python -m gradcli`): a Typer app with thin commands.

Shared pieces, for every command (check and explain too):
- `command(name)` registers a command with `GradcliCommand`: words that start with '-' but
  are not one of its options are arguments (`gradcli grad -x**2 x=1` needs no `--`), and
  a `GradcliError` becomes its message (caret, hint) on stderr and exit code 2.
- `_load(program, bindings)` reads the program ('-' stdin, '@path' a file) and the bindings.
- `warn`, `fail` write messages to stderr; `_report` writes the result (human or --json).
- The Annotated option types (`Json`, `Precision`, `NoColor`, `Strict`, `Debug`...).

Exit codes: 0 success; 1 a check failed (`--mode both` disagreement, NaN/inf with
`--strict`, `check`); 2 bad input (usage, parse, name, arity, shape, binding, limit);
3 internal error (a bug: `--debug` shows the traceback).

Start-up matters: numpy, lark, rich and json are imported inside the functions that
need them; `--json` output never imports rich.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from typer.core import TyperCommand, TyperGroup

from gradcli import __version__
from gradcli.cli.coercion import install as install_coercion
from gradcli.errors import BindingError, GradcliError, UnknownNameError

if TYPE_CHECKING:
    from typer._click import Context  # click's Context (vendored by typer)

EXIT_CHECK_FAILED = 1  # bad input exits 2: GradcliError.exit_code, and Typer's usage errors
EXIT_INTERNAL = 3

EXIT_CODES = (
    "\b\nExit codes:\n"
    "  0  success (NaN/inf results too, with a warning)\n"
    "  1  a check failed: --mode both disagreement, NaN/inf with --strict, check\n"
    "  2  bad input: usage, parse, name, arity, shape, binding or limit error\n"
    "  3  internal error (a bug; --debug shows the traceback)"
)


class GradcliGroup(TyperGroup):
    """The root command: converts its options without importing pydantic (gradcli/coercion.py)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        install_coercion(self, ctx)
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=GradcliGroup,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # user errors are messages; main() handles the rest
    rich_markup_mode=None,  # plain help: no rich import, no boxes
    help="Value and gradient of a formula, exactly, from the shell.\n\n"
    "\b\nExamples:\n"
    "  gradcli grad 'sin(x**2)' x=3\n"
    "  gradcli grad 'bce(sigmoid(w*x+b), y)' x=6.7 y=0 w=1 b=0 --wrt w,b\n"
    "  gradcli eval 'mean(x**2)' 'x=[1, 2, 3]' --json\n"
    "  gradcli functions\n\n"
    "Bindings are NAME=VALUE words after the program: x=3, x=-1.5, x=pi/4, x=[1,2,3],\n"
    "x=linspace(0,1,5), x=arange(0,1,0.25), x=@values.npy, x=@values.txt (quote the ones\n"
    "with brackets or parentheses for the shell).\n\n" + EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# --------------------------------------------------------------------------
# The command class shared by every command.


def _options_first(command: TyperCommand, ctx: Context, args: Sequence[str]) -> list[str]:
    """Options (with their values) first, then '--', then the other words in order.

    So a program such as '-x**2', '-x' or '-h*x' is the PROGRAM argument, not an unknown
    option, without the user typing '--'. Words starting with '--' stay options (click
    reports unknown ones, with a suggestion).
    """
    takes_value: dict[str, bool] = {}
    for param in command.get_params(ctx):
        if getattr(param, "param_type_name", "") == "option":
            flag = bool(getattr(param, "is_flag", False) or getattr(param, "count", False))
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not flag
    options: list[str] = []
    words: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            words.extend(rest)
            break
        if (arg.startswith("--") and len(arg) > 2) or arg.split("=", 1)[0] in takes_value:
            options.append(arg)
            if takes_value.get(arg, False):  # '--wrt x': the value is the next word
                value = next(rest, None)
                if value is None:  # let click report the missing value
                    return list(args)
                options.append(value)
        else:
            words.append(arg)
    return [*options, "--", *words] if words else options


class GradcliCommand(TyperCommand):
    """A gradcli command: leading-minus programs are arguments; a GradcliError is reported
    as its message (with caret and hint) on stderr and exits with its code (2)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        install_coercion(self, ctx)  # no pydantic import for our simple options (gradcli/coercion.py)
        return super().parse_args(ctx, _options_first(self, ctx, args))

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except GradcliError as err:
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exception(err)
            report_error(err, no_color=bool(ctx.params.get("no_color")))
            raise typer.Exit(err.exit_code) from None


def command(name: str | None = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command on `app` with the shared behaviour and the exit codes in its help:
    `@command("check")`. Its docstring needs a description and an `Example(s):` block."""
    kwargs.setdefault("epilog", EXIT_CODES)
    return app.command(name, cls=GradcliCommand, **kwargs)


# --------------------------------------------------------------------------
# Arguments and options shared by the commands.

Program = Annotated[
    str,
    typer.Argument(
        metavar="PROGRAM",
        help="Expression or program (statements separated by ';' or newlines); "
        "'-' reads it from stdin, '@path' from a file. May start with '-': gradcli grad -x**2 x=1.",
        show_default=False,
    ),
]
Bindings = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="NAME=VALUE",
        help="Input values: x=3 x=-1.5 x=pi/4 x=[1,2,3] x=linspace(0,1,5) x=arange(0,1,0.25) "
        "x=@values.npy x=@values.txt",
        show_default=False,
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON object on stdout (full precision).")
]
Precision = Annotated[
    int,
    typer.Option("--precision", min=1, max=17, metavar="N", help="Significant digits in human output."),
]
Strict = Annotated[bool, typer.Option("--strict", help="Exit 1 when the result is NaN or infinite.")]
NoColor = Annotated[bool, typer.Option("--no-color", help="No colour or box-drawing (also NO_COLOR=1).")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the Python traceback of an error.")]
Wrt = Annotated[
    list[str] | None,
    typer.Option(
        "--wrt",
        metavar="NAMES",
        help="Inputs to differentiate, comma-separated or repeated (default: all); the others are constants.",
        show_default=False,
    ),
]
Mode = Annotated[
    Literal["reverse", "forward", "both"],  # a Literal is a choice since typer 0.19
    typer.Option(
        "--mode",
        help="reverse (backpropagation), forward (dual numbers), or both: "
        "run both and exit 1 if they disagree beyond rounding.",
    ),
]


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


# --------------------------------------------------------------------------
# Messages (stderr) and results (stdout).


def _say(label: str, color: str, text: str, no_color: bool) -> None:
    from gradcli.output.console import wants_color

    on = wants_color(sys.stderr.isatty(), no_color)
    typer.echo(typer.style(f"{label}:", fg=color, bold=True) + " " + text, err=True, color=on)


def warn(message: str, *, no_color: bool = False) -> None:
    _say("warning", "yellow", message, no_color)


def fail(message: str, *, no_color: bool = False, label: str = "error") -> None:
    """An error message on stderr: 'error: message' (or another label, e.g. 'check failed')."""
    _say(label, "red", message, no_color)


def report_error(err: GradcliError, *, no_color: bool = False) -> None:
    """A user error: 'kind: message', the source line with a caret, and the hint."""
    text = str(err)
    prefix = f"{err.kind}: "
    if text.startswith(prefix):
        _say(err.kind, "red", text.removeprefix(prefix), no_color)
    else:
        fail(text, no_color=no_color)


def _load(program: str, bindings: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    """The program text ('-' stdin, '@path' a file) and the NAME=VALUE bindings, evaluated."""
    from gradcli.bindings import parse_binding, read_program

    if program == "-" and sys.stdin.isatty():
        typer.echo("reading the program from standard input (end it with Ctrl-D)", err=True)
    source = read_program(program)
    words = list(bindings or [])
    for i, word in enumerate(words[:-1]):
        if word.isidentifier() and words[i + 1].startswith("="):  # x = 3, x =3
            value = words[i + 1][1:] or (words[i + 2] if i + 2 < len(words) else "...")
            raise BindingError(
                f"'{word}' is not a binding: there is a space before '='",
                hint=f"write bindings without spaces around '=': {word}={value}",
            )
    values: dict[str, Any] = {}
    for word in words:
        name, value = parse_binding(word)
        if name in values:
            raise BindingError(f"'{name}' is bound twice", hint=f"give {name} one value")
        values[name] = value
    return source, values


def _report(
    source: str,
    value: Any,
    inputs: Mapping[str, Any],
    warnings: list[str],
    *,
    json_out: bool,
    precision: int,
    no_color: bool,
    strict: bool,
    mode: str | None = None,
    gradients: Mapping[str, Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Warnings on stderr, then the result on stdout: one JSON object, or the human rendering.

    `gradients` maps a mode ("reverse", "forward") to the gradient by input name; the JSON
    `gradient` is the first one (with both modes, `forward_gradient` is the second).
    With `strict`, a NaN/inf value or gradient exits 1.
    """
    grads = dict(gradients or {})
    if json_out:
        from gradcli.output.jsondata import dumps, to_json

        null_warnings: list[str] = []
        obj: dict[str, Any] = {
            "program": source,
            "inputs": to_json(dict(inputs), "inputs", null_warnings),
            "value": to_json(value, "value", null_warnings),
        }
        if grads:
            first = next(iter(grads.values()))
            obj["gradient"] = to_json(dict(first), "gradient", null_warnings)
        if "forward" in grads and len(grads) > 1:
            obj["forward_gradient"] = to_json(dict(grads["forward"]), "forward_gradient", null_warnings)
        obj["mode"] = mode
        obj.update(extra or {})
        obj["warnings"] = [*warnings, *null_warnings]
        for w in obj["warnings"]:
            warn(w, no_color=no_color)
        sys.stdout.write(dumps(obj) + "\n")
        sys.stdout.flush()
    else:
        from gradcli.cli import human as render
        from gradcli.output.console import make_console

        for w in warnings:
            warn(w, no_color=no_color)
        if len(grads) == 1:
            grads = {"gradient": next(iter(grads.values()))}
        render.result(
            make_console(no_color=no_color),
            value,
            inputs,
            precision,
            grads if gradients is not None else None,
        )
    if strict:
        from gradcli.api import all_finite

        if not (all_finite(value) and all(all_finite(g) for gs in grads.values() for g in gs.values())):
            fail("the result is NaN or infinite (--strict)", no_color=no_color)
            raise typer.Exit(EXIT_CHECK_FAILED)


# --------------------------------------------------------------------------
# Commands.


@command("eval")
def eval_(
    program: Program,
    bindings: Bindings = None,
    json_out: Json = False,
    precision: Precision = 10,
    strict: Strict = False,
    no_color: NoColor = False,
    debug: Debug = False,
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

    source, values = _load(program, bindings)
    compiled = Compiled(source)
    value, warnings = compiled.evaluate_full(values)
    inputs = {name: values[name] for name in compiled.inputs}
    _report(
        source,
        value,
        inputs,
        warnings,
        json_out=json_out,
        precision=precision,
        no_color=no_color,
        strict=strict,
    )


@command()
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
    explain_: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Then show the chain rule step by step, as `gradcli explain` does "
            '(with --json: under the key "explain").',
        ),
    ] = False,
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

    source, values = _load(program, bindings)
    compiled = Compiled(source)
    names = ",".join(wrt) if wrt else None
    extra: dict[str, Any]  # more keys of the JSON object
    if mode == "both":
        from gradcli.check.both import grad_both
        from gradcli.check.tolerance import describe

        both = grad_both(compiled, values, names)
        result, extra = both.reverse, {"agree": both.agree}
        gradients = {"reverse": both.reverse.gradient, "forward": both.forward.gradient}
    else:
        result = compiled.grad(values, wrt=names, mode=mode)
        gradients, extra = {mode: result.gradient}, {}
    warnings = list(result.warnings)
    if not compiled.inputs:
        looks_bound = re.fullmatch(r"\s*[A-Za-z_]\w*\s*=[^;\n]*", source)
        warnings.append(
            "the program has no inputs: there is nothing to differentiate"
            + ("; the program comes first, then the bindings: gradcli grad 'x**2' x=3" if looks_bound else "")
        )
    explanation = _explanation(source, values, names, mode) if explain_ else None
    if explanation is not None and json_out:
        from gradcli.explain.render import as_json

        extra = {**extra, "explain": as_json(explanation)}
    _report(
        source,
        result.value,
        result.inputs,
        warnings,
        json_out=json_out,
        precision=precision,
        no_color=no_color,
        strict=strict,
        mode=mode,
        gradients=gradients,
        extra=extra,
    )
    if mode == "both":
        if not both.agree:
            detail = ", ".join(f"'{n}' (relative difference {d:.3g})" for n, d in both.differences.items())
            fail(
                f"forward and reverse mode disagree beyond rounding ({describe()}) on {detail}",
                no_color=no_color,
                label="check failed",
            )
            raise typer.Exit(EXIT_CHECK_FAILED)
        if not json_out and result.gradient:
            typer.echo(f"\nforward and reverse mode agree to rounding ({describe()})")
    if explanation is not None and not json_out:
        from gradcli.explain.render import PRECISION

        typer.echo("")
        _show_explanation(explanation, "table", None, precision=min(precision, PRECISION), no_color=no_color)


def _explanation(source: str, values: Mapping[str, Any], wrt: str | None, mode: str) -> Any:
    from gradcli.explain.model import explain as build

    return build(source, values, wrt=wrt, mode=mode)


def _show_explanation(
    explanation: Any,
    fmt: str,
    export: str | None,
    *,
    precision: int,
    no_color: bool,
    max_rows: int | None = None,
) -> None:
    """The explanation on stdout as tables, markdown or JSON; and, with `export`, to a file."""
    from gradcli.explain import render as er

    rows = er.MAX_ROWS if max_rows is None else max_rows
    if fmt == "json":
        from gradcli.output.jsondata import dumps

        obj = er.as_json(explanation, max_rows=rows)
        for w in obj["warnings"]:
            warn(w, no_color=no_color)
        sys.stdout.write(dumps(obj) + "\n")
        sys.stdout.flush()
    elif fmt == "markdown":
        sys.stdout.write(er.markdown(explanation, precision=precision, max_rows=rows))
        sys.stdout.flush()
    else:
        from gradcli.output.console import make_console

        er.print_tables(explanation, make_console(no_color=no_color), precision=precision, max_rows=rows)
    if export:
        er.export(explanation, export, precision=precision, max_rows=rows)
        typer.echo(f"wrote {export}", err=True)


@command()
def explain(
    program: Program,
    bindings: Bindings = None,
    wrt: Wrt = None,
    mode: Annotated[
        Literal["reverse", "forward", "both"],
        typer.Option(
            "--mode",
            help="reverse: the backward pass (backpropagation); forward: the "
            "tangents per input (dual numbers); both.",
        ),
    ] = "reverse",
    fmt: Annotated[
        Literal["table", "markdown", "json"],
        typer.Option("--format", help="table (terminal), markdown (GitHub tables), or json."),
    ] = "table",
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            metavar="FILE",
            help="Also write the tables to FILE: .svg, .html or .txt.",
            show_default=False,
        ),
    ] = None,
    max_rows: Annotated[
        int,
        typer.Option(
            "--max-rows",
            min=0,
            metavar="N",
            help="At most N nodes per table (0: all); a note says what was left out.",
        ),
    ] = 60,
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
    if export:
        from gradcli.explain.render import export_kind

        export_kind(export)  # a bad file name is an error before anything is printed
    source, values = _load(program, bindings)
    explanation = _explanation(source, values, ",".join(wrt) if wrt else None, mode)
    if fmt != "json":
        for w in explanation.warnings:
            warn(w, no_color=no_color)
    _show_explanation(explanation, fmt, export, precision=precision, no_color=no_color, max_rows=max_rows)


@command(
    epilog=(
        "\b\nExit codes:\n"
        "  0  every route agrees (finite differences excused at kinks, as the table says)\n"
        "  1  a route disagrees, or the value or an exact gradient is NaN\n"
        "  2  bad input: usage, parse, name, arity, shape, binding, limit, or an invalid spec file\n"
        "  3  internal error (a bug; --debug shows the traceback)"
    )
)
def check(
    program: Annotated[
        str | None,
        typer.Argument(
            metavar="PROGRAM",
            show_default=False,
            help="Expression or program ('-' stdin, '@path' a file); not with --spec.",
        ),
    ] = None,
    bindings: Bindings = None,
    manual: Annotated[
        list[str] | None,
        typer.Option(
            "--manual",
            metavar="[INPUT:]FORMULA",
            show_default=False,
            help="A hand-derived derivative to check, e.g. 'x:2*x*cos(x**2)' (INPUT: may be left "
            "out when there is one input); it may use the program's inputs and intermediates. "
            "Repeat for several inputs.",
        ),
    ] = None,
    wrt: Wrt = None,
    rtol: Annotated[
        float | None,
        typer.Option(
            "--rtol",
            min=0.0,
            metavar="R",
            show_default=False,
            help="Relative tolerance of the exact routes (default 1e-9).",
        ),
    ] = None,
    atol: Annotated[
        float | None,
        typer.Option(
            "--atol",
            min=0.0,
            metavar="A",
            show_default=False,
            help="Absolute tolerance, times max(1, largest |gradient|) (default 1e-12).",
        ),
    ] = None,
    spec: Annotated[
        str | None,
        typer.Option(
            "--spec",
            metavar="FILE",
            show_default=False,
            help="Run every [[check]] of a TOML spec file (format in the README).",
        ),
    ] = None,
    junit: Annotated[
        str | None,
        typer.Option(
            "--junit",
            metavar="PATH",
            show_default=False,
            help="Also write a JUnit XML report (one testcase per check).",
        ),
    ] = None,
    fmt: Annotated[
        Literal["table", "json", "github"],
        typer.Option(
            "--format",
            help="table; json (JSON Lines, one object per check); or github "
            "(the table plus ::error annotations for failed checks).",
        ),
    ] = "table",
    json_out: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    precision: Precision = 10,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """Compare the gradient by reverse mode, forward mode, finite differences and
    hand-derived formulas, and exit 1 if they disagree.

    Exact routes (reverse, forward, --manual, expected numbers) agree when
    |a - b| <= atol*s + rtol*max(|a|, |b|), s = max(1, largest |gradient| of the input);
    a finite difference agrees within 10 times its own error estimate. At a kink (relu
    at 0, abs at 0, clamp bounds, min/max ties) finite differences cannot judge: the row
    says so and only the exact routes count.

    \b
    Examples:
      gradcli check 'sin(x**2)' x=3 --manual '2*x*cos(x**2)'
      gradcli check 'z = w*x + b; p = sigmoid(z); bce(p, y)' x=6.7 y=0 w=1 b=0 --wrt w,b \\
          --manual 'w:(p - y)/(p*(1-p)) * p*(1-p) * x' --manual 'b:(p - y)/(p*(1-p)) * p*(1-p)'
      gradcli check 'relu(x)' x=0
      gradcli check --spec examples/checks.toml --junit report.xml --format github
    """
    import time

    from gradcli.check import report as cr
    from gradcli.check import verdict as ck

    if json_out:
        fmt = "json"
    if spec is not None:
        if program is not None or bindings or manual or wrt:
            raise ck.CheckUsageError(
                "--spec runs the checks of a file: give no PROGRAM, bindings, --manual or --wrt",
                hint="gradcli check --spec checks.toml, or gradcli check PROGRAM NAME=VALUE ...",
            )
        from gradcli.check.spec import load

        checks, prepared = load(spec)
        for prep in prepared:
            prep.spec.rtol = rtol if prep.spec.rtol is None else prep.spec.rtol
            prep.spec.atol = atol if prep.spec.atol is None else prep.spec.atol
        places: list[tuple[str | None, int | None]] = [(spec, c.line) for c in checks]
    else:
        if program is None:
            raise ck.CheckUsageError(
                "nothing to check: give a PROGRAM and its values, or --spec FILE",
                hint="gradcli check 'sin(x**2)' x=3 --manual '2*x*cos(x**2)', "
                "or gradcli check --spec checks.toml",
            )
        source, values = _load(program, bindings)
        formulas = [ck.parse_manual(m) for m in manual or []]
        one = ck.CheckSpec(source, values, ",".join(wrt) if wrt else None, formulas, rtol=rtol, atol=atol)
        prepared = [ck.prepare(one)]
        places = [(None, None)]
    located = []
    for prep, (file, line) in zip(prepared, places, strict=True):
        start = time.perf_counter()
        result = ck.verdict(prep)
        located.append(cr.Located(result, file, line, time.perf_counter() - start))
    passed = cr.report(
        located,
        fmt=fmt,
        single=spec is None,
        precision=precision,
        no_color=no_color,
        junit=junit,
        warn=warn,
        fail=fail,
    )
    if not passed:
        raise typer.Exit(EXIT_CHECK_FAILED)


@command()
def functions(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="Only these functions (default: all).", show_default=False),
    ] = None,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """The functions: arity, derivative rule, domain and conventions.

    On a terminal, a table; piped, a tab-separated header line, then one line per function.

    \b
    Examples:
      gradcli functions
      gradcli functions sigmoid bce
      gradcli functions | grep convention
    """
    from gradcli.cli import human as render
    from gradcli.cli.docs import public_primitives
    from gradcli.errors import did_you_mean
    from gradcli.primitives import lookup, public_names

    prims = public_primitives()
    if names:
        chosen = []
        for name in names:
            prim = lookup(name) or next((p for p in prims if p.symbol == name), None)
            if prim is None or not prim.public:
                raise UnknownNameError(
                    f"unknown function '{name}'",
                    hint=did_you_mean(name, public_names()) or "gradcli functions lists them all",
                )
            chosen.append(prim)
        prims = list(dict.fromkeys(chosen))
    render.functions_table([render.function_row(p) for p in prims], no_color=no_color)


def _app_for(args: Sequence[str]) -> typer.Typer:
    """`app`, or when the first word names a command, a copy of it with only that command:
    Typer builds the parameters of every registered command on each start (a few ms for
    all of them), and the command that runs behaves the same either way."""
    import copy

    from typer.main import get_command_name

    if args:
        for info in app.registered_commands:
            if (
                info.callback is not None
                and (info.name or get_command_name(info.callback.__name__)) == args[0]
            ):
                single = copy.copy(app)
                single.registered_commands = [info]
                return single
    return app


def main() -> None:
    """Console entry point. Typer handles usage errors (exit 2); commands turn user errors
    into messages (exit 2); anything else is a bug: one line, exit 3, traceback with --debug."""
    import warnings

    # numpy's overflow/invalid-value RuntimeWarnings would print source lines on stderr;
    # gradcli reports NaN and inf itself, in words.
    warnings.simplefilter("ignore", RuntimeWarning)
    # A stream that cannot encode a character (PYTHONIOENCODING=ascii, a Windows pipe in
    # cp1252) gets `\u2202` instead of `∂`, never a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        _app_for(sys.argv[1:])(prog_name="gradcli")
    except Exception as exc:
        if "--debug" in sys.argv[1:]:
            raise
        fail(
            f"{type(exc).__name__}: {exc}\n"
            "hint: this is a bug in gradcli; run again with --debug for the traceback, and report it",
            label="internal error",
        )
        sys.exit(EXIT_INTERNAL)
