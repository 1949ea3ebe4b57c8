"""The `gradcli` command's entry point: register the commands, run the app, and turn anything
unexpected into one line and exit code 3 (a bug)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

# Importing a command module registers its commands on `app`, in this order (the help's).
from gradcli.cli import check, explain, functions, grad  # noqa: F401
from gradcli.cli.app import EXIT_INTERNAL, app, fail

__all__ = ["app", "main"]


def app_for(args: Sequence[str]) -> typer.Typer:
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
        app_for(sys.argv[1:])(prog_name="gradcli")
    except Exception as exc:
        if "--debug" in sys.argv[1:]:
            raise
        fail(
            f"{type(exc).__name__}: {exc}\n"
            "hint: this is a bug in gradcli; run again with --debug for the traceback, and report it",
            label="internal error",
        )
        sys.exit(EXIT_INTERNAL)
