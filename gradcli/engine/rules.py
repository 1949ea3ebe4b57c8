"""Derivative rules of the primitive table, compiled to numpy closures.

A rule is text in gradcli's language over the primitive's parameters, `out`
(its value) and `n` (elements reduced). It is parsed once per process, when a
primitive's derivative is first needed, into a small tree of closures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from gradcli.lang.ast import Call, Name, Node, Num
from gradcli.lang.parser import parse_rule
from gradcli.primitives import CONSTANTS, PRIMITIVES, Primitive

Array = Any
# A compiled rule: (argument values, the node's value, element count) -> partial.
Rule = Callable[[Sequence[Array], Array, int], Array]


def _compile(node: Node, params: tuple[str, ...]) -> Rule:
    if isinstance(node, Num):
        number = np.float64(node.value)
        return lambda args, out, n: number
    if isinstance(node, Name):
        if node.id == "out":
            return lambda args, out, n: out
        if node.id == "n":
            return lambda args, out, n: np.float64(n)
        if node.id in CONSTANTS:
            const = np.float64(CONSTANTS[node.id])
            return lambda args, out, n: const
        i = params.index(node.id)
        return lambda args, out, n: args[i]
    assert isinstance(node, Call), node
    subs = [_compile(a, params) for a in node.args]
    if node.func == "where":
        # Decide a scalar condition before evaluating the branches: only one is computed.
        c, then, other = subs

        def where(args: Sequence[Array], out: Array, n: int) -> Array:
            cond = c(args, out, n)
            if np.ndim(cond) == 0:
                return then(args, out, n) if cond else other(args, out, n)
            return np.where(cond != 0, then(args, out, n), other(args, out, n))

        return where
    fn = PRIMITIVES[node.func].fn
    if len(subs) == 1:
        (s0,) = subs
        return lambda args, out, n: fn(s0(args, out, n))
    if len(subs) == 2:
        s0, s1 = subs
        return lambda args, out, n: fn(s0(args, out, n), s1(args, out, n))
    return lambda args, out, n: fn(*(s(args, out, n) for s in subs))


@cache
def rules(name: str) -> tuple[Rule, ...]:
    prim = PRIMITIVES[name]
    return tuple(_compile(parse_rule(text), prim.params) for text in prim.partials)


@cache
def kink_rule(name: str) -> Rule | None:
    prim = PRIMITIVES[name]
    return None if prim.kink is None else _compile(parse_rule(prim.kink), prim.params)


def partial(prim: Primitive, k: int, args: Sequence[Array], out: Array, n: int) -> Array:
    """d out / d args[k], evaluated (broadcastable to the op's element shape)."""
    return rules(prim.name)[k](args, out, n)


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
