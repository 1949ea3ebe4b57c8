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
from typing import TypeVar

import numpy as np

from gradcli.arrays import Array
from gradcli.engine import scaling
from gradcli.engine.graph import Graph, Op
from gradcli.engine.reverse import Adjoint, accumulate, contribution
from gradcli.engine.rules import rules, uses
from gradcli.engine.values import apply, constant_value

T = TypeVar("T")
Block = tuple[int, int]  # elements [lo, hi) of the flattened arrays

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
        c = _classify(op, cls, shaped)
        if c is None:
            return None
        cls[i] = c
        shaped[i] = op.prim.kind in ("vector", "constant") or (
            op.prim.kind != "reduce" and any(shaped[a] for a in op.args)
        )
    if cls[graph.output] == ARRAY:
        return None
    array_ops = [i for i, c in enumerate(cls) if c == ARRAY and graph.ops[i].prim is not None]
    return Plan(graph, shape, size, cls, array_ops, [i for i, c in enumerate(cls) if c == REDUCE])


def _classify(op: Op, cls: list[int], shaped: list[bool]) -> int | None:
    """The class of an op from its arguments' classes; None when the program does not qualify."""
    assert op.prim is not None
    arg_cls = [cls[a] for a in op.args]
    has_array = ARRAY in arg_cls
    if has_array and any(shaped[a] for a in op.args if cls[a] != ARRAY):
        return None  # e.g. x * linspace(0, 1, n): that array is not split into blocks
    if op.prim.kind == "structured":
        return None  # matrix products, axis reductions: the plain evaluators
    if has_array and op.prim.kind in ("vector", "constant"):
        return None
    after_reduce = REDUCE in arg_cls or TAIL in arg_cls
    if has_array and after_reduce:
        return None  # a reduction's result flows back into an array (e.g. x - mean(x))
    if has_array and op.prim.kind == "reduce":
        return REDUCE if op.prim.combine is not None else None
    if has_array:
        return ARRAY
    return TAIL if after_reduce else SCALAR


def _prewarm(p: Plan) -> None:
    """Parse the derivative rules before the threads need them."""
    for op in p.graph.ops:
        if op.prim is not None:
            rules(op.prim.name)


def _blocks(size: int) -> list[Block]:
    return [(lo, min(size, lo + BLOCK)) for lo in range(0, size, BLOCK)]


def _map(fn: Callable[[Block], T], blocks: list[Block]) -> list[T]:
    workers = min(os.cpu_count() or 1, len(blocks))
    if workers <= 1:
        return [fn(b) for b in blocks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, blocks, chunksize=max(1, len(blocks) // (8 * workers))))


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

    def block_list(self, lo: int, hi: int) -> list[Array]:
        """Every op's value for elements [lo, hi): the block's arrays, everything else whole."""
        local = self.block_values(lo, hi, None)
        return [local.get(i) if self.p.cls[i] == ARRAY else self.vals[i] for i in range(len(self.vals))]

    def reduce_parts(self, block: Block) -> list[Array]:
        lo, hi = block
        parts = []
        with np.errstate(all="ignore"):  # per thread: NaN/inf are reported afterwards
            local = self.block_values(lo, hi, None)
            for r in self.p.reduce_ops:
                op = self.graph.ops[r]
                args = [local[a] if self.p.cls[a] == ARRAY else self.vals[a] for a in op.args]
                parts.append(apply(op, args, self.source)[0])
        return parts

    def forward(self) -> None:
        """Values of every op but the arrays: reductions from block results, then the tail."""
        blocks = _blocks(self.p.size)
        sizes = np.asarray([hi - lo for lo, hi in blocks], dtype=np.float64)
        with np.errstate(all="ignore"):
            results = _map(self.reduce_parts, blocks)
            for j, r in enumerate(self.p.reduce_ops):
                prim = self.graph.ops[r].prim
                assert prim is not None and prim.combine is not None
                parts = np.asarray([res[j] for res in results], dtype=np.float64)
                self.vals[r] = prim.combine(parts, sizes, self.p.size)
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


def _scalar_backward(run: _Run, adj: list[Adjoint | None], need: list[bool], which: int) -> None:
    """Back-propagate through the scalar ops of one class (TAIL, or SCALAR)."""
    ops, vals, cls = run.graph.ops, run.vals, run.p.cls
    for i in range(len(ops) - 1, -1, -1):
        op, g = ops[i], adj[i]
        if cls[i] != which or g is None or not need[i] or op.prim is None:
            continue
        args = [vals[a] for a in op.args]
        for k, a in enumerate(op.args):
            if need[a]:
                c = contribution(op, k, g, args, vals[i], run.counts[i], np.shape(vals[a]))
                accumulate(adj, a, c)


class _BackwardBlock:
    """The second sweep over one block: recompute the values the rules read, back-propagate
    the reductions' adjoints through the block's array ops into the gradient's slice."""

    def __init__(
        self,
        run: _Run,
        need: list[bool],
        keep: set[int],
        seeds: list[tuple[int, Adjoint]],
        grads: dict[str, Array],
    ) -> None:
        self.run, self.need, self.keep, self.seeds, self.grads = run, need, keep, seeds, grads
        self.backward_ops = [i for i in reversed(run.p.array_ops) if need[i]]

    def __call__(self, block: Block) -> dict[int, Adjoint]:
        run, cls, graph = self.run, self.run.p.cls, self.run.graph
        lo, hi = block
        with np.errstate(all="ignore"):
            local = run.block_values(lo, hi, self.keep)
            badj: list[Adjoint | None] = [None] * len(graph.ops)  # adjoints of this block's array ops
            outside: list[Adjoint | None] = [None] * len(graph.ops)  # what it sends to scalar ops

            def val(a: int) -> Array:  # None for values no rule here reads
                return local.get(a) if cls[a] == ARRAY else run.vals[a]

            def sweep(i: int, g: Adjoint, out: Array, n: int) -> None:
                op = graph.ops[i]
                args = [val(a) for a in op.args]
                for k, a in enumerate(op.args):
                    if self.need[a]:
                        inside = cls[a] == ARRAY
                        shape = (hi - lo,) if inside else np.shape(run.vals[a])
                        c = contribution(op, k, g, args, out, n, shape)
                        accumulate(badj if inside else outside, a, c)

            for r, g in self.seeds:
                sweep(r, g, run.vals[r], run.p.size)
            for i in self.backward_ops:
                adjoint = badj[i]
                if adjoint is not None:
                    sweep(i, adjoint, local.get(i), 0)
        for name, target in self.grads.items():
            found = badj[graph.inputs[name]]
            if found is not None:
                target[lo:hi] = found.plain()  # broadcasts a scalar adjoint over the block
        return {a: c for a, c in enumerate(outside) if c is not None}


def gradient(p: Plan, inputs: dict[str, Array], wrt: Collection[str]) -> tuple[Array, dict[str, Array]]:
    """Value and reverse-mode gradient (the first sweep for the reductions, the second to back-propagate)."""
    _prewarm(p)
    run = _Run(p, inputs)
    run.forward()
    graph, cls = run.graph, p.cls
    need = graph.requires_grad(wrt)
    adj: list[Adjoint | None] = [None] * len(graph.ops)
    adj[graph.output] = Adjoint(np.float64(1.0))
    with np.errstate(all="ignore"):
        _scalar_backward(run, adj, need, TAIL)
    grads = {name: np.zeros(p.size) for name in wrt if cls[graph.inputs[name]] == ARRAY}
    seeds = [(r, g) for r in p.reduce_ops if (g := adj[r]) is not None and need[r]]
    parts = _map(_BackwardBlock(run, need, _needed_values(p, need), seeds, grads), _blocks(p.size))
    for part in parts:  # block order: deterministic sums
        for a, c in part.items():
            accumulate(adj, a, c)
    with np.errstate(all="ignore"):
        _scalar_backward(run, adj, need, SCALAR)
    result: dict[str, Array] = {}
    for name in wrt:
        i = graph.inputs[name]
        if name in grads:
            result[name] = grads[name].reshape(p.shape)
        else:
            g = adj[i]
            result[name] = np.float64(0.0) if g is None else np.float64(g.plain())
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
    from gradcli.engine.forward import TooBig

    _prewarm(p)
    run = _Run(p, inputs)
    run.forward()
    grads: dict[str, Array] = {}
    try:
        for name in wrt:
            if p.cls[run.graph.inputs[name]] == ARRAY:
                grads[name] = _forward_array_input(run, name)
    except TooBig:
        return None  # dense tangents past the budget: the whole-array path chunks them
    scalars = [n for n in wrt if p.cls[run.graph.inputs[n]] != ARRAY]
    if scalars:
        grads.update(_forward_scalars(run, scalars))
    return run.output(), {n: grads[n] for n in wrt}


def _forward_array_input(run: _Run, name: str) -> Array:
    """Forward mode for one array input: each block seeds its own elements' diagonal tangent."""
    from gradcli.engine.forward import Pass, Tangent

    p, graph = run.p, run.graph
    seed_op = graph.inputs[name]
    order = sorted(p.array_ops + p.reduce_ops) + [i for i, c in enumerate(p.cls) if c == TAIL]
    grad = np.zeros(p.size)

    def block(b: Block) -> None:
        lo, hi = b
        with np.errstate(all="ignore"):
            S = (hi - lo,)
            seeds = {seed_op: Tangent(True, np.float64(1.0))}
            tangents = Pass(graph, run.block_list(lo, hi), run.counts, seeds, S, S).run_all(
                keep=False, order=order
            )
            t = tangents[graph.output]
        if t is not None:
            grad[lo:hi] = np.broadcast_to(t.plain(), S)

    _map(block, _blocks(p.size))
    return grad.reshape(p.shape)


def _forward_scalars(run: _Run, scalars: list[str]) -> dict[str, Array]:
    """Forward mode for the scalar inputs, in one batched pass (direction j seeds input j)."""
    from gradcli.engine.forward import Pass, Tangent, seed

    p, graph, vals = run.p, run.graph, run.vals
    D = (len(scalars),)
    eye = np.eye(len(scalars))
    seeds = {graph.inputs[n]: seed(eye[j]) for j, n in enumerate(scalars)}
    before = [i for i, c in enumerate(p.cls) if c == SCALAR]
    pre = Pass(graph, vals, run.counts, seeds, (), D).run_all(order=before)
    known = {i: t for i, t in enumerate(pre) if t is not None}
    order = sorted(p.array_ops + p.reduce_ops)

    def block(b: Block) -> list[Tangent | None]:
        lo, hi = b
        with np.errstate(all="ignore"):
            tan = Pass(graph, run.block_list(lo, hi), run.counts, known, (), D).run_all(
                keep=False, order=order
            )
        return [tan[r] for r in p.reduce_ops]

    parts = _map(block, _blocks(p.size))
    for j, r in enumerate(p.reduce_ops):
        pieces = [t for part in parts if (t := part[j]) is not None]
        if pieces:
            masks = [t.mask for t in pieces if t.mask is not None]
            mask = np.logical_or.reduce(masks) if len(masks) == len(pieces) else None
            arrs, exp = scaling.align([(t.arr, t.exp) for t in pieces])
            known[r] = Tangent(False, np.sum(arrs, axis=0), mask, exp)
    tail = [i for i, c in enumerate(p.cls) if c == TAIL]
    out = Pass(graph, vals, run.counts, known, (), D).run_all(order=tail)[graph.output]
    g = np.zeros(D) if out is None else np.broadcast_to(out.plain(), D)
    return {n: np.float64(g[j]) for j, n in enumerate(scalars)}
