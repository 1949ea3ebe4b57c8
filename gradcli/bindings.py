"""Command-line inputs: the program text (`-` for stdin, `@path` for a file) and
`NAME=VALUE` bindings, where VALUE is a constant expression in gradcli's language
(`pi/4`, `[1, 2, 3]`, `linspace(0, 1, 5)`) or `@file.npy` / `@file.txt`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from gradcli.errors import BindingError, GradcliError, LimitError
from gradcli.limits import LIMITS

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def read_program(text: str) -> str:
    """The program itself, or the contents of stdin (`-`) or of a file (`@path`)."""
    if text == "-":
        data = sys.stdin.read(LIMITS.max_program_chars + 1)
        return data
    if text.startswith("@"):
        return _read_file(text[1:], "program")
    return text


def _read_file(path: str, what: str) -> str:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > LIMITS.max_program_chars * 4:
            raise LimitError(f"{what} file {path} is {size:,} bytes, too large")
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BindingError(f"{what} file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise BindingError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None


def parse_binding(word: str) -> tuple[str, Any]:
    """`x=3` -> ("x", 3.0). Values are evaluated by gradcli itself, never by Python's eval."""
    name, sep, raw = word.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise BindingError(
            f"'{word}' is not a binding",
            hint="bindings are NAME=VALUE, e.g. x=3 or x=[1,2,3] (after the program)",
        )
    raw = raw.strip()
    if not raw:
        raise BindingError(f"the binding '{word}' has no value", hint=f"write {name}=3, for example")
    if raw.startswith("@"):
        return name, _load_array(raw[1:], name)
    from gradcli.api import Compiled

    try:
        compiled = Compiled(raw)
    except GradcliError as err:
        err.message = f"in the value of '{name}': {err.message}"
        raise
    if compiled.inputs:
        raise BindingError(
            f"the value of '{name}' must be a constant, but it uses {', '.join(compiled.inputs)}",
            hint="values may use numbers, pi, e, [..], functions, linspace(a, b, n) and arange(a, b, step)",
        )
    return name, compiled.evaluate({})


def _load_array(path: str, name: str) -> Any:
    import numpy as np

    if path.endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise BindingError(f"cannot load {path} for '{name}': {exc}") from None
        if arr.size > LIMITS.max_array_elements:
            raise LimitError(f"{path} has {arr.size:,} elements, above the array limit")
        try:
            return np.array(arr, dtype=np.float64)
        except (TypeError, ValueError):
            raise BindingError(f"{path} for '{name}' does not hold numbers") from None
    text = _read_file(path, f"value of '{name}'")
    tokens = [t for t in re.split(r"[\s,]+", text.strip()) if t]
    if len(tokens) > LIMITS.max_array_elements:
        raise LimitError(f"{path} has more than {LIMITS.max_array_elements:,} numbers")
    try:
        values = [float(t) for t in tokens]
    except ValueError as exc:
        raise BindingError(f"{path} for '{name}' holds something that is not a number: {exc}") from None
    if not values:
        raise BindingError(f"{path} for '{name}' holds no numbers")
    return np.array(values)
