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
- "constant": only constant arguments (linspace, arange): no gradient flows.

Conventions at kinks follow PyTorch (see `convention`), and `kink` is an
expression that is non-zero where a point sits on a kink, so `check` can tell
when a finite difference is not a fair judge.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gradcli import numerics
from gradcli.errors import ShapeError
from gradcli.limits import LIMITS, exceeded

Array = Any  # numpy float64 scalar or ndarray
Kind = Literal["elementwise", "reduce", "vector", "constant"]

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


E: Kind = "elementwise"
R: Kind = "reduce"

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
        domain="a > 0, or a whole-number b",
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
        ("0", "1 - eq(c, 0)", "eq(c, 0)"),
        "a where c != 0 else b",
        public=False,
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
