"""Command-line values of the simple types, converted without importing pydantic.

Typer (0.29) converts every parameter value with a pydantic TypeAdapter, built on
first use (typer/_coercion.py, typer/_adapters.py; no setting turns that off): importing pydantic and building the adapters for one command costs
about as much as importing numpy, and every shell one-liner would pay it. Our
parameters are simple (str, int/float with bounds, list[str], Literal choices,
bool flags), so `install(command)` gives each such parameter a converter that
handles the well-formed values itself and hands anything else (a bad number,
an out-of-range value, an unknown choice) to Typer's own converter, so the error
messages stay Typer's. Parameters of other types, and Typer versions without
this machinery, are left alone.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args, get_origin

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

try:  # Typer internals; when they are missing, Typer converts everything itself.
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - other Typer versions
    RuntimeParam = None  # type: ignore[assignment,misc]


def _fast(annotation: Any, info: Any) -> Any | None:
    """A function value -> converted value (or _DECLINE), or None when the type is not ours."""
    if getattr(info, "parser", None) is not None or getattr(info, "clamp", False):
        return None
    if annotation is str:
        return lambda v: v if type(v) is str else _DECLINE
    if annotation is bool:  # flags; Typer itself skips the ones that already hold a bool
        return lambda v: v if type(v) is bool else _DECLINE
    if annotation in (int, float):
        lo, hi = info.min, info.max
        pattern = _INT if annotation is int else _FLOAT

        def number(v: Any) -> Any:
            if type(v) is str and pattern.fullmatch(v):
                v = annotation(v)
            elif type(v) is not annotation:
                return _DECLINE
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                return _DECLINE
            return v

        return number
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return lambda v: (
            list(v) if isinstance(v, (list, tuple)) and all(type(x) is str for x in v) else _DECLINE
        )
    if get_origin(annotation) is Literal and getattr(info, "case_sensitive", False):
        choices = [c for c in get_args(annotation) if type(c) is str]
        return lambda v: v if type(v) is str and v in choices else _DECLINE
    return None


_DECLINE = object()

FAST = RuntimeParam is not None  # Typer's converter machinery is there to be replaced

if RuntimeParam is not None:
    from collections.abc import Callable
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class _Simple(RuntimeParam):
        """Converts well-formed values; hands the rest to Typer's (pydantic) converter."""

        convert: Callable[[Any], Any]
        descriptor: Any

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            out = _DECLINE if getattr(ctx, "token_normalize_func", None) else self.convert(value)
            if out is _DECLINE:
                return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)
            return out


def install(command: Any, ctx: Any) -> None:
    """Give the command's simple parameters (help option included) the converter above;
    call it before parsing (`parse_args`). Idempotent."""
    if RuntimeParam is None:
        return
    for param in command.get_params(ctx):
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", 0) is not None:
            continue
        convert = _fast(descriptor.annotation, descriptor.parameter_info)
        if convert is not None and descriptor.file_annotation is None:
            param._runtime_param = _Simple(
                descriptor.parameter_info, descriptor.annotation, convert, descriptor
            )
