"""Value rules of the primitive table that need more than one numpy call: written so that a
result float64 can hold comes out right even when a partial sum or product on the way would
overflow or underflow (sum([1e308, 1e308, -1e308]) is 1e308, not inf; the product of
[2e-300, -2e-300, -2e300, ...] is not flushed to 0 half-way).

The trick is exact: scaling by a power of two changes only exponents, so a reduction of
`x · 2**-k` scaled back by `2**k` rounds exactly as the plain one would, without its
intermediate overflow. It is taken only when the plain result is not finite while the
inputs are (sums) or when a product of normal numbers comes out 0 or inf.
"""

from __future__ import annotations

import math

import numpy as np

from gradcli.arrays import Array

CHUNK = 256  # products of mantissas in [0.5, 1) stay normal for this many factors


def _exponent(x: Array) -> int:
    """k with max|x| · 2**-k in [0.5, 1) (0 when x is all zeros or not finite)."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    finite = a[np.isfinite(a)]
    m = float(np.max(finite)) if finite.size else 0.0
    return math.frexp(m)[1] if m > 0 else 0


def _all_finite(*xs: Array) -> bool:
    return all(bool(np.all(np.isfinite(x))) for x in xs)


def total(x: Array) -> Array:
    """sum(x), without intermediate overflow."""
    s = np.sum(x)
    if np.isfinite(s) or not _all_finite(x):
        return np.float64(s)
    k = _exponent(x)
    return np.float64(np.ldexp(np.sum(np.ldexp(x, -k)), k))


def mean(x: Array) -> Array:
    """mean(x), without intermediate overflow (mean([1e308, 1e308]) is 1e308)."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return np.float64(np.nan)
    s = np.mean(a)
    if np.isfinite(s) or not _all_finite(a):
        return np.float64(s)
    k = _exponent(a)
    return np.float64(np.ldexp(np.mean(np.ldexp(a, -k)), k))


def dot(a: Array, b: Array) -> Array:
    """sum(a*b) of same-shape arrays, without intermediate overflow."""
    s = np.vdot(a, b)
    if np.isfinite(s) or not _all_finite(a, b):
        return np.float64(s)
    ka, kb = _exponent(a), _exponent(b)
    # np.sum of the products, not BLAS's dot, whose fused multiply-adds leave a product's
    # rounding error where the exact sum is 0 (1e200·1e200 - 1e200·1e200)
    products = np.multiply(np.ldexp(a, -ka), np.ldexp(b, -kb))
    return np.float64(np.ldexp(np.sum(products), ka + kb))


def mean_square(d: Array) -> Array:
    """mean(d**2), without intermediate overflow."""
    a = np.asarray(d, dtype=np.float64)
    if a.size == 0:
        return np.float64(np.nan)
    s = np.mean(np.square(a))
    if np.isfinite(s) or not _all_finite(a):
        return np.float64(s)
    k = _exponent(a)
    return np.float64(np.ldexp(np.mean(np.square(np.ldexp(a, -k))), 2 * k))


def product(x: Array) -> Array:
    """prod(x), exact to rounding whatever the magnitudes: mantissas multiplied in chunks,
    exponents added (np.prod of [4, 2e-300, -2e-300, -2e300] flushes to -0)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    plain = np.prod(a)
    if not _all_finite(a) or (np.isfinite(plain) and (plain != 0 or np.any(a == 0))):
        return np.float64(plain)
    mantissa, exps = np.frexp(a)
    value, exp = 1.0, int(np.sum(exps))
    for lo in range(0, a.size, CHUNK):
        value, e = math.frexp(value * float(np.prod(mantissa[lo : lo + CHUNK])))
        exp += e
    return np.float64(np.ldexp(value, exp))


def _cumulative(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive running products of `flat` as (mantissa, exponent) per element, without
    overflow or underflow: chunk by chunk, each carried on by the last product so far."""
    mantissa, exps = np.frexp(flat)
    out_m = np.empty_like(flat)
    out_e = np.cumsum(exps)
    carry_m, carry_e = 1.0, 0
    for lo in range(0, flat.size, CHUNK):
        run = np.cumprod(mantissa[lo : lo + CHUNK]) * carry_m
        m, e = np.frexp(run)
        out_m[lo : lo + CHUNK] = m
        out_e[lo : lo + CHUNK] += e + carry_e
        carry_m, carry_e = float(m[-1]), int(e[-1]) + carry_e
    return out_m, out_e


def products_of_others(x: Array, g: Array = 1.0) -> Array:
    """For each element, g times the product of all the others: without dividing (exact at
    zeros), and without overflow or underflow on the way (a product of others beyond float64
    times a small g is an ordinary number)."""
    a = np.asarray(x, dtype=np.float64)
    flat = a.ravel()
    n = flat.size
    if n <= 1:
        return (np.ones_like(a) * g)[()]
    left = np.ones_like(flat)
    right = np.ones_like(flat)
    left[1:] = np.cumprod(flat[:-1])
    right[:-1] = np.cumprod(flat[::-1][:-1])[::-1]
    plain = (left * right).reshape(a.shape) * g
    if not _all_finite(flat, g) or (
        np.all(np.isfinite(plain)) and not np.any((plain == 0) & _nonzero(flat, g, a.shape))
    ):
        return plain[()]
    lm, le = _cumulative(flat[:-1])
    rm, re = _cumulative(flat[::-1][:-1])
    mant = np.ones(n)
    exps = np.zeros(n, dtype=np.int64)
    mant[1:] *= lm
    exps[1:] += le
    mant[:-1] *= rm[::-1]
    exps[:-1] += re[::-1]
    gm, ge = np.frexp(g)  # g may have more (leading) axes: a batch of tangents
    result: Array = np.ldexp(mant.reshape(a.shape) * gm, exps.reshape(a.shape) + ge)
    return result[()]


def _nonzero(flat: np.ndarray, g: Array, shape: tuple[int, ...]) -> Array:
    """Where g times the product of the others is not zero in exact arithmetic."""
    return _no_zero_but(flat).reshape(shape) & (np.asarray(g) != 0)


def _no_zero_but(flat: np.ndarray) -> Array:
    """Per element: no other element is zero (so the product of the others is not 0)."""
    zeros = flat == 0
    return (np.count_nonzero(zeros) - zeros) == 0


def power(a: Array, b: Array) -> Array:
    """a ** b, as np.power, with numpy's operator shortcuts where they are exact: b = 2 is
    a·a (np.power runs the general pow on every element, several times slower) and b = 1
    is a itself."""
    if np.ndim(b) == 0 and np.ndim(a) > 0:
        if b == 2:
            return np.square(a)
        if b == 1:
            return np.array(a, dtype=np.float64)
    return np.power(a, b)
