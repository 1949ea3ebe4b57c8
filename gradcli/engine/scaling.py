"""Adjoints and tangents beyond float64's range, as an array times powers of two.

Reverse mode multiplies the partials of a path from the output down, forward mode from the
input up; on the way, a product can leave float64's range while the gradient at the end is
an ordinary number (forward mode through `log10(y)` at y = 1e-310 carries 4.3e309; reverse
mode through `log(1e-320*x)` carries 1e320). Each mode therefore keeps its adjoints or
tangents as `arr · 2**exp`:

- `exp` is the integer 0 while `arr` is an ordinary array (the common case, at no cost), and
  becomes an array of exponents, one per element (`numpy.frexp`), once an element leaves the
  band [2**-300, 2**300]: each element keeps its own magnitude, however far apart they are;
- `apply` / `linear` run a derivative rule (linear in what it is applied to) and, where an
  element comes out inf or NaN, run it again on the input scaled down by 2**-600, keeping
  that element's retry when it is finite (scaling makes no true infinity, sqrt'(0), finite);
- `add`, `align` and `fit` line exponents up before adding (a sum is exact to float64's
  rounding of its largest terms); `value` gives the plain array, where float64's own overflow
  and underflow finally happen.

So the two modes meet the same numbers whichever way they multiply, and agree.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from gradcli.arrays import Array, broadcast_shape
from gradcli.engine.values import fit as fit_plain

if TYPE_CHECKING:
    from gradcli.engine.rules import CompiledRule

Extra = TypeVar("Extra")
Exp = Array  # the integer 0, or an integer array broadcastable to the values

LOW, HIGH = 2.0**-300, 2.0**300  # an ordinary array keeps its finite magnitudes in this band
BAND_EXP = (math.frexp(LOW)[1], math.frexp(HIGH)[1])
ZERO_EXP = -100_000  # the exponent of a zero element
SUBNORMAL = -1021  # frexp's exponent of the largest subnormal float64 (and below)
# The exponents a rule is run again with, where it overflowed: 2**-600 covers a partial up
# to about 2**1300, 2**-1000 (a mantissa in [0.5, 1) stays a normal float64) up to 2**1700,
# as far as `out/b` goes (1e300 / 1e-300).
RETRIES = (600, 1000)


def plain(exp: Exp) -> bool:
    """No exponents: the array is the value itself."""
    return type(exp) is int and exp == 0


CHUNK = 1 << 16  # elements looked at a time, through one scratch buffer (no big temporaries)


_MAGNITUDE = np.uint64(0x7FFF_FFFF_FFFF_FFFF)  # a float64's bits without the sign
_NONE = 2**64 - 1  # the smallest magnitude-bits-minus-one of a chunk of zeros (0 - 1 wraps)


def extent(arr: Array) -> tuple[float, float]:
    """(largest |element|, smallest non-zero |element|): the peak is inf or NaN when there is
    one; the smallest is inf when every element is 0 (or there is none). A few passes over
    the array, through one small scratch buffer: the smallest non-zero magnitude is the
    smallest of the magnitude bits minus one, where 0 - 1 wraps to the largest integer."""
    if isinstance(arr, float):  # np.float64 too
        a = abs(arr)
        return a, (a if a > 0 else math.inf)  # NaN: no smallest
    flat = np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)
    bits = flat.view(np.uint64)
    peak, least = 0.0, _NONE
    scratch = np.empty(min(CHUNK, flat.size), dtype=np.uint64)
    for lo in range(0, flat.size, CHUNK):
        part = flat[lo : lo + CHUNK]
        hi, low = float(part.max()), float(part.min())
        peak = math.nan if math.isnan(hi) or math.isnan(peak) else max(peak, hi, -low)
        work = scratch[: part.size]
        np.bitwise_and(bits[lo : lo + CHUNK], _MAGNITUDE, out=work)
        np.subtract(work, np.uint64(1), out=work)
        least = min(least, int(work.min()))
    if least == _NONE:
        return peak, math.inf
    tiny = float(np.array([least + 1], dtype=np.uint64).view(np.float64)[0])
    return peak, (tiny if not math.isnan(tiny) else math.inf)


def _in_band(peak: float, tiny: float) -> bool:
    """Every finite non-zero |element| is within [LOW, HIGH] (zeros, inf and NaN are too)."""
    return (peak <= HIGH or not math.isfinite(peak)) and tiny >= LOW


def normalize(arr: Array, exp: Exp, extent_of: tuple[float, float] | None = None) -> tuple[Array, Exp]:
    """The same value, with an ordinary array kept as it is while it is in the band, and
    otherwise each element's binary exponent moved into `exp` (mantissas in [1, 2));
    `extent_of`: the array's `extent`, when the caller has it."""
    if plain(exp) and _in_band(*(extent(arr) if extent_of is None else extent_of)):
        return arr, 0
    return _split(arr, exp)


def _split(arr: Array, exp: Exp) -> tuple[Array, Exp]:
    """Mantissas in [1, 2) and exponents (a mantissa of at least 1 times any non-zero partial
    is at least the smallest float64: a product never rounds to 0, and an underflow shows as
    a subnormal, see `linear`); a zero gets the lowest exponent (ZERO_EXP), so that lining up
    never lets it swamp a tiny non-zero element."""
    mantissa, e = np.frexp(arr)
    e = np.where(mantissa == 0, ZERO_EXP, e - 1 + exp)
    return (mantissa * 2.0)[()], e[()]


def value(arr: Array, exp: Exp) -> Array:
    """The plain float64 array (overflow to inf, underflow to 0 happen here, silently: the
    callers report non-finite results themselves)."""
    if plain(exp):
        return arr
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(arr, exp)[()]


def align(parts: Sequence[tuple[Array, Exp]]) -> tuple[list[Array], Exp]:
    """The arrays on common exponents (the largest, element by element)."""
    if all(plain(e) for _, e in parts):
        return [arr for arr, _ in parts], 0
    parts = [_split(arr, e) if plain(e) else (arr, e) for arr, e in parts]
    top = functools.reduce(np.maximum, [e for _, e in parts])
    return [np.ldexp(arr, e - top)[()] for arr, e in parts], top


def add(a: Array, ea: Exp, b: Array, eb: Exp) -> tuple[Array, Exp]:
    (x, y), top = align([(a, ea), (b, eb)])
    return normalize(x + y, top)


def fit(arr: Array, exp: Exp, shape: tuple[int, ...]) -> tuple[Array, Exp]:
    """values.fit (the sum over the axes broadcasting added) of arr · 2**exp."""
    if plain(exp):
        return fit_plain(arr, shape), 0
    full = broadcast_shape(np.shape(arr), np.shape(exp), shape)
    e = np.broadcast_to(exp, full)
    top = fit_plain(e, shape, _max)
    # each summed element on the exponent of the largest one it is summed with
    aligned = np.ldexp(np.broadcast_to(arr, full), e - _spread(top, full, shape))
    return normalize(fit_plain(aligned, shape), top)


def _max(arr: Array, axis: Sequence[int] | int | None = None, keepdims: bool = False) -> Array:
    """The largest exponent (0 over no elements)."""
    return np.max(arr, axis=axis, keepdims=keepdims, initial=ZERO_EXP)


def _spread(reduced: Array, full: tuple[int, ...], shape: tuple[int, ...]) -> Array:
    """An array fitted to `shape`, broadcast back over the axes the fit reduced."""
    lead = len(full) - len(shape)
    return np.broadcast_to(np.reshape(reduced, (1,) * lead + tuple(shape)), full)


def _not_finite(result: Array) -> Array:
    return ~np.isfinite(result)


def linear(fn: Callable[[Array], tuple[Array, Extra]], g: Array, exp: Exp) -> tuple[Array, Extra, Exp]:
    """fn(g · 2**exp) for a map linear in g whose result broadcasts with `exp` element by
    element (a rule; the caller lines up the exponents of a sum first): (array, fn's other
    result, exponents), normalized. Where fn(g) is inf or NaN, fn is run again on g scaled
    down (RETRIES), and an element whose retry is finite takes it (an overflow on the way, not
    a true inf)."""
    result, extra = fn(g)
    peak, tiny = extent(result)
    retried = False
    if not math.isfinite(peak):  # an overflow, perhaps: run again on g scaled down
        for shift in RETRIES:
            result, exp = _retry(fn, g, exp, result, _not_finite(result), shift)
            retried = True
            if not np.any(_not_finite(result)):
                break
    if tiny < 2.0**SUBNORMAL:  # an underflow, perhaps: run again on g scaled up
        result, exp = _retry(fn, g, exp, result, _subnormal(result), -RETRIES[0])
        retried = True
    result, exp = normalize(result, exp, None if retried else (peak, tiny))
    return result, extra, exp


def _subnormal(result: Array) -> Array:
    r = np.abs(result)
    return (r > 0) & (r < 2.0**SUBNORMAL)


def _retry(
    fn: Callable[[Array], tuple[Array, Extra]], g: Array, exp: Exp, result: Array, bad: Array, shift: int
) -> tuple[Array, Exp]:
    """The elements marked `bad` from fn run on g · 2**-shift, where that run gives a normal
    finite number, with `shift` added to their exponents."""
    again, _ = fn(np.ldexp(g, -shift)[()])  # the same structure: scaling moves no zero
    a = np.abs(again)
    take = bad & np.isfinite(again) & ((a >= 2.0 ** (SUBNORMAL + 1)) | (shift > 0))
    if not np.any(take):
        return result, exp
    shape = broadcast_shape(np.shape(result), np.shape(exp))
    chosen: Array = np.where(take, again, result)
    exps: Array = np.where(take, np.broadcast_to(exp, shape) + shift, np.broadcast_to(exp, shape))
    return chosen[()], exps[()]


def apply(
    rule: CompiledRule, g: Array, exp: Exp, args: Sequence[Array], out: Array, n: int, live: Array | None
) -> tuple[Array, Array | None, Exp]:
    """The rule applied to g · 2**exp: (array, where it is live, exponents), normalized."""
    return linear(lambda v: rule.apply(v, args, out, n, live), g, exp)
