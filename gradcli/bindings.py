"""Command-line inputs: the program text (`-` for stdin, `@path` for a file) and
`NAME=VALUE` bindings, where VALUE is a constant expression in gradcli's language
(`pi/4`, `[1, 2, 3]`, `linspace(0, 1, 5)`) or `@file.npy` / `@file.txt`.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from gradcli.errors import BindingError, GradcliError, LimitError, ParseError
from gradcli.limits import LIMITS, exceeded

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def read_program(text: str) -> str:
    """The program itself, or the contents of stdin (`-`) or of a file (`@path`)."""
    limit = LIMITS.max_program_chars
    too_long = exceeded(
        "max_program_chars",
        f"the program {'on standard input' if text == '-' else f'in {text[1:]}'} is longer than "
        f"{limit:,} characters",
    )
    if text == "-":
        try:
            source = sys.stdin.read(limit + 1)
        except UnicodeDecodeError:
            raise BindingError("the program on standard input is not UTF-8 text") from None
    elif text.startswith("@"):
        try:
            source = read_text_file(text[1:], "program", limit * 4)  # UTF-8: at most 4 bytes a character
        except LimitError:
            raise too_long from None
    else:
        return text
    source = source.removeprefix("\ufeff")  # a byte order mark (an editor's) is not the program's
    if len(source) > limit:
        raise too_long
    return source


def read_text_file(path: str, what: str, limit: int) -> str:
    """The text of a file, reading at most `limit` bytes (so /dev/zero cannot exhaust memory)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise BindingError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise exceeded(
            "max_text_file_bytes",
            f"{what} file {path} is larger than {limit:,} bytes",
        )
    try:
        return data.decode("utf-8-sig")  # a byte order mark at the start is not content
    except UnicodeDecodeError:
        raise BindingError(f"{what} file {path} is not UTF-8 text") from None


NOTES: list[str] = []  # what reading the values noticed (a skipped header): the CLI says it


def parse_bindings(words: Sequence[str]) -> dict[str, Any]:
    """NAME=VALUE words -> name -> value (each name once)."""
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
    return values


def parse_binding(word: str) -> tuple[str, Any]:
    """`x=3` -> ("x", 3.0). Values are evaluated by gradcli itself, never by Python's eval."""
    name, sep, raw = word.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        hint = "bindings are NAME=VALUE, e.g. x=3 or x=[1,2,3] (after the program)"
        if not sep:
            hint += "; if it belongs to the program, quote the whole program: 'x + y'"
        raise BindingError(f"'{word}' is not a binding", hint=hint)
    raw = raw.strip()
    if not raw:
        raise BindingError(f"the binding '{word}' has no value", hint=f"write {name}=3, for example")
    if raw.startswith("@"):
        if not raw[1:].strip():
            raise BindingError(f"the binding '{word}' names no file", hint=f"write {name}=@values.txt")
        return name, _load_array(raw[1:], name)
    special = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "nan": math.nan}
    if raw.lower() in special:  # as 1/0 is, with the usual warning where it is used
        return name, special[raw.lower()]
    from gradcli.api import Compiled
    from gradcli.lang.parser import parse

    try:
        program = parse(raw)
        statements = program.statements
        if len(statements) > 1 or statements[0].target is not None:
            raise BindingError(
                f"the value of '{name}' must be one expression, not statements or assignments",
                hint=f"write {name}=[1, 2, 3] or {name}=pi/4",
            )
        compiled = Compiled(program)
        if compiled.inputs:
            raise BindingError(
                f"the value of '{name}' must be a constant, but it uses {', '.join(compiled.inputs)}",
                hint="values may use numbers, pi, e, [..], functions, linspace(a, b, n) and arange(a, b, step)",
            )
        return name, compiled.evaluate({})
    except GradcliError as err:
        if not err.message.startswith("the value of"):
            err.message = f"in the value of '{name}': {err.message}"
        if isinstance(err, ParseError) and _top_level_comma(raw):
            err.hint = f"several numbers are a vector in brackets: {name}=[{raw}]"
        raise


def _top_level_comma(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            return True
    return False


def _load_array(path: str, name: str) -> Any:
    import numpy as np

    if path.endswith(".npy"):
        try:
            # Never unpickles (allow_pickle=False); mmap reads only the header until the copy.
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
        except OSError as exc:
            raise BindingError(f"cannot read {path} for '{name}': {exc.strerror or exc}") from None
        except (ValueError, EOFError) as exc:
            raise BindingError(f"cannot load {path} for '{name}': {exc}") from None
        if arr.size > LIMITS.max_array_elements:
            raise exceeded(
                "max_array_elements",
                f"{path} has {arr.size:,} elements, above the array limit of {LIMITS.max_array_elements:,}",
            )
        if arr.dtype.kind not in "biuf":  # bool, integers, floats; not complex, dates, text, records
            raise BindingError(
                f"{path} for '{name}' holds {arr.dtype} values, not real numbers",
                hint="save a float or integer array: np.save(path, np.asarray(x, dtype=float))",
            )
        return np.array(arr, dtype=np.float64)
    text = read_text_file(path, f"value of '{name}'", LIMITS.max_text_file_bytes)
    text = re.sub(r"#[^\n]*", "", text)  # comments
    lines = [line for line in text.split("\n") if line.strip()]
    if (
        lines
        and re.search(r"[A-Za-z_]", lines[0])
        and all(_NAME.match(t) for t in re.findall(r"[^\s,]+", lines[0]))
    ):  # a CSV header line: names, not numbers
        NOTES.append(f"{path}: the first line ({lines[0].strip()[:40]}) is a header of names, skipped")
        text = text[text.index(lines[0]) + len(lines[0]) :]
        lines = lines[1:]
    values = np.fromiter(_numbers(text, path, name), dtype=np.float64)
    if not values.size:
        raise BindingError(f"{path} for '{name}' holds no numbers")
    widths = {len(re.findall(r"[^\s,]+", line)) for line in lines}
    if len(lines) > 1 and len(widths) == 1 and widths != {1}:  # rows of several numbers: a matrix
        return values.reshape(len(lines), widths.pop())
    return values


def _numbers(text: str, path: str, name: str) -> Iterator[float]:
    """The whitespace- or comma-separated numbers of a text file, one at a time."""
    for count, match in enumerate(re.finditer(r"[^\s,]+", text)):
        if count >= LIMITS.max_array_elements:
            raise exceeded(
                "max_array_elements",
                f"{path} has more than {LIMITS.max_array_elements:,} numbers",
            )
        try:
            yield float(match.group())
        except ValueError:
            token = match.group()
            shown = token if len(token) <= 30 else token[:30] + "…"
            line = text.count("\n", 0, match.start()) + 1
            raise BindingError(
                f"{path} for '{name}' holds {shown!r} on line {line}, which is not a number",
                hint="a text file of values holds numbers separated by spaces, commas or newlines",
            ) from None
