"""`gradcli repl`: an interactive session (gradcli/session.py), with history and completion
where the standard library's readline is available; `gradcli repl < script.txt` runs a script
without prompts."""

from __future__ import annotations

import sys
from typing import Any

import typer

from gradcli.cli.app import EXIT_INTERNAL, EXIT_OK, EXIT_OUTPUT, command, usual_exits
from gradcli.cli.options import NoColor, Precision

PROMPT = "gradcli> "


@command(exits=usual_exits(EXIT_OK, EXIT_INTERNAL, EXIT_OUTPUT))
def repl(precision: Precision = 10, no_color: NoColor = False) -> None:
    """A session in which gradients accumulate, as .grad does.

    Bind inputs, evaluate formulas; `grad EXPR` adds the gradient to each input's .grad (backward()); `grads` shows them;
    `zero_grad` resets them; `detach x` makes x a constant. `help` lists the commands. Errors
    are reported and the session goes on; Ctrl-D or `exit` leaves. Piped, it runs the lines
    of a script without prompts: gradcli repl < session.txt.

    \b
    Examples:
      gradcli repl
      printf 'x = 3\\ngrad x**2\\ngrad x**2\\ngrads\\n' | gradcli repl
    """
    from gradcli.session import Session

    session = Session(precision=precision)
    interactive = sys.stdin.isatty()
    if interactive:
        _readline(session)
        typer.echo("gradcli session: `help` lists the commands, Ctrl-D leaves")
    while True:
        try:
            line = input(PROMPT) if interactive else sys.stdin.readline()
        except EOFError:
            break
        except KeyboardInterrupt:
            typer.echo("")
            continue
        if not interactive and line == "":
            break
        if line.strip() in ("exit", "quit"):
            break
        _one(session, line, no_color)
    if interactive:
        typer.echo("")


def _one(session: Any, line: str, no_color: bool) -> None:
    from gradcli.cli.app import report_error
    from gradcli.errors import GradcliError

    try:
        out = session.run(line)
    except GradcliError as err:
        report_error(err, no_color=no_color)
        return
    if out:
        typer.echo(out)


def _readline(session: Any) -> None:
    """History and tab completion of commands, function names and bound inputs."""
    try:
        import readline
    except ImportError:  # not on every platform: the session works without it
        return
    from gradcli.primitives import public_names
    from gradcli.session import WORDS

    def complete(text: str, state: int) -> str | None:
        words = sorted({*WORDS, *public_names(), *session.values})
        found = [w for w in words if w.startswith(text)]
        return found[state] if state < len(found) else None

    readline.set_completer(complete)
    readline.set_completer_delims(" \t\n()[],+-*/=<>@")
    readline.parse_and_bind("tab: complete")
