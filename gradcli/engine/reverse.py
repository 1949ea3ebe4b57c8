"""Reverse mode (backpropagation): one recorded forward sweep, one backward sweep.

Adjoints accumulate where a value feeds several consumers; broadcasting is undone
by summing over the broadcast axes. Both sweeps are loops over the graph's op
list: linear time and memory, no recursion.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from gradcli.engine.graph import Graph
from gradcli.engine.rules import partial

Array = Any


def fit(arr: Array, shape: tuple[int, ...]) -> Array:
    """Sum `arr` over the axes that broadcasting added to `shape`, or broadcast it up to `shape`."""
    arr_shape = np.shape(arr)
    if arr_shape == shape:
        return arr
    full = np.broadcast_shapes(arr_shape, shape)
    if full != arr_shape:
        arr = np.broadcast_to(arr, full)
    lead = len(full) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, dim in enumerate(shape) if dim == 1 and full[lead + i] != 1
    )
    if axes:
        arr = np.sum(arr, axis=axes, keepdims=True)
        if lead:
            arr = arr.reshape(arr.shape[lead:])
    return arr[()] if shape == () else arr


def requires_grad(graph: Graph, wrt: Collection[str]) -> list[bool]:
    """Which ops carry a gradient: those that depend on a `wrt` input through differentiable ops."""
    seeds = {graph.inputs[name] for name in wrt}
    need = [False] * len(graph.ops)
    for i, op in enumerate(graph.ops):
        if op.prim is None:
            need[i] = i in seeds
        elif not op.prim.blocks_gradient and op.prim.kind != "constant":
            need[i] = any(need[a] for a in op.args)
    return need


# Called once per edge of the backward sweep: (op index, argument slot, upstream
# adjoint of the op, local partial or None for a vector item, contribution to the argument).
Trace = Callable[[int, int, Array, Array | None, Array], None]


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
    need = requires_grad(graph, wrt)
    ops = graph.ops
    adj: list[Array] = [None] * len(ops)
    out_value = vals[graph.output]
    adj[graph.output] = np.float64(1.0) if np.ndim(out_value) == 0 else np.ones(np.shape(out_value))
    with np.errstate(all="ignore"):
        for i in range(len(ops) - 1, -1, -1):
            g = adj[i]
            op = ops[i]
            if g is None or not need[i] or op.prim is None:
                continue
            adj[i] = None  # free memory as we go
            prim = op.prim
            args = [vals[a] for a in op.args]
            for k, a in enumerate(op.args):
                if not need[a]:
                    continue
                local = None
                if prim.kind == "vector":
                    contrib = g[k]
                else:
                    local = partial(prim, k, args, vals[i], counts[i])
                    contrib = fit(g * local, np.shape(vals[a]))
                if trace is not None:
                    trace(i, k, g, local, contrib)
                adj[a] = contrib if adj[a] is None else adj[a] + contrib
    grads: dict[str, Array] = {}
    for name in wrt:
        g = adj[graph.inputs[name]]
        shape = np.shape(vals[graph.inputs[name]])
        grads[name] = np.zeros(shape)[()] if g is None else np.array(np.broadcast_to(g, shape))[()]
    return grads
