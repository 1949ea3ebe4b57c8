"""JSON for machines: always valid (no NaN literal, no numpy reprs), floats round-trip exactly.

Big arrays are not turned into Python lists: `to_json` keeps them as `Floats` (the float64
array itself), and `write` streams them in chunks, so a 10,000,000-element gradient is written
in bounded memory. `dumps` gives the whole text, for small objects and the tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

BIG = 4096  # arrays with more elements stay numpy arrays until written
CHUNK = 65536  # numbers written at a time


@dataclass(frozen=True)
class Floats:
    """A float64 array for JSON: nested lists of numbers, NaN and infinities as null."""

    array: Any  # numpy ndarray


def to_json(value: Any, path: str = "", warnings: list[str] | None = None) -> Any:
    """numpy scalars/arrays -> floats / nested lists (big arrays: `Floats`); NaN and inf ->
    null (noted in `warnings`)."""
    import numpy as np

    if isinstance(value, dict):
        return {k: to_json(v, f"{path}.{k}" if path else str(k), warnings) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not value:
        return []
    if isinstance(value, (str, bool)) or value is None:
        return value
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        f = float(arr)
        if math.isfinite(f):
            return f
        if warnings is not None:
            warnings.append(f"{path or 'value'} is {f}; written as null")
        return None
    finite = bool(np.all(np.isfinite(arr)))
    if not finite and warnings is not None:
        warnings.append(f"{path or 'value'} has NaN or infinite elements; written as null")
    if arr.size > BIG:
        return Floats(arr)
    return arr.tolist() if finite else _nested(arr.tolist())


def _nested(items: Any) -> Any:
    if isinstance(items, list):
        return [_nested(i) for i in items]
    return items if math.isfinite(items) else None


def _array_text(arr: Any) -> Iterator[str]:
    """The JSON text of a float64 array, in pieces (nested brackets for more axes)."""
    if arr.ndim > 1:
        yield "["
        for i in range(arr.shape[0]):
            if i:
                yield ", "
            yield from _array_text(arr[i])
        yield "]"
        return
    import numpy as np

    yield "["
    for lo in range(0, arr.shape[0], CHUNK):
        if lo:
            yield ", "
        chunk = arr[lo : lo + CHUNK]
        items = chunk.tolist() if np.all(np.isfinite(chunk)) else _nested(chunk.tolist())
        yield json.dumps(items)[1:-1]  # the C encoder: float repr, null for None
    yield "]"


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Floats):
            return _nested(o.array.tolist())
        return super().default(o)


def dumps(obj: Any) -> str:
    """One line of strict JSON (float repr round-trips), ASCII only: non-ASCII text (`∂`, a
    comment's `é`) is written as \\u escapes, so any stdout encoding can carry it."""
    return json.dumps(obj, allow_nan=False, ensure_ascii=True, cls=_Encoder)


def write(obj: Any, stream: IO[str]) -> None:
    """`dumps(obj)` written to `stream`, with big arrays streamed in chunks."""
    for piece in _pieces(obj):
        stream.write(piece)


def _pieces(obj: Any) -> Iterator[str]:
    if isinstance(obj, Floats):
        yield from _array_text(obj.array)
    elif isinstance(obj, dict) and _has_floats(obj):
        yield "{"
        for n, (k, v) in enumerate(obj.items()):
            yield (", " if n else "") + json.dumps(str(k), ensure_ascii=True) + ": "
            yield from _pieces(v)
        yield "}"
    elif isinstance(obj, list) and _has_floats(obj):
        yield "["
        for n, v in enumerate(obj):
            if n:
                yield ", "
            yield from _pieces(v)
        yield "]"
    else:
        yield dumps(obj)


def _has_floats(obj: Any) -> bool:
    if isinstance(obj, Floats):
        return True
    if isinstance(obj, dict):
        return any(_has_floats(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_floats(v) for v in obj)
    return False
