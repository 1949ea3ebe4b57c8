"""`gradcli check`: the gradient by every route, a verdict, and reports for people and CI."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from gradcli.cli.app import (
    EXIT_CHECK_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_OUTPUT,
    command,
    fail,
    usual_exits,
    warn,
)
from gradcli.cli.options import (
    Atol,
    Bindings,
    Debug,
    FdElements,
    FdSeed,
    Junit,
    Manual,
    NoColor,
    OptionalProgram,
    Precision,
    Rtol,
    Spec,
    Style,
    Wrt,
)
from gradcli.cli.points import At, AtFormat

if TYPE_CHECKING:
    from gradcli.check.report import Located
    from gradcli.check.verdict import Prepared

Format = Annotated[
    Literal["table", "json", "github"],
    typer.Option(
        "--format",
        help="table; json (JSON Lines, one object per check); or github "
        "(the table plus ::error annotations for failed checks).",
    ),
]
JsonLines = Annotated[bool, typer.Option("--json", help="Same as --format json.")]

EXITS = usual_exits(
    EXIT_INTERNAL,
    EXIT_OUTPUT,
    code_0="every route agrees (finite differences excused at kinks, as the table says)",
    code_1="a route disagrees, or the value or an exact gradient is NaN",
    code_2="bad input: usage, parse, name, arity, shape, binding, limit, or an invalid spec file",
)
assert EXIT_OK == 0 and EXIT_CHECK_FAILED == 1


@command(exits=EXITS)
def check(
    program: OptionalProgram = None,
    bindings: Bindings = None,
    manual: Manual = None,
    wrt: Wrt = None,
    rtol: Rtol = None,
    atol: Atol = None,
    spec: Spec = None,
    junit: Junit = None,
    fmt: Format = "table",
    json_out: JsonLines = False,
    fd_elements: FdElements = 100,
    fd_seed: FdSeed = 20261201,
    precision: Precision = 10,
    no_color: NoColor = False,
    debug: Debug = False,
    order: CheckOrder = 1,
    only: Only = None,
    summary: Summary = None,
    at: At = None,
    at_format: AtFormat = "auto",
) -> None:
    """Compare the gradient by reverse mode, forward mode, finite differences and
    hand-derived formulas, and exit 1 if they disagree.

    Exact routes (reverse, forward, --manual, expected numbers) agree when
    |a - b| <= atol*s + rtol*max(|a|, |b|) + 1e-13*m, s = max(1, largest |gradient| of the
    input), m = the magnitude of the chain rule's terms; a finite difference agrees within
    10 times its own error estimate. Inputs of more than 1,000 elements are differenced on
    a seeded random sample (--fd-elements, --fd-seed). At a kink (relu
    at 0, abs at 0, clamp bounds, min/max ties) finite differences cannot judge: the row
    says so and only the exact routes count.

    \b
    Examples:
      gradcli check 'sin(x**2)' x=3 --manual '2*x*cos(x**2)'
      gradcli check 'z = w*x + b; p = sigmoid(z); bce(p, y)' x=6.7 y=0 w=1 b=0 --wrt w,b \\
          --manual 'w:(p - y)/(p*(1-p)) * p*(1-p) * x' --manual 'b:(p - y)/(p*(1-p)) * p*(1-p)'
      gradcli check 'relu(x)' x=0
      gradcli check --spec examples/checks.toml --junit report.xml --format github
      gradcli check 'x**3*y' x=2 y=1 --order 2 --manual 'x: 6*x*y' --manual 'x,y: 3*x**2'
    """
    from gradcli.check.finite_diff import Sample
    from gradcli.check.report import Located
    from gradcli.check.verdict import verdict

    style = Style(json_out or fmt == "json", precision, no_color)
    _finite_tolerances(rtol, atol)
    if order == 2:
        _second_order(program, bindings or [], manual or [], wrt or [], rtol, atol, style)
        return
    asked = Asked(program, bindings or [], manual or [], wrt or [], rtol, atol)
    if at is not None:
        prepared, places, bad_rows = _from_points(asked, at, at_format)
    else:
        bad_rows = []
        if spec is not None:
            prepared, places = _spec_or_report(spec, asked, fmt == "github", junit, no_color)
            prepared, places = _only(prepared, places, only)
        else:
            prepared, places = _from_command_line(asked)
    for prep in prepared:
        prep.spec.sample = Sample(fd_elements, fd_seed)
    _check_junit_path(junit)
    located = []
    for prep, (file, line) in zip(prepared, places, strict=True):
        start = time.perf_counter()
        result = verdict(prep)
        located.append(Located(result, file, line, time.perf_counter() - start))
    github = fmt == "github" and not json_out
    report(located, style, single=spec is None and at is None, github=github, junit=junit)
    if summary:
        _summary(located, summary)
    for message in bad_rows:
        fail(message, no_color=no_color, label="bad row")
    if not all(loc.result.passed for loc in located):
        raise typer.Exit(EXIT_CHECK_FAILED)
    if bad_rows:
        raise typer.Exit(2)


Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        metavar="NAME",
        help="With --spec: run only the checks whose name matches (a glob; repeatable).",
        show_default=False,
    ),
]
Summary = Annotated[
    str | None,
    typer.Option(
        "--summary",
        metavar="FILE",
        help="Also write a markdown summary table (for $GITHUB_STEP_SUMMARY); - for stdout.",
        show_default=False,
    ),
]
CheckOrder = Annotated[
    int,
    typer.Option(
        "--order",
        min=1,
        max=2,
        metavar="N",
        help="2: check the second derivatives (the exact Hessian against finite differences of the "
        "gradient, and --manual 'x: FORMULA' for ∂²L/∂x², 'x,y: FORMULA' for ∂²L/∂x∂y).",
    ),
]


def _second_order(
    program: str | None,
    bindings: list[str],
    manual: list[str],
    wrt: list[str],
    rtol: float | None,
    atol: float | None,
    style: Style,
) -> None:
    from gradcli.check.second import check_second
    from gradcli.check.verdict import CheckUsageError
    from gradcli.cli.grad import load

    if program is None:
        raise CheckUsageError("--order 2 checks one PROGRAM with its values (no --spec)")
    source, values = load(program, bindings)
    result = check_second(
        source,
        values,
        manual,
        ",".join(wrt) if wrt else None,
        rtol if rtol is not None else 1e-9,
        atol if atol is not None else 1e-12,
    )
    if style.json:
        _second_json(source, result)
    else:
        _second_table(result, style)
    if not result.passed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _second_json(source: str, result: Any) -> None:
    from gradcli.cli.json_output import write

    write(
        {
            "program": source,
            "order": 2,
            "passed": result.passed,
            "symmetric": result.symmetric,
            "entries": [
                {
                    "row": e.row,
                    "column": e.column,
                    "exact": e.exact,
                    "finite_difference": e.fd,
                    "error_estimate": e.fd_error,
                    "manual": e.manual,
                    "verdict": "ok" if e.ok else "FAIL: " + ", ".join(e.problems),
                }
                for e in result.entries
            ],
        }
    )


def _second_table(result: Any, style: Style) -> None:
    from gradcli.output.console import emit, make_console, make_table
    from gradcli.output.numbers import number_text

    p = style.precision
    console = make_console(no_color=style.no_color)
    headers = ["∂²L/∂a∂b", "exact", "finite difference", "manual", "verdict"]
    table = make_table(console, headers, right=[False, True, True, True, False])
    for e in result.entries:
        table.add_row(
            f"{e.row}, {e.column}",
            number_text(e.exact, p),
            f"{number_text(e.fd, p)} ± {e.fd_error:.1e}",
            "" if e.manual is None else number_text(e.manual, p),
            "ok" if e.ok else "FAIL: " + ", ".join(e.problems),
        )
    emit(console, table)
    sym = "symmetric to rounding" if result.symmetric else f"NOT symmetric ({result.asymmetry:.2g})"
    typer.echo(f"\nthe exact Hessian is {sym}")
    typer.echo("result: " + ("pass (all routes agree)" if result.passed else "FAIL"))


Places = list[tuple[str | None, int | None]]


def _finite_tolerances(rtol: float | None, atol: float | None) -> None:
    """A tolerance must be a number: inf would let anything pass (and is not JSON)."""
    import math

    from gradcli.check.verdict import CheckUsageError

    for option, value in (("--rtol", rtol), ("--atol", atol)):
        if value is not None and not math.isfinite(value):
            raise CheckUsageError(
                f"{option} must be a finite number, got {value:g}", hint=f"{option} 1e-9, for example"
            )


@dataclass(frozen=True)
class Asked:
    """What the command line asked to check (besides --spec)."""

    program: str | None
    bindings: list[str]
    manual: list[str]
    wrt: list[str]
    rtol: float | None
    atol: float | None


def _from_spec(spec: str, asked: Asked) -> tuple[list[Prepared], Places]:
    from gradcli.check.spec import load
    from gradcli.check.verdict import CheckUsageError

    if asked.program is not None or asked.bindings or asked.manual or asked.wrt:
        raise CheckUsageError(
            "--spec runs the checks of a file: give no PROGRAM, bindings, --manual or --wrt",
            hint="gradcli check --spec checks.toml, or gradcli check PROGRAM NAME=VALUE ...",
        )
    checks, prepared = load(spec, rtol=asked.rtol, atol=asked.atol)
    return prepared, [(spec, c.line) for c in checks]


def _from_command_line(asked: Asked) -> tuple[list[Prepared], Places]:
    from gradcli.check.verdict import CheckSpec, CheckUsageError, parse_manual, prepare
    from gradcli.cli.grad import load

    if asked.program is None:
        raise CheckUsageError(
            "nothing to check: give a PROGRAM and its values, or --spec FILE",
            hint="gradcli check 'sin(x**2)' x=3 --manual '2*x*cos(x**2)', or gradcli check --spec checks.toml",
        )
    source, values = load(asked.program, asked.bindings)
    formulas = [parse_manual(m) for m in asked.manual]
    wrt = ",".join(asked.wrt) if asked.wrt else None
    one = CheckSpec(source, values, wrt, formulas, rtol=asked.rtol, atol=asked.atol)
    return [prepare(one)], [(None, None)]


def _spec_or_report(
    spec: str, asked: Asked, github: bool, junit: str | None, no_color: bool
) -> tuple[list[Prepared], Places]:
    """The checks of a spec file; an invalid file is visible to CI: every problem on stderr,
    as a GitHub annotation, and as an error test case in the JUnit report (exit 2)."""
    from gradcli.check.spec import SpecError, SpecProblems

    try:
        return _from_spec(spec, asked)
    except SpecError as err:
        problems = err.problems if isinstance(err, SpecProblems) else [err]
        from gradcli.cli.app import report_error

        for problem in problems:
            report_error(problem, no_color=no_color)
        if github:
            for problem in problems:
                file, line, message = SpecProblems.where(problem)
                where = f"file={file},line={line}," if file else ""
                typer.echo(f"::error {where}title=invalid gradcli spec::{message.replace(chr(10), '%0A')}")
        if junit:
            _write_junit(junit, _spec_junit(spec, problems))
        raise typer.Exit(2) from None


def _spec_junit(spec: str, problems: Sequence[Any]) -> str:
    from xml.sax.saxutils import quoteattr

    from gradcli.check.spec import SpecProblems

    cases = []
    for problem in problems:
        _file, line, message = SpecProblems.where(problem)
        cases.append(
            f"  <testcase classname={quoteattr(spec)} name={quoteattr(f'invalid spec, line {line}')}>\n"
            f'    <error message={quoteattr(message)} type="spec error"/>\n  </testcase>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<testsuite name="gradcli check" tests="{len(problems)}" failures="0" errors="{len(problems)}">\n'
        + "\n".join(cases)
        + "\n</testsuite>\n"
    )


def _only(
    prepared: list[Prepared], places: Places, patterns: list[str] | None
) -> tuple[list[Prepared], Places]:
    """--only NAME...: the checks whose name matches one of the globs."""
    import fnmatch

    from gradcli.check.verdict import CheckUsageError

    if not patterns:
        return prepared, places
    kept = [
        (p, w)
        for p, w in zip(prepared, places, strict=True)
        if any(fnmatch.fnmatchcase(p.spec.name, g) for g in patterns)
    ]
    if not kept:
        raise CheckUsageError(
            f"--only {' '.join(patterns)} matches no check of the file",
            hint="the checks' names are in the table",
        )
    return [p for p, _ in kept], [w for _, w in kept]


def _from_points(asked: Asked, at: str, at_format: str | None) -> tuple[list[Prepared], Places, list[str]]:
    """One check per row of a points file (its file and line in the reports, JUnit included)."""
    from gradcli.check.verdict import CheckSpec, CheckUsageError, parse_manual, prepare
    from gradcli.cli.grad import load
    from gradcli.cli.points import read_points
    from gradcli.errors import GradcliError

    if asked.program is None:
        raise CheckUsageError(
            "--at checks a PROGRAM at every row of a file", hint="gradcli check 'sin(x)' --at points.csv"
        )
    source, values = load(asked.program, asked.bindings)
    _columns, rows = read_points(at, at_format)
    formulas = [parse_manual(m) for m in asked.manual]
    wrt = ",".join(asked.wrt) if asked.wrt else None
    prepared, places, bad = [], [], []
    for row in rows:
        both = sorted(set(row.values) & set(values))
        if both and not row.error:
            row.error = (
                f"row {row.number} (line {row.line}) binds '{both[0]}', which the command line binds too"
            )
        if row.error:
            bad.append(row.error)
            continue
        spec = CheckSpec(
            source,
            {**values, **row.values},
            wrt,
            formulas,
            rtol=asked.rtol,
            atol=asked.atol,
            name=f"row {row.number}",
        )
        try:
            prepared.append(prepare(spec))
        except GradcliError as err:
            bad.append(f"row {row.number} (line {row.line}): {err.message}")
            continue
        places.append((None if at == "-" else at, row.line))
    return prepared, places, bad


def _check_junit_path(junit: str | None) -> None:
    """A JUnit path whose directory does not exist is an error before any check runs."""
    from pathlib import Path

    if junit and junit != "-" and not Path(junit).resolve().parent.is_dir():
        from gradcli.errors import OutputError

        raise OutputError(f"cannot write the JUnit report {junit}: its directory does not exist")


def report(
    located: Sequence[Located], style: Style, *, single: bool, github: bool, junit: str | None
) -> None:
    """stdout: the table(s), or JSON Lines (nothing else), plus `::error` lines for github.
    stderr: warnings, and one 'check failed' line per problem (table and github formats).
    With `junit`, the JUnit XML report too."""
    from gradcli.check import report as cr

    def prefix(loc: Located) -> str:
        return "" if single else f"{loc.title}: "

    for loc in located:
        for w in loc.result.warnings:
            warn(prefix(loc) + w, no_color=style.no_color)
    if style.json:
        from gradcli.cli.json_output import check_object, write

        for loc in located:
            write(check_object(loc))
    else:
        from gradcli.output.console import make_console

        # Piped output is not wrapped at 100 columns: a wrapped number cell is harder to read
        # (and to grep) than a long line.
        console = make_console(no_color=style.no_color, width=None if sys.stdout.isatty() else _piped_width())
        if single:
            cr.print_check(console, located[0].result, style.precision)
        else:
            cr.print_summary(console, located)
        if github:
            sys.stdout.write("".join(line + "\n" for loc in located for line in cr.github_annotations(loc)))
            sys.stdout.flush()
        for loc in located:
            for message in loc.result.failures:
                fail(prefix(loc) + message, no_color=style.no_color, label="check failed")
    if junit:
        _write_junit(junit, cr.junit_xml(located))


def _piped_width() -> int:
    """Piped: the width COLUMNS asks for, else 160 (a wrapped number cell is harder to grep)."""
    import os

    try:
        return max(60, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 160


def _summary(located: Sequence[Located], path: str) -> None:
    """A markdown table of the checks, for $GITHUB_STEP_SUMMARY (or - for stdout)."""
    from pathlib import Path

    rows = ["| check | line | verdict | detail |", "| --- | ---: | --- | --- |"]
    for loc in located:
        r = loc.result
        verdict = "✅ pass" if r.passed else "❌ FAIL"
        detail = "; ".join(r.failures) if not r.passed else ""
        cells = [loc.title, str(loc.line or ""), verdict, detail]
        rows.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    passed = sum(loc.result.passed for loc in located)
    text = "\n".join([f"### gradcli check: {passed} of {len(located)} passed", "", *rows, ""])
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        with Path(path).open("a", encoding="utf-8") as f:  # GitHub's summary file is appended to
            f.write(text)
    except OSError as exc:
        from gradcli.errors import OutputError

        raise OutputError(f"cannot write the summary {path}: {exc.strerror or exc}") from None


def _write_junit(path: str, xml: str) -> None:
    from pathlib import Path

    if path == "-":  # --junit -: the report on stdout
        sys.stdout.write(xml)
        sys.stdout.flush()
        return
    try:
        Path(path).write_text(xml, encoding="utf-8")
    except OSError as exc:
        from gradcli.errors import OutputError

        raise OutputError(f"cannot write the JUnit report {path}: {exc.strerror or exc}") from None
