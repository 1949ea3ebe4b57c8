"""Programs of single numbers on Python floats: the fast path of both modes.

A program whose inputs are all single numbers and whose operations are all element-wise
(a long formula, a sum of 100,000 products, a chain of 50,000 functions) spends most of its
time in numpy's fixed cost per call on a 0-d value. Here values, adjoints and tangents are
Python floats, every primitive runs through its table entry's `scalar` form and every
derivative rule through its float form (gradcli/engine/rules.py): the same rules, the same
arithmetic, a tenth of the cost.

The path is optimistic. It gives up (returns None), and the caller runs the general
evaluators, as soon as a number leaves the ground where plain float arithmetic gives what
the general path gives: an operation or rule with no float form (reductions, vector
literals), a value that is not finite (domain errors: the general path names them), a
product of the backward or forward sweep outside [2**-300, 2**300] (the general path keeps
those exact beyond float64's range, gradcli/engine/scaling.py) or one that underflowed to 0.
Inside that ground, structural zeros need no masks: a zero partial times a finite number is
exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

from gradcli.arrays import Array
from gradcli.engine.graph import Graph
from gradcli.engine.rules import FloatPartial, float_rules
from gradcli.engine.scaling import HIGH, LOW
from gradcli.limits import LIMITS

MAX_DIRECTIONS = 8  # forward mode on floats carries one tangent per input it differentiates


def inputs_of(values: Mapping[str, Array]) -> dict[str, float] | None:
    """The inputs as floats, when every one is a single number."""
    out: dict[str, float] = {}
    for name, v in values.items():
        if isinstance(v, float):  # np.float64 too
            out[name] = float(v)
        else:
            return None
    return out


def values(graph: Graph, inputs: Mapping[str, float]) -> list[float] | None:
    """Every op's value, or None when the program leaves the float path."""
    ops = graph.ops
    vals = [0.0] * len(ops)
    try:
        for i, op in enumerate(ops):
            prim = op.prim
            if prim is None:
                vals[i] = inputs[op.input] if op.input is not None else float(op.const or 0.0)
                continue
            fn = prim.scalar
            if fn is None:
                return None
            args = op.args
            if len(args) == 1:
                v = fn(vals[args[0]])
            elif len(args) == 2:
                v = fn(vals[args[0]], vals[args[1]])
            else:
                v = fn(*[vals[a] for a in args])
            if v - v != 0:  # inf or NaN
                return None
            vals[i] = v
    except (ArithmeticError, ValueError):  # math's domain errors and overflows
        return None
    if not all(math.isfinite(v) for v in inputs.values()):
        return None
    return vals


class _OffPath(Exception):
    """A number left the ground where floats give what the general path gives."""


def _check(c: float, g: float, rule: FloatPartial, args: Sequence[float], out: float) -> None:
    """Go on only if the product c = rule applied to g is what the general path gives: inside
    the band, or an exact 0 (g or the partial is 0, not an underflow)."""
    if LOW <= abs(c) <= HIGH:
        return
    if c != 0 or (g != 0 and rule.partial(args, out) != 0):  # outside the band, an underflow
        raise _OffPath


def backward(
    graph: Graph, vals: Sequence[float], wrt: Collection[str], *, absolute: bool = False, seed: float = 1.0
) -> dict[str, float] | None:
    """Reverse mode on floats: the gradient with respect to `wrt`, or None (see the module).
    With `absolute`, the sum of the magnitudes of the chain rule's terms instead, seeded with
    `seed` (gradcli.engine.reverse.magnitudes, on floats)."""
    need = graph.requires_grad(wrt)
    ops = graph.ops
    adj: list[float | None] = [None] * len(ops)
    adj[graph.output] = seed
    table: dict[str, tuple[FloatPartial, ...] | None] = {}
    try:
        for i in range(len(ops) - 1, -1, -1):
            g = adj[i]
            op = ops[i]
            if g is None or not need[i] or op.prim is None:
                continue
            name = op.prim.name
            rules = table[name] if name in table else table.setdefault(name, float_rules(name))
            if rules is None:
                return None
            args = [vals[a] for a in op.args]
            out = vals[i]
            for k, a in enumerate(op.args):
                rule = rules[k]
                if not need[a] or rule.zero:
                    continue
                c = rule.apply(g, args, out)
                if not LOW <= abs(c) <= HIGH:
                    _check(c, g, rule, args, out)
                if absolute:
                    c = abs(c)
                have = adj[a]
                adj[a] = c if have is None else have + c
    except (ArithmeticError, ValueError, _OffPath):
        return None
    return {name: _or_zero(adj[graph.inputs[name]]) for name in wrt}


def forward(graph: Graph, vals: Sequence[float], wrt: Collection[str]) -> dict[str, float] | None:
    """Forward mode on floats, one tangent per input of `wrt` (at most MAX_DIRECTIONS), or None."""
    names = list(wrt)
    if len(names) > MAX_DIRECTIONS or len(names) * len(graph.ops) > LIMITS.max_forward_work:
        return None  # the general path: it chunks many directions, and says when it will not
    need = graph.requires_grad(names)
    ops = graph.ops
    tangents: list[list[float] | None] = [None] * len(ops)
    for j, name in enumerate(names):
        seed = [0.0] * len(names)
        seed[j] = 1.0
        tangents[graph.inputs[name]] = seed
    try:
        for i, op in enumerate(ops):
            if not need[i] or op.prim is None:
                continue
            rules = float_rules(op.prim.name)
            if rules is None:
                return None
            tangents[i] = _tangent(rules, [vals[a] for a in op.args], vals[i], [tangents[a] for a in op.args])
    except (ArithmeticError, ValueError, _OffPath):
        return None
    result = tangents[graph.output]
    return {name: 0.0 if result is None else result[j] for j, name in enumerate(names)}


def _tangent(
    rules: Sequence[FloatPartial], args: list[float], out: float, incoming: list[list[float] | None]
) -> list[float] | None:
    """An op's tangent from its arguments' (None: none flows)."""
    total: list[float] | None = None
    for k, t in enumerate(incoming):
        rule = rules[k]
        if t is None or rule.zero:
            continue
        terms = []
        for g in t:
            c = rule.apply(g, args, out)
            if not LOW <= abs(c) <= HIGH:
                _check(c, g, rule, args, out)
            terms.append(c)
        total = terms if total is None else [a + b for a, b in zip(total, terms, strict=True)]
    return total


def _or_zero(g: float | None) -> float:
    """An input's adjoint, 0 when nothing reached it (not `g or 0.0`: -0.0 keeps its sign)."""
    return 0.0 if g is None else g
