"""The Typer app and what every command shares.

- `command(name, exits=...)` registers a command with `GradcliCommand`: words that start with
  '-' but are not one of its options are arguments (`gradcli grad -x**2 x=1` needs no `--`),
  a `GradcliError` becomes its message (caret, hint) on stderr and its exit code, and the
  help ends with the exit codes that command can return.
- `warn`, `fail` write messages to stderr.
- `main()` (gradcli/cli/main.py) registers the commands and runs the app.

Exit codes: 0 success; 1 a check failed (`--mode both` disagreement, NaN/inf with
`--strict`, `check`); 2 bad input (usage, parse, name, arity, shape, binding, limit);
3 internal error (a bug: `--debug` shows the traceback); 4 the output could not be written.

Start-up matters: numpy, lark, rich and json are imported inside the functions that
need them; `--json` output never imports rich.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from gradcli import __version__
from gradcli.cli.coercion import install as install_coercion
from gradcli.errors import GradcliError

if TYPE_CHECKING:
    from typer._click import Context  # click's Context (vendored by typer)

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OUTPUT = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report a SIGINT

# What each exit code means, for the help of the commands that can return it.
EXIT_TEXT = {
    EXIT_OK: "success (NaN/inf results too, with a warning)",
    EXIT_CHECK_FAILED: "a check failed: --mode both disagreement, NaN/inf with --strict",
    EXIT_BAD_INPUT: "bad input: usage, parse, name, arity, shape, binding or limit error",
    EXIT_INTERNAL: "internal error (a bug; --debug shows the traceback)",
    EXIT_OUTPUT: "the output could not be written (--export, --junit, a full disk)",
}


def usual_exits(*codes: int, **own: str) -> str:
    """The help's list of the exit codes a command can return: `codes` with their usual
    meaning, `own` (`code_1="..."`) in the command's own words."""
    texts = {c: EXIT_TEXT[c] for c in codes}
    texts.update({int(k.removeprefix("code_")): v for k, v in own.items()})
    return "\b\nExit codes:\n" + "\n".join(f"  {c}  {texts[c]}" for c in sorted(texts))


class GradcliGroup(TyperGroup):
    """The root command: converts its options without importing pydantic (gradcli/cli/coercion.py)."""

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
    "with brackets or parentheses for the shell).\n\n"
    + usual_exits(
        EXIT_OK,
        EXIT_BAD_INPUT,
        EXIT_INTERNAL,
        EXIT_OUTPUT,
        code_1="a check failed: --mode both disagreement, NaN/inf with --strict, check",
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    as its message (with caret and hint) on stderr and exits with its code."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        install_coercion(self, ctx)  # no pydantic import for our simple options (gradcli/cli/coercion.py)
        return super().parse_args(ctx, _options_first(self, ctx, args))

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except GradcliError as err:
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exception(err)
            report_error(err, no_color=bool(ctx.params.get("no_color")))
            if ctx.params.get("json_out") or ctx.params.get("fmt") == "json":
                _json_error(err)  # scripts that read stdout always get JSON
            raise typer.Exit(err.exit_code) from None


def command(
    name: str | None = None, *, exits: str, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command on `app` with the shared behaviour; `exits` (from `usual_exits`) ends
    its help. Its docstring needs a description and an `Example(s):` block."""
    return app.command(name, cls=GradcliCommand, epilog=exits, **kwargs)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gradcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Value and gradient of a formula, exactly, from the shell."""


# --------------------------------------------------------------------------
# Messages (stderr).


def _say(label: str, color: str, text: str, no_color: bool) -> None:
    from gradcli.output.console import wants_color

    on = wants_color(sys.stderr.isatty(), no_color)
    typer.echo(typer.style(f"{label}:", fg=color, bold=True) + " " + text, err=True, color=on)


def warn(message: str, *, no_color: bool = False) -> None:
    _say("warning", "yellow", message, no_color)


def fail(message: str, *, no_color: bool = False, label: str = "error") -> None:
    """An error message on stderr: 'error: message' (or another label, e.g. 'check failed')."""
    _say(label, "red", message, no_color)


def _json_error(err: GradcliError) -> None:
    """With --json, a user error is also one JSON object on stdout (stderr keeps the message)."""
    from gradcli.output.jsondata import dumps
    from gradcli.spans import NO_SPAN

    span = err.span if err.span != NO_SPAN else None
    obj = {
        "error": {
            "kind": err.kind,
            "message": err.message,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "hint": err.hint or None,
            "exit_code": err.exit_code,
        }
    }
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


def report_error(err: GradcliError, *, no_color: bool = False) -> None:
    """A user error: 'kind: message', the source line with a caret, and the hint."""
    text = str(err)
    prefix = f"{err.kind}: "
    if text.startswith(prefix):
        _say(err.kind, "red", text.removeprefix(prefix), no_color)
    else:
        fail(text, no_color=no_color)
