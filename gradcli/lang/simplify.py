"""Derivative rules simplified at a point, for the explain tables.

A rule from the primitive table is general: `bce`'s ∂/∂p is
`where(ge(p, 1e-8)*le(p, 1 - 1e-8), (p - t)/(p*(1 - p)), 0)/n`. At a given point
most of that is decided: the condition of the `where` is known, `n` is a number,
arguments that are literals in the program are numbers. `simplify` folds what is
decided and keeps the rest, so the table shows `(p - y)/(p*(1 - p))`.

Only exact rewrites: a `where` whose condition has one truth value at the point,
operators whose operands are all literals and whose result is a whole number
(`2 - 1`, `[2 = 0]`), and the identities `x*1`, `1*x`, `x/1`, `x**1`, `x + 0`,
`0 + x`, `x - 0`, `--x` (all exact in floating point). Rules are short, so plain
recursion is fine here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcli.lang.ast import Call, Name, Node, Num
from gradcli.primitives import CONSTANTS, PRIMITIVES

Array = Any


def literal(value: float) -> Node:
    """A literal for `value`: whole numbers without '.0', others in shortest round-trip form."""
    if value < 0:
        return Call("neg", (literal(-value),))
    text = str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
    return Num(float(value), text)


class _Unknown(Exception):
    """A name without a value at the point: the expression cannot be decided."""


def _value(node: Node, values: Mapping[str, Array]) -> Array:
    if isinstance(node, Num):
        return np.float64(node.value)
    if isinstance(node, Name):
        if node.id in values:
            return values[node.id]
        if node.id in CONSTANTS:
            return np.float64(CONSTANTS[node.id])
        raise _Unknown(node.id)
    if not isinstance(node, Call):
        raise _Unknown("vector")
    return PRIMITIVES[node.func].fn(*(_value(a, values) for a in node.args))


def truth(node: Node, values: Mapping[str, Array]) -> bool | None:
    """True/False when `node` is non-zero everywhere / zero everywhere at the point, else None."""
    try:
        with np.errstate(all="ignore"):
            v = np.asarray(_value(node, values)) != 0
    except _Unknown:
        return None
    if v.size == 0:
        return None
    if bool(np.all(v)):
        return True
    if not bool(np.any(v)):
        return False
    return None


def _is(node: Node, value: float) -> bool:
    return isinstance(node, Num) and node.value == value


def simplify(
    node: Node, literals: Mapping[str, float] | None = None, values: Mapping[str, Array] | None = None
) -> Node:
    """`node` with the names in `literals` replaced by numbers and what is decided folded.

    `values` gives the value at the point of every name (parameters, `out`, `n`),
    used to decide the conditions of `where`.
    """
    return _simplify(node, literals or {}, values or {})


def _simplify(node: Node, literals: Mapping[str, float], values: Mapping[str, Array]) -> Node:
    if isinstance(node, Name):
        return literal(literals[node.id]) if node.id in literals else node
    if not isinstance(node, Call):
        return node
    args = tuple(_simplify(a, literals, values) for a in node.args)
    if node.func == "where":
        cond, then, other = args
        decided = truth(cond, {**values, **literals})
        if decided is not None:
            return then if decided else other
        return Call(node.func, args)
    return _fold(node.func, args) or _identity(node.func, args) or Call(node.func, args)


def _fold(func: str, args: tuple[Node, ...]) -> Node | None:
    """Literal operands of a foldable operator, when the result is a whole number."""
    prim = PRIMITIVES[func]
    if not prim.foldable or not all(isinstance(a, Num) for a in args):
        return None
    with np.errstate(all="ignore"):
        v = float(prim.fn(*(np.float64(a.value) for a in args if isinstance(a, Num))))
    return literal(v) if np.isfinite(v) and v.is_integer() and abs(v) < 1e15 else None


def _identity(func: str, args: tuple[Node, ...]) -> Node | None:
    """`x*1`, `1*x`, `x + 0`, ... (the table's identity elements), and `--x`: the operand."""
    if func == "neg" and isinstance(args[0], Call) and args[0].func == "neg":
        return args[0].args[0]
    if len(args) != 2:
        return None
    if func == "mul":  # -1*x and x*-1: -x
        for one, other in ((args[0], args[1]), (args[1], args[0])):
            if isinstance(one, Call) and one.func == "neg" and _is(one.args[0], 1):
                return Call("neg", (other,))
    left, right = PRIMITIVES[func].identities
    a, b = args
    if right is not None and _is(b, right):
        return a
    if left is not None and _is(a, left):
        return b
    return None
