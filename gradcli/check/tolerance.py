"""When two exact routes to a gradient agree: one rule, for `check`, `grad --mode both` and the tests.

Reverse mode, forward mode and a hand-derived formula are all exact; they differ only in
the order of the floating-point operations. Element by element, a route `a` agrees with
the reference `b` (reverse mode) when

    |a - b| <= atol·s + rtol·max(|a|, |b|) + MTOL·m

where s = max(1, largest finite |element| of the reference gradient of that input):
rounding in a gradient scales with its largest terms, so an element that cancels to ~0
(`x*0.1 - x*0.1 + x*1e-12`) is not held to 1e-9 of itself; and m (when given) is the
magnitude of the chain rule's terms of that element, Σ|products of local derivatives|
(gradcli.engine.reverse.magnitudes): where the terms cancel inside one element (tanh(x)/x at
x = 1e-8, terms of 1e16 summing to -0.7), each route's rounding is about eps·m, and MTOL·m
allows for it (an element whose m is not finite, an infinite term, is judged without it).
Equal values agree (infinities included), and so do two NaNs; NaN never agrees with a number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RTOL = 1e-9
ATOL = 1e-12
MTOL = 1e-13  # of the terms' magnitude: about 500 times float64's eps


def describe(rtol: float = RTOL, atol: float = ATOL) -> str:
    """The rule with its numbers, for messages: `|a - b| <= 1e-12·s + 1e-09·max(|a|, |b|) + ...`."""
    return (
        f"|a - b| <= {atol:g}·s + {rtol:g}·max(|a|, |b|) + {MTOL:g}·m, s = max(1, largest |gradient|), "
        "m = the magnitude of the chain rule's terms"
    )


def scale(reference: Any) -> float:
    """s = max(1, largest finite |element| of the reference gradient)."""
    arr = np.abs(np.asarray(reference, dtype=np.float64))
    return max(1.0, float(arr[np.isfinite(arr)].max(initial=0.0)))


def close(
    a: Any, b: Any, *, rtol: float = RTOL, atol: float = ATOL, s: float = 1.0, m: Any = None
) -> np.ndarray:
    """Per element: |a - b| <= atol·s + rtol·max(|a|, |b|) + MTOL·m (m where finite); equal
    values and two NaNs agree."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    terms = 0.0 if m is None else np.asarray(m, dtype=np.float64)
    with np.errstate(all="ignore"):
        slack = MTOL * np.where(np.isfinite(terms), terms, 0.0)
        within = np.abs(x - y) <= atol * s + rtol * np.maximum(np.abs(x), np.abs(y)) + slack
    return np.asarray((within & np.isfinite(x) & np.isfinite(y)) | (x == y) | (np.isnan(x) & np.isnan(y)))


def agree(route: Any, reference: Any, *, rtol: float = RTOL, atol: float = ATOL, m: Any = None) -> bool:
    """Every element of `route` agrees with `reference` (same shape), with s from the reference
    and m, when given, the magnitude of the terms."""
    if np.shape(route) != np.shape(reference):
        return False
    return bool(np.all(close(route, reference, rtol=rtol, atol=atol, s=scale(reference), m=m)))


def discrepancy(route: Any, reference: Any) -> tuple[np.ndarray, np.ndarray]:
    """(relative, absolute) difference per element, for messages: 0 where equal (infinities
    included), a relative inf where only one side is infinite."""
    x = np.asarray(route, dtype=np.float64)
    y = np.asarray(reference, dtype=np.float64)
    with np.errstate(all="ignore"):
        diff = np.abs(x - y)
        big = np.maximum(np.abs(x), np.abs(y))
        rel = np.where(big > 0, diff / big, 0.0)
    same = x == y
    rel = np.where(np.isinf(x) != np.isinf(y), np.inf, rel)
    return np.where(same, 0.0, rel), np.where(same, 0.0, diff)
