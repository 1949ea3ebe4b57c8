"""`--mode both`: forward and reverse mode on the same point, and whether they agree.

Both modes are exact; they differ only in the order of the floating-point operations,
so they must agree to rounding: per input, every element within RTOL relative to the
larger of the two (or to FLOOR times the gradient's largest element, for elements that
cancel to nearly 0). NaN agrees with NaN and an infinity with the same infinity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcli.api import Compiled, GradResult

RTOL = 1e-9
FLOOR = 1e-6


@dataclass
class Both:
    reverse: GradResult
    forward: GradResult
    differences: dict[str, float]  # input -> largest relative difference, where above RTOL

    @property
    def agree(self) -> bool:
        return not self.differences


def relative_difference(a: Any, b: Any) -> float:
    """Largest |a - b| / max(|a|, |b|, FLOOR * largest |element|); 0 where both match exactly."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        return float("inf")
    same = (x == y) | (np.isnan(x) & np.isnan(y))
    if np.all(same):
        return 0.0
    if np.any(~same & ~(np.isfinite(x) & np.isfinite(y))):
        return float("inf")  # NaN or an infinity on one side only
    finite = np.abs(np.concatenate([x.ravel(), y.ravel()]))
    finite = finite[np.isfinite(finite)]
    scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), FLOOR * float(finite.max(initial=0.0)))
    with np.errstate(all="ignore"):
        rel = np.where(same, 0.0, np.abs(x - y) / np.where(scale > 0, scale, 1.0))
    return float(np.max(rel))


def grad_both(compiled: Compiled, bindings: Mapping[str, Any], wrt: Any = None) -> Both:
    reverse = compiled.grad(bindings, wrt=wrt, mode="reverse")
    forward = compiled.grad(bindings, wrt=wrt, mode="forward")
    differences = {}
    for name, g in reverse.gradient.items():
        diff = relative_difference(g, forward.gradient[name])
        if diff > RTOL:
            differences[name] = diff
    return Both(reverse, forward, differences)
