"""Reverse mode (backpropagation): one recorded forward sweep, one backward sweep.

Adjoints accumulate where a value feeds several consumers; broadcasting is undone
by summing over the broadcast axes. Both sweeps are loops over the graph's op
list: linear time and memory, no recursion.

`contribution` is the one backward step (op i's adjoint -> what argument k receives):
this sweep, the blocked evaluator (gradcli/engine/blocked.py) and explain's trace of
this sweep all go through it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from gradcli.arrays import Array
from gradcli.engine.graph import Graph, Op
from gradcli.engine.rules import partial
from gradcli.engine.values import fit

# Called once per edge of the backward sweep: (op index, argument slot, upstream
# adjoint of the op, contribution to the argument).
Trace = Callable[[int, int, Array, Array], None]


def contribution(
    op: Op, k: int, g: Array, args: Sequence[Array], out: Array, n: int, shape: tuple[int, ...]
) -> Array:
    """What op's adjoint `g` sends to its argument `k`, whose value has shape `shape`: the
    vector-Jacobian product of the primitive table's rule, summed back over the axes that
    broadcasting added (an item of a vector literal gets its slice of `g`)."""
    prim = op.prim
    assert prim is not None
    if prim.kind == "vector":
        return g[k]
    return fit(g * partial(prim, k, args, out, n), shape)


def accumulate(adj: list[Array], a: int, contrib: Array) -> None:
    """Add a contribution to op a's adjoint (a value used several times adds up what it receives)."""
    adj[a] = contrib if adj[a] is None else adj[a] + contrib


def seed(out_value: Array) -> Array:
    """∂L/∂L: 1, or ones of the output's shape (the gradient of an array output is that of its sum)."""
    return np.float64(1.0) if np.ndim(out_value) == 0 else np.ones(np.shape(out_value))


def backward(
    graph: Graph,
    vals: Sequence[Array],
    counts: Sequence[int],
    wrt: Collection[str],
    trace: Trace | None = None,
) -> dict[str, Array]:
    """Gradient of the output (of sum(output) when it is an array) with respect to `wrt`.

    `trace`, when given, sees every product the sweep computes (the explain table uses it).
    """
    need = graph.requires_grad(wrt)
    ops = graph.ops
    adj: list[Array] = [None] * len(ops)
    adj[graph.output] = seed(vals[graph.output])
    with np.errstate(all="ignore"):
        for i in range(len(ops) - 1, -1, -1):
            g = adj[i]
            op = ops[i]
            if g is None or not need[i] or op.prim is None:
                continue
            adj[i] = None  # free memory as we go
            args = [vals[a] for a in op.args]
            for k, a in enumerate(op.args):
                if need[a]:
                    contrib = contribution(op, k, g, args, vals[i], counts[i], np.shape(vals[a]))
                    if trace is not None:
                        trace(i, k, g, contrib)
                    accumulate(adj, a, contrib)
    return {name: gradient_of(adj, vals, graph.inputs[name]) for name in wrt}


def gradient_of(adj: Sequence[Array], vals: Sequence[Array], i: int) -> Array:
    """The gradient of input op i: its adjoint in the input's shape (zeros when none reached it)."""
    g = adj[i]
    shape = np.shape(vals[i])
    return np.zeros(shape)[()] if g is None else np.array(np.broadcast_to(g, shape))[()]
