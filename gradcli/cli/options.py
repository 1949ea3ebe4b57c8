"""The arguments and options the commands share, declared once (Typer's Annotated form), and
the options of one command each that are long to declare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import typer


@dataclass(frozen=True)
class Style:
    """The output options of every command that prints numbers: --json, --precision, --no-color."""

    json: bool = False
    precision: int = 10
    no_color: bool = False


def _complete_program(ctx: Any, incomplete: str) -> list[str]:
    from gradcli.cli.completion import complete_program

    return complete_program(ctx, incomplete)


def _complete_bindings(ctx: Any, incomplete: str) -> list[str]:
    from gradcli.cli.completion import complete_bindings

    return complete_bindings(ctx, incomplete)


Program = Annotated[
    str,
    typer.Argument(
        metavar="PROGRAM",
        help="Expression or program (statements separated by ';' or newlines); "
        "'-' reads it from stdin, '@path' from a file. May start with '-': gradcli grad -x**2 x=1.",
        show_default=False,
        autocompletion=_complete_program,
    ),
]
Bindings = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="NAME=VALUE",
        help="Input values: x=3 x=-1.5 x=pi/4 x=[1,2,3] x=linspace(0,1,5) x=arange(0,1,0.25) "
        "x=@values.npy x=@values.txt",
        show_default=False,
        autocompletion=_complete_bindings,
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


ExplainMode = Annotated[
    Literal["reverse", "forward", "both"],
    typer.Option(
        "--mode",
        help="reverse: the backward pass (backpropagation); forward: the tangents per input "
        "(dual numbers); both.",
    ),
]
MaxRows = Annotated[
    int,
    typer.Option(
        "--max-rows",
        min=0,
        metavar="N",
        help="At most N nodes per table (0: all); a note says what was left out.",
    ),
]
Export = Annotated[
    str | None,
    typer.Option(
        "--export",
        metavar="FILE",
        help="Also write the tables to FILE: .svg, .html or .txt.",
        show_default=False,
    ),
]
OptionalProgram = Annotated[
    str | None,
    typer.Argument(
        metavar="PROGRAM",
        show_default=False,
        help="Expression or program ('-' stdin, '@path' a file); not with --spec.",
    ),
]
Manual = Annotated[
    list[str] | None,
    typer.Option(
        "--manual",
        metavar="[INPUT:]FORMULA",
        show_default=False,
        help="A hand-derived derivative to check, e.g. 'x:2*x*cos(x**2)' (INPUT: may be left out when "
        "there is one input); it may use the program's inputs and intermediates. Repeat for several inputs.",
    ),
]
Rtol = Annotated[
    float | None,
    typer.Option(
        "--rtol",
        min=0.0,
        metavar="R",
        show_default=False,
        help="Relative tolerance of the exact routes (default 1e-9).",
    ),
]
Atol = Annotated[
    float | None,
    typer.Option(
        "--atol",
        min=0.0,
        metavar="A",
        show_default=False,
        help="Absolute tolerance, times max(1, largest |gradient|) (default 1e-12).",
    ),
]
Spec = Annotated[
    str | None,
    typer.Option(
        "--spec",
        metavar="FILE",
        show_default=False,
        help="Run every [[check]] of a TOML spec file (format in the README).",
    ),
]
Junit = Annotated[
    str | None,
    typer.Option(
        "--junit",
        metavar="PATH",
        show_default=False,
        help="Also write a JUnit XML report (one testcase per check).",
    ),
]
FdElements = Annotated[
    int,
    typer.Option(
        "--fd-elements",
        min=1,
        metavar="N",
        help="Finite differences on a random sample of N elements of an input above 1,000 elements.",
    ),
]
FdSeed = Annotated[
    int, typer.Option("--fd-seed", metavar="S", help="The seed of that sample (printed in the note).")
]
