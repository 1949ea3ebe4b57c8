"""f and df/dx over a range of one input, for `gradcli plot`: exact derivatives, every point in
one vectorized pass when the program is element-wise in that input (else one pass per point),
the tangent at a point, and where the curve has kinks.

Kinks are found from the table: each function with a kink expression `eq(a, b)` (relu at 0,
abs at 0, a tie of max) has one where a - b changes sign between two neighbouring points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.api import Compiled
from gradcli.engine.graph import Graph, Through
from gradcli.engine.rules import Rule, _compile
from gradcli.engine.values import bind, forward_values
from gradcli.errors import BindingError
from gradcli.lang.ast import Call, Node
from gradcli.lang.parser import parse_rule
from gradcli.limits import LIMITS

Array = Any
MAX_POINTS = 100_000


@dataclass
class Curve:
    input: str
    x: np.ndarray
    f: np.ndarray
    df: np.ndarray
    at: float
    value_at: float
    slope: float
    kinks: list[tuple[float, str]] = field(default_factory=list)  # (x, function)
    vectorized: bool = True
    warnings: list[str] = field(default_factory=list)


def _elementwise_in(graph: Graph, name: str) -> bool:
    """Whether every op that depends on `name` is element-wise (so f'(x_i) is the gradient of
    sum(f(x)) at element i), with the output depending on it."""
    dep = graph.reaches([graph.inputs[name]], Through.VALUE)
    for i, op in enumerate(graph.ops):
        if dep[i] and op.prim is not None and op.prim.kind not in ("elementwise",):
            return False
    return True


def sample(
    program: str,
    bindings: Mapping[str, Any],
    name: str,
    lo: float,
    hi: float,
    points: int = 2000,
    at: float | None = None,
) -> Curve:
    if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
        raise BindingError(f"the range of '{name}' must be two finite numbers a < b, got {lo:g}..{hi:g}")
    if at is not None and not np.isfinite(at):
        raise BindingError(f"--at must be a finite number, got {at:g}")
    if not 2 <= points <= MAX_POINTS:
        raise BindingError(f"--points must be from 2 to {MAX_POINTS:,}, got {points:,}")
    compiled = Compiled(program)
    graph = compiled.graph
    if name not in graph.inputs:
        raise BindingError(
            f"'{name}' is not an input of the program", hint="plot one of: " + ", ".join(graph.inputs)
        )
    others = {k: v for k, v in bindings.items() if k != name}
    for k, v in others.items():
        if np.ndim(v) != 0 and k in graph.inputs:
            raise BindingError(f"'{k}' is an array: plot draws single-number programs of one input")
    xs = np.linspace(lo, hi, points)
    x0 = float((lo + hi) / 2 if at is None else at)
    curve = Curve(name, xs, np.empty(points), np.empty(points), x0, 0.0, 0.0)
    with np.errstate(all="ignore"):
        point = compiled.grad({**others, name: x0}, wrt=[name])
        curve.value_at, curve.slope = float(point.value), float(point.gradient[name])
        if _elementwise_in(graph, name):
            r = compiled.grad({**others, name: xs}, wrt=[name])
            curve.f = np.broadcast_to(np.asarray(r.value, dtype=np.float64), xs.shape).copy()
            curve.df = np.broadcast_to(np.asarray(r.gradient[name], dtype=np.float64), xs.shape).copy()
        else:  # a reduction or a matrix step in the way: one pass per point
            curve.vectorized = False
            for j, x in enumerate(xs):
                r = compiled.grad({**others, name: float(x)}, wrt=[name])
                curve.f[j], curve.df[j] = float(r.value), float(r.gradient[name])
        curve.kinks = _kinks(graph, {**others, name: xs})
    return curve


def _kink_terms(node: Node) -> list[tuple[Node, Node]]:
    """The `eq(a, b)` tests of a kink expression."""
    out: list[tuple[Node, Node]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Call):
            if item.func == "eq":
                out.append((item.args[0], item.args[1]))
            else:
                stack.extend(item.args)
    return out


def _kinks(graph: Graph, bindings: Mapping[str, Any]) -> list[tuple[float, str]]:
    """Where a - b of a kink's `eq(a, b)` changes sign between neighbouring points."""
    try:
        inputs, _ = bind(graph, bindings)
        vals, counts = forward_values(graph, inputs)
    except Exception:  # the per-point path: no vectorized values to look at
        return []
    xs = np.asarray(bindings[next(n for n in bindings if np.ndim(bindings[n]))])
    found: dict[float, str] = {}
    for i, op in enumerate(graph.ops):
        prim = op.prim
        if prim is None or prim.kink is None or np.shape(vals[i]) != xs.shape:
            continue
        for a, b in _kink_terms(parse_rule(prim.kink)):
            diff: Rule = _compile(Call("sub", (a, b)), prim.params)
            with np.errstate(all="ignore"):
                d = np.broadcast_to(
                    np.asarray(
                        diff([vals[j] for j in op.args], vals[i], counts[i], np.float64(1.0)),
                        dtype=np.float64,
                    ),
                    xs.shape,
                )
            s = np.sign(d)
            for k in np.flatnonzero((s[:-1] * s[1:] < 0) | ((s[:-1] == 0) & (s[1:] != 0))):
                # linear interpolation of the zero of a - b between the two points
                x = xs[k] if s[k] == 0 else xs[k] + (xs[k + 1] - xs[k]) * d[k] / (d[k] - d[k + 1])
                found.setdefault(round(float(x), 12), prim.name)
            if len(found) > LIMITS.max_explain_paths:
                break
    return sorted(found.items())
