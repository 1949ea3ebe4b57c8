"""JSON for machines: always valid (no NaN literal, no numpy reprs), floats round-trip exactly."""

from __future__ import annotations

import json
import math
from typing import Any


def to_json(value: Any, path: str = "", warnings: list[str] | None = None) -> Any:
    """numpy scalars/arrays -> floats / nested lists; NaN and inf -> None (noted in `warnings`)."""
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
    if not np.all(np.isfinite(arr)):
        if warnings is not None:
            warnings.append(f"{path or 'value'} has NaN or infinite elements; written as null")
        return _nested(arr.tolist())
    return arr.tolist()


def _nested(items: Any) -> Any:
    if isinstance(items, list):
        return [_nested(i) for i in items]
    return items if math.isfinite(items) else None


def dumps(obj: Any) -> str:
    """One line of strict JSON (float repr round-trips), ASCII only: non-ASCII text (`∂`, a
    comment's `é`) is written as \\u escapes, so any stdout encoding can carry it."""
    return json.dumps(obj, allow_nan=False, ensure_ascii=True)
