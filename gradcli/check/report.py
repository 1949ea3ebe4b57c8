"""Presentation of `gradcli check` results: the rich table of one check, the summary table of
a spec file, JSON Lines, GitHub `::error` annotations and a JUnit XML report.

rich is imported only when a table is printed; JSON and JUnit never import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gradcli.check.tolerance import describe
from gradcli.check.verdict import (
    CODES,
    DETACH,
    FAIL,
    FD_FACTOR,
    FD_RTOL,
    KINK,
    NAN,
    OK,
    ROUGH,
    CheckResult,
    Row,
    element_label,
)
from gradcli.output.console import emit, make_table
from gradcli.output.numbers import number_text, sci_text, value_text

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

ELEMENT_ROWS = 10  # element rows shown per input before the rest is summarised

VERDICT_TEXT = {
    OK: "ok",
    KINK: "ok (kink)",
    DETACH: "ok (detach)",
    ROUGH: "ok (not smooth)",
    FAIL: "FAIL",
    NAN: "NaN",
}
VERDICT_STYLE = {
    OK: "green",
    KINK: "yellow",
    DETACH: "yellow",
    ROUGH: "yellow",
    FAIL: "bold red",
    NAN: "bold red",
}


@dataclass
class Located:
    """A check result and where it came from (a spec file's [[check]] table, or the shell)."""

    result: CheckResult
    file: str | None = None
    line: int | None = None
    seconds: float = 0.0

    @property
    def title(self) -> str:
        """The check's name, else its program on one line (`y = x**3; y`), never a newline."""
        if self.result.name:
            return self.result.name
        statements = [" ".join(line.split()) for line in self.result.program.replace(";", "\n").split("\n")]
        text = "; ".join(t for t in statements if t)
        return text if len(text) <= 60 else text[:59] + "…"


# --------------------------------------------------------------------------
# One check, in full.


def check_renderables(console: Console, result: CheckResult, precision: int = 10) -> list[RenderableType]:
    from rich.text import Text

    from gradcli.output.console import plain_boxes

    plain = plain_boxes(console)
    out: list[RenderableType] = []
    head = f"check  {result.name}: " if result.name else "check  "
    out.append(Text(head + " ".join(result.program.split()), style="" if plain else "bold"))
    if result.inputs:
        at = ", ".join(f"{k} = {value_text(v, precision, one_line=True)}" for k, v in result.inputs.items())
        out.append(Text(f"at     {at}"))
    value = f"value  {value_text(result.value, precision, one_line=True)}"
    if result.expected_value is not None:
        value += f"  (expected {value_text(result.expected_value, precision, one_line=True)})"
    out.append(Text(value))
    if result.rows:
        out += [Text(""), gradient_table(console, result, precision)]
    notes = [ex.describe() for ex in result.excuses] + result.notes
    for row in result.rows:
        rest = pick_elements(row)[1]
        if rest.size:
            notes.insert(0, rest_summary(row, rest))
    if notes:
        out.append(Text(""))
        out += [Text(f"note: {n}", style="" if plain else "yellow") for n in notes]
    out.append(Text(""))
    out.append(Text(tolerance_line(result), style="" if plain else "dim"))
    if result.passed:
        excused = _excused(result)
        text = f"the exact routes agree{excused}" if excused else "all routes agree"
        out.append(Text(f"result: pass ({text})", style="" if plain else "bold green"))
    else:
        count = len(result.failures)
        out.append(
            Text(
                f"result: FAIL ({count} {'problem' if count == 1 else 'problems'}: "
                "see the rows marked FAIL or NaN)",
                style="" if plain else "bold red",
            )
        )
    return out


def _excused(result: CheckResult) -> str:
    kinds = {k for row in result.rows for k in row.counts()} & {KINK, DETACH, ROUGH}
    if not kinds:
        return ""
    return "; finite differences cannot judge the rows marked " + " or ".join(
        f"'{VERDICT_TEXT[k]}'" for k in sorted(kinds, key=CODES.index)
    )


def tolerance_line(result: CheckResult) -> str:
    scales = ", ".join(f"{number_text(r.scale, 3)} for {r.name}" for r in result.rows if r.scale != 1.0)
    return (
        f"tolerance: exact routes {describe(result.rtol, result.atol)}{'; s = ' + scales if scales else ''}\n"
        f"           finite differences |d - g| <= {FD_FACTOR:g}·(error estimate) + "
        f"{max(result.rtol, FD_RTOL):g}·|g| + {result.atol:g}·s"
    )


def gradient_table(console: Console, result: CheckResult, precision: int = 10) -> Table:
    from rich.text import Text

    from gradcli.output.console import plain_boxes

    plain = plain_boxes(console)
    has_manual = any(r.manual is not None for r in result.rows)
    has_expected = any(r.expected is not None for r in result.rows)
    headers = ["input", "reverse", "forward", "finite difference"]
    right = [False, True, True, True]
    if has_manual:
        headers.append("manual")
        right.append(True)
    if has_expected:
        headers.append("expected")
        right.append(True)
    headers += ["max rel Δ", "max abs Δ", "verdict"]
    right += [True, True, False]
    table = make_table(console, headers, right=right)
    for row in result.rows:
        chosen = pick_elements(row)[0]
        for j in chosen:
            cells = [
                element_label(row.name, row.shape, j),
                _num(row.reverse, j, precision),
                _num(row.forward, j, precision),
                _fd_cell(row, j, precision),
            ]
            if has_manual:
                cells.append(_num(row.manual, j, precision))
            if has_expected:
                cells.append(_num(row.expected, j, precision))
            status = row.verdict_at(j)
            verdict = VERDICT_TEXT[status]
            if status == FAIL and j in row.reasons:
                verdict += ": " + ", ".join(row.reasons[j])
            cells += [sci_text(float(row.rel.ravel()[j])), sci_text(float(row.abs.ravel()[j]))]
            texts = [Text(c) for c in cells]
            texts.append(Text(verdict, style="" if plain else VERDICT_STYLE[status]))
            table.add_row(*texts)
    return table


def pick_elements(row: Row) -> tuple[list[int], np.ndarray]:
    """Element rows to show: all of a small input; of a big one, the worst (failures first)."""
    n = row.status.size
    if n <= ELEMENT_ROWS:
        return list(range(n)), np.zeros(0, dtype=np.intp)
    rel = np.nan_to_num(row.rel.ravel(), nan=np.inf)
    order = np.lexsort((np.arange(n), -rel, row.status.ravel()))  # worst verdict, then largest Δ
    return sorted(int(j) for j in order[:ELEMENT_ROWS]), order[ELEMENT_ROWS:]


def rest_summary(row: Row, rest: np.ndarray) -> str:
    counts = row.counts(rest)
    parts = ", ".join(f"{c:,} {VERDICT_TEXT[s]}" for s, c in counts.items())
    return f"{rest.size:,} more elements of {row.name} not shown: {parts}"


def _num(arr: np.ndarray | None, j: int, precision: int) -> str:
    if arr is None:
        return "—"
    return number_text(float(arr.ravel()[j]), precision)


def _fd_cell(row: Row, j: int, precision: int) -> str:
    fd = row.fd
    if fd.method == "skipped" or not fd.computed.ravel()[j]:
        return "not computed"
    est, err = float(fd.estimate.ravel()[j]), float(fd.error.ravel()[j])
    if np.isnan(est):
        return "undefined"
    silent = row.silent is not None and bool(row.silent.ravel()[j])
    return f"{number_text(est, precision)} ± {sci_text(err)}" + (" (no vote)" if silent else "")


def print_check(console: Console, result: CheckResult, precision: int = 10) -> None:
    emit(console, *check_renderables(console, result, precision))


# --------------------------------------------------------------------------
# Many checks: the summary table.


def summary_renderables(console: Console, located: Sequence[Located]) -> list[RenderableType]:
    from rich.text import Text

    from gradcli.output.console import plain_boxes

    plain = plain_boxes(console)
    table = make_table(
        console,
        ["check", "line", "verdict", "max rel Δ", "max abs Δ", "detail"],
        right=[False, True, False, True, True, False],
    )
    for loc in located:
        r = loc.result
        status = r.verdict
        detail = r.failures[0] if r.failures else _pass_detail(r)
        if len(r.failures) > 1:
            detail += f" (+{len(r.failures) - 1} more)"
        table.add_row(
            Text(loc.title),
            Text("" if loc.line is None else str(loc.line)),
            Text(
                VERDICT_TEXT[status] if r.passed else VERDICT_TEXT.get(status, "FAIL"),
                style="" if plain else VERDICT_STYLE[status if status in VERDICT_STYLE else FAIL],
            ),
            Text(sci_text(r.max_rel)),
            Text(sci_text(r.max_abs)),
            Text(detail),
        )
    failed = sum(not loc.result.passed for loc in located)
    passed = len(located) - failed
    line = f"{len(located)} {'check' if len(located) == 1 else 'checks'}: {passed} passed, {failed} failed"
    return [table, Text(""), Text(line, style="" if plain else ("bold red" if failed else "bold green"))]


def _pass_detail(r: CheckResult) -> str:
    excused = {k for row in r.rows for k in row.counts()} & {KINK, DETACH, ROUGH}
    routes = ["reverse", "forward"] + ([] if excused else ["finite differences"])
    if any(row.manual is not None for row in r.rows):
        routes.append("manual")
    if any(row.expected is not None for row in r.rows) or r.expected_value is not None:
        routes.append("expected")
    text = ", ".join(routes) + " agree"
    if excused:
        why = [f"{ex.kind} at {ex.where}" for ex in r.excuses] + (
            ["not smooth within the step"] if ROUGH in excused else []
        )
        text += "; finite differences cannot judge (" + ", ".join(why) + ")"
    return text


def print_summary(console: Console, located: Sequence[Located]) -> None:
    emit(console, *summary_renderables(console, located))


# --------------------------------------------------------------------------
# Machines: JSON Lines, GitHub annotations, JUnit XML.


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(loc: Located) -> list[str]:
    """`::error` workflow commands for a failed check (none when it passed)."""
    r = loc.result
    if r.passed:
        return []
    props = []
    if loc.file is not None:
        props.append(f"file={_escape_property(loc.file)}")
        if loc.line is not None:
            props.append(f"line={loc.line}")
    props.append(f"title={_escape_property('gradcli check ' + loc.title)}")
    return [f"::error {','.join(props)}::{_escape_data(message)}" for message in r.failures]


def junit_xml(located: Sequence[Located], suite: str = "gradcli check") -> str:
    """A JUnit XML report: one testcase per check; a failure element carries the numbers."""
    import xml.etree.ElementTree as ET

    failures = sum(not loc.result.passed for loc in located)
    total_time = sum(loc.seconds for loc in located)
    root = ET.Element(
        "testsuites",
        name=suite,
        tests=str(len(located)),
        failures=str(failures),
        errors="0",
        time=f"{total_time:.3f}",
    )
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(located)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{total_time:.3f}",
    )
    for loc in located:
        r = loc.result
        attrs = {"name": loc.title, "classname": _classname(loc), "time": f"{loc.seconds:.3f}"}
        if loc.file is not None:
            attrs["file"] = loc.file
            if loc.line is not None:
                attrs["line"] = str(loc.line)
        case = ET.SubElement(ts, "testcase", attrs)
        if not r.passed:
            failure = ET.SubElement(case, "failure", message="; ".join(r.failures), type="check failed")
            failure.text = "\n".join([f"program: {r.program}", *r.failures, *_row_lines(r)])
        out = [ex.describe() for ex in r.excuses] + r.notes + [f"warning: {w}" for w in r.warnings]
        if out:
            ET.SubElement(case, "system-out").text = "\n".join(out)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _classname(loc: Located) -> str:
    if loc.file is None:
        return "gradcli.check"
    from pathlib import Path

    return "gradcli.check." + Path(loc.file).stem


def _row_lines(r: CheckResult) -> list[str]:
    lines = []
    for row in r.rows:
        lines.append(
            f"{row.name}: verdict {row.verdict}, max rel {sci_text(row.max_rel)}, max abs {sci_text(row.max_abs)}"
        )
    return lines
