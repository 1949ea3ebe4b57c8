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


# --------------------------------------------------------------------------
# The error function (erf, erfc, gelu): numpy has none, and scipy is not a dependency.
#
# A port to numpy of FreeBSD msun's s_erf.c (fdlibm), whose notice it keeps:
#   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
#   Developed at SunPro, a Sun Microsystems, Inc. business.
#   Permission to use, copy, modify, and distribute this
#   software is freely granted, provided that this notice
#   is preserved.
# Rational approximations on [0, 0.84375), [0.84375, 1.25), [1.25, 1/0.35), [1/0.35, 28):
# below 1 ulp, and erfc keeps its relative precision in the tail (erfc(10) = 2.09e-45,
# erfc(27) a subnormal 5.2e-319, 0 from about 27.3 on).

_ERX = 8.45062911510467529297e-01  # erf(1) rounded to 24 bits
_EFX = 1.28379167095512586316e-01  # 2/sqrt(pi) - 1
_ERF_PP = (
    1.28379167095512558561e-01,
    -3.25042107247001499370e-01,
    -2.84817495755985104766e-02,
    -5.77027029648944159157e-03,
    -2.37630166566501626084e-05,
)
_ERF_QQ = (
    1.0,
    3.97917223959155352819e-01,
    6.50222499887672944485e-02,
    5.08130628187576562776e-03,
    1.32494738004321644526e-04,
    -3.96022827877536812320e-06,
)
_ERF_PA = (
    -2.36211856075265944077e-03,
    4.14856118683748331666e-01,
    -3.72207876035701323847e-01,
    3.18346619901161753674e-01,
    -1.10894694282396677476e-01,
    3.54783043256182359371e-02,
    -2.16637559486879084300e-03,
)
_ERF_QA = (
    1.0,
    1.06420880400844228286e-01,
    5.40397917702171048937e-01,
    7.18286544141962662868e-02,
    1.26171219808761642112e-01,
    1.36370839120290507362e-02,
    1.19844998467991074170e-02,
)
_ERFC_RA = (
    -9.86494403484714822705e-03,
    -6.93858572707181764372e-01,
    -1.05586262253232909814e01,
    -6.23753324503260060396e01,
    -1.62396669462573470355e02,
    -1.84605092906711035994e02,
    -8.12874355063065934246e01,
    -9.81432934416914548592e00,
)
_ERFC_SA = (
    1.0,
    1.96512716674392571292e01,
    1.37657754143519042600e02,
    4.34565877475229228821e02,
    6.45387271733267880336e02,
    4.29008140027567833386e02,
    1.08635005541779435134e02,
    6.57024977031928170135e00,
    -6.04244152148580987438e-02,
)
_ERFC_RB = (
    -9.86494292470009928597e-03,
    -7.99283237680523006574e-01,
    -1.77579549177547519889e01,
    -1.60636384855821916062e02,
    -6.37566443368389627722e02,
    -1.02509513161107724954e03,
    -4.83519191608651397019e02,
)
_ERFC_SB = (
    1.0,
    3.03380607434824582924e01,
    3.25792512996573918826e02,
    1.53672958608443695994e03,
    3.19985821950859553908e03,
    2.55305040643316442583e03,
    4.74528541206955367215e02,
    -2.24409524465858183362e01,
)
# The boundaries of fdlibm's intervals, which it tests on the high 32 bits: 1/0.35 rounded
# down to a multiple of 2**-20 (erf's test, and erfc's one step lower), and 2**-1015.
_ERF_TAIL = 2.8571434020996094
_ERFC_TAIL = 2.8571414947509766
_ERF_TINY = 2.0**-1015


def _horner(t: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    acc = np.full_like(t, coefficients[-1])
    for c in coefficients[-2::-1]:
        acc = acc * t + c
    return acc


def _small(x: np.ndarray) -> Array:
    """(erf(x) - x)/x for |x| < 0.84375."""
    z = x * x
    return _horner(z, _ERF_PP) / _horner(z, _ERF_QQ)


def _near_one(a: np.ndarray) -> Array:
    """erf(a) - _ERX for 0.84375 <= a < 1.25."""
    s = a - 1.0
    return _horner(s, _ERF_PA) / _horner(s, _ERF_QA)


def _tail(a: np.ndarray, split: float, shift: int = 0) -> Array:
    """erfc(a)·2**shift for 1.25 <= a < 28: exp(-a*a - 0.5625 + R/S)/a, with -a*a exact (a cut
    to 21 significant bits squares exactly; the rest goes through (z - a)*(z + a)), and the
    small second factor as 1 + expm1 (2.2 ulp at worst, against 2.6 for a product of two exps).
    A shift keeps a result below float64's normal range whole (the subnormals have fewer bits),
    for a caller that scales it back up: the exp is then taken in two halves."""
    s = 1.0 / (a * a)
    near = a < split
    ratio = np.where(
        near,
        _horner(s, _ERFC_RA) / _horner(s, _ERFC_SA),
        _horner(s, _ERFC_RB) / _horner(s, _ERFC_SB),
    )
    z = (a.view(np.uint64) & np.uint64(0xFFFF_FFFF_0000_0000)).view(np.float64)
    if shift:
        half = np.exp(0.5 * (-z * z - 0.5625))
        q = np.ldexp(half, shift) * half / a
    else:
        q = np.exp(-z * z - 0.5625) / a
    return q + q * np.expm1((z - a) * (z + a) + ratio)


def erf(x: Array) -> Array:
    """The error function 2/sqrt(pi) · ∫_0^x exp(-t²) dt, element-wise, below 1 ulp."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    out = np.array(np.sign(x) * 1.0)  # |x| >= 6 (erf is 1 to float64's precision), ±inf; NaN
    with np.errstate(all="ignore"):
        m = a < _ERF_TINY  # 8x scales a subnormal up, so the product rounds once
        out[m] = (8.0 * x[m] + (8.0 * _EFX) * x[m]) / 8.0
        m = (a >= _ERF_TINY) & (a < 2.0**-28)
        out[m] = x[m] + _EFX * x[m]
        m = (a >= 2.0**-28) & (a < 0.84375)
        out[m] = x[m] + x[m] * _small(x[m])
        m = (a >= 0.84375) & (a < 1.25)
        out[m] = np.sign(x[m]) * (_ERX + _near_one(a[m]))
        m = (a >= 1.25) & (a < 6.0)
        out[m] = np.sign(x[m]) * (1.0 - _tail(a[m], _ERF_TAIL))
    return out[()]


def erfc(x: Array) -> Array:
    """The complementary error function 1 - erf(x), element-wise, below 1 ulp: with its
    relative precision in the tail, where 1 - erf(x) would cancel."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    out = np.where(x > 0, 0.0, 2.0)  # |x| >= 28 and ±inf (x <= -6 too: 2 - tiny is 2)
    out[np.isnan(x)] = np.nan
    with np.errstate(all="ignore"):
        m = a < 2.0**-56
        out[m] = 1.0 - x[m]
        m = (a >= 2.0**-56) & (a < 0.84375) & (x < 0.25)
        out[m] = 1.0 - (x[m] + x[m] * _small(x[m]))
        m = (x >= 0.25) & (x < 0.84375)
        out[m] = 0.5 - (x[m] * _small(x[m]) + (x[m] - 0.5))
        m = (x >= 0.84375) & (x < 1.25)
        out[m] = (1.0 - _ERX) - _near_one(a[m])
        m = (x > -1.25) & (x <= -0.84375)
        out[m] = 1.0 + (_ERX + _near_one(a[m]))
        m = (x >= 1.25) & (x < 28.0)
        out[m] = _tail(a[m], _ERFC_TAIL)
        m = (x <= -1.25) & (x > -6.0)
        out[m] = 2.0 - _tail(a[m], _ERFC_TAIL)
    return out[()]


_SQRT_HALF = 0.7071067811865476  # sqrt(1/2), rounded
_SQRT_HALF_LO = -4.833646656726457e-17  # sqrt(1/2) - _SQRT_HALF
_TWO_OVER_SQRT_PI = 1.1283791670955126
_VELTKAMP = 134217729.0  # 2**27 + 1: splits a float64 into two halves of 26 bits


def _halves(v: Array) -> tuple[Array, Array]:
    c = _VELTKAMP * v
    hi = c - (c - v)
    return hi, v - hi


_SQRT_HALF_HI, _SQRT_HALF_MID = _halves(_SQRT_HALF)
GELU_TAIL = 40.0  # below -GELU_TAIL, gelu and its derivative round to -0; above, x and 1
GELU_DEEP = -37.0  # below, erfc(-x/sqrt(2)) is near or below 2**-1022: computed scaled by 2**64
_DEEP_SHIFT = 64


def _argument_error(x: Array, w: Array) -> Array:
    """-x/sqrt(2) - w exactly (to first order), w being -x*_SQRT_HALF rounded: the rounding of
    the product (Dekker's exact product of the 26-bit halves) plus the constant's own error."""
    hi, lo = _halves(x)
    p = -w
    product_error = (
        (hi * _SQRT_HALF_HI - p) + hi * _SQRT_HALF_MID + lo * _SQRT_HALF_HI
    ) + lo * _SQRT_HALF_MID
    return -product_error - x * _SQRT_HALF_LO


def gelu(x: Array) -> Array:
    """x·Φ(x), Φ the standard normal distribution function (PyTorch's exact gelu,
    0.5·x·(1 + erf(x/sqrt(2)))), as 0.5·x·erfc(-x/sqrt(2)): 1 + erf cancels for x < 0 (to 0
    from x = -8.3 on), erfc keeps its relative precision. erfc's argument is corrected for the
    rounding of x/sqrt(2), to first order: where erfc falls steeply, 1 ulp in its argument is
    |x|²/2 ulp in the result. Where erfc is subnormal but gelu is not (x near -37.6), erfc is
    taken scaled by 2**64. At the infinities the limits: -0 and inf."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        w = x * -_SQRT_HALF
        out = np.array(0.5 * x * erfc(w))
        m = (np.abs(x) < GELU_TAIL) & (x >= GELU_DEEP)
        if np.any(m):
            xm, wm = x[m], w[m]
            c = erfc(wm) - _argument_error(xm, wm) * _TWO_OVER_SQRT_PI * np.exp(-wm * wm)
            out[m] = 0.5 * xm * c
        m = (x < GELU_DEEP) & (x > -GELU_TAIL)
        if np.any(m):
            out[m] = _deep_gelu(x[m])
    out[x == -np.inf] = -0.0
    return out[()]


def _deep_gelu(x: np.ndarray) -> np.ndarray:
    """gelu for -GELU_TAIL < x < GELU_DEEP: the same, with erfc and the correction scaled by
    2**64 and scaled back in the last step, which rounds once."""
    w = x * -_SQRT_HALF
    half = np.exp(-0.5 * (w * w))
    slope = np.ldexp(half, _DEEP_SHIFT) * half * _TWO_OVER_SQRT_PI
    c = _tail(w, _ERFC_TAIL, _DEEP_SHIFT) - _argument_error(x, w) * slope
    result: np.ndarray = np.ldexp(0.5 * x * c, -_DEEP_SHIFT)
    return result


def gelu_scalar(x: float) -> float:
    """gelu on Python floats (the float path): the same arithmetic, with math.erfc (which may
    differ from `erfc` here by an ulp or few: libm's own)."""
    if not GELU_DEEP <= x < GELU_TAIL:
        return float(gelu(np.float64(x)))  # the tails: rare, and their own arithmetic
    w = x * -_SQRT_HALF
    c = math.erfc(w) - _argument_error(x, w) * _TWO_OVER_SQRT_PI * math.exp(-w * w)
    return float(0.5 * x * c)
