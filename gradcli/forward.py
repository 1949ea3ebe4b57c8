"""Forward mode: dual numbers (value, tangent), one seeded pass per input.

For an input x of shape S the pass carries the tangents of all |S| directions at
once. A tangent is stored in one of two forms:

- diagonal: the Jacobian d v / d x is diag(arr), valid while v has x's shape and
  depends on x element by element (arr broadcasts to S). Element-wise programs
  therefore cost one array per op, like the values themselves.
- dense: arr has shape D + v.shape, one slice per direction (D = S, or (m,) for
  a chunk of m directions).

When a dense tangent would exceed the memory budget, the pass is re-run over
chunks of directions; when the total work would be unreasonable, a clear error
suggests reverse mode.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcli.errors import LimitError
from gradcli.graph import Graph
from gradcli.limits import LIMITS
from gradcli.reverse import fit
from gradcli.rules import partial

Array = Any


@dataclass(slots=True)
class Tangent:
    diagonal: bool
    arr: Array


class _TooBig(Exception):
    """A dense tangent over all directions would not fit the budget: chunk instead."""


class _Pass:
    def __init__(self, graph: Graph, vals: Sequence[Array], counts: Sequence[int], seed: int,
                 directions: tuple[int, ...], chunk: tuple[int, int] | None) -> None:
        self.graph, self.vals, self.counts = graph, vals, counts
        self.seed = seed
        self.S = np.shape(vals[seed])
        self.D = directions
        self.chunk = chunk
        self.budget = LIMITS.max_forward_chunk_bytes

    def dense_of(self, t: Tangent, shape: tuple[int, ...]) -> Array:
        """The dense form (D + shape) of a tangent of a value with element shape `shape`."""
        if not t.diagonal:
            return np.broadcast_to(t.arr, self.D + shape)
        size = math.prod(self.S)
        if size * size * 8 > self.budget:
            raise _TooBig
        eye = np.zeros((size, size))
        np.fill_diagonal(eye, np.broadcast_to(t.arr, self.S).ravel())
        return np.broadcast_to(eye.reshape(self.S + self.S), self.D + shape)

    def check(self, shape: tuple[int, ...]) -> None:
        if math.prod(self.D) * math.prod(shape) * 8 > self.budget:
            raise _TooBig

    def run(self) -> Array:
        ops, vals = self.graph.ops, self.vals
        tan: list[Tangent | None] = [None] * len(ops)
        if self.chunk is None:
            tan[self.seed] = Tangent(True, np.float64(1.0))
        else:
            lo, hi = self.chunk
            size = math.prod(self.S)
            onehot = np.zeros((hi - lo, size))
            onehot[np.arange(hi - lo), np.arange(lo, hi)] = 1.0
            tan[self.seed] = Tangent(False, onehot.reshape((hi - lo, *self.S)))
        with np.errstate(all="ignore"):
            for i, op in enumerate(ops):
                prim = op.prim
                if prim is None or prim.blocks_gradient or prim.kind == "constant":
                    continue
                ins = [(k, tan[a]) for k, a in enumerate(op.args) if tan[a] is not None]
                if not ins:
                    continue
                args = [vals[a] for a in op.args]
                shape = np.shape(vals[i])
                if prim.kind == "vector":
                    tan[i] = self.stack(op.args, tan, shape)
                elif prim.kind == "reduce":
                    tan[i] = self.reduce(prim, args, ins, vals[i], self.counts[i])
                else:
                    tan[i] = self.elementwise(prim, args, ins, vals[i], shape, self.counts[i])
        return tan[self.graph.output]

    def elementwise(self, prim: Any, args: list[Array], ins: list[tuple[int, Tangent | None]],
                    out: Array, shape: tuple[int, ...], n: int) -> Tangent:
        parts: list[Tangent] = []
        for k, t in ins:
            assert t is not None
            p = partial(prim, k, args, out, n)
            if t.diagonal and shape == self.S:
                parts.append(Tangent(True, p * t.arr))
                continue
            self.check(shape)
            dense = self.dense_of(t, np.shape(args[k]))
            lead = len(self.D)
            pad = (1,) * (len(shape) - np.ndim(args[k]))
            dense = dense.reshape(dense.shape[:lead] + pad + dense.shape[lead:])
            parts.append(Tangent(False, p * dense))
        if all(t.diagonal for t in parts):
            total = parts[0].arr
            for t in parts[1:]:
                total = total + t.arr
            return Tangent(True, total)
        total = None
        for t in parts:
            d = self.dense_of(t, shape) if t.diagonal else t.arr
            total = d if total is None else total + d
        return Tangent(False, total)

    def reduce(self, prim: Any, args: list[Array],
               ins: list[tuple[int, Tangent | None]], out: Array, n: int) -> Tangent:
        full = np.broadcast_shapes(*(np.shape(a) for a in args))
        total: Array = None
        for k, t in ins:
            assert t is not None
            p = partial(prim, k, args, out, n)
            # sum over the broadcast elements, folded onto the argument's own shape
            weights = fit(np.broadcast_to(p, full), np.shape(args[k]))
            if t.diagonal:
                row = np.broadcast_to(weights * t.arr, self.S)
            else:
                dense = np.broadcast_to(t.arr, self.D + np.shape(args[k]))
                row = np.tensordot(dense, weights, axes=np.ndim(weights)) if np.ndim(weights) else dense * weights
            total = row if total is None else total + row
        return Tangent(False, total)

    def stack(self, argidx: Sequence[int], tan: list[Tangent | None], shape: tuple[int, ...]) -> Tangent:
        self.check(shape)
        item_shape = shape[1:]
        slices = []
        for a in argidx:
            t = tan[a]
            if t is None:
                slices.append(np.zeros(self.D + item_shape))
            else:
                slices.append(self.dense_of(t, item_shape))
        return Tangent(False, np.stack(slices, axis=len(self.D)))


def _gradient_of(t: Tangent | None, out_shape: tuple[int, ...], D: tuple[int, ...]) -> Array:
    """d sum(output) / d x over the pass's directions (shape D)."""
    if t is None:
        return np.zeros(D)
    if t.diagonal:
        return np.broadcast_to(t.arr, D)
    dense = np.broadcast_to(t.arr, D + out_shape)
    return np.sum(dense, axis=tuple(range(len(D), len(D) + len(out_shape)))) if out_shape else dense


def gradients(graph: Graph, vals: Sequence[Array], counts: Sequence[int],
              wrt: Collection[str]) -> dict[str, Array]:
    out_shape = np.shape(vals[graph.output])
    grads: dict[str, Array] = {}
    for name in wrt:
        seed = graph.inputs[name]
        S = np.shape(vals[seed])
        try:
            t = _Pass(graph, vals, counts, seed, S, None).run()
            grads[name] = np.array(_gradient_of(t, out_shape, S))[()]
            continue
        except _TooBig:
            pass
        size = math.prod(S)
        biggest = max(max(math.prod(np.shape(v)) for v in vals), 1)
        work = size * sum(math.prod(np.shape(v)) for v in vals)
        if work > LIMITS.max_forward_work:
            raise LimitError(
                f"forward mode for '{name}' ({size:,} elements) would need about {work:,.0f} "
                "tangent operations: too large",
                hint="use reverse mode (--mode reverse), which costs one pass for all elements; "
                "GRADCLI_MAX_FORWARD_WORK raises this limit",
            )
        m = max(1, LIMITS.max_forward_chunk_bytes // (8 * biggest))
        flat = np.empty(size)
        for lo in range(0, size, m):
            hi = min(size, lo + m)
            t = _Pass(graph, vals, counts, seed, (hi - lo,), (lo, hi)).run()
            flat[lo:hi] = _gradient_of(t, out_shape, (hi - lo,))
        grads[name] = flat.reshape(S)[()]
    return grads
