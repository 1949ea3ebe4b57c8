"""A high-precision reference for gradcli's numbers (mpmath at 50 digits, a test-only dependency).

Every primitive of the table is implemented here again, independently, on numpy object arrays
of mpmath numbers (`MP`), with float64's conventions for what has no real value (NaN) and for
division by zero (signed infinity). Two judges are built on it:

- `value_errors`: each op's float64 value against the exact value of the same op at the same
  float64 arguments (so a value rule that overflows or underflows where the result is
  representable shows, and rounding elsewhere in the program does not).
- `reference_gradient`: the chain rule run exactly at the program's float64 intermediate values:
  adjoints in mpmath arithmetic (they never overflow), each local partial a central difference
  of the exact primitive at 50 digits. What it judges is the derivative rules and their
  floating-point formulation (`-a/b**2` that overflows, `g*(1/x)` at a subnormal `x`), not the
  rounding of the values, which both share.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np

from gradcli.engine.graph import Graph
from gradcli.primitives import BCE_EPS

mp = mpmath.mp
mp.dps = 50
NAN = mp.nan
INF = mp.inf

Obj = Any  # a numpy object array of mpf (or one mpf)


def _real(v: Any) -> Any:
    """An mpmath result as float64 would have it: complex results (log(-1)) are NaN."""
    if isinstance(v, mpmath.mpc):
        return NAN if v.imag != 0 else v.real
    return v


def _safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        try:
            flat = [x for a in args for x in (a if isinstance(a, list) else [a])]
            if any(mp.isnan(x) for x in flat):
                return NAN
            return _real(fn(*args))
        except ZeroDivisionError:
            return NAN
        except (ValueError, OverflowError):
            return NAN

    return wrapped


def _div(a: Any, b: Any) -> Any:
    if b == 0 or mp.isinf(a) or mp.isinf(b):  # IEEE's special cases (signed zeros, infinities)
        with np.errstate(all="ignore"):
            return mp.mpf(float(np.divide(float(a), float(b))))
    return a / b


def _pow(a: Any, b: Any) -> Any:
    if b == 0:  # IEEE: x**0 is 1 for every x, NaN included
        return mp.mpf(1)
    if a == 0 or mp.isinf(a) or mp.isinf(b):  # IEEE's special cases (signs of zeros, infinities)
        with np.errstate(all="ignore"):
            return mp.mpf(float(np.power(float(a), float(b))))
    if a < 0 and not mp.isint(b):
        return NAN
    return _real(mp.power(a, b))


def _sign(x: Any) -> Any:
    return mp.mpf(0) if x == 0 else mp.mpf(1) if x > 0 else mp.mpf(-1)


def _sigmoid(x: Any) -> Any:
    if mp.isinf(x):
        return mp.mpf(1) if x > 0 else mp.mpf(0)
    return 1 / (1 + mp.exp(-x))


def _softplus(x: Any) -> Any:
    if mp.isinf(x):
        return x if x > 0 else mp.mpf(0)
    return mp.log1p(mp.exp(x))  # log(1 + e**-310) would round to 0 at 50 digits


def _gelu(x: Any) -> Any:
    if abs(x) > 100:  # x·Φ(x) is x or 0 to far beyond float64 (and mpmath's erfc overflows at 1e300)
        return x if x > 0 else mp.mpf(0)
    return x * mp.ncdf(x)


def _silu(x: Any) -> Any:
    if mp.isinf(x):
        return x if x > 0 else mp.mpf(0)
    return x * _sigmoid(x)


def _erfc(x: Any) -> Any:
    if abs(x) > 100:  # mpmath's own series test overflows at 1e300; erfc is 0 or 2 long before
        return mp.mpf(0) if x > 0 else mp.mpf(2)
    return mp.erfc(x)


def _hypot(a: Any, b: Any) -> Any:
    if mp.isinf(a) or mp.isinf(b):  # IEEE: an infinity wins over NaN
        return INF
    if mp.isnan(a) or mp.isnan(b):
        return NAN
    return mp.hypot(a, b)


def _logaddexp(a: Any, b: Any) -> Any:
    hi, lo = (a, b) if a >= b else (b, a)
    if mp.isinf(hi) or mp.isinf(lo):
        return hi  # inf, or -inf for both -inf, or the finite one beside -inf
    return hi + mp.log1p(mp.exp(lo - hi))


def _clamp(x: Any, lo: Any, hi: Any) -> Any:
    return min(max(x, lo), hi)


def _min(a: Any, b: Any) -> Any:
    return a if a <= b else b


def _max(a: Any, b: Any) -> Any:
    return a if a >= b else b


ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "add": _safe(lambda a, b: a + b),
    "sub": _safe(lambda a, b: a - b),
    "mul": _safe(lambda a, b: a * b),
    "div": _safe(_div),
    "neg": _safe(lambda a: -a),
    # IEEE: x**0 is 1 for every x and 1**y for every y, NaN included
    "pow": lambda a, b: mp.mpf(1) if b == 0 or a == 1 else _safe(_pow)(a, b),
    "sin": _safe(mp.sin),
    "cos": _safe(mp.cos),
    "tan": _safe(mp.tan),
    "asin": _safe(lambda x: mp.asin(x) if -1 <= x <= 1 else NAN),
    "acos": _safe(lambda x: mp.acos(x) if -1 <= x <= 1 else NAN),
    "atan": _safe(mp.atan),
    "sinh": _safe(mp.sinh),
    "cosh": _safe(mp.cosh),
    "tanh": _safe(mp.tanh),
    "exp": _safe(mp.exp),
    "log": _safe(lambda x: mp.log(x) if x >= 0 else NAN),
    "log2": _safe(lambda x: mp.log(x, 2) if x >= 0 else NAN),
    "log10": _safe(lambda x: mp.log10(x) if x >= 0 else NAN),
    "log1p": _safe(lambda x: mp.log1p(x) if x >= -1 else NAN),
    "expm1": _safe(mp.expm1),
    "sqrt": _safe(lambda x: mp.sqrt(x) if x >= 0 else NAN),
    "abs": _safe(abs),
    "sign": _safe(_sign),
    "relu": _safe(lambda x: _max(x, mp.mpf(0))),
    "sigmoid": _safe(_sigmoid),
    "softplus": _safe(_softplus),
    "clamp": _safe(_clamp),
    "min": _safe(_min),
    "max": _safe(_max),
    "erf": _safe(lambda x: mp.sign(x) if abs(x) > 100 else mp.erf(x)),
    "erfc": _safe(_erfc),
    "gelu": _safe(_gelu),
    "silu": _safe(_silu),
    "atan2": _safe(mp.atan2),
    "hypot": lambda a, b: _real(_hypot(a, b)),
    "logaddexp": _safe(_logaddexp),
    "detach": lambda x: x,
    "where": lambda c, a, b: a if c != 0 else b,  # NaN is not 0: a, as numpy's where
    "lt": lambda a, b: mp.mpf(a < b),
    "le": lambda a, b: mp.mpf(a <= b),
    "gt": lambda a, b: mp.mpf(a > b),
    "ge": lambda a, b: mp.mpf(a >= b),
    "eq": lambda a, b: mp.mpf(a == b),
    "ne": lambda a, b: mp.mpf(a != b),
}


def _mean(xs: list[Any]) -> Any:
    return mp.fsum(xs) / len(xs) if xs else NAN


def _prod(xs: list[Any]) -> Any:
    out = mp.mpf(1)
    for x in xs:
        out *= x
    return out


def _logsumexp(xs: list[Any]) -> Any:
    if not xs:
        return -INF
    m = max(xs)
    if mp.isinf(m):
        return m
    return m + mp.log(mp.fsum(mp.exp(x - m) for x in xs))


def _norm(xs: list[Any]) -> Any:
    return mp.sqrt(mp.fsum(x * x for x in xs))


def _bce(ps: list[Any], ts: list[Any]) -> Any:
    # The clamp's bounds are float64 numbers (1 - 1e-8 rounded), as in PyTorch and gradcli.
    lo, hi = mp.mpf(BCE_EPS), mp.mpf(1.0 - BCE_EPS)
    terms = []
    for p, t in zip(ps, ts, strict=True):
        pc = _clamp(p, lo, hi)
        terms.append(-(t * mp.log(pc) + (1 - t) * mp.log(1 - pc)))
    return _mean(terms)


def _bce_with_logits(zs: list[Any], ts: list[Any]) -> Any:
    # softplus(z) - z·t, whose limit at an infinite z is z·(1 - t) or -z·t (0 where that factor is 0)
    terms = []
    for z, t in zip(zs, ts, strict=True):
        if mp.isinf(z):
            terms.append(_xmul(z, 1 - t) if z > 0 else _xmul(-z, t))
        else:
            terms.append(_softplus(z) - z * t)
    return _mean(terms)


def _xmul(z: Any, t: Any) -> Any:
    """z·t where t = 0 contributes nothing (the loss has no such term), even for an infinite z."""
    return mp.mpf(0) if t == 0 else z * t


def _mse(a: list[Any], b: list[Any]) -> Any:
    return _mean([(x - y) ** 2 for x, y in zip(a, b, strict=True)])


REDUCTIONS: dict[str, Callable[..., Any]] = {
    "sum": _safe(lambda xs: mp.fsum(xs)),
    "mean": _safe(_mean),
    "prod": _safe(_prod),
    "logsumexp": _safe(_logsumexp),
    "norm": _safe(_norm),
    "dot": _safe(lambda a, b: mp.fsum(x * y for x, y in zip(a, b, strict=True))),
    "bce": _safe(_bce),
    "bce_with_logits": _safe(_bce_with_logits),
    "mse": _safe(_mse),
    "size": lambda xs: mp.mpf(len(xs)),
}


def to_mp(value: Any) -> Obj:
    arr = np.asarray(value, dtype=np.float64)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = mp.mpf(float(arr[idx]))
    return out


def to_float(value: Obj) -> np.ndarray:
    arr = np.asarray(value, dtype=object)
    out = np.empty(arr.shape)
    for idx in np.ndindex(arr.shape):
        out[idx] = float(arr[idx])
    return out


def apply(name: str, args: Sequence[Obj]) -> Obj:
    """The exact value of primitive `name` at (mpmath) arguments, broadcast as numpy does."""
    if name in ELEMENTWISE:
        fn = ELEMENTWISE[name]
        return np.vectorize(fn, otypes=[object])(*args)
    if name in REDUCTIONS:
        full = np.broadcast_shapes(*(np.shape(a) for a in args))
        lists = [list(np.broadcast_to(np.asarray(a, dtype=object), full).ravel()) for a in args]
        return np.asarray(REDUCTIONS[name](*lists), dtype=object)
    if name == "vector":
        return np.stack([np.asarray(a, dtype=object) for a in args])
    raise KeyError(name)


COVERED = set(ELEMENTWISE) | set(REDUCTIONS) | {"vector", "linspace", "arange"}


def _bce_terms(ps: list[Any], ts: list[Any]) -> list[Any]:
    lo, hi = mp.mpf(BCE_EPS), mp.mpf(1.0 - BCE_EPS)
    return [
        -(t * mp.log(_clamp(p, lo, hi)) + (1 - t) * mp.log(1 - _clamp(p, lo, hi)))
        for p, t in zip(ps, ts, strict=True)
    ]


# The terms a reduction adds up: float64 rounds a sum to about eps times the sum of their
# magnitudes, however small the sum itself (mean([2.5, -2.5, 1e-8]) cancels).
TERMS: dict[str, Callable[..., list[Any]]] = {
    "sum": lambda xs: list(xs),
    "mean": lambda xs: list(xs),
    "dot": lambda a, b: [x * y for x, y in zip(a, b, strict=True)],
    "mse": lambda a, b: [(x - y) ** 2 for x, y in zip(a, b, strict=True)],
    "bce": _bce_terms,
    "bce_with_logits": lambda zs, ts: [_softplus(z) + abs(z * t) for z, t in zip(zs, ts, strict=True)],
}


def _rounding(name: str, args: Sequence[Obj]) -> float:
    """What float64 may fairly be off by in a reduction: 4·eps·(n + 1) · Σ|terms| / (n for means)."""
    if name not in TERMS:
        return 0.0
    full = np.broadcast_shapes(*(np.shape(a) for a in args))
    lists = [list(np.broadcast_to(np.asarray(a, dtype=object), full).ravel()) for a in args]
    n = max(1, len(lists[0]))
    try:
        total = mp.fsum(abs(term) for term in TERMS[name](*lists))
    except (ValueError, ZeroDivisionError):
        return math.inf
    per = 1 if name in ("sum", "dot") else n
    return float(4 * 2.0**-52 * (n + 1) * total / per)


# --------------------------------------------------------------------------
# The judges.


def _close(got: float, want: float, rel: float) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    if math.isinf(want) or math.isinf(got):
        return got == want
    return abs(got - want) <= rel * abs(want) + 1e-300


def value_errors(graph: Graph, vals: Sequence[Any], rel: float = 1e-12) -> list[str]:
    """Ops whose float64 value is not the exact value (rounded) at the same float64 arguments."""
    out = []
    for i, op in enumerate(graph.ops):
        if op.prim is None or op.prim.kind == "constant" or op.prim.name not in COVERED:
            continue
        args = [to_mp(vals[a]) for a in op.args]
        exact = to_float(apply(op.prim.name, args))
        slack = _rounding(op.prim.name, args) if op.prim.kind == "reduce" else 0.0
        got = np.asarray(vals[i], dtype=np.float64)
        if exact.shape != got.shape:
            out.append(f"{graph.source_text(i)}: shape {got.shape}, exact {exact.shape}")
            continue
        zero_arg = any(np.any(np.asarray(vals[a]) == 0) for a in op.args)
        for idx in np.ndindex(got.shape):
            g, x = float(got[idx]), float(exact[idx])
            # mpmath has no signed zero: 1/(-0.0) is -inf in float64, +inf there, and atan2(±0, x)
            # for x < 0 or x = ±0 is ±pi or ±0 by the signs
            if zero_arg and math.isinf(g) and math.isinf(x):
                continue
            if zero_arg and op.prim.name == "atan2" and abs(g) in (0.0, math.pi):
                continue
            if not _close(g, x, rel) and not abs(g - x) <= slack:
                out.append(
                    f"{graph.source_text(i, limit=60)}{list(idx) or ''}: {got[idx]!r}, exact {exact[idx]!r}"
                )
                break
    return out


class Unavailable(Exception):
    """The reference cannot judge this program (a local partial is undefined at the point)."""


def _scale(values: Sequence[Any]) -> Any:
    """The smallest non-zero magnitude among the arguments (and 1): a step below it stays clear
    of kinks where an argument meets another (min(x, 1e-300) at x = 0)."""
    nonzero = [abs(v) for v in values if v != 0 and mp.isfinite(v)]
    return min([mp.mpf(1), *nonzero])


def _digits(args: Sequence[Obj], step: Any) -> int:
    """Working digits for a central difference at these arguments: enough that x ± h differ at
    every magnitude the arguments span (2 + 3e-170 needs about 200 digits)."""
    big = 0.0
    for a in args:
        for v in np.asarray(a, dtype=object).ravel():
            if mp.isfinite(v) and v != 0:
                big = max(big, float(mp.log10(abs(v))))
    return int(40 + big - float(mp.log10(step)))


def _difference(name: str, full: list[Obj], k: int, idx: tuple[int, ...] | None, rel: Any) -> Obj:
    """Central difference of primitive `name` in argument k (at element idx of a reduction, or
    at every element of an element-wise primitive), with steps `rel` times the local scale."""
    if idx is None:
        x = full[k]
        h = np.vectorize(lambda *vs: _scale(vs) * rel, otypes=[object])(*full)
        plus = [*full[:k], x + h, *full[k + 1 :]]
        minus = [*full[:k], x - h, *full[k + 1 :]]
        return (apply(name, plus) - apply(name, minus)) / (2 * h)
    h = _scale([v for a in full for v in a.ravel()]) * rel
    pa = [a.copy() for a in full]
    ma = [a.copy() for a in full]
    pa[k][idx] = full[k][idx] + h
    ma[k][idx] = full[k][idx] - h
    return (apply(name, pa)[()] - apply(name, ma)[()]) / (2 * h)


def _local(name: str, args: Sequence[Obj], k: int, shape: tuple[int, ...]) -> Obj:
    """∂prim/∂args[k] at every element of the broadcast shape (elementwise), or per element of
    the broadcast arguments (reductions): central differences of the exact function at two step
    sizes, at a precision that sees the steps whatever the magnitudes. Where the two disagree
    (a pole, a kink the table does not list), the reference cannot judge."""
    full = [np.broadcast_to(np.asarray(a, dtype=object), shape).copy() for a in args]
    small = mp.mpf("1e-30")
    with mp.workdps(_digits(full, small * _scale([v for a in full for v in a.ravel()]))):
        if name in ELEMENTWISE:
            estimates = [_difference(name, full, k, None, mp.mpf(rel)) for rel in ("1e-25", "1e-30")]
        else:
            estimates = [np.empty(shape, dtype=object) for _ in range(2)]
            for idx in np.ndindex(shape):
                for est, rel in zip(estimates, ("1e-25", "1e-30"), strict=True):
                    est[idx] = _difference(name, full, k, idx, mp.mpf(rel))
        first, second = (np.asarray(e, dtype=object) for e in estimates)
        for a, b in zip(first.ravel(), second.ravel(), strict=True):
            if not (mp.isfinite(a) and mp.isfinite(b)) or abs(a - b) > mp.mpf("1e-20") * max(
                abs(a), abs(b)
            ) + mp.mpf("1e-300"):
                raise Unavailable(f"{name}: no derivative at the point ({a} vs {b})")
        return second


def _fit(arr: Obj, shape: tuple[int, ...]) -> Obj:
    """Sum over the axes broadcasting added (object arrays: exact sums of mpf)."""
    arr = np.asarray(arr, dtype=object)
    lead = arr.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and arr.shape[lead + i] != 1
    )
    if axes:
        arr = np.sum(arr, axis=axes, keepdims=True)
        if lead:
            arr = arr.reshape(arr.shape[lead:])
    return np.broadcast_to(arr, shape)


def reference_gradient(
    graph: Graph, vals: Sequence[Any], wrt: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The gradient of sum(output) by the chain rule run exactly at the float64 intermediates,
    and, per element, how far float64 may fairly be from it.

    A contribution that is a sum over no elements is no contribution (nothing depends on the
    input through it), and a local partial of exactly 0 gives 0 whatever the adjoint. Where
    a value on the way is inf or NaN (float64's value overflowed), the chain rule at it says
    nothing about float64's: Unavailable. The
    allowance lets each local partial be off by 1e-10 of itself plus 1e-15 absolute (what
    `p*(1 - p)` loses at p = 1 - 1e-17, as PyTorch's rule does), carried down the chain."""
    need = graph.requires_grad(wrt)
    for i, op in enumerate(graph.ops):
        if need[i] and not all(np.all(np.isfinite(vals[j])) for j in (i, *op.args)):
            raise Unavailable(f"{graph.source_text(i, limit=40)} meets a value that is not finite")
    adj: list[Obj | None] = [None] * len(graph.ops)
    allow: list[Obj | None] = [None] * len(graph.ops)
    ones = np.vectorize(lambda _v: mp.mpf(1), otypes=[object])(np.empty(np.shape(vals[graph.output])))
    adj[graph.output], allow[graph.output] = ones, ones * 0
    for i in range(len(graph.ops) - 1, -1, -1):
        op, g = graph.ops[i], adj[i]
        if g is None or op.prim is None or not need[i]:
            continue
        args = [to_mp(vals[a]) for a in op.args]
        for k, a in enumerate(op.args):
            if not need[a]:
                continue
            found = _contribution(op.prim.name, op.prim.kind, args, k, g, allow[i], np.shape(vals[a]))
            if found is not None:
                contrib, slack = found
                adj[a] = contrib if adj[a] is None else adj[a] + contrib
                allow[a] = slack if allow[a] is None else allow[a] + slack
    grads: dict[str, np.ndarray] = {}
    allowances: dict[str, np.ndarray] = {}
    for name in wrt:
        i = graph.inputs[name]
        shape = np.shape(vals[i])
        for out, source in ((grads, adj[i]), (allowances, allow[i])):
            out[name] = (
                np.zeros(shape)
                if source is None
                else to_float(np.broadcast_to(np.asarray(source, dtype=object), shape))
            )
    return grads, allowances


def _contribution(
    name: str, kind: str, args: Sequence[Obj], k: int, g: Obj, slack: Obj, shape: tuple[int, ...]
) -> tuple[Obj, Obj] | None:
    if name == "vector":
        return np.asarray(g, dtype=object)[k], np.asarray(slack, dtype=object)[k]
    full = np.broadcast_shapes(*(np.shape(a) for a in args))
    if kind == "elementwise":
        full = np.broadcast_shapes(full, np.shape(g))
    if math.prod(full) == 0:
        return None  # an empty sum: no dependence
    local = _local(name, args, k, full)
    for v in np.asarray(local, dtype=object).ravel():
        if mp.isnan(v) or mp.isinf(v):
            raise Unavailable(f"{name}: local partial {v} at the point")
    gb = np.broadcast_to(np.asarray(g, dtype=object), full)
    sb = np.broadcast_to(np.asarray(slack, dtype=object), full)
    product = np.vectorize(lambda gv, lv: mp.mpf(0) if lv == 0 else gv * lv, otypes=[object])(gb, local)
    error = np.vectorize(
        lambda gv, sv, lv: sv * abs(lv) + abs(gv) * (abs(lv) * mp.mpf("1e-10") + mp.mpf("1e-15")),
        otypes=[object],
    )(gb, sb, local)
    return _fit(product, shape), _fit(error, shape)
