"""Reverse mode (backpropagation): one recorded forward sweep, one backward sweep.

Adjoints accumulate where a value feeds several consumers; broadcasting is undone
by summing over the broadcast axes. Both sweeps are loops over the graph's op
list: linear time and memory, no recursion.

An adjoint carries, beside its values, where it is live: entries that are zero by the
structure of the program (a false branch of relu or clamp, the losing side of min/max, a
sum over no elements) are structural zeros, and a structural zero times anything (inf, NaN)
is 0, all the way down (gradcli/engine/rules.py). Forward mode keeps the same masks on its
tangents, so the two modes agree where infinities meet these zeros.

`contribution` is the one backward step (op i's adjoint -> what argument k receives):
this sweep, the blocked evaluator (gradcli/engine/blocked.py) and explain's trace of
this sweep all go through it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from gradcli.arrays import Array
from gradcli.engine import scaling
from gradcli.engine.graph import Graph, Op
from gradcli.engine.rules import rules
from gradcli.engine.values import fit_live, or_live

# Called once per edge of the backward sweep: (op index, argument slot, upstream
# adjoint of the op, contribution to the argument), as plain arrays.
Trace = Callable[[int, int, Array, Array], None]


@dataclass(slots=True)
class Adjoint:
    """An adjoint, or a contribution to one: `value · 2**exp` (gradcli/engine/scaling.py),
    live where `live` says (None: everywhere; elsewhere a structural zero)."""

    value: Array
    live: Array | None = None
    exp: scaling.Exp = 0

    def plain(self) -> Array:
        return scaling.value(self.value, self.exp)


def contribution(
    op: Op,
    k: int,
    g: Adjoint,
    args: Sequence[Array],
    out: Array,
    n: int,
    shape: tuple[int, ...],
    absolute: bool = False,
) -> Adjoint | None:
    """What op's adjoint `g` sends to its argument `k`, whose value has shape `shape`: the
    vector-Jacobian product of the primitive table's rule, summed back over the axes that
    broadcasting added; an item of a vector literal gets its slice of g. None when nothing
    flows: the rule is zero by its form, the product sums no element (an empty array), or
    every entry is a structural zero. With `absolute`, |g·P| is summed: the magnitude of the
    terms (see `magnitudes`)."""
    prim = op.prim
    assert prim is not None
    if prim.kind == "vector":
        exp = g.exp if scaling.plain(g.exp) else np.broadcast_to(g.exp, np.shape(g.value))[k]
        return Adjoint(g.value[k], None if g.live is None else fit_live(g.live[k], shape), exp)
    if prim.derivatives is not None:  # structured: the vjp of the table
        vjp = prim.derivatives.vjp[min(k, len(prim.derivatives.vjp) - 1)]
        value = vjp(g.plain(), list(args), out, **op.params)
        if np.size(value) == 0:
            return None
        return Adjoint(np.abs(value) if absolute else value)
    rule = rules(prim.name)[k]
    if rule.zero:
        return None
    product, plive, exp = scaling.apply(rule, g.value, g.exp, args, out, n, g.live)
    if np.size(product) == 0:
        return None
    vlive = fit_live(plive, shape)
    if vlive is not None and not vlive.any():
        return None
    value, exp = scaling.fit(np.abs(product) if absolute else product, exp, shape)
    return Adjoint(value, vlive, exp)


def accumulate(adj: list[Adjoint | None], a: int, contrib: Adjoint | None) -> None:
    """Add a contribution to op a's adjoint (a value used several times adds up what it receives)."""
    if contrib is None:
        return
    have = adj[a]
    if have is None:
        adj[a] = contrib
    else:
        value, exp = scaling.add(have.value, have.exp, contrib.value, contrib.exp)
        adj[a] = Adjoint(value, or_live(have.live, contrib.live), exp)


def seed(out_value: Array, factor: float = 1.0) -> Adjoint:
    """∂L/∂L: 1, or ones of the output's shape (the gradient of an array output is that of its sum)."""
    one = np.float64(factor)
    return Adjoint(one if np.ndim(out_value) == 0 else np.full(np.shape(out_value), one))


def backward(
    graph: Graph,
    vals: Sequence[Array],
    counts: Sequence[int],
    wrt: Collection[str],
    trace: Trace | None = None,
    absolute: bool = False,
    factor: float = 1.0,
    start: Array | None = None,
) -> dict[str, Array]:
    """Gradient of the output (of sum(output) when it is an array) with respect to `wrt`.

    `trace`, when given, sees every product the sweep computes (the explain table uses it).
    With `absolute`, the magnitude of the terms instead (see `magnitudes`); `factor` scales
    the seed (the result is linear in it).
    """
    need = graph.requires_grad(wrt)
    ops = graph.ops
    adj: list[Adjoint | None] = [None] * len(ops)
    # intermediates asked for (retain_grad): their adjoint is kept when the sweep reaches them
    kept = {graph.op_of(n): n for n in wrt if n not in graph.inputs}
    retained: dict[int, Adjoint | None] = {}
    # `start`: ∂L/∂output given (a one-hot row of a Jacobian), instead of ones
    adj[graph.output] = seed(vals[graph.output], factor) if start is None else Adjoint(start)
    with np.errstate(all="ignore"):
        for i in range(len(ops) - 1, -1, -1):
            g = adj[i]
            op = ops[i]
            if i in kept:
                retained[i] = g
            if g is None or not need[i] or op.prim is None:
                continue
            adj[i] = None  # free memory as we go
            args = [vals[a] for a in op.args]
            for k, a in enumerate(op.args):
                if need[a]:
                    shape = np.shape(vals[a])
                    contrib = contribution(op, k, g, args, vals[i], counts[i], shape, absolute)
                    if trace is not None:  # an edge where nothing flows shows its 0
                        trace(i, k, g.plain(), np.zeros(shape)[()] if contrib is None else contrib.plain())
                    accumulate(adj, a, contrib)
    out: dict[str, Array] = {}
    for i, g in retained.items():
        adj[i] = g
    for name in wrt:
        value = gradient_of(adj, vals, graph.op_of(name), saturate=absolute)
        if any(value is other for other in out.values()):  # one array passed on to two inputs
            value = np.array(value)
        out[name] = value
    return out


def gradient_of(
    adj: Sequence[Adjoint | None], vals: Sequence[Array], i: int, saturate: bool = False
) -> Array:
    """The gradient of input op i: its adjoint in the input's shape (zeros when none reached it).
    With `saturate`, a finite number beyond float64's range is its largest float, not inf (a
    magnitude of terms: huge, but not infinite)."""
    g = adj[i]
    shape = np.shape(vals[i])
    if g is None:
        return np.zeros(shape)[()]
    value = g.plain()
    if saturate:
        value = np.where(np.isinf(value) & np.isfinite(g.value), np.finfo(np.float64).max, value)
    if isinstance(value, np.ndarray) and value.shape == shape and value.flags.owndata:
        return value  # a fresh array of the sweep's: no copy
    return np.array(np.broadcast_to(value, shape))[()]


def magnitudes(
    graph: Graph, vals: Sequence[Array], counts: Sequence[int], wrt: Collection[str], factor: float = 1.0
) -> dict[str, Array]:
    """Per element of each input, `factor` times the sum over the chain rule's terms of their
    magnitudes, Σ|products of local derivatives| (the backward sweep on absolute values). Two
    exact routes to a gradient, summing the same terms in another order, differ by a rounding
    error of about eps times this, not times the gradient: where the terms cancel (tanh(x)/x
    at 1e-8), the gradient is small and its rounding is not. A small `factor` keeps terms
    beyond float64's range (1e310 - 1e310 + 1) in it."""
    return backward(graph, vals, counts, wrt, absolute=True, factor=factor)


def jacobian(graph: Graph, vals: Sequence[Array], counts: Sequence[int], name: str) -> Array:
    """∂output/∂name as a matrix (rows: output elements, columns: input elements, row-major),
    by one backward sweep per output element."""
    out_shape = np.shape(vals[graph.output])
    out_size = int(np.prod(out_shape))
    size = int(np.size(vals[graph.inputs[name]]))
    jac = np.zeros((out_size, size))
    for j in range(out_size):
        start = np.zeros(out_size)
        start[j] = 1.0
        g = backward(graph, vals, counts, [name], start=start.reshape(out_shape)[()])[name]
        jac[j] = np.ravel(g)
    return jac
