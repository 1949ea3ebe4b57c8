"""Spec files for `gradcli check --spec`: many checks in one TOML file (stdlib tomllib).

    [[check]]
    name = "sine of a square"
    program = "sin(x**2)"
    at = { x = 3 }                        # numbers, arrays, or gradcli text: "pi/4", "@x.txt"
    wrt = ["x"]                           # optional; a list or "a,b"; default: every input
    manual = { x = "2*x*cos(x**2)" }      # optional; input -> hand-derived formula
    expect = { value = 0.4121184852417566, gradient = { x = -5.466781571308061 } }  # optional
    rtol = 1e-9                           # optional tolerances
    atol = 1e-12

Every problem in the file (TOML syntax, an unknown or mistyped key, a program that does
not parse, a missing binding, a manual formula that uses an unknown name...) is reported
before any check runs, as `file:line: check 'name', key 'manual.x': message`, exit 2.
tomllib does not report where keys are, so `KeyLocator` finds them in the text: the
`[[check]]` headers, `[check.sub]` table headers, and `key =` / `a.b =` lines.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradcli.check.verdict import CheckInputError, CheckSpec, Prepared, prepare
from gradcli.errors import UNPRINTABLE, GradcliError, did_you_mean
from gradcli.lang.ast import Span
from gradcli.lang.literals import check_float
from gradcli.limits import LIMITS, exceeded

CHECK_KEYS = ("name", "program", "at", "wrt", "manual", "expect", "rtol", "atol")
DEFAULT_KEYS = ("at", "wrt", "rtol", "atol")  # a [defaults] table: every check's, unless it sets its own
EXPECT_KEYS = ("value", "gradient")


class SpecError(GradcliError):
    """An invalid spec file: the message starts with `file:line:` and names the key."""

    kind = "spec error"


class SpecProblems(SpecError):
    """Every problem of an invalid spec file, each a SpecError whose message starts with
    `file:line:`: CI sees all of them at once (annotations, JUnit), not only the first."""

    def __init__(self, problems: list[SpecError]) -> None:
        first = problems[0]
        more = (
            f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
            if len(problems) > 1
            else ""
        )
        super().__init__(first.message + more, hint=first.hint)
        self.span, self.source = first.span, first.source
        self.problems = problems

    @staticmethod
    def where(err: SpecError) -> tuple[str | None, int | None, str]:
        """(file, line, message without its file:line prefix)."""
        m = re.match(r"(.+?):(\d+): (.*)", err.message, flags=re.S)
        return (m.group(1), int(m.group(2)), m.group(3)) if m else (None, None, err.message)


@dataclass
class SpecCheck:
    """One [[check]] table: what to check, and where it is in the file."""

    spec: CheckSpec
    index: int  # 0-based position among the [[check]] tables
    line: int  # line of its [[check]] header


# --------------------------------------------------------------------------
# Where keys are: a small scanner over the text (tomllib gives values only).


def _key_pattern(path: Sequence[str]) -> str:
    parts = [f"(?:{re.escape(p)}|\"{re.escape(p)}\"|'{re.escape(p)}')" for p in path]
    return r"\s*\.\s*".join(parts)


_CHECK_HEADER = re.compile(r"\s*\[\[\s*check\s*\]\]\s*(#.*)?\Z")
_HEADER = re.compile(r"\s*\[")


class KeyLocator:
    """Line numbers of keys in a spec file's text, by check index and key path."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.code = self._code_lines()
        self.checks = [i for i, line in enumerate(self.lines) if self.code[i] and _CHECK_HEADER.match(line)]

    def _code_lines(self) -> list[bool]:
        """False for lines inside a multi-line string (their text is not TOML structure)."""
        out = []
        inside: str | None = None
        for line in self.lines:
            out.append(inside is None)
            rest = line
            while True:
                if inside is None:
                    pos = [(rest.find(q), q) for q in ('"""', "'''") if q in rest]
                    hash_at = rest.find("#")
                    pos = [(p, q) for p, q in pos if hash_at < 0 or p < hash_at]
                    if not pos:
                        break
                    p, inside = min(pos)
                    rest = rest[p + 3 :]
                else:
                    p = rest.find(inside)
                    if p < 0:
                        break
                    rest = rest[p + 3 :]
                    inside = None
        return out

    def check_line(self, index: int) -> int:
        """1-based line of the index-th [[check]] header (1 when unknown)."""
        return self.checks[index] + 1 if index < len(self.checks) else 1

    def line_of(self, index: int, path: Sequence[str]) -> int:
        """1-based line where key `path` of check `index` is written (its header when not found).

        Candidates: `a.b.c = ...` (or a prefix of it: `a = { b = ... }`) directly under the
        [[check]] header, and `c = ...` under a `[check.a.b]` sub-table header; the one that
        spells out the most of the path wins.
        """
        if index >= len(self.checks):
            return 1
        start = self.checks[index]
        end = self.checks[index + 1] if index + 1 < len(self.checks) else len(self.lines)
        block = range(start + 1, end)
        headers = [i for i in block if self.code[i] and _HEADER.match(self.lines[i])]
        best, depth = start, 0
        top = self._find(range(start + 1, headers[0] if headers else end), path)
        if top is not None:
            best, depth = top
        for cut in range(len(path), 0, -1):  # a [check.a.b] sub-table: the path, or a prefix of it
            header = re.compile(r"\s*\[\s*check\s*\.\s*" + _key_pattern(path[:cut]) + r"\s*\]\s*(#.*)?\Z")
            for h in headers:
                if header.match(self.lines[h]):
                    stop = next((x for x in headers if x > h), end)
                    found = self._find(range(h + 1, stop), path[cut:]) if cut < len(path) else None
                    line, got = found if found is not None else (h, 0)
                    if cut + got > depth:
                        best, depth = line, cut + got
        return best + 1

    def _find(self, lines: range, path: Sequence[str]) -> tuple[int, int] | None:
        """The line assigning the longest prefix of `path` (`a.b = ...`, or `a = {...}`), and its length."""
        for cut in range(len(path), 0, -1):
            pattern = re.compile(r"\s*" + _key_pattern(path[:cut]) + r"\s*=")
            for i in lines:
                if self.code[i] and pattern.match(self.lines[i]):
                    return i, cut
        return None


# --------------------------------------------------------------------------
# Reading and validating.


class _Reader:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.where = KeyLocator(text)
        self.base = Path(path).parent
        self.problems: list[SpecError] = []  # every problem found (all are reported, in file order)

    def error(
        self,
        index: int,
        key: Sequence[str],
        message: str,
        *,
        hint: str | None = None,
        name: str | None = None,
        cause: GradcliError | None = None,
    ) -> SpecError:
        line = self.where.line_of(index, key) if key else self.where.check_line(index)
        who = f"check '{name}'" if name else f"check #{index + 1}"
        keytext = f", key '{'.'.join(key)}'" if key else ""
        err = SpecError(f"{self.path}:{line}: {who}{keytext}: {message}", hint=hint)
        if cause is not None:
            err.span, err.source, err.hint = cause.span, cause.source, cause.hint
        return err

    def checks(self) -> list[SpecCheck]:
        import tomllib

        try:
            data = tomllib.loads(self.text, parse_float=self._float)
        except tomllib.TOMLDecodeError as exc:
            raise self._syntax(exc) from None
        defaults = data.get("defaults", {})
        extra = [k for k in data if k not in ("check", "defaults")]
        if extra:
            line = next(
                (
                    i + 1
                    for i, text in enumerate(self.where.lines)
                    if re.match(r"\s*\[*\s*" + _key_pattern([extra[0]]), text)
                ),
                1,
            )
            raise SpecError(
                f"{self.path}:{line}: key '{extra[0]}': unknown top-level key",
                hint="each check is a [[check]] table (did you mean [[check]]?)",
            )
        checks = data.get("check")
        if not isinstance(checks, list) or not checks or not all(isinstance(c, dict) for c in checks):
            raise SpecError(
                f"{self.path}:1: key 'check': the file has no [[check]] tables",
                hint='start each check with [[check]], then program = "..." and at = { ... }',
            )
        self._defaults(defaults)
        out: list[SpecCheck] = []
        problems: list[SpecError] = []
        for i, table in enumerate(checks):
            merged = {k: v for k, v in defaults.items() if k not in table} | table
            if isinstance(defaults.get("at"), dict) and isinstance(table.get("at"), dict):
                merged["at"] = defaults["at"] | table["at"]  # a check's own values win, per input
            try:
                out.append(self._check(i, merged))
            except SpecError as err:
                problems.append(err)
        seen: dict[str, SpecCheck] = {}
        for c in out:
            if c.spec.name and c.spec.name in seen:
                problems.append(
                    self.error(
                        c.index,
                        ["name"],
                        f"the name is also used by the check on line {seen[c.spec.name].line}",
                        hint="give every check its own name",
                        name=c.spec.name,
                    )
                )
            seen[c.spec.name] = c
        self.problems = problems
        return out

    def _defaults(self, defaults: Any) -> None:
        """A [defaults] table takes the keys every check may share (and override)."""
        if isinstance(defaults, dict) and all(k in DEFAULT_KEYS for k in defaults):
            return
        bad = next((k for k in defaults if k not in DEFAULT_KEYS), "") if isinstance(defaults, dict) else ""
        line = next((n + 1 for n, t in enumerate(self.where.lines) if re.match(r"\s*\[\s*defaults", t)), 1)
        raise SpecError(
            f"{self.path}:{line}: key 'defaults{'.' + bad if bad else ''}': [defaults] takes "
            + ", ".join(DEFAULT_KEYS),
            hint="[defaults] rtol = 1e-9, atol = ..., at = { ... }, wrt = [...]: each check may override them",
        )

    def _float(self, text: str) -> float:
        """A TOML float as gradcli's language reads a number: 1e999 and 1e-400 are errors, not
        inf and 0 (TOML's own `inf` and `nan` keywords are values)."""
        if text.lstrip("+-") in ("inf", "nan"):
            return float(text)
        try:
            return check_float(text.replace("_", ""))
        except GradcliError as err:
            line = next((n + 1 for n, row in enumerate(self.where.lines) if text in row), 1)
            raise SpecError(f"{self.path}:{line}: {err.message}", hint=err.hint) from None

    def _syntax(self, exc: Exception) -> SpecError:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if match:
            line, column = int(match.group(1)), int(match.group(2))
        else:
            line = max(1, len(self.text.rstrip("\n").split("\n")))
            column = 1
        detail = re.sub(r"\s*\(at [^)]*\)\s*$", "", message)
        err = SpecError(
            f"{self.path}:{line}: invalid TOML: {detail}",
            hint='see https://toml.io; strings need quotes: program = "sin(x)"',
        )
        err.source, err.span = self.text, Span(0, 1, line, column)
        return err

    def _check(self, i: int, table: dict[str, Any]) -> SpecCheck:
        name = table.get("name")
        label = name if isinstance(name, str) else None
        for key in table:
            if key not in CHECK_KEYS:
                hint = did_you_mean(key, CHECK_KEYS) or "keys: " + ", ".join(CHECK_KEYS)
                raise self.error(i, [key], "unknown key", hint=hint, name=label)
        if "name" in table and not isinstance(name, str):
            raise self.error(i, ["name"], "must be a string", name=None)
        if isinstance(name, str) and UNPRINTABLE.search(name):  # it titles the table and the JUnit case
            raise self.error(i, ["name"], "must not contain control characters", name=None)
        program = table.get("program")
        if program is None:
            raise self.error(
                i,
                [],
                "the key 'program' is missing",
                name=label,
                hint='add program = "..." (the expression or program to check)',
            )
        if not isinstance(program, str) or not program.strip():
            raise self.error(i, ["program"], "must be a non-empty string", name=label)
        source = self._program(i, program, label)
        bindings = self._bindings(i, table.get("at", {}), label)
        wrt = table.get("wrt")
        if wrt is not None and not (
            isinstance(wrt, str) or (isinstance(wrt, list) and all(isinstance(w, str) for w in wrt))
        ):
            raise self.error(
                i,
                ["wrt"],
                "must be a list of input names or a comma-separated string",
                name=label,
                hint='wrt = ["w", "b"]',
            )
        manual = self._manual(i, table.get("manual"), label)
        expect_value, expect_gradient = self._expect(i, table.get("expect"), label)
        tols = {}
        for key in ("rtol", "atol"):
            if key in table:
                v = table[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
                    raise self.error(
                        i, [key], "must be a finite non-negative number", name=label, hint=f"{key} = 1e-9"
                    )
                tols[key] = float(v)
        spec = CheckSpec(
            program=source,
            bindings=bindings,
            wrt=wrt,
            manual=manual,
            expect_value=expect_value,
            expect_gradient=expect_gradient,
            rtol=tols.get("rtol"),
            atol=tols.get("atol"),
            name=label or "",
        )
        return SpecCheck(spec, i, self.where.check_line(i))

    def _program(self, i: int, program: str, label: str | None) -> str:
        if not program.startswith("@"):
            return program
        from gradcli.bindings import read_program

        try:
            return read_program("@" + str(self.base / program[1:]))
        except GradcliError as err:
            raise self.error(i, ["program"], err.message, name=label) from None

    def _bindings(self, i: int, at: Any, label: str | None) -> dict[str, Any]:
        import numpy as np

        from gradcli.bindings import parse_binding

        if not isinstance(at, dict):
            raise self.error(i, ["at"], "must be a table of input values", name=label, hint="at = { x = 3 }")
        out: dict[str, Any] = {}
        for name, raw in at.items():
            key = ["at", name]
            if isinstance(raw, dict):
                raise self.error(
                    i,
                    key,
                    "must be a number, an array of numbers or a string",
                    name=label,
                    hint=f'{name} = 3, {name} = [1, 2], or {name} = "pi/4"',
                )
            if isinstance(raw, str):
                text = raw.strip()
                if text.startswith("@") and not Path(text[1:]).is_absolute():
                    text = "@" + str(self.base / text[1:])
                try:
                    _, value = parse_binding(f"{name}={text}")
                except GradcliError as err:
                    raise self.error(i, key, err.message, name=label, cause=err) from None
                out[name] = value
                continue
            if _has_bool(raw):
                raise self.error(i, key, "true/false is not a number", name=label)
            try:
                value = np.asarray(raw, dtype=np.float64)
            except OverflowError:  # an integer beyond float64's range
                raise self.error(
                    i, key, "is too large for a float64 (the largest is about 1.8e308)", name=label
                ) from None
            except (TypeError, ValueError):
                raise self.error(
                    i,
                    key,
                    "must be a number, an array of numbers (rows of equal length) or a string",
                    name=label,
                ) from None
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise self.error(i, key, f"'{name}' is not an input name", name=label)
            out[name] = value[()] if value.ndim == 0 else value
        return out

    def _manual(self, i: int, manual: Any, label: str | None) -> list[tuple[str | None, str]]:
        if manual is None:
            return []
        if not isinstance(manual, dict):
            raise self.error(
                i,
                ["manual"],
                "must be a table of input -> formula",
                name=label,
                hint='manual = { x = "2*x*cos(x**2)" }',
            )
        out: list[tuple[str | None, str]] = []
        for name, formula in manual.items():
            if not isinstance(formula, str) or not formula.strip():
                raise self.error(
                    i,
                    ["manual", name],
                    "must be a formula in a string",
                    name=label,
                    hint=f'{name} = "2*{name}"',
                )
            out.append((name, formula))
        return out

    def _expect(self, i: int, expect: Any, label: str | None) -> tuple[Any, dict[str, Any]]:
        if expect is None:
            return None, {}
        if not isinstance(expect, dict):
            raise self.error(
                i,
                ["expect"],
                "must be a table with value and/or gradient",
                name=label,
                hint="expect = { value = 1.0, gradient = { x = 2.0 } }",
            )
        for key in expect:
            if key not in EXPECT_KEYS:
                hint = did_you_mean(key, EXPECT_KEYS) or "keys: value, gradient"
                raise self.error(i, ["expect", key], "unknown key", name=label, hint=hint)
        value = expect.get("value")
        if value is not None:
            self._numbers(i, ["expect", "value"], value, label)
        gradient = expect.get("gradient", {})
        if not isinstance(gradient, dict):
            raise self.error(
                i,
                ["expect", "gradient"],
                "must be a table of input -> number or array",
                name=label,
                hint="gradient = { x = 2.0 }",
            )
        for name, raw in gradient.items():
            self._numbers(i, ["expect", "gradient", name], raw, label)
        return value, dict(gradient)

    def _numbers(self, i: int, key: list[str], raw: Any, label: str | None) -> None:
        import numpy as np

        bad = isinstance(raw, (str, dict)) or _has_bool(raw)
        if not bad:
            try:
                np.asarray(raw, dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                bad = True
        if bad:
            raise self.error(i, key, "must be a number or an array of numbers", name=label)

    def prepared(self, checks: Sequence[SpecCheck]) -> list[Prepared]:
        """Compile, bind and evaluate every check (all user errors surface here, before any run)."""
        out = []
        problems: list[SpecError] = []
        for c in checks:
            try:
                out.append(prepare(c.spec))
            except CheckInputError as err:
                key = err.field.split(".")
                spec_err = self.error(c.index, key, err.message, name=c.spec.name or None, cause=err)
                if err.field == "at" and err.message.startswith("missing"):
                    missing = err.message.split(":", 1)[1].split(" (")[0].strip()
                    spec_err.hint = (
                        "give each a value: at = { "
                        + ", ".join(f"{m} = ..." for m in missing.split(", "))
                        + " }"
                    )
                problems.append(spec_err)
        self.problems += problems
        return out


def _has_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return True
    if isinstance(raw, list):
        return any(_has_bool(r) for r in raw)
    return False


def load(
    path: str, *, rtol: float | None = None, atol: float | None = None
) -> tuple[list[SpecCheck], list[Prepared]]:
    """Read, validate and prepare every check of a spec file (SpecError, exit 2, when invalid).

    `rtol`, `atol` (the command line's) apply to the checks that set none of their own."""
    try:
        with open(path, "rb") as f:  # at most the text-file limit: not /dev/zero forever
            raw = f.read(LIMITS.max_text_file_bytes + 1)
    except OSError as exc:
        raise SpecError(
            f"cannot read the spec file {path}: {exc.strerror or exc}",
            hint="gradcli check --spec checks.toml (see the README for the format)",
        ) from None
    if len(raw) > LIMITS.max_text_file_bytes:
        raise exceeded(
            "max_text_file_bytes", f"the spec file {path} is larger than {LIMITS.max_text_file_bytes:,} bytes"
        )
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark at the start is not part of the TOML
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(f"{path}:{line}: the file is not UTF-8 text") from None
    reader = _Reader(path, text)
    checks = reader.checks()
    for c in checks:
        c.spec.rtol = rtol if c.spec.rtol is None else c.spec.rtol
        c.spec.atol = atol if c.spec.atol is None else c.spec.atol
    prepared = reader.prepared(checks)
    if reader.problems:
        problems = sorted(reader.problems, key=lambda e: SpecProblems.where(e)[1] or 0)
        raise SpecProblems(problems) if len(problems) > 1 else problems[0]
    return checks, prepared
