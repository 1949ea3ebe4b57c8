"""`gradcli completion SHELL`: the shell completion script (Typer's), and what completes: the
commands and options, the functions of the table inside a program, and `NAME=` for the inputs
of the program already typed. Nothing of it is imported on an ordinary run."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from gradcli.cli.app import EXIT_INTERNAL, EXIT_OK, command, usual_exits

Shell = Annotated[Literal["bash", "zsh", "fish"], typer.Argument(help="The shell: bash, zsh or fish.")]


@command(exits=usual_exits(EXIT_OK, EXIT_INTERNAL))
def completion(shell: Shell) -> None:
    """The shell completion script, for bash, zsh or fish.

    Commands, options, function names in a program and NAME= for the program's inputs
    complete with Tab once the script is loaded.

    \b
    Examples:
      eval "$(gradcli completion bash)"          # in ~/.bashrc
      gradcli completion zsh > ~/.zfunc/_gradcli  # zsh, with ~/.zfunc in fpath
      gradcli completion fish > ~/.config/fish/completions/gradcli.fish
    """
    from typer._completion_shared import get_completion_script

    from gradcli.cli.main import COMPLETE_VAR

    typer.echo(get_completion_script(prog_name="gradcli", complete_var=COMPLETE_VAR, shell=shell))


def complete_program(ctx: Any, incomplete: str) -> list[str]:
    """The functions of the table that finish the name being typed at the end of a program."""
    import re

    from gradcli.primitives import public_names

    m = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", incomplete)
    if not m:
        return []
    head = incomplete[: m.start()]
    return [head + name + "(" for name in public_names() if name.startswith(m.group())]


def complete_bindings(ctx: Any, incomplete: str) -> list[str]:
    """`NAME=` for each input of the program typed before (not yet bound)."""
    program = (ctx.params or {}).get("program")
    if not program or program in ("-",) or program.startswith("@"):
        return []
    try:
        from gradcli.api import Compiled

        inputs = Compiled(program).inputs
    except Exception:  # an unfinished program: nothing to offer
        return []
    bound = {b.split("=", 1)[0] for b in (ctx.params.get("bindings") or [])}
    return [f"{n}=" for n in inputs if n not in bound and f"{n}=".startswith(incomplete)]
