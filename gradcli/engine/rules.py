"""Derivative rules of the primitive table, compiled to numpy closures.

A rule is text in gradcli's language over the primitive's parameters, `out` (its value), `n`
(elements reduced) and, in linear form, `g`: what the rule is applied to (the adjoint in
reverse mode, a tangent in forward mode). A rule without `g` is a partial derivative P and is
applied as g·P; a rule with `g` states the product itself, for the few functions where g·P
would overflow on the way (log's `g / x`: `g * (1/x)` is inf at a subnormal x). Each rule is
parsed once per process, when first needed, into a small tree of closures.

Structural zeros select, they do not multiply. Where a rule is zero by its form (a `0`, a
comparison that is false, the untaken branch of a `where`, `prod_others` of an input with
a zero elsewhere), the applied rule is exactly 0 even when g is inf or NaN, as PyTorch's
`where` / `masked_fill` do: `sqrt(relu(x))` at x = -1 has gradient 0. The compiler derives,
from the rule's form, a mask of the positions that are not structurally zero (`_mask`), and
`apply` selects with it. The same mask serves reverse mode, forward mode, the blocked
evaluator and explain, which all apply rules through `apply`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from gradcli.arrays import Array, broadcast_shape
from gradcli.lang.ast import Call, Name, Node, Num
from gradcli.lang.parser import parse_rule
from gradcli.primitives import CONSTANTS, PRIMITIVES, Primitive

# A compiled expression: (argument values, the node's value, element count, g) -> value.
Rule = Callable[[Sequence[Array], Array, int, Array], Array]
# A compiled mask: the same arguments -> True where the rule is not structurally zero.
# ZERO: zero everywhere by form; ANY: nowhere structurally zero (no selection needed).
Mask = Callable[[Sequence[Array], Array, int, Array], Array]
ZERO, ANY = "zero", "any"
MaskForm = Mask | str

UPSTREAM = "g"  # the name a linear-form rule applies to


# Inside a compiled rule, each step reads one environment per evaluation: [argument values,
# the node's value, element count, g, memo]. The memo holds the subexpressions that occur
# more than once in the rule (pow's `a**(b - 1)` in its test and its branch): each is
# computed once per evaluation.
Env = list[Any]
Step = Callable[[Env], Array]


def _compile(node: Node, params: tuple[str, ...]) -> Rule:
    root = _step(node, params, _repeated(node))
    return lambda args, out, n, g: root([args, out, n, g, {}])


def _key(node: Node) -> str:
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Name):
        return node.id
    assert isinstance(node, Call), node
    return f"{node.func}({','.join(_key(a) for a in node.args)})"


def _repeated(node: Node) -> set[str]:
    """The keys of the calls that occur more than once in the rule."""
    seen: set[str] = set()
    twice: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Call):
            key = _key(item)
            (twice if key in seen else seen).add(key)
            stack.extend(item.args)
    return twice


def _step(node: Node, params: tuple[str, ...], repeated: set[str]) -> Step:
    if isinstance(node, Num):
        number = np.float64(node.value)
        return lambda env: number
    if isinstance(node, Name):
        return _name(node.id, params)
    assert isinstance(node, Call), node
    if node.func == "where":
        cond = _condition(node.args[0], params, repeated)
        step = _where(cond, *(_step(a, params, repeated) for a in node.args[1:]))
    else:
        step = _apply(PRIMITIVES[node.func].fn, [_step(a, params, repeated) for a in node.args])
    key = _key(node)
    if key not in repeated:
        return step

    def remembered(env: Env) -> Array:
        memo = env[4]
        if key not in memo:
            memo[key] = step(env)
        return memo[key]

    return remembered


def _apply(fn: Callable[..., Array], subs: list[Step]) -> Step:
    if len(subs) == 1:
        (s0,) = subs
        return lambda env: fn(s0(env))
    if len(subs) == 2:
        s0, s1 = subs
        return lambda env: fn(s0(env), s1(env))
    return lambda env: fn(*(s(env) for s in subs))


def _name(name: str, params: tuple[str, ...]) -> Step:
    if name == "out":
        return lambda env: env[1]
    if name == "n":
        return lambda env: np.float64(env[2])
    if name == UPSTREAM:
        return lambda env: env[3]
    if name in CONSTANTS:
        const = np.float64(CONSTANTS[name])
        return lambda env: const
    i = params.index(name)
    return lambda env: env[0][i]


def _condition(node: Node, params: tuple[str, ...], repeated: set[str]) -> Step:
    """A `where` condition as booleans: 0/1 tests as they are (no floats made of them), a
    sum of tests as `or`, a product as `and`; anything else compared with 0."""
    if isinstance(node, Call):
        prim = PRIMITIVES[node.func]
        if prim.truth is not None:
            return _apply(prim.truth, [_step(a, params, repeated) for a in node.args])
        joined = {"add": np.logical_or, "mul": np.logical_and}.get(node.func)
        if joined is not None:
            return _apply(joined, [_condition(a, params, repeated) for a in node.args])
    value = _step(node, params, repeated)
    return lambda env: np.not_equal(value(env), 0)


def _where(c: Step, then: Step, other: Step) -> Step:
    """Decide the condition before evaluating the branches: where it is the same everywhere
    (a scalar, or the usual case of an array: pow's fallback is for overflow only), only one
    branch is computed."""

    def where(env: Env) -> Array:
        chosen = c(env)
        if np.ndim(chosen) == 0:
            return then(env) if chosen else other(env)
        if chosen.all():
            value = then(env)
        elif not chosen.any():
            value = other(env)
        else:
            return np.where(chosen, then(env), other(env))
        return np.broadcast_to(value, broadcast_shape(chosen.shape, np.shape(value)))

    return where


# --------------------------------------------------------------------------
# Structural zeros, from the form of a rule.


def _mask(node: Node, params: tuple[str, ...]) -> MaskForm:
    """Where the expression is not zero by its form: ZERO, ANY, or a compiled mask."""
    if isinstance(node, Num):
        return ZERO if node.value == 0 else ANY
    if not isinstance(node, Call):
        return ANY
    prim = PRIMITIVES[node.func]
    if prim.structural_zeros is not None:  # comparisons, prod_others: the table says where
        return _structural(node, params, prim)
    parts = [_mask(a, params) for a in node.args]
    if node.func in ("mul",):
        return _both(*parts)
    if node.func in ("div", "neg"):
        return parts[0]
    if node.func in ("add", "sub", "max", "min"):
        return _either(*parts)
    if node.func == "where":
        return _select(_compile(node.args[0], params), parts[1], parts[2])
    return ANY


def _structural(node: Call, params: tuple[str, ...], prim: Primitive) -> Mask:
    subs = [_compile(a, params) for a in node.args]
    zeros = prim.structural_zeros
    assert zeros is not None
    return lambda args, out, n, g: ~zeros(*(s(args, out, n, g) for s in subs))


def _both(a: MaskForm, b: MaskForm) -> MaskForm:
    if ZERO in (a, b):
        return ZERO
    if a == ANY:
        return b
    if b == ANY:
        return a
    assert callable(a) and callable(b)
    return lambda args, out, n, g: a(args, out, n, g) & b(args, out, n, g)


def _either(a: MaskForm, b: MaskForm) -> MaskForm:
    if ANY in (a, b):
        return ANY
    if a == ZERO:
        return b
    if b == ZERO:
        return a
    assert callable(a) and callable(b)
    return lambda args, out, n, g: a(args, out, n, g) | b(args, out, n, g)


def _select(cond: Rule, a: MaskForm, b: MaskForm) -> MaskForm:
    if a == b and isinstance(a, str):
        return a

    def form(m: MaskForm, args: Sequence[Array], out: Array, n: int, g: Array) -> Array:
        if isinstance(m, str):
            return np.bool_(m == ANY)
        return m(args, out, n, g)

    return lambda args, out, n, g: np.where(
        cond(args, out, n, g) != 0, form(a, args, out, n, g), form(b, args, out, n, g)
    )


# --------------------------------------------------------------------------
# The compiled rules of the table.


@dataclass(frozen=True)
class CompiledRule:
    """Partial k of a primitive, ready to evaluate (`partial`) and to apply (`apply`)."""

    expression: Rule
    mask: MaskForm
    linear: bool  # written with g
    one: bool = False  # the rule is 1 (add, sub's first argument): g passes through as it is
    # The rule is one 0/1 test (relu's [x > 0]): its booleans, to pick g in one pass.
    indicator: Rule | None = None

    @property
    def zero(self) -> bool:
        """Zero everywhere by its form: nothing flows along this edge."""
        return self.mask == ZERO

    def partial(self, args: Sequence[Array], out: Array, n: int) -> Array:
        """∂out/∂arg at the point (a linear-form rule at g = 1)."""
        one = np.float64(1.0)
        value = self.expression(args, out, n, one)
        return value if self.linear else self._select(value, args, out, n, one)

    def apply(
        self, g: Array, args: Sequence[Array], out: Array, n: int, live: Array | None = None
    ) -> tuple[Array, Array | None]:
        """g·P (the product, before any summing over broadcast axes), and where it is live.

        `live` says where g itself is not structurally zero (None: everywhere). The product
        is exactly 0 wherever the rule or g is structurally zero, whatever the other factor
        (inf, NaN); the returned mask says where it is live (None: everywhere)."""
        if self.one and self.mask == ANY:
            # g itself: where g is a structural zero its value is already exactly 0
            return g, live
        if self.indicator is not None and not self.linear:
            test = self.indicator(args, out, n, g)
            value = np.where(test, g, 0.0)  # the selection itself: inf or NaN not picked is 0
            keep = test if live is None else test & live
            return value[()], np.broadcast_to(keep, np.shape(value))
        value = self.expression(args, out, n, g) if self.linear else g * self.expression(args, out, n, g)
        if self.mask == ZERO:
            return np.zeros(np.shape(value))[()], np.zeros(np.shape(value), dtype=bool)
        keep = live if self.mask == ANY else self._keep(args, out, n, g, live)
        if keep is None:
            return value, None
        selected = _select_into(value, keep, g)
        return selected[()], np.broadcast_to(keep, selected.shape)

    def live(self, args: Sequence[Array], out: Array, n: int) -> Array | None:
        """Where the rule is not zero by its form (None: everywhere)."""
        if self.mask == ANY:
            return None
        if self.mask == ZERO:
            return np.bool_(False)
        assert callable(self.mask)
        return self.mask(args, out, n, np.float64(1.0))

    def _keep(self, args: Sequence[Array], out: Array, n: int, g: Array, live: Array | None) -> Array:
        assert callable(self.mask)
        keep = self.mask(args, out, n, g)
        return keep if live is None else keep & live

    def _select(self, value: Array, args: Sequence[Array], out: Array, n: int, g: Array) -> Array:
        if self.mask == ANY:
            return value
        if self.mask == ZERO:
            return np.zeros(np.shape(value))[()]
        assert callable(self.mask)
        return np.where(self.mask(args, out, n, g), value, 0.0)[()]


def _fits(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    """`small` broadcasts to `big` (without numpy's 32-dimension limit on shape helpers)."""
    return len(small) <= len(big) and all(
        s in (1, b) for s, b in zip(reversed(small), reversed(big), strict=False)
    )


def _select_into(value: Array, keep: Array, g: Array) -> Array:
    """`np.where(keep, value, 0.0)`, written into `value` itself when it is a fresh array of
    the full shape (a product the rule just made, not g): a forward-mode tangent is
    directions x elements, and a second array of that size costs more than the product."""
    if (
        isinstance(value, np.ndarray)
        and value.flags.writeable
        and value.flags.owndata
        and _fits(np.shape(keep), value.shape)
        and not np.may_share_memory(value, g)
    ):
        # Where keep is False the product is g·P with g or P a structural zero: exactly ±0
        # while both factors are finite. So adding 0.0 (-0 becomes 0) is the selection, in
        # one fast pass; the masked copy, several times slower, runs only where an inf or a
        # NaN may have met a structural zero (the sum says whether the product has one).
        np.add(value, 0.0, out=value)
        if not np.isfinite(np.sum(value)):
            np.copyto(value, 0.0, where=np.logical_not(keep))
        return value
    return np.where(keep, value, 0.0)


# --------------------------------------------------------------------------
# The same rules on Python floats (gradcli/engine/scalar.py): each call through its
# primitive's `scalar` form. A rule that calls a primitive without one has no float form.

FloatRule = Callable[[Sequence[float], float, float], float]  # (args, out, g) -> value


def _compile_float(node: Node, params: tuple[str, ...]) -> FloatRule | None:
    if isinstance(node, Num):
        number = float(node.value)
        return lambda args, out, g: number
    if isinstance(node, Name):
        return _float_name(node.id, params)
    assert isinstance(node, Call), node
    subs = [_compile_float(a, params) for a in node.args]
    parts = [s for s in subs if s is not None]
    fn = PRIMITIVES[node.func].scalar
    if len(parts) < len(subs) or (fn is None and node.func != "where"):
        return None
    if node.func == "where":
        c, then, other = parts
        return lambda args, out, g: then(args, out, g) if c(args, out, g) != 0 else other(args, out, g)
    assert fn is not None
    f = fn
    if len(parts) == 1:
        (only,) = parts
        return lambda args, out, g: f(only(args, out, g))
    if len(parts) == 2:
        left, right = parts
        return lambda args, out, g: f(left(args, out, g), right(args, out, g))
    return lambda args, out, g: f(*(s(args, out, g) for s in parts))


def _float_name(name: str, params: tuple[str, ...]) -> FloatRule:
    if name == "out":
        return lambda args, out, g: out
    if name == UPSTREAM:
        return lambda args, out, g: g
    if name == "n":
        return lambda args, out, g: 1.0  # one element: the float path runs element-wise ops only
    if name in CONSTANTS:
        const = CONSTANTS[name]
        return lambda args, out, g: const
    i = params.index(name)
    return lambda args, out, g: args[i]


@dataclass(frozen=True)
class FloatPartial:
    """Partial k of a primitive on Python floats: `apply` gives g·P (or the linear form's
    value), `partial` P itself (g = 1); `zero` when nothing flows along this edge."""

    expression: FloatRule
    linear: bool
    zero: bool

    def apply(self, g: float, args: Sequence[float], out: float) -> float:
        if self.linear:
            return self.expression(args, out, g)
        return g * self.expression(args, out, g)

    def partial(self, args: Sequence[float], out: float) -> float:
        return self.expression(args, out, 1.0)


@cache
def float_rules(name: str) -> tuple[FloatPartial, ...] | None:
    """The partials of `name` on floats, or None when one of them has no float form."""
    prim = PRIMITIVES[name]
    if prim.scalar is None:
        return None
    out: list[FloatPartial] = []
    for text in prim.partials:
        node = parse_rule(text)
        expression = _compile_float(node, prim.params)
        if expression is None:
            return None
        out.append(FloatPartial(expression, mentions(node, UPSTREAM), _mask(node, prim.params) == ZERO))
    return tuple(out)


def mentions(node: Node, name: str) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Name) and item.id == name:
            return True
        if isinstance(item, Call):
            stack.extend(item.args)
    return False


def compile_rule(text: str, params: tuple[str, ...]) -> CompiledRule:
    node = parse_rule(text)
    one = isinstance(node, Num) and node.value == 1.0
    indicator = None
    if isinstance(node, Call) and PRIMITIVES[node.func].truth is not None:
        test = _condition(node, params, set())
        indicator = lambda args, out, n, g: test([args, out, n, g, {}])  # noqa: E731
    linear = mentions(node, UPSTREAM)
    return CompiledRule(_compile(node, params), _mask(node, params), linear, one, indicator)


@cache
def rules(name: str) -> tuple[CompiledRule, ...]:
    prim = PRIMITIVES[name]
    return tuple(compile_rule(text, prim.params) for text in prim.partials)


@cache
def kink_rule(name: str) -> Rule | None:
    """The table's kink expression of `name`: non-zero where the point sits on a kink."""
    prim = PRIMITIVES[name]
    return None if prim.kink is None else _compile(parse_rule(prim.kink), prim.params)


def kinks(
    prim: Primitive, args: Sequence[Array], out: Array, n: int, params: Mapping[str, object] | None = None
) -> Array | None:
    """Where op's point is on a kink (non-zero there), or None: the table's `kink` expression,
    or a structured primitive's own test (with the op's static `params`)."""
    if prim.derivatives is not None:
        test = prim.derivatives.kink
        return None if test is None else test(list(args), out, **(params or {}))
    rule = kink_rule(prim.name)
    return None if rule is None else rule(args, out, n, np.float64(1.0))


def partial(prim: Primitive, k: int, args: Sequence[Array], out: Array, n: int) -> Array:
    """d out / d args[k], evaluated (broadcastable to the op's element shape)."""
    return rules(prim.name)[k].partial(args, out, n)


def apply(
    prim: Primitive, k: int, g: Array, args: Sequence[Array], out: Array, n: int, live: Array | None = None
) -> tuple[Array, Array | None]:
    """g through partial k (the reverse-mode product, or the forward-mode one with g a
    tangent), and where the result is live (see CompiledRule.apply)."""
    return rules(prim.name)[k].apply(g, args, out, n, live)


@cache
def uses(name: str, k: int) -> frozenset[str]:
    """The names partial k of `name` reads: parameters and `out` (to know which values to keep)."""
    found: set[str] = set()
    stack: list[Node] = [parse_rule(PRIMITIVES[name].partials[k])]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            found.add(node.id)
        elif isinstance(node, Call):
            stack.extend(node.args)
    return frozenset(found)


def forget() -> None:
    """Drop the compiled rules (a test that edits the table compiles them again)."""
    for cached in (rules, float_rules, kink_rule, uses):
        cached.cache_clear()
