"""Big element-wise-then-reduce programs, in cache-sized blocks over all cores.

A program qualifies when every array in it has the shape of the array inputs,
arrays meet only element-wise ops and reductions (whose `combine` rule in the
primitive table says how block results merge), and nothing computed from a
reduction flows back into an array. Such a program is evaluated block by block:
the arrays of one block stay in the CPU cache, no full-size temporaries are
allocated, and numpy releases the GIL, so blocks run on several threads.

Reverse mode makes two sweeps over the blocks: the first computes the
reductions' values; the second recomputes, per block, only the values that the
derivative rules read and back-propagates into the gradient's slice. Results
merge in block order, so they do not depend on thread timing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from gradcli.engine.graph import Graph
from gradcli.engine.reverse import fit, requires_grad
from gradcli.engine.rules import partial, rules, uses
from gradcli.engine.values import apply, constant_value

Array = Any
T = TypeVar("T")

MIN_ELEMENTS = 1 << 18  # below this, whole-array numpy is as fast
BLOCK = 1 << 17  # elements per block (1 MiB of float64): measured best on 2 cores at 1e7

SCALAR, ARRAY, REDUCE, TAIL = 0, 1, 2, 3  # op classes


@dataclass
class Plan:
    graph: Graph
    shape: tuple[int, ...]
    size: int
    cls: list[int]  # per op: SCALAR (before any reduction), ARRAY, REDUCE, TAIL (after one)
    array_ops: list[int]
    reduce_ops: list[int]


def plan(graph: Graph, inputs: dict[str, Array]) -> Plan | None:
    """A blocked plan for this program and these input shapes, or None if it does not qualify."""
    shapes = {np.shape(v) for v in inputs.values() if np.ndim(v) > 0}
    if len(shapes) != 1:
        return None
    (shape,) = shapes
    size = math.prod(shape)
    if size < MIN_ELEMENTS:
        return None
    cls = [SCALAR] * len(graph.ops)
    shaped = [False] * len(graph.ops)  # a non-array op whose value may still have a shape
    for i, op in enumerate(graph.ops):
        if op.prim is None:
            if op.input is not None and np.ndim(inputs[op.input]) > 0:
                cls[i] = ARRAY
            continue
        arg_cls = [cls[a] for a in op.args]
        if ARRAY in arg_cls and any(shaped[a] for a in op.args if cls[a] != ARRAY):
            return None  # e.g. x * linspace(0, 1, n): that array is not split into blocks
        shaped[i] = op.prim.kind in ("vector", "constant") or (
            op.prim.kind != "reduce" and any(shaped[a] for a in op.args)
        )
        if op.prim.kind in ("vector", "constant") and ARRAY in arg_cls:
            return None
        has_array = ARRAY in arg_cls
        after_reduce = REDUCE in arg_cls or TAIL in arg_cls
        if has_array and after_reduce:
            return None  # a reduction's result flows back into an array (e.g. x - mean(x))
        if op.prim.kind == "reduce" and has_array:
            if op.prim.combine is None:
                return None
            cls[i] = REDUCE
        elif has_array:
            cls[i] = ARRAY
        elif after_reduce:
            cls[i] = TAIL
    if cls[graph.output] == ARRAY:
        return None
    return Plan(
        graph,
        shape,
        size,
        cls,
        [i for i, c in enumerate(cls) if c == ARRAY and graph.ops[i].prim is not None],
        [i for i, c in enumerate(cls) if c == REDUCE],
    )


def _prewarm(p: Plan) -> None:
    """Parse the derivative rules before the threads need them."""
    for op in p.graph.ops:
        if op.prim is not None:
            rules(op.prim.name)


def _blocks(size: int) -> list[tuple[int, int]]:
    return [(lo, min(size, lo + BLOCK)) for lo in range(0, size, BLOCK)]


def _map(fn: Callable[[tuple[int, int]], T], blocks: list[tuple[int, int]]) -> list[T]:
    workers = min(os.cpu_count() or 1, len(blocks))
    if workers <= 1:
        return [fn(b) for b in blocks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, blocks, chunksize=max(1, len(blocks) // (8 * workers))))


def _combine(kind: str, parts: list[Array], sizes: list[int], n: int) -> Array:
    arr = np.asarray(parts, dtype=np.float64)
    if kind == "sum":
        return np.float64(np.sum(arr))
    if kind == "mean":
        return np.float64(np.dot(arr, np.asarray(sizes, dtype=np.float64)) / n) if n else np.float64(np.nan)
    if kind == "logsumexp":
        return np.float64(np.logaddexp.reduce(arr))
    if kind == "norm":
        return np.float64(np.hypot.reduce(arr))
    raise AssertionError(kind)


class _Run:
    """Shared state of one blocked evaluation."""

    def __init__(self, p: Plan, inputs: dict[str, Array]) -> None:
        self.p = p
        self.graph = p.graph
        self.source = p.graph.program.source
        self.inputs = inputs
        self.flat = {name: np.ravel(v) for name, v in inputs.items()}
        self.vals: list[Array] = [None] * len(p.graph.ops)
        self.counts: list[int] = [0] * len(p.graph.ops)
        for i in range(len(p.graph.ops)):
            if p.cls[i] == SCALAR:
                self._scalar(i)

    def _scalar(self, i: int) -> None:
        op = self.graph.ops[i]
        if op.prim is None:
            self.vals[i] = self.inputs[op.input] if op.input is not None else constant_value(op)
        else:
            self.vals[i], self.counts[i] = apply(op, [self.vals[a] for a in op.args], self.source)

    def block_values(self, lo: int, hi: int, keep: Collection[int] | None) -> dict[int, Array]:
        """Values of the array ops on elements [lo, hi); with `keep`, only those ops and what they need."""
        ops, vals, cls = self.graph.ops, self.vals, self.p.cls
        local: dict[int, Array] = {}

        def val(a: int) -> Array:
            return local[a] if cls[a] == ARRAY else vals[a]

        for i, op in enumerate(ops):
            if cls[i] != ARRAY or (keep is not None and i not in keep):
                continue
            if op.prim is None:
                assert op.input is not None
                local[i] = self.flat[op.input][lo:hi]
            else:
                local[i] = apply(op, [val(a) for a in op.args], self.source)[0]
        return local

    def reduce_parts(self, block: tuple[int, int]) -> list[Array]:
        lo, hi = block
        parts = []
        with np.errstate(all="ignore"):  # per thread: NaN/inf are reported afterwards
            local = self.block_values(lo, hi, None)
            for r in self.p.reduce_ops:
                op = self.graph.ops[r]
                assert op.prim is not None
                args = [local[a] if self.p.cls[a] == ARRAY else self.vals[a] for a in op.args]
                parts.append(apply(op, args, self.source)[0])
        return parts

    def forward(self) -> None:
        """Values of every op but the arrays: reductions from block results, then the tail."""
        blocks = _blocks(self.p.size)
        sizes = [hi - lo for lo, hi in blocks]
        with np.errstate(all="ignore"):
            results = _map(self.reduce_parts, blocks)
            for j, r in enumerate(self.p.reduce_ops):
                prim = self.graph.ops[r].prim
                assert prim is not None and prim.combine is not None
                self.vals[r] = _combine(prim.combine, [res[j] for res in results], sizes, self.p.size)
                self.counts[r] = self.p.size
            for i in range(len(self.graph.ops)):
                if self.p.cls[i] == TAIL:
                    self._scalar(i)

    def output(self) -> Array:
        return self.vals[self.graph.output]


def evaluate(p: Plan, inputs: dict[str, Array]) -> Array:
    """The program's value."""
    run = _Run(p, inputs)
    run.forward()
    return run.output()


def _needed_values(p: Plan, need: list[bool]) -> set[int]:
    """Array ops whose values the backward sweep reads, and everything they are computed from."""
    ops = p.graph.ops
    wanted: set[int] = set()
    for i, op in enumerate(ops):
        if op.prim is None or p.cls[i] not in (ARRAY, REDUCE):
            continue
        for k, a in enumerate(op.args):
            if not need[a]:
                continue
            names = uses(op.prim.name, k)
            for j, param in enumerate(op.prim.params):
                if param in names and p.cls[op.args[j]] == ARRAY:
                    wanted.add(op.args[j])
            if "out" in names and p.cls[i] == ARRAY:
                wanted.add(i)
    stack = list(wanted)
    while stack:
        i = stack.pop()
        for a in ops[i].args:
            if p.cls[a] == ARRAY and a not in wanted:
                wanted.add(a)
                stack.append(a)
    return wanted


def _scalar_backward(run: _Run, adj: list[Array], need: list[bool], which: int) -> None:
    """Back-propagate through the scalar ops of one class (TAIL, or SCALAR)."""
    ops, vals, cls = run.graph.ops, run.vals, run.p.cls
    for i in range(len(ops) - 1, -1, -1):
        op, g = ops[i], adj[i]
        if cls[i] != which or g is None or not need[i] or op.prim is None:
            continue
        args = [vals[a] for a in op.args]
        for k, a in enumerate(op.args):
            if need[a]:
                contrib = fit(g * partial(op.prim, k, args, vals[i], run.counts[i]), np.shape(vals[a]))
                adj[a] = contrib if adj[a] is None else adj[a] + contrib


def gradient(p: Plan, inputs: dict[str, Array], wrt: Collection[str]) -> tuple[Array, dict[str, Array]]:
    """Value and reverse-mode gradient (the first sweep for the reductions, the second to back-propagate)."""
    _prewarm(p)
    run = _Run(p, inputs)
    run.forward()
    graph, cls, vals = run.graph, p.cls, run.vals
    need = requires_grad(graph, wrt)
    adj: list[Array] = [None] * len(graph.ops)
    adj[graph.output] = np.float64(1.0)
    with np.errstate(all="ignore"):
        _scalar_backward(run, adj, need, TAIL)
    keep = _needed_values(p, need)
    grads = {name: np.zeros(p.size) for name in wrt if cls[graph.inputs[name]] == ARRAY}
    seeds = [(r, adj[r]) for r in p.reduce_ops if adj[r] is not None and need[r]]
    backward_ops = [i for i in reversed(p.array_ops) if need[i]]

    def block(b: tuple[int, int]) -> dict[int, Array]:
        lo, hi = b
        with np.errstate(all="ignore"):
            local = run.block_values(lo, hi, keep)
        badj: dict[int, Array] = {}
        scalar_parts: dict[int, Array] = {}

        def val(a: int) -> Array:  # None for values no rule here reads
            return local.get(a) if cls[a] == ARRAY else vals[a]

        def send(a: int, contrib: Array) -> None:
            if cls[a] == ARRAY:
                badj[a] = contrib if a not in badj else badj[a] + contrib
            else:
                c = fit(contrib, np.shape(vals[a]))
                scalar_parts[a] = c if a not in scalar_parts else scalar_parts[a] + c

        with np.errstate(all="ignore"):
            for r, g in seeds:
                op = graph.ops[r]
                assert op.prim is not None
                args = [val(a) for a in op.args]
                for k, a in enumerate(op.args):
                    if need[a]:
                        send(a, g * partial(op.prim, k, args, vals[r], p.size))
            for i in backward_ops:
                g = badj.pop(i, None)
                if g is None:
                    continue
                op = graph.ops[i]
                assert op.prim is not None
                args = [val(a) for a in op.args]
                out = local.get(i)
                for k, a in enumerate(op.args):
                    if need[a]:
                        send(a, g * partial(op.prim, k, args, out, 0))
        for name, target in grads.items():
            g = badj.get(graph.inputs[name])
            if g is not None:
                target[lo:hi] = g  # broadcasts a scalar adjoint over the block
        return scalar_parts

    parts = _map(block, _blocks(p.size))
    for part in parts:  # block order: deterministic sums
        for a, c in part.items():
            adj[a] = c if adj[a] is None else adj[a] + c
    with np.errstate(all="ignore"):
        _scalar_backward(run, adj, need, SCALAR)
    result: dict[str, Array] = {}
    for name in wrt:
        i = graph.inputs[name]
        if name in grads:
            result[name] = grads[name].reshape(p.shape)
        else:
            result[name] = np.float64(0.0) if adj[i] is None else np.float64(adj[i])
    return run.output(), result


def forward_gradient(
    p: Plan, inputs: dict[str, Array], wrt: Collection[str]
) -> tuple[Array, dict[str, Array]] | None:
    """Value and forward-mode gradient, block by block.

    An array input's pass seeds the diagonal tangent of one block's elements and runs through
    the whole graph: the block's slice of the gradient. Scalar inputs share one batched pass:
    the scalar ops before the reductions once, the array ops and reductions per block (their
    tangents add up over blocks, being linear), then the ops after the reductions once.
    None when the dense tangents after the reductions would not fit the memory budget.
    """
    from gradcli.engine.forward import Pass, Tangent, TooBig, seed

    _prewarm(p)
    run = _Run(p, inputs)
    run.forward()
    graph, cls, vals = run.graph, p.cls, run.vals
    order = sorted(p.array_ops + p.reduce_ops)
    tail = [i for i, c in enumerate(cls) if c == TAIL]
    blocks = _blocks(p.size)
    grads: dict[str, Array] = {}

    def block_vals(lo: int, hi: int) -> list[Array]:
        local = run.block_values(lo, hi, None)
        return [local.get(i) if cls[i] == ARRAY else vals[i] for i in range(len(vals))]

    for name in wrt:
        seed_op = graph.inputs[name]
        if cls[seed_op] != ARRAY:
            continue
        grad = np.zeros(p.size)

        def array_block(b: tuple[int, int], seed_op: int = seed_op, grad: Array = grad) -> None:
            lo, hi = b
            with np.errstate(all="ignore"):
                bvals = block_vals(lo, hi)
                S = (hi - lo,)
                t = Pass(graph, bvals, run.counts, {seed_op: Tangent(True, np.float64(1.0))}, S, S).run_all(
                    keep=False, order=order + tail
                )[graph.output]
            if t is not None:
                grad[lo:hi] = np.broadcast_to(t.arr, S)

        try:
            _map(array_block, blocks)
        except TooBig:
            return None  # dense tangents past the budget: the whole-array path chunks them
        grads[name] = grad.reshape(p.shape)

    scalars = [n for n in wrt if cls[graph.inputs[n]] != ARRAY]
    if scalars:
        D = (len(scalars),)
        eye = np.eye(len(scalars))
        seeds = {graph.inputs[n]: seed(eye[j]) for j, n in enumerate(scalars)}
        before = [i for i, c in enumerate(cls) if c == SCALAR]
        pre = Pass(graph, vals, run.counts, seeds, (), D).run_all(order=before)
        known = {i: t for i, t in enumerate(pre) if t is not None}

        def scalar_block(b: tuple[int, int]) -> list[Tangent | None]:
            lo, hi = b
            with np.errstate(all="ignore"):
                tan = Pass(graph, block_vals(lo, hi), run.counts, known, (), D).run_all(
                    keep=False, order=order
                )
            return [tan[r] for r in p.reduce_ops]

        parts = _map(scalar_block, blocks)
        for j, r in enumerate(p.reduce_ops):
            pieces = [t for part in parts if (t := part[j]) is not None]
            if pieces:
                masks = [t.mask for t in pieces if t.mask is not None]
                mask = np.logical_or.reduce(masks) if len(masks) == len(pieces) else None
                known[r] = Tangent(False, np.sum([t.arr for t in pieces], axis=0), mask)
        out = Pass(graph, vals, run.counts, known, (), D).run_all(order=tail)[graph.output]
        g = np.zeros(D) if out is None else np.broadcast_to(out.arr, D)
        for j, n in enumerate(scalars):
            grads[n] = np.float64(g[j])
    return run.output(), {n: grads[n] for n in wrt}
