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
allows for it. Where m is not finite (a term is infinite: asin'(1)), the sum is not determined, and any
two values that are not finite agree (inf - inf is NaN in one order of the additions, inf in
another); a finite value never agrees with one that is not. Equal values agree (infinities
included), and so do two NaNs; NaN never agrees with a number.
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
    a: Any, b: Any, *, rtol: float = RTOL, atol: float = ATOL, s: float = 1.0, slack: Any = None
) -> np.ndarray:
    """Per element: |a - b| <= atol·s + rtol·max(|a|, |b|) + slack, where `slack` is MTOL·m
    (`slack_of`; ignored where not finite); equal values and two NaNs agree."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    extra = np.float64(0.0) if slack is None else np.asarray(slack, dtype=np.float64)
    with np.errstate(all="ignore"):
        within = np.abs(x - y) <= atol * s + rtol * np.maximum(np.abs(x), np.abs(y)) + np.where(
            np.isfinite(extra), extra, 0.0
        )
    same = (within & np.isfinite(x) & np.isfinite(y)) | (x == y) | (np.isnan(x) & np.isnan(y))
    # With an infinite term (asin'(1); inf·0 makes the magnitude NaN), the sum is not
    # determined: inf - inf is NaN in one order of the additions and inf in another. Not
    # finite agrees with not finite.
    undetermined = ~np.isfinite(extra) & ~np.isfinite(x) & ~np.isfinite(y)
    return np.asarray(same | undetermined)


def agree(route: Any, reference: Any, *, rtol: float = RTOL, atol: float = ATOL, slack: Any = None) -> bool:
    """Every element of `route` agrees with `reference` (same shape), with s from the reference
    and `slack` (MTOL·m, `slack_of`) when given."""
    if np.shape(route) != np.shape(reference):
        return False
    return bool(np.all(close(route, reference, rtol=rtol, atol=atol, s=scale(reference), slack=slack)))


def slack_of(graph: Any, vals: Any, counts: Any, wrt: Any) -> dict[str, np.ndarray]:
    """MTOL·m per input element: the backward sweep on absolute values, seeded with MTOL (so
    that terms beyond float64's range still give a finite allowance)."""
    from gradcli.engine.reverse import magnitudes

    return magnitudes(graph, vals, counts, wrt, factor=MTOL)


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
