"""The one table of primitives.

Each function is declared once, here: its parameters, its value rule (numpy),
and one partial-derivative rule per parameter, written in gradcli's own
language. The partials may use the parameters, `out` (the node's value) and,
for reductions, `n` (the number of elements reduced). The same rule text is
parsed once (lazily) and serves forward mode, reverse mode, the explain table,
`gradcli functions` and the README.

Kinds:
- "elementwise": broadcasting function; partials have the broadcast shape.
- "reduce": full reduction to a scalar; partial i is d out / d arg_i[element],
  an array over the broadcast elements (so vjp = g * partial, jvp = sum(partial * t)).
- "vector": the `[a, b, ...]` literal (stacking), with its own rule in the evaluators.
- "constant": only constant arguments (linspace, arange, zeros, eye): no gradient flows.
- "structured": matrix products, indexing, reductions along an axis, softmax, linear
  algebra (gradcli/matrix.py): not one partial per element but a vector-Jacobian product
  and a Jacobian-vector product per argument (`derivatives`); `partials` then say in
  gradcli's language how a person writes the vjp (`g @ transpose(b)`), for the docs and
  explain. Their static parameters (axis=, keepdims=, an index) come from the program text.

Conventions at kinks follow PyTorch (see `convention`), and `kink` is an
expression that is non-zero where a point sits on a kink, so `check` can tell
when a finite difference is not a fair judge.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from gradcli import matrix, numerics
from gradcli.errors import ShapeError
from gradcli.limits import LIMITS, exceeded

Array = Any  # numpy float64 scalar or ndarray
Kind = Literal["elementwise", "reduce", "vector", "constant", "structured"]

BCE_EPS_TEXT = "1e-8"  # the clamp of bce, as written in its derivative rules
BCE_EPS = float(BCE_EPS_TEXT)


@dataclass(frozen=True)
class Notation:
    """How a call is written when it is an operator: infix (`a + b`), prefix (`-a`), or an
    indicator in brackets (`[a < b]`, the derivative rules' 0/1 comparisons). `precedence` is
    Python's binding strength (1: + -, 2: * /, 3: unary minus, 4: **); `**` groups to the right."""

    form: Literal["infix", "prefix", "indicator"]
    symbol: str
    precedence: int = 5
    right_assoc: bool = False


def _infix(symbol: str, precedence: int, right_assoc: bool = False) -> Notation:
    return Notation("infix", symbol, precedence, right_assoc)


def _indicator(symbol: str) -> Notation:
    return Notation("indicator", symbol)


# How the results of a reduction over blocks of elements merge into the whole:
# (one result per block, the blocks' element counts, the total count) -> the result.
Combine = Callable[[Array, Array, int], Array]


def _sum_parts(parts: Array, sizes: Array, n: int) -> Array:
    return np.float64(np.sum(parts))


def _mean_parts(parts: Array, sizes: Array, n: int) -> Array:
    return np.float64(np.dot(parts, sizes) / n) if n else np.float64(np.nan)


def _norm_parts(parts: Array, sizes: Array, n: int) -> Array:
    return np.float64(np.hypot.reduce(parts))


@dataclass(frozen=True)
class Primitive:
    name: str
    params: tuple[str, ...]
    fn: Callable[..., Array]
    partials: tuple[str, ...]
    doc: str
    kind: Kind = "elementwise"
    notation: Notation | None = None  # how the printer writes it, when it is an operator
    convention: str = ""  # kink/edge convention (PyTorch's), for docs
    domain: str = ""  # where the value is real and finite
    kink: str | None = None  # expression, non-zero on a kink
    blocks_gradient: bool = False  # detach / stop_gradient
    public: bool = True  # callable from user programs and listed in docs
    variadic: bool = False  # the last parameter repeats (at least one)
    # For reductions: how results over blocks of elements combine into the whole, so that
    # big arrays can be evaluated in cache-sized blocks (gradcli/engine/blocked.py). Only for
    # reductions whose partials, given the whole result `out`, read one element at a time.
    # None: not blockable.
    combine: Combine | None = None
    # Literal operands fold into a literal when the result is a whole number (the simplifier
    # of explain's formulas: `2 - 1` is `1`); exact for these operations.
    foldable: bool = False
    # Identity elements (left, right) of a binary operator: `1*x` and `x*1` are `x`. Exact in
    # floating point, so the simplifier may drop them.
    identities: tuple[float | None, float | None] = (None, None)
    # For the vocabulary of derivative rules: where the value is zero by its form (a false
    # comparison; the product of the others when another element is 0), whatever the
    # magnitudes. Applying a rule selects these zeros instead of multiplying by them
    # (gradcli/engine/rules.py), so an infinite or NaN gradient does not leak through them.
    structural_zeros: Callable[..., Array] | None = None
    # How the docs write a call, when not `name(params)` or its operator: `a ** b`, `a ^ b`, ...
    spellings: tuple[str, ...] = ()
    # The value rule on Python floats, for programs of single numbers (gradcli/engine/scalar.py):
    # the same arithmetic as `fn` on finite arguments with a finite result, and an exception
    # (ValueError, ArithmeticError) where `fn` gives NaN or inf. Filled in from SCALAR_FORMS
    # when `fn` is a numpy function with a math-module twin; None: that path is not taken.
    scalar: Callable[..., float] | None = None
    # For the 0/1 functions of the rules (comparisons, finite): the same test as booleans,
    # for a `where` condition (gradcli/engine/rules.py), without making floats of it.
    truth: Callable[..., Array] | None = None
    # Structured primitives: the vjp and jvp of each argument (gradcli/matrix.py).
    derivatives: matrix.Rules | None = None
    # Keyword arguments a call may give (`axis`, `keepdims`): static, from the program text.
    keywords: tuple[str, ...] = ()
    # The entry a call goes to when it gives keyword arguments (sum(x, axis=0): sum_axis),
    # and when it has one argument (max(x): amax, where max(a, b) is element-wise).
    with_keywords: str | None = None
    one_argument: str | None = None
    # How the docs and explain write the partials, where the rules themselves call helpers
    # written for floating point (atan2's over_sumsq): the textbook form. Empty: the rules.
    display: tuple[str, ...] = ()
    # A reduction's value on one element, element-wise (sum: x, norm: |x|, bce: the loss of one
    # pair): `--at` evaluates rows of single numbers as one array pass with it (gradcli/batch.py).
    one_element: Callable[..., Array] | None = None
    # Arguments from this one on are sizes: constants, never inputs (reshape(x, 2, 3)).
    constant_from: int | None = None

    def __post_init__(self) -> None:
        if self.scalar is None and self.kind == "elementwise" and self.fn in SCALAR_FORMS:
            object.__setattr__(self, "scalar", SCALAR_FORMS[self.fn])

    @property
    def arity(self) -> str:
        return f"{len(self.params)}+" if self.variadic else str(len(self.params))

    def accepts(self, nargs: int) -> bool:
        if self.variadic:
            return nargs >= len(self.params)
        return nargs == len(self.params)

    @property
    def symbol(self) -> str | None:
        """The operator spelling (`+`, `**`), or None for a function called by name."""
        return None if self.notation is None else self.notation.symbol

    @property
    def is_operator(self) -> bool:
        return self.notation is not None and self.notation.form != "indicator"

    def spelled(self) -> tuple[str, ...]:
        """How a program writes it (docs, `gradcli functions`): `a + b`, `-a`, `sin(x)`."""
        if self.spellings:
            return self.spellings
        if self.notation is None or self.notation.form == "indicator":
            return (self.signature,)
        if self.notation.form == "prefix":
            return (f"{self.notation.symbol}{self.params[0]}",)
        return (f"{self.params[0]} {self.notation.symbol} {self.params[1]}",)

    @property
    def signature(self) -> str:
        params = list(self.params)
        if self.variadic:
            params[-1] += ", ..."
        return f"{self.name}({', '.join(params)})"


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


# numpy's element-wise functions and their twins on Python floats (see Primitive.scalar):
# math's functions raise where numpy's return NaN or inf (math.log(0), math.exp(1000)).
SCALAR_FORMS: dict[Callable[..., Array], Callable[..., float]] = {
    np.add: operator.add,
    np.subtract: operator.sub,
    np.multiply: operator.mul,
    np.divide: operator.truediv,
    np.negative: operator.neg,
    np.power: math.pow,
    np.sin: math.sin,
    np.cos: math.cos,
    np.tan: math.tan,
    np.arcsin: math.asin,
    np.arccos: math.acos,
    np.arctan: math.atan,
    np.sinh: math.sinh,
    np.cosh: math.cosh,
    np.tanh: math.tanh,
    np.exp: math.exp,
    np.log: math.log,
    np.log2: math.log2,
    np.log10: math.log10,
    np.log1p: math.log1p,
    np.expm1: math.expm1,
    np.sqrt: math.sqrt,
    np.abs: math.fabs,
    np.sign: _sign,
    np.minimum: min,
    np.maximum: max,
    np.clip: lambda x, lo, hi: min(max(x, lo), hi),
}

PRIMITIVES: dict[str, Primitive] = {}
ALIASES: dict[str, str] = {}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _add(*prims: Primitive, aliases: tuple[str, ...] = ()) -> None:
    for prim in prims:
        assert prim.name not in PRIMITIVES, prim.name
        assert len(prim.partials) == len(prim.params), prim.name
        PRIMITIVES[prim.name] = prim
        for alias in aliases:
            ALIASES[alias] = prim.name


def lookup(name: str) -> Primitive | None:
    return PRIMITIVES.get(ALIASES.get(name, name))


def public_names() -> list[str]:
    names = [p.name for p in PRIMITIVES.values() if p.public]
    names += [a for a, target in ALIASES.items() if PRIMITIVES[target].public]
    return sorted(names)


# --------------------------------------------------------------------------
# Value rules that need more than one numpy call.


def _sigmoid(x: Array) -> Array:
    # exp of a non-positive number only: no overflow, full relative precision.
    ex = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + ex), ex / (1.0 + ex))[()]


def _softplus(x: Array) -> Array:
    return (np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0))[()]


def _sigmoid_scalar(x: float) -> float:
    ex = math.exp(-abs(x))
    return 1.0 / (1.0 + ex) if x >= 0 else ex / (1.0 + ex)


def _softplus_scalar(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def _logsumexp(x: Array) -> Array:
    x = np.asarray(x)
    if x.size == 0:
        return np.float64(-np.inf)
    m = np.max(x)
    if not np.isfinite(m):
        m = np.float64(0.0)
    return np.float64(m + np.log(np.sum(np.exp(x - m))))


def _softmax_all(x: Array) -> Array:
    """exp(x - max(x)) / sum(exp(x - max(x))) over all the elements: the weights of logsumexp."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return a
    m = np.max(a)
    if not np.isfinite(m):  # an infinite element takes all the weight (NaN: NaN everywhere)
        return np.where(a == m, 1.0 / np.count_nonzero(a == m), 0.0) if m > 0 else np.exp(a - m)
    e = np.exp(a - m)
    return (e / np.sum(e))[()]


def _dot(a: Array, b: Array) -> Array:
    if np.shape(a) != np.shape(b):
        raise ShapeError(
            f"dot needs two arrays of the same shape, got {np.shape(a)} and {np.shape(b)}",
            hint="dot(a, b) is the inner product sum(a*b); use sum(a*b) to broadcast",
        )
    return numerics.dot(a, b)


def _bce(p: Array, t: Array) -> Array:
    pc = np.clip(p, BCE_EPS, 1.0 - BCE_EPS)
    # log1p(-pc), not log(1 - pc): exact for small pc, where 1 - pc would round.
    return numerics.mean(-(t * np.log(pc) + (1.0 - t) * np.log1p(-pc)))


def _xmul(a: Array, b: Array) -> Array:
    """a·b where b = 0 gives 0 even for an infinite a (a term the loss does not have)."""
    return np.where(b == 0, 0.0, a * b)


def _bce_with_logits(z: Array, t: Array) -> Array:
    # softplus(z) - z·t, written so that an infinite logit gives the limit, not inf - inf:
    # for z > 0 it is z·(1 - t) + log1p(exp(-z)), for z <= 0 -z·t + log1p(exp(z)).
    linear = np.where(z > 0, _xmul(z, 1.0 - t), _xmul(-z, t))
    return numerics.mean(linear + np.log1p(np.exp(-np.abs(z))))


def _norm(x: Array) -> Array:
    """sqrt(sum(x**2)) scaled by the largest |x|: no overflow at 1e300, no underflow at 1e-200."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    if a.size == 0:
        return np.float64(0.0)
    m = np.max(a)
    if not np.isfinite(m) or m == 0:
        return np.float64(m) if not np.any(np.isnan(a)) else np.float64(np.nan)
    return np.float64(m * np.sqrt(np.sum(np.square(a / m))))


def _count(n: Array, what: str) -> int:
    if np.ndim(n) != 0 or not np.isfinite(n) or n != np.floor(n) or n < 0:
        raise ShapeError(f"{what} must be a non-negative whole number, got {np.asarray(n).tolist()}")
    if n > LIMITS.max_array_elements:
        shown = f"{int(n):,}" if n < 1e15 else f"{float(n):.3g}"  # not a 300-digit number
        raise exceeded(
            "max_array_elements",
            f"{what} {shown} is above the array size limit of {LIMITS.max_array_elements:,}",
        )
    return int(n)


def _linspace(a: Array, b: Array, n: Array) -> Array:
    for v in (a, b):
        if np.ndim(v) != 0:
            raise ShapeError("linspace(a, b, n) takes scalar end points")
    return np.linspace(float(a), float(b), _count(n, "linspace's count n"))


def _arange(a: Array, b: Array, step: Array) -> Array:
    for v in (a, b, step):
        if np.ndim(v) != 0 or not np.isfinite(v):
            raise ShapeError("arange(a, b, step) takes finite scalars")
    if step == 0:
        raise ShapeError("arange's step must not be 0")
    span = (float(b) - float(a)) / float(step)  # may overflow to +-inf: arange(-1e308, 1e308, 1)
    if span > LIMITS.max_array_elements:
        raise exceeded(
            "max_array_elements",
            f"arange({float(a):g}, {float(b):g}, {float(step):g}) would have more than "
            f"{LIMITS.max_array_elements:,} elements, the array size limit",
        )
    if _count(math.ceil(max(0.0, span)), "arange's element count") == 0:
        return np.zeros(0)  # numpy's own size computation overflows on an empty inf span
    return np.arange(float(a), float(b), float(step))


def _stack(*items: Array) -> Array:
    shapes = {np.shape(i) for i in items}
    if len(shapes) > 1:
        raise ShapeError(
            "the items of a vector literal must all have the same shape, got "
            + ", ".join(str(np.shape(i)) for i in items)
        )
    return np.stack([np.asarray(i, dtype=np.float64) for i in items])


def _where(c: Array, a: Array, b: Array) -> Array:
    return np.asarray(np.where(c != 0, a, b))[()]


def _others_zero(x: Array) -> Array:
    """Where the product of the other elements is 0 by its form: another element is 0."""
    zeros = np.asarray(x) == 0
    return (np.count_nonzero(zeros) - zeros) > 0


def _f(fn: Callable[..., Array]) -> Callable[..., Array]:
    """Comparison results as float64 0/1, so they can multiply partials."""

    def wrapped(*args: Array) -> Array:
        return np.asarray(fn(*args), dtype=np.float64)[()]

    wrapped.__name__ = fn.__name__
    return wrapped


_COMPARISONS = (
    ("eq", np.equal, operator.eq, "="),
    ("lt", np.less, operator.lt, "<"),
    ("le", np.less_equal, operator.le, "<="),
    ("gt", np.greater, operator.gt, ">"),
    ("ge", np.greater_equal, operator.ge, ">="),
    ("ne", np.not_equal, operator.ne, "!="),
)


def _comparison(
    name: str, fn: Callable[..., Array], on_floats: Callable[[float, float], bool], symbol: str
) -> Primitive:
    """[a op b]: 1 where it holds, 0 (a structural zero) where it does not."""
    return Primitive(
        name,
        ("a", "b"),
        _f(fn),
        ("0", "0"),
        f"[a {symbol} b]",
        public=False,
        notation=_indicator(symbol),
        foldable=True,
        structural_zeros=lambda a, b: ~fn(a, b),
        scalar=lambda a, b: 1.0 if on_floats(a, b) else 0.0,
        truth=fn,
    )


# Value rules of the special functions (erf, erfc and gelu are in gradcli/numerics.py).


SILU_DEEP = -700.0  # below, sigmoid(x) is (near) a subnormal: x·sigmoid(x) as -exp(x + log(-x))


def _silu(x: Array) -> Array:
    """x·sigmoid(x); far below 0, where sigmoid(x) has lost its digits (sigmoid(-745) is the
    smallest subnormal, 1% off), -exp(x + log(-x)); the limit -0 at -inf (not -inf·0 = NaN)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        deep = -np.exp(x + np.log(-x))
        out = np.where(x < SILU_DEEP, deep, x * _sigmoid(x))
    return np.where(x == -np.inf, -0.0, out)[()]


def _silu_scalar(x: float) -> float:
    if x < SILU_DEEP:
        return -math.exp(x + math.log(-x))
    return x * _sigmoid_scalar(x)


def _logaddexp_scalar(a: float, b: float) -> float:
    """np.logaddexp on floats, in numpy's steps: the larger plus log1p(exp(-|a - b|))."""
    if a == b:
        return a + math.log(2.0)
    d = a - b
    if d > 0:
        return a + math.log1p(math.exp(-d))
    if d <= 0:
        return b + math.log1p(math.exp(d))
    raise ValueError("logaddexp of NaN")


# atan2's and hypot's partials, p/(p**2 + q**2) and p/hypot(p, q), on mantissas and exponents:
# p and q scaled by a common power of two for the squares, p's mantissa (exact, subnormals
# too) on top, and one scaling back at the end. Exact where a square, a product with g, or
# hypot(p, q) itself (a rounded subnormal: hypot(5e-324, 5e-324)) would lose the result.


def _common_exponent(p: Array, q: Array) -> Array:
    """k with max(|p|, |q|)·2**-k in [0.5, 1) (0 where that is 0, inf or NaN)."""
    m = np.maximum(np.abs(p), np.abs(q))
    return np.frexp(np.where(np.isfinite(m), m, 0.0))[1]


def _over_sumsq(p: Array, q: Array, g: Array) -> Array:
    """g·p/(p**2 + q**2); 0 where p = 0 (PyTorch's atan2 at the origin), and where p or q is
    infinite (the limit)."""
    with np.errstate(all="ignore"):
        k = _common_exponent(p, q)
        ps, qs = np.ldexp(p, -k), np.ldexp(q, -k)
        mp, ep = np.frexp(p)
        mg, eg = np.frexp(g)
        r = np.ldexp(mg * (mp / (ps * ps + qs * qs)), eg + ep - 2 * k)
        infinite = (np.isinf(p) & ~np.isnan(q)) | (np.isinf(q) & ~np.isnan(p))
        return np.where(p == 0, 0.0, np.where(infinite, g * 0.0, r))[()]


def _over_sumsq_scalar(p: float, q: float, g: float) -> float:
    if p == 0:
        return 0.0
    k = math.frexp(max(abs(p), abs(q)))[1]
    ps, qs = math.ldexp(p, -k), math.ldexp(q, -k)
    mp, ep = math.frexp(p)
    mg, eg = math.frexp(g)
    return math.ldexp(mg * (mp / (ps * ps + qs * qs)), eg + ep - 2 * k)


def _over_hypot(p: Array, q: Array) -> Array:
    """p/hypot(p, q); 0 where p = 0 (at the origin too), sign(p) where p alone is infinite."""
    with np.errstate(all="ignore"):
        k = _common_exponent(p, q)
        mp, ep = np.frexp(p)
        r = np.ldexp(mp / np.hypot(np.ldexp(p, -k), np.ldexp(q, -k)), ep - k)
        r = np.where(np.isinf(p) & np.isfinite(q), np.sign(p), r)
        return np.where(p == 0, 0.0, r)[()]


def _over_hypot_scalar(p: float, q: float) -> float:
    if p == 0:
        return 0.0
    k = math.frexp(max(abs(p), abs(q)))[1]
    mp, ep = math.frexp(p)
    return math.ldexp(mp / math.hypot(math.ldexp(p, -k), math.ldexp(q, -k)), ep - k)


E: Kind = "elementwise"
R: Kind = "reduce"
S: Kind = "structured"
AXIS_KEYWORDS = ("axis", "keepdims")

# --------------------------------------------------------------------------
# Arithmetic. Operators are calls too: `a + b` parses to add(a, b).
_add(
    Primitive(
        "add",
        ("a", "b"),
        np.add,
        ("1", "1"),
        "a + b",
        notation=_infix("+", 1),
        foldable=True,
        identities=(0.0, 0.0),
    ),
    Primitive(
        "sub",
        ("a", "b"),
        np.subtract,
        ("1", "-1"),
        "a - b",
        notation=_infix("-", 1),
        foldable=True,
        identities=(None, 0.0),
    ),
    Primitive(
        "mul",
        ("a", "b"),
        np.multiply,
        ("b", "a"),
        "a * b",
        notation=_infix("*", 2),
        foldable=True,
        identities=(1.0, 1.0),
    ),
    Primitive(
        "div",
        ("a", "b"),
        np.divide,
        # In linear form (applied to g): g/b, not g*(1/b), which overflows at a subnormal b;
        # -g*out/b, not g*(-a/b**2), which overflows (x/y at x = y = 1e-200 gives -inf for a
        # true -1e200), nor g*(-out/b), whose partial alone overflows where g is small.
        ("g/b", "-g*out/b"),
        "a / b",
        notation=_infix("/", 2),
        foldable=True,
        identities=(None, 1.0),
        domain="b != 0",
    ),
    Primitive(
        "neg",
        ("a",),
        np.negative,
        ("-1",),
        "-a (unary minus)",
        notation=Notation("prefix", "-", 3),
        foldable=True,
    ),
)
_add(
    Primitive(
        "pow",
        ("a", "b"),
        numerics.power,
        # In linear form: g*b*a**(b - 1), or g*(b/a)*out where a**(b - 1) alone overflows but the
        # product does not (x**x at 5e-324: a**(b - 1) is inf, the derivative about 1).
        (
            "where(eq(b, 0), 0, where(finite(a**(b - 1)) + eq(a, 0), g*b*a**(b - 1), g*(b/a)*out))",
            "where(eq(a, 0)*ge(b, 0), 0, g*out*log(a))",
        ),
        "a ** b (also a ^ b)",
        notation=_infix("**", 4, right_assoc=True),
        foldable=True,
        identities=(None, 1.0),
        spellings=("a ** b", "a ^ b", "pow(a, b)"),
        scalar=math.pow,
        convention="d/da is 0 where b = 0; d/db is 0 at a = 0 for b >= 0",
        display=("b*a**(b - 1)", "out*log(a)"),
        domain="a > 0, or integer b",
    ),
)

# --------------------------------------------------------------------------
# Element-wise functions.
_add(
    Primitive("sin", ("x",), np.sin, ("cos(x)",), "sine"),
    Primitive("cos", ("x",), np.cos, ("-sin(x)",), "cosine"),
    Primitive("tan", ("x",), np.tan, ("1/cos(x)**2",), "tangent"),
    Primitive("asin", ("x",), np.arcsin, ("1/sqrt((1 - x)*(1 + x))",), "inverse sine", domain="-1 <= x <= 1"),
    Primitive(
        "acos", ("x",), np.arccos, ("-1/sqrt((1 - x)*(1 + x))",), "inverse cosine", domain="-1 <= x <= 1"
    ),
    Primitive("atan", ("x",), np.arctan, ("1/(1 + x**2)",), "inverse tangent"),
    Primitive("sinh", ("x",), np.sinh, ("cosh(x)",), "hyperbolic sine"),
    Primitive("cosh", ("x",), np.cosh, ("sinh(x)",), "hyperbolic cosine"),
    Primitive("tanh", ("x",), np.tanh, ("1 - out**2",), "hyperbolic tangent"),
    Primitive("exp", ("x",), np.exp, ("out",), "e ** x"),
    Primitive("log", ("x",), np.log, ("g/x",), "natural logarithm", domain="x > 0"),
    Primitive("log2", ("x",), np.log2, ("g/(x*log(2))",), "base-2 logarithm", domain="x > 0"),
    Primitive("log10", ("x",), np.log10, ("g/(x*log(10))",), "base-10 logarithm", domain="x > 0"),
    Primitive("log1p", ("x",), np.log1p, ("g/(1 + x)",), "log(1 + x), accurate near 0", domain="x > -1"),
    Primitive("expm1", ("x",), np.expm1, ("out + 1",), "exp(x) - 1, accurate near 0"),
    Primitive(
        "sqrt",
        ("x",),
        np.sqrt,
        ("0.5/out",),
        "square root",
        domain="x >= 0",
        convention="sqrt'(0) = +inf",
    ),
    Primitive(
        "abs", ("x",), np.abs, ("sign(x)",), "absolute value", convention="abs'(0) = 0", kink="eq(x, 0)"
    ),
    Primitive(
        "sign", ("x",), np.sign, ("0",), "-1, 0 or 1", convention="sign' = 0 everywhere", kink="eq(x, 0)"
    ),
    Primitive(
        "relu",
        ("x",),
        lambda x: np.maximum(x, 0.0),
        ("gt(x, 0)",),
        "max(x, 0)",
        convention="relu'(0) = 0",
        kink="eq(x, 0)",
        scalar=lambda x: max(x, 0.0),
    ),
    Primitive(
        "sigmoid",
        ("x",),
        _sigmoid,
        ("out*(1 - out)",),
        "1/(1 + exp(-x)), numerically stable",
        scalar=_sigmoid_scalar,
    ),
    Primitive(
        "softplus",
        ("x",),
        _softplus,
        ("sigmoid(x)",),
        "log(1 + exp(x)), numerically stable",
        scalar=_softplus_scalar,
    ),
    Primitive(
        "clamp",
        ("x", "lo", "hi"),
        np.clip,
        # PyTorch's clamp_backward_min_max: when lo > hi the value is hi, and so is the gradient.
        ("ge(x, lo)*le(x, hi)", "lt(x, lo)*lt(lo, hi)", "max(gt(x, hi), lt(hi, lo))"),
        "x limited to [lo, hi]",
        convention="the gradient passes to x at the bounds (lo <= x <= hi); when lo > hi the value "
        "is hi and the gradient goes to hi (as PyTorch)",
        kink="max(max(eq(x, lo), eq(x, hi)), eq(lo, hi))",
    ),
    Primitive(
        "min",
        ("a", "b"),
        np.minimum,
        ("lt(a, b) + 0.5*eq(a, b)", "lt(b, a) + 0.5*eq(a, b)"),
        "element-wise minimum",
        convention="ties split the gradient 0.5/0.5",
        kink="eq(a, b)",
    ),
    Primitive(
        "max",
        ("a", "b"),
        np.maximum,
        ("gt(a, b) + 0.5*eq(a, b)", "gt(b, a) + 0.5*eq(a, b)"),
        "element-wise maximum",
        convention="ties split the gradient 0.5/0.5",
        kink="eq(a, b)",
    ),
)

# --------------------------------------------------------------------------
# Special functions: the error function and the activations of smooth networks, and
# functions of two arguments written so that no square or exp overflows on the way.
_add(
    Primitive(
        "erf",
        ("x",),
        numerics.erf,
        ("2/sqrt(pi)*exp(-x*x)",),
        "error function 2/sqrt(pi) * integral of exp(-t**2) from 0 to x",
        scalar=math.erf,
    ),
    Primitive(
        "erfc",
        ("x",),
        numerics.erfc,
        ("-2/sqrt(pi)*exp(-x*x)",),
        "1 - erf(x), with its relative precision where erf(x) is near 1 (erfc(10) = 2.1e-45)",
        scalar=math.erfc,
    ),
    Primitive(
        "gelu",
        ("x",),
        numerics.gelu,
        # Phi(x) + x*phi(x); x clamped where phi(x) is 0 anyway, so that x = +-inf gives the limit
        ("erfc(-x*sqrt(0.5))/2 + clamp(x, -40, 40)*exp(-x*x/2)/sqrt(2*pi)",),
        "x*Phi(x), Phi the standard normal CDF (PyTorch's exact gelu), accurate for x < 0",
        convention="gelu(-inf) = 0, gelu'(-inf) = 0 and gelu'(inf) = 1, the limits (PyTorch: NaN)",
        scalar=numerics.gelu_scalar,
    ),
    Primitive(
        "silu",
        ("x",),
        _silu,
        # sigmoid(x) + x*sigmoid(x)*sigmoid(-x): sigmoid(-x), not 1 - sigmoid(x), which cancels;
        # `out` for x*sigmoid(x) (exact far below 0), held below 800 so that x = inf gives 1
        ("sigmoid(x) + min(out, 800)*sigmoid(-x)",),
        "x*sigmoid(x) (swish)",
        convention="silu(-inf) = 0, silu'(-inf) = 0 and silu'(inf) = 1, the limits (PyTorch: NaN)",
        scalar=_silu_scalar,
    ),
    Primitive(
        "atan2",
        ("y", "x"),
        np.arctan2,
        # x/(x**2 + y**2) and -y/(x**2 + y**2), scaled (over_sumsq), in linear form: the partial
        # alone may overflow where its product with g does not (x = y = 1e-310)
        ("over_sumsq(x, y, g)", "-over_sumsq(y, x, g)"),
        "angle of the point (x, y) in radians, in [-pi, pi]",
        convention="gradient 0 at y = x = 0 (PyTorch)",
        display=("x/(x**2 + y**2)", "-y/(x**2 + y**2)"),
        kink="eq(y, 0)*le(x, 0)",  # the origin, and the jump from pi to -pi along x < 0
        scalar=math.atan2,
    ),
    Primitive(
        "hypot",
        ("a", "b"),
        np.hypot,
        # a/out, b/out, scaled (over_hypot): exact where out is a rounded subnormal
        ("over_hypot(a, b)", "over_hypot(b, a)"),
        "sqrt(a**2 + b**2), without overflow or underflow",
        convention="gradient 0 at a = b = 0, as abs and norm (torch.hypot: NaN)",
        display=("a/out", "b/out"),
        kink="eq(out, 0)",
        scalar=math.hypot,
    ),
    Primitive(
        "logaddexp",
        ("a", "b"),
        np.logaddexp,
        # sigmoid(a - b), not exp(a - out), whose `out` is rounded
        ("where(eq(a, b), 0.5, sigmoid(a - b))", "where(eq(a, b), 0.5, sigmoid(b - a))"),
        "log(exp(a) + exp(b)), numerically stable",
        convention="ties split the gradient 0.5/0.5, also at a = b = +-inf (PyTorch: NaN there)",
        scalar=_logaddexp_scalar,
    ),
    # The partials of atan2 and hypot, for their rules (see _over_sumsq, _over_hypot).
    Primitive(
        "over_sumsq",
        ("p", "q", "g"),
        _over_sumsq,
        ("0", "0", "0"),
        "g*p/(p**2 + q**2), no square overflowing or underflowing; 0 where p = 0",
        public=False,
        structural_zeros=lambda p, q, g: np.asarray(p) == 0,
        scalar=_over_sumsq_scalar,
    ),
    Primitive(
        "over_hypot",
        ("p", "q"),
        _over_hypot,
        ("0", "0"),
        "p/hypot(p, q), exact where hypot(p, q) is a rounded subnormal; 0 where p = 0",
        public=False,
        structural_zeros=lambda p, q: np.asarray(p) == 0,
        scalar=_over_hypot_scalar,
    ),
)

# --------------------------------------------------------------------------
# Reductions (to a scalar). Partials are per element; `n` is the element count.
_add(
    Primitive(
        "sum",
        ("x",),
        numerics.total,
        ("1",),
        "sum of all elements",
        kind=R,
        combine=_sum_parts,
    ),
    Primitive(
        "mean",
        ("x",),
        numerics.mean,
        ("1/n",),
        "mean of all elements",
        kind=R,
        combine=_mean_parts,
    ),
    Primitive(
        "prod",
        ("x",),
        numerics.product,
        ("prod_others(x, g)",),
        "product of all elements",
        kind=R,  # no combine: prod_others reads all elements
        display=("out/x",),
        convention="exact at zeros (product of the other elements, no division), as PyTorch",
    ),
    Primitive(
        "logsumexp",
        ("x",),
        _logsumexp,
        # The weights exp(x - m) / sum(exp(x - m)), m = max(x): not exp(x - out), whose `out`
        # is rounded (logsumexp([1e300, 1e300]) is 1e300, and exp(x - out) 1 instead of 0.5).
        ("softmax_all(x)",),
        "log(sum(exp(x))), numerically stable",
        kind=R,  # no combine: the weights read all the elements
        display=("exp(x - out)",),
    ),
    Primitive(
        "dot",
        ("a", "b"),
        _dot,
        ("b", "a"),
        "inner product sum(a*b) of same-shape arrays",
        kind=R,
        combine=_sum_parts,
    ),
    Primitive(
        "norm",
        ("x",),
        _norm,
        ("where(eq(out, 0), 0, x/out)",),
        "Euclidean norm sqrt(sum(x**2))",
        kind=R,
        combine=_norm_parts,
        convention="gradient 0 at x = 0 (PyTorch)",
        kink="eq(out, 0)",
    ),
)

# --------------------------------------------------------------------------
# Losses (mean over elements, as PyTorch's default reduction).
_add(
    Primitive(
        "bce",
        ("p", "t"),
        _bce,
        (
            f"where(ge(p, {BCE_EPS_TEXT})*le(p, 1 - {BCE_EPS_TEXT}), (p - t)/(p*(1 - p)), 0)/n",
            f"(log1p(-clamp(p, {BCE_EPS_TEXT}, 1 - {BCE_EPS_TEXT})) - log(clamp(p, {BCE_EPS_TEXT}, 1 - {BCE_EPS_TEXT})))/n",
        ),
        "binary cross-entropy of probability p against target t: p clamped to "
        f"[{BCE_EPS_TEXT}, 1-{BCE_EPS_TEXT}], then mean(-(t*log(p) + (1-t)*log(1-p)))",
        kind=R,
        combine=_mean_parts,
        convention="no gradient to p where the clamp is active (as torch.clamp)",
        kink=f"max(eq(p, {BCE_EPS_TEXT}), eq(p, 1 - {BCE_EPS_TEXT}))",
    ),
    Primitive(
        "bce_with_logits",
        ("z", "t"),
        _bce_with_logits,
        ("(sigmoid(z) - t)/n", "-z/n"),
        "binary cross-entropy on logits z, i.e. bce(sigmoid(z), t) without the clamp, stable",
        kind=R,
        combine=_mean_parts,
    ),
    Primitive(
        "mse",
        ("a", "b"),
        lambda a, b: numerics.mean_square(np.subtract(a, b)),
        ("2*(a - b)/n", "-2*(a - b)/n"),
        "mean squared error mean((a - b)**2)",
        kind=R,
        combine=_mean_parts,
    ),
)

# --------------------------------------------------------------------------
# Gradient control, array construction.
_add(
    Primitive(
        "detach",
        ("x",),
        lambda x: x,
        ("0",),
        "the value of x, but no gradient flows through it (torch's .detach())",
        scalar=lambda x: x,
        blocks_gradient=True,
    ),
    aliases=("stop_gradient",),
)
_add(
    Primitive(
        "linspace",
        ("a", "b", "n"),
        _linspace,
        ("0", "0", "0"),
        "n evenly spaced numbers from a to b (constant arguments only)",
        kind="constant",
    ),
    Primitive(
        "arange",
        ("a", "b", "step"),
        _arange,
        ("0", "0", "0"),
        "numbers from a up to (not including) b by step (constant arguments only)",
        kind="constant",
    ),
)

# --------------------------------------------------------------------------
# Internal helpers: the vector literal and the vocabulary of derivative rules.
_add(
    Primitive(
        "vector", ("item",), _stack, ("1",), "[a, b, ...] literal", kind="vector", variadic=True, public=False
    ),
    Primitive(
        "where",
        ("c", "a", "b"),
        _where,
        ("0", "ne(c, 0)", "eq(c, 0)"),
        "a where c != 0 else b, element-wise (c: a comparison such as x > 0, or any number)",
        convention="the gradient goes to the chosen branch only (torch.where)",
    ),
    *(_comparison(name, fn, on_floats, symbol) for name, fn, on_floats, symbol in _COMPARISONS),
    Primitive(
        "finite",
        ("x",),
        _f(np.isfinite),
        ("0",),
        "[x is finite]",
        public=False,
        structural_zeros=lambda x: ~np.isfinite(x),
        scalar=lambda x: 1.0 if math.isfinite(x) else 0.0,
        truth=np.isfinite,
    ),
    Primitive("softmax_all", ("x",), _softmax_all, ("0",), "softmax over all the elements", public=False),
    Primitive(
        "prod_others",
        ("x", "g"),
        numerics.products_of_others,
        ("0", "0"),
        "g times the product of the other elements",
        public=False,
        structural_zeros=lambda x, g: _others_zero(x),
    ),
)


# --------------------------------------------------------------------------
# Matrices: structured primitives (gradcli/matrix.py has their value rules, vjps and jvps;
# the partials here say how the vjp is written by hand, with g = ∂L/∂out).
_add(
    Primitive(
        "matmul",
        ("a", "b"),
        matrix.matmul,
        ("g · bᵀ", "aᵀ · g"),
        "matrix product (vector·vector, matrix·vector, vector·matrix, matrix·matrix), as numpy and PyTorch",
        kind=S,
        derivatives=matrix.MATMUL,
        notation=_infix("@", 2),
    ),
    Primitive(
        "outer",
        ("a", "b"),
        matrix.outer,
        ("g · b", "gᵀ · a"),
        "outer product of two vectors: the matrix a[i]*b[j]",
        kind=S,
        derivatives=matrix.OUTER,
    ),
    Primitive(
        "transpose",
        ("x",),
        matrix.transpose,
        ("gᵀ",),
        "the matrix with rows and columns swapped (also x.T); a vector is itself",
        kind=S,
        derivatives=matrix.TRANSPOSE,
    ),
    Primitive(
        "reshape",
        ("x", "size"),
        matrix.reshape,
        ("reshape(g, shape(x))", "0"),
        "the elements of x in a new shape: reshape(x, rows, cols), row by row as numpy",
        kind=S,
        variadic=True,
        constant_from=1,
        derivatives=matrix.Rules(
            (matrix.RESHAPE_FIRST[0], matrix.no_gradient_vjp_of(1)),
            (matrix.RESHAPE_FIRST[1], matrix.no_gradient_jvp_of(1)),
        ),
    ),
    Primitive(
        "index",
        ("x",),
        matrix.index,
        ("g scattered back to x's indexed positions",),
        "x[i], x[i, j], x[:, j], x[a:b:step]: indexing and slicing as numpy (constant indices)",
        kind=S,
        derivatives=matrix.INDEX,
        public=False,
    ),
)


def _axis_reduction(
    name: str, fn: Callable[..., Array], rules: matrix.Rules, partial: str, doc: str, **kw: Any
) -> Primitive:
    return Primitive(
        name,
        ("x",),
        fn,
        (partial,),
        doc,
        kind=S,
        derivatives=rules,
        keywords=AXIS_KEYWORDS,
        public=False,
        **kw,
    )


# The reductions with axis= or keepdims= (sum(x, axis=0) is sum_axis), and max(x)/min(x).
_add(
    _axis_reduction("sum_axis", matrix.reduce_sum, matrix.SUM_AXIS, "g", "sum along an axis"),
    _axis_reduction("mean_axis", matrix.reduce_mean, matrix.MEAN_AXIS, "g/n", "mean along an axis"),
    _axis_reduction(
        "prod_axis",
        matrix.reduce_prod,
        matrix.PROD_AXIS,
        "g*prod_others(x)",
        "product along an axis",
        convention="exact at zeros (product of the other elements, no division), as PyTorch",
    ),
    _axis_reduction(
        "logsumexp_axis",
        matrix.reduce_logsumexp,
        matrix.LOGSUMEXP_AXIS,
        "g*softmax(x)",
        "logsumexp along an axis",
    ),
    _axis_reduction(
        "norm_axis",
        matrix.reduce_norm,
        matrix.NORM_AXIS,
        "g*x/out",
        "Euclidean norm along an axis",
        convention="gradient 0 where the norm is 0 (PyTorch)",
    ),
    _axis_reduction(
        "amax",
        matrix.reduce_max,
        matrix.EXTREME,
        "g*[x = out]/count(x = out)",
        "the largest element",
        convention="ties share the gradient equally (torch.amax)",
    ),
    _axis_reduction(
        "amin",
        matrix.reduce_min,
        matrix.EXTREME,
        "g*[x = out]/count(x = out)",
        "the smallest element",
        convention="ties share the gradient equally (torch.amin)",
    ),
)

# Over classes (the last axis by default), and the losses over classes.
_add(
    Primitive(
        "softmax",
        ("x",),
        matrix.softmax,
        ("out*(g - sum(g*out, axis))",),
        "exp(x)/sum(exp(x)) along an axis (default -1: the last), stable",
        kind=S,
        derivatives=matrix.SOFTMAX,
        keywords=("axis",),
    ),
    Primitive(
        "log_softmax",
        ("x",),
        matrix.log_softmax,
        ("g - exp(out)*sum(g, axis)",),
        "x - logsumexp(x) along an axis (default -1), stable",
        kind=S,
        derivatives=matrix.LOG_SOFTMAX,
        keywords=("axis",),
    ),
    Primitive(
        "cross_entropy",
        ("logits", "target"),
        matrix.cross_entropy,
        ("g*(softmax(logits) - onehot(target))/batch", "-g*log_softmax(logits)/batch"),
        "cross-entropy of logits (classes along the last axis; rows are a batch) against a class "
        "index per row or class probabilities, mean over the batch (torch.nn.functional.cross_entropy)",
        kind=S,
        derivatives=matrix.CROSS_ENTROPY,
        convention="no gradient to class indices",
    ),
    Primitive(
        "nll",
        ("logp", "target"),
        matrix.nll,
        ("-g*onehot(target)/batch", "0"),
        "negative log-likelihood of log-probabilities against a class index per row, mean over the "
        "batch (torch.nn.functional.nll_loss)",
        kind=S,
        derivatives=matrix.NLL,
    ),
)

# Linear algebra.
_add(
    Primitive(
        "trace",
        ("A",),
        matrix.trace,
        ("g*eye(n)",),
        "sum of the diagonal",
        kind=S,
        derivatives=matrix.TRACE,
    ),
    Primitive(
        "diag",
        ("x",),
        matrix.diag,
        ("diag(g)",),
        "a vector to the diagonal matrix, a matrix to its diagonal (numpy's diag)",
        kind=S,
        derivatives=matrix.DIAG,
    ),
    Primitive(
        "det",
        ("A",),
        matrix.det,
        ("g · cofactors(A)",),
        "determinant of a square matrix",
        kind=S,
        derivatives=matrix.DET,
        convention="the cofactors (from the SVD), the derivative at singular matrices too (PyTorch: 0 for a singular 2 x 2)",
    ),
    Primitive(
        "logdet",
        ("A",),
        matrix.logdet,
        ("g · inv(A)ᵀ",),
        "log(det(A)) (NaN for a negative determinant, as torch.logdet)",
        kind=S,
        derivatives=matrix.LOGDET,
        domain="det(A) > 0",
    ),
    Primitive(
        "inv",
        ("A",),
        matrix.inv,
        ("-outᵀ · g · outᵀ",),
        "inverse of a square matrix (NaN when singular, where PyTorch raises)",
        kind=S,
        derivatives=matrix.INV,
        domain="det(A) != 0",
    ),
)

# The number of elements (of n in the rules, as `gradcli diff` writes it): no gradient.
_add(
    Primitive(
        "size",
        ("x",),
        lambda x: np.float64(np.size(x)),
        ("0",),
        "the number of elements of x (a number; no gradient flows through it)",
        kind=R,
    ),
)

# Constant arrays.
_add(
    Primitive(
        "zeros",
        ("size",),
        matrix.zeros,
        ("0",),
        "array of zeros: zeros(n), zeros(rows, cols)",
        kind="constant",
        variadic=True,
    ),
    Primitive(
        "ones",
        ("size",),
        matrix.ones,
        ("0",),
        "array of ones: ones(n), ones(rows, cols)",
        kind="constant",
        variadic=True,
    ),
    Primitive("eye", ("n",), matrix.eye, ("0",), "n x n identity matrix", kind="constant"),
    Primitive(
        "onehot",
        ("k", "n"),
        matrix.onehot,
        ("0", "0"),
        "vector of n zeros with 1 at index k (a vector k: one row each)",
        kind="constant",
    ),
)


# sum(x, axis=0) goes to sum_axis, max(x) to amax: the entries say where.
for _name, _variant in (
    ("sum", "sum_axis"),
    ("mean", "mean_axis"),
    ("prod", "prod_axis"),
    ("logsumexp", "logsumexp_axis"),
    ("norm", "norm_axis"),
):
    PRIMITIVES[_name] = replace(PRIMITIVES[_name], with_keywords=_variant, keywords=AXIS_KEYWORDS)
for _name, _variant in (("max", "amax"), ("min", "amin")):
    PRIMITIVES[_name] = replace(PRIMITIVES[_name], one_argument=_variant, keywords=AXIS_KEYWORDS)


def _bce_one(p: Array, t: Array) -> Array:
    pc = np.clip(p, BCE_EPS, 1.0 - BCE_EPS)
    return -(t * np.log(pc) + (1.0 - t) * np.log1p(-pc))


def _bce_logits_one(z: Array, t: Array) -> Array:
    linear = np.where(z > 0, _xmul(z, 1.0 - t), _xmul(-z, t))
    return linear + np.log1p(np.exp(-np.abs(z)))


# The value of each reduction on one element (see Primitive.one_element).
for _name, _one in (
    ("sum", lambda x: np.asarray(x, dtype=np.float64)),
    ("mean", lambda x: np.asarray(x, dtype=np.float64)),
    ("prod", lambda x: np.asarray(x, dtype=np.float64)),
    ("logsumexp", lambda x: np.asarray(x, dtype=np.float64)),
    ("norm", np.abs),
    ("dot", np.multiply),
    ("bce", _bce_one),
    ("bce_with_logits", _bce_logits_one),
    ("mse", lambda a, b: np.square(np.subtract(a, b))),
    ("size", lambda x: np.ones_like(x, dtype=np.float64)),
):
    PRIMITIVES[_name] = replace(PRIMITIVES[_name], one_element=_one)
    # Its element-wise twin `NAME_of_one` (what `--at` runs rows of single numbers through):
    # the value on one element and the rules at n = 1 (the product of the others of one
    # element is 1, and so is the softmax of one).
    _prim = PRIMITIVES[_name]
    PRIMITIVES[f"{_name}_of_one"] = replace(
        _prim,
        name=f"{_name}_of_one",
        fn=_one,
        partials=tuple(
            re.sub(r"\bn\b", "1", text).replace("prod_others(x, g)", "g").replace("softmax_all(x)", "1")
            for text in _prim.partials
        ),
        kind="elementwise",
        combine=None,
        display=(),
        one_element=None,
        public=False,
        scalar=None,
        with_keywords=None,
        keywords=(),
    )


def resolve(name: str, count: int, keywords: tuple[str, ...]) -> Primitive | None:
    """The entry a call goes to: max(x) is amax, sum(x, axis=0) is sum_axis (None: unknown)."""
    prim = lookup(name)
    if prim is None:
        return None
    if count == 1 and prim.one_argument is not None:
        prim = PRIMITIVES[prim.one_argument]
    if keywords and prim.with_keywords is not None:
        prim = PRIMITIVES[prim.with_keywords]
    return prim
