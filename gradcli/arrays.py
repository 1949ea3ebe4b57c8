"""The values every stage passes around: float64 numbers and arrays.

`Array` is the one type alias for them (a numpy float64 scalar or ndarray; numpy's own
annotations cannot say "float64 of any rank" usefully, so it is `Any` by design).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Array = Any


def all_finite(value: Array) -> bool:
    """No NaN or infinity in a number or an array (the one such test: api, check, --strict)."""
    if isinstance(value, float):  # also np.float64
        return math.isfinite(value)
    return bool(np.all(np.isfinite(value)))


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcast of shapes, for any number of dimensions (np.broadcast_shapes stops
    at 32, and forward mode's dense tangents have the input's dimensions plus the value's).
    ValueError when they do not broadcast, as numpy's."""
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for shape in shapes:
        for i, d in enumerate(shape, start=rank - len(shape)):
            if d != 1:
                if out[i] not in (1, d):
                    raise ValueError(f"shapes {shapes} do not broadcast")
                out[i] = d
    return tuple(out)
