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
