"""The `gradcli` command's entry point: register the commands, run the app, and turn anything
unexpected into one line and exit code 3 (a bug)."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Sequence

import typer

from gradcli.cli import app as _commands
from gradcli.cli.app import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OUTPUT, fail

__all__ = ["main"]  # and `app`, every command registered (module __getattr__)

# The module of each command. Importing a command module registers its commands on the app;
# a run imports only the module of the command it runs (start-up pays for one), the help and
# `app` itself (tests, an unknown word) all of them, in this order (the help's).
MODULES = {
    "check": "check",
    "grad": "grad",
    "eval": "grad",
    "explain": "explain",
    "functions": "functions",
    "graph": "graph",
    "diff": "higher",
    "hessian": "higher",
    "jacobian": "higher",
    "plot": "plot",
    "repl": "repl",
    "completion": "completion",
}
ORDER = ("check", "grad", "explain", "functions", "graph", "higher", "plot", "repl", "completion")


def _load(args: Sequence[str] | None) -> typer.Typer:
    """The app with the commands `args` need registered (all of them for None)."""
    import importlib

    wanted = MODULES.get(args[0]) if args else None
    names = ORDER if args is None or wanted is None else (wanted,)
    for name in names:
        importlib.import_module(f"gradcli.cli.{name}")
    return _commands.app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # `from gradcli.cli.main import app`: every command
        return _load(None)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


COMPLETE_VAR = "_GRADCLI_COMPLETE"  # set by the completion script `gradcli completion SHELL` prints


def app_for(args: Sequence[str]) -> typer.Typer:
    """`app`, or when the first word names a command, a copy of it with only that command:
    Typer builds the parameters of every registered command on each start (a few ms for
    all of them), and the command that runs behaves the same either way."""
    import copy

    from typer.main import get_command_name

    app = _commands.app
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
    into messages (exit 2); output that cannot be written exits 4; anything else is a bug:
    one line, exit 3, traceback with --debug."""
    import warnings

    # numpy's overflow/invalid-value RuntimeWarnings would print source lines on stderr;
    # gradcli reports NaN and inf itself, in words.
    warnings.simplefilter("ignore", RuntimeWarning)
    _streams()
    if COMPLETE_VAR in os.environ:  # the shell asks for completions: Typer's machinery, only now
        from typer._completion_classes import completion_init

        completion_init()
    debug = "--debug" in sys.argv[1:]
    try:
        try:
            _load(sys.argv[1:] if COMPLETE_VAR not in os.environ else None)
            app_for(sys.argv[1:])(prog_name="gradcli")
        finally:
            sys.stdout.flush()  # a full disk shows here, not at the interpreter's exit
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _quiet_exit("interrupted", EXIT_INTERRUPTED)
    except MemoryError:
        _quiet_exit(
            "limit exceeded: out of memory; the input needs more memory than this machine has "
            "(lower the GRADCLI_MAX_... limits to stop such inputs early)",
            EXIT_BAD_INPUT,
        )
    except OSError as exc:  # writing the output: a full disk, a closed or broken pipe
        if debug:
            raise
        _output_failed(exc)
    except Exception as exc:
        if debug:
            raise
        fail(
            f"{type(exc).__name__}: {exc}\n"
            "hint: this is a bug in gradcli; run again with --debug for the traceback, and report it",
            label="internal error",
        )
        sys.exit(EXIT_INTERNAL)


class _Closed(io.TextIOBase):
    """Standard output that the shell closed (`>&-`): writing to it is an output error."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


def _streams() -> None:
    """Standard streams that can be written: a closed stderr (`2>&-`) takes the messages to
    /dev/null; a closed stdout fails on the first write (exit 4). A stream that cannot encode
    a character (PYTHONIOENCODING=ascii, a Windows pipe in cp1252) gets `\u2202` instead of
    `∂`, never a UnicodeEncodeError."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process's life
    if sys.stdout is None:
        sys.stdout = _Closed()
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _output_failed(exc: OSError) -> None:
    """Exit 4: the output could not be written. A reader that went away (`| head -1`) gets no
    message; anything else (a full disk) is said on stderr."""
    if not isinstance(exc, BrokenPipeError):
        with contextlib.suppress(Exception):
            fail(f"cannot write the output: {exc.strerror or exc}", label="output error")
    with contextlib.suppress(Exception):  # nothing more to flush at the interpreter's exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_OUTPUT)


def _quiet_exit(message: str, code: int) -> None:
    """A last message without anything that could need memory or imports, and the exit code."""
    with contextlib.suppress(Exception):
        os.write(2, (message + "\n").encode())
    os._exit(code)
