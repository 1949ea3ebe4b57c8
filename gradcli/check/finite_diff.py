"""Central finite differences of a program's value: the independent route of `gradcli check`.

Only values are evaluated here (no derivative rule is used), so this route is independent
of forward and reverse mode, which share the rules of the primitive table.

Differences. For each element x_j of an input, central differences
    D(h) = (f(x + h e_j) - f(x - h e_j)) / (2h)
are taken for steps h_k = h_0 / 2**k and combined in Ridders' Richardson tableau
    T[k][0] = D(h_k),  T[k][i] = T[k][i-1] + (T[k][i-1] - T[k-1][i-1]) / (4**i - 1).
The error of an entry is estimated from its distance to its two parents, and never below
the rounding error of D (about eps·|f| / h); the entry with the smallest estimate is the
answer, and that estimate is its error. `f` is sum(output), as for the exact gradient.

Steps. h_0 = max(|x_j|, 1) / 16, halved down to |x_j| / 16 / 2**15 (x_j = 0: 1 / 16 / 2**15):
sixteen steps at the scale of x_j, more for small |x_j| (at most 30 more), so that a point
near a domain edge at 0 (log, sqrt) still has steps on its side, and a function that varies
quickly (sin(1000 x)) still has steps small enough. The step actually taken is
((x + h) - (x - h)) / 2 as rounded. Steps whose evaluations are not finite are left out;
when none is finite the difference is undefined (NaN, error inf). The rounding floor of
the error uses the largest intermediate value of the evaluation, not just |f|: in
log(1 + x**2) at small x the rounding happens at the scale of 1.

Smoothness. With s(h) = |f(x+h) - 2 f(x) + f(x-h)| / h, a smooth f gives s(h) ≈ h·|f''|,
which halves with the step, while a kink inside the step gives s ≈ the jump in slope,
which does not shrink (a jump in value makes it grow). When s at the finest step of the
chosen entry does not shrink and stands clear of rounding, the element is `rough`:
finite differences cannot judge it (typically a kink closer than the smallest step).

Work. When every operation between the input and the output is element-wise, each
output element depends on one element of the input, so all elements are perturbed at
once: about 2·K evaluations of the ops that depend on the input, whatever the size.
Otherwise each element costs 2·K evaluations of everything the input feeds (a reduction
over n elements costs n per evaluation): an input of at most FD_ALL elements is differenced
in full, a bigger one on a random sample of FD_ELEMENTS elements (seeded: the note gives
the seed), and never more than LIMITS.max_check_fd_work element-operations in all (fewer
elements then; none, with a note, when one element alone costs more). The elements left
out are judged by the exact routes (`computed` says which). A batch over the budget is
skipped (one evaluation already costs the whole array), and a batch keeps at most
MAX_COLUMNS output elements in its tableau (a sample beyond).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcli.engine.graph import Graph, Through
from gradcli.engine.values import apply
from gradcli.limits import LIMITS, variable

Array = Any

EPS = float(np.finfo(np.float64).eps)
BASE = 1.0 / 16.0  # first step, relative to max(|x|, 1)
LEVELS = 16  # steps at the scale of x: 1/16 down to 1/16/2**15 ≈ 2e-6
MAX_EXTRA = 30  # further halvings for |x| < 1
MAX_ORDER = 4  # Richardson extrapolation orders
NOISE = 4.0  # rounding error of one evaluation, in units of eps·|f|
FINE_LEVELS = 8  # the finest levels, whose best entry must agree with the overall best
FD_AGREE = 10.0  # ... within this many times their two error estimates
ROUGH_RATIO = 0.7  # s(h/2) / s(h) above this (smooth: 0.5) flags a kink inside the step
ROUGH_SIGNAL = 100.0  # ... when s also stands this far above its rounding error
OP_COST = 1000  # element-operations charged per op evaluation (interpreter overhead)
MAX_COLUMNS = 100_000  # output elements kept in one tableau (memory: ~100 bytes each per level)
FD_ALL = 1000  # an input with at most this many elements is differenced element by element in full
FD_ELEMENTS = 100  # above that, a random sample of this many elements (check --fd-elements)
FD_SEED = 20261201  # the sample's seed (check --fd-seed), printed in the note


@dataclass
class FDResult:
    """Finite-difference gradient of sum(output) with respect to one input."""

    estimate: np.ndarray  # the input's shape; NaN where undefined or not computed
    error: np.ndarray  # estimated absolute error; inf where undefined, NaN where not computed
    step: np.ndarray  # the finest step of the chosen tableau entry
    rough: np.ndarray  # bool: not smooth within the step
    computed: np.ndarray  # bool: differenced (False where sampling left it out)
    method: str  # "element-wise batch", "per element", "constant" or "skipped"
    note: str = ""  # sampling or skipping, for the report

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.estimate.shape)


def level_plan(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first step, number of steps) per element of `x`: steps halve from max(|x|, 1)/16."""
    ax = np.abs(np.asarray(x, dtype=np.float64))
    with np.errstate(all="ignore"):
        top = BASE * np.maximum(ax, 1.0)
        small = np.where(ax > 0, ax, 1.0)
        extra = np.ceil(np.log2(np.maximum(ax, 1.0) / small))
    extra = np.clip(np.nan_to_num(extra, nan=0.0, posinf=0.0), 0, MAX_EXTRA).astype(np.int64)
    return top, LEVELS + extra


def level_step(top: np.ndarray, count: np.ndarray, k: int) -> np.ndarray:
    """The k-th step of every element (NaN where an element has fewer steps)."""
    return np.where(k < count, top * 2.0**-k, np.nan)


def level_steps(x: np.ndarray) -> np.ndarray:
    """All steps, (levels, elements), for flat `x` (NaN past an element's last step)."""
    top, count = level_plan(x)
    total = int(count.max(initial=LEVELS))
    return np.stack([level_step(top, count, k) for k in range(total)]) if top.size else np.zeros((total, 0))


def _keep_better(
    cur: np.ndarray,
    err: np.ndarray,
    cols: np.ndarray,
    best: np.ndarray,
    best_err: np.ndarray,
    best_level: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column, the entry of `cur` with the smallest error, where it beats the best so far."""
    k = np.argmin(err, axis=0)
    pick = err[k, cols]
    better = pick < best_err
    return (
        np.where(better, cur[k, cols], best),
        np.where(better, pick, best_err),
        np.where(better, k, best_level),
    )


def richardson(
    fp: np.ndarray,
    fm: np.ndarray,
    f0: np.ndarray,
    xp: np.ndarray,
    xm: np.ndarray,
    magnitude: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ridders' tableau over levels (axis 0) for each element (axis 1).

    fp, fm: f(x + h_k), f(x - h_k); xp, xm: the perturbed points as rounded; f0: f(x);
    magnitude: the largest intermediate value of the evaluation (per element), whose
    rounding survives cancellation (log(1 + x**2) at small x is rounded at the scale of 1).
    Returns (estimate, error, finest step used, rough) per element.
    """
    with np.errstate(all="ignore"):
        width = xp - xm
        h = width / 2.0
        d = (fp - fm) / width
        scale = np.maximum(np.maximum(np.abs(fp), np.abs(fm)), np.abs(f0)[None, :])
        scale = np.maximum(scale, np.nan_to_num(np.asarray(magnitude, dtype=np.float64), posinf=0.0))
        noise = NOISE * EPS * scale / h  # rounding error of D(h_k)
        best, best_err, best_level = _tableau(d, noise)
        cols = np.arange(d.shape[1])
        step = h[best_level, cols]
        s = np.abs(fp - 2.0 * f0[None, :] + fm) / h
        finer = s[best_level, cols]
        coarser = s[np.maximum(best_level - 1, 0), cols]
        rough = (
            (best_level > 0)
            & (finer > ROUGH_RATIO * coarser)
            & (finer > ROUGH_SIGNAL * (noise[best_level, cols]))
            & np.isfinite(best)
        )
    best = np.where(np.isfinite(best_err), best, np.nan)
    return best, best_err, step, rough


def _tableau(d: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best tableau entry per element (estimate, error, level), checked against the best
    one at the finest levels."""
    levels, m = d.shape
    cols = np.arange(m)
    # The finest FINE_LEVELS finite levels of each element: a second, independent choice.
    last = levels - 1 - np.argmax(np.isfinite(d)[::-1], axis=0)
    fine = np.arange(levels)[:, None] > (last - FINE_LEVELS)[None, :]
    best = (np.full(m, np.nan), np.full(m, np.inf), np.zeros(m, dtype=int))
    fine_best = (np.full(m, np.nan), np.full(m, np.inf), np.zeros(m, dtype=int))
    prev = d
    for order in range(min(MAX_ORDER, levels - 1) + 1):
        cur, err = _extrapolate(prev, order)
        # Extrapolation at most doubles the rounding error of the finest level it uses.
        err = np.maximum(err, (2.0 if order else 1.0) * noise)
        err = np.where(np.isfinite(cur) & ~np.isnan(err), err, np.inf)
        best = _keep_better(cur, err, cols, *best)
        fine_best = _keep_better(cur, np.where(fine, err, np.inf), cols, *fine_best)
        prev = cur
    # Coarse steps can agree with each other and be wrong together (a step that is a
    # multiple of a period aliases an oscillation): the best entry must agree with the best
    # one at the finest steps. When it does not, the fine one stands, with their distance
    # as its error (large: the finite difference then does not vote).
    distance = np.abs(best[0] - fine_best[0])
    split = np.isfinite(fine_best[1]) & ~(distance <= FD_AGREE * (best[1] + fine_best[1]))
    return (
        np.where(split, fine_best[0], best[0]),
        np.where(split, np.maximum(fine_best[1], distance), best[1]),
        np.where(split, fine_best[2], best[2]),
    )


def _extrapolate(prev: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Column `order` of the tableau from column `order - 1`, with each entry's error estimate
    (its distance to its two parents)."""
    err = np.full_like(prev, np.inf)
    if order == 0:
        err[1:] = np.abs(prev[1:] - prev[:-1])
        return prev, err
    cur = np.full_like(prev, np.nan)
    cur[order:] = prev[order:] + (prev[order:] - prev[order - 1 : -1]) / (4.0**order - 1.0)
    err[order:] = np.maximum(np.abs(cur[order:] - prev[order:]), np.abs(cur[order:] - prev[order - 1 : -1]))
    return cur, err


def elementwise_from(graph: Graph, dep: Sequence[bool]) -> list[bool]:
    """Ops that depend on the seed through element-wise ops only: element I of such an op
    depends on the one element of the seed that broadcasting maps I to."""
    ew = list(dep)
    for i, op in enumerate(graph.ops):
        if dep[i] and op.prim is not None:
            ew[i] = op.prim.kind in ("elementwise", "vector") and all(ew[a] for a in op.args if dep[a])
    return ew


class _Evaluator:
    """Re-evaluates only the ops that depend on one input, for a new value of that input."""

    def __init__(self, graph: Graph, vals: Sequence[Array], seed: int, dep: Sequence[bool]) -> None:
        self.graph, self.vals, self.seed = graph, vals, seed
        # (the seed itself is not re-evaluated: an assigned name differenced holds its inputs)
        self.order = [i for i, op in enumerate(graph.ops) if dep[i] and op.prim is not None and i != seed]
        # One evaluation reads every argument and writes every result of the ops that depend
        # on the input (a reduction of n elements costs n, not its one output), plus the
        # interpreter's cost per op.
        self.cost = (
            sum(
                math.prod(np.shape(vals[i]))
                + sum(math.prod(np.shape(vals[a])) for a in graph.ops[i].args)
                + OP_COST
                for i in self.order
            )
            + OP_COST
        )

    def magnitude(self, shape: tuple[int, ...] | None) -> np.ndarray:
        """The largest |value| among the input and the ops that depend on it: per element of
        `shape` (element-wise programs), or over everything (shape None)."""
        idx = [self.seed, *self.order]
        with np.errstate(all="ignore"):
            if shape is None:
                return np.asarray(
                    max(
                        float(np.max(np.nan_to_num(np.abs(self.vals[i]), nan=0.0, posinf=0.0), initial=0.0))
                        for i in idx
                    )
                )
            out = np.zeros(shape)
            for i in idx:
                try:
                    value = np.broadcast_to(self.vals[i], shape)
                except ValueError:  # an intermediate that does not feed the output: `a = x + [0]; x`
                    continue
                out = np.fmax(out, np.abs(value))
        return out

    def output(self, x: Array) -> Array:
        local = list(self.vals)
        local[self.seed] = x
        source = self.graph.program.source
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for i in self.order:
                op = self.graph.ops[i]
                local[i] = apply(op, [local[a] for a in op.args], source)[0]
        return local[self.graph.output]


def _empty(shape: tuple[int, ...], method: str, note: str = "", value: float = np.nan) -> FDResult:
    return FDResult(
        estimate=np.full(shape, value),
        error=np.full(shape, 0.0 if value == 0 else np.nan),
        step=np.full(shape, np.nan),
        rough=np.zeros(shape, dtype=bool),
        computed=np.full(shape, value == 0),
        method=method,
        note=note,
    )


@dataclass(frozen=True)
class Sample:
    """Which elements of a big input are differenced: at most `elements` of them, drawn at
    random with `seed` (an input of at most FD_ALL elements is differenced in full)."""

    elements: int = FD_ELEMENTS
    seed: int = FD_SEED


def gradient(
    graph: Graph, vals: Sequence[Array], name: str, *, budget: int | None = None, sample: Sample = Sample()
) -> FDResult:
    """Finite-difference d sum(output) / d `name` at the point whose op values are `vals`."""
    budget = LIMITS.max_check_fd_work if budget is None else budget
    seed = graph.op_of(name)  # an assigned name too: its own inputs held fixed (retain_grad)
    x = np.asarray(vals[seed], dtype=np.float64)
    shape = tuple(x.shape)
    dep = graph.reaches([seed], Through.VALUE)
    if not dep[graph.output] or np.size(vals[graph.output]) == 0:  # sum of an empty output: 0
        return _empty(shape, "constant", value=0.0)
    ev = _Evaluator(graph, vals, seed, dep)
    top, count = level_plan(x.ravel())
    levels = int(count.max(initial=LEVELS))
    out_shape = tuple(np.shape(vals[graph.output]))
    ew = elementwise_from(graph, dep)
    batch = ew[graph.output] and np.broadcast_shapes(shape, out_shape) == out_shape
    if batch:
        work = 2 * levels * ev.cost
        if work > budget:
            return _empty(shape, "skipped", _over_budget(name, work, budget))
        return _batched(ev, x, top, count, vals[graph.output], out_shape, name)
    return _per_element(ev, x, (top, count), vals[graph.output], name, (budget, sample))


def _over_budget(name: str, work: float, budget: int) -> str:
    return (
        f"finite differences for '{name}' skipped: about {work:,.0f} element-operations, "
        f"above the limit of {budget:,} ({variable('max_check_fd_work')})"
    )


def _batched(
    ev: _Evaluator,
    x: np.ndarray,
    top: np.ndarray,
    count: np.ndarray,
    out0: Array,
    out_shape: tuple[int, ...],
    name: str,
) -> FDResult:
    shape = tuple(x.shape)
    levels = int(count.max(initial=LEVELS))
    m = math.prod(out_shape)
    cols: np.ndarray | None = None  # output elements kept in the tableau (None: all)
    if m > MAX_COLUMNS:
        if out_shape != shape:
            return _empty(
                shape,
                "skipped",
                f"finite differences for '{name}' skipped: the output has "
                f"{m:,} elements, above the {MAX_COLUMNS:,} the tableau keeps",
            )
        cols = np.unique(np.linspace(0, m - 1, MAX_COLUMNS).round().astype(int))

    def keep(a: Array) -> np.ndarray:
        flat = np.broadcast_to(a, out_shape).ravel()
        return flat if cols is None else flat[cols]

    width = m if cols is None else cols.size
    fp, fm, xp_all, xm_all = (np.empty((levels, width)) for _ in range(4))
    for k in range(levels):
        h = level_step(top, count, k).reshape(shape)
        xp, xm = x + h, x - h
        fp[k], fm[k] = keep(ev.output(xp)), keep(ev.output(xm))
        xp_all[k], xm_all[k] = keep(xp), keep(xm)
    f0 = keep(np.asarray(out0, dtype=np.float64))
    est, err, step, rough = richardson(fp, fm, f0, xp_all, xm_all, keep(ev.magnitude(out_shape)))
    if cols is not None:  # out_shape == shape: columns are input elements
        out = _blank(
            shape,
            "element-wise batch",
            f"finite differences for '{name}' on {cols.size:,} of "
            f"{m:,} elements (evenly spaced); the exact routes judge the rest",
        )
        _scatter(out, cols, est, err, step, rough)
        return out
    with np.errstate(all="ignore"):
        estimate = _reduce_back(est.reshape(out_shape), shape, np.sum)
        error = _reduce_back(np.abs(err).reshape(out_shape), shape, np.sum)
        step_in = _reduce_back(step.reshape(out_shape), shape, np.max)
        rough_in = _reduce_back(rough.reshape(out_shape), shape, np.any) > 0
    return FDResult(
        estimate=np.where(np.isfinite(error), estimate, np.nan),
        error=error,
        step=step_in,
        rough=rough_in,
        computed=np.ones(shape, dtype=bool),
        method="element-wise batch",
    )


def _blank(shape: tuple[int, ...], method: str, note: str) -> FDResult:
    return FDResult(
        estimate=np.full(shape, np.nan),
        error=np.full(shape, np.nan),
        step=np.full(shape, np.nan),
        rough=np.zeros(shape, dtype=bool),
        computed=np.zeros(shape, dtype=bool),
        method=method,
        note=note,
    )


def _scatter(
    out: FDResult, cols: np.ndarray, est: np.ndarray, err: np.ndarray, step: np.ndarray, rough: np.ndarray
) -> None:
    for arr, vals in ((out.estimate, est), (out.error, err), (out.step, step), (out.rough, rough)):
        arr.reshape(-1)[cols] = vals
    out.computed.reshape(-1)[cols] = True


def _reduce_back(a: np.ndarray, shape: tuple[int, ...], how: Any) -> np.ndarray:
    """Reduce `a` over the axes that broadcasting added to `shape` (like `fit`, with `how`)."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, dim in enumerate(shape) if dim == 1 and a.shape[lead + i] != 1
    )
    out = how(a, axis=axes, keepdims=True) if axes else a
    return np.asarray(out, dtype=np.float64).reshape(shape)


def _chosen(n: int, per_element: float, name: str, budget: int, sample: Sample) -> tuple[np.ndarray, str]:
    """The elements to difference (flat indices, sorted) and the note that says how they were
    chosen: all of a small input, or evenly spaced ones when each costs so much that the work
    limit would be passed; a seeded random sample of a big one (fewer when the limit says so)."""
    affordable = max(int(budget // per_element), 1) if per_element > 0 else n
    cost = f"each costing about {per_element:,.0f} element-operations, to stay within {variable('max_check_fd_work')}"
    if n <= FD_ALL:
        if affordable >= n:
            return np.arange(n), ""
        wanted = np.unique(np.linspace(0, n - 1, affordable).round().astype(int))
        how = f"{wanted.size:,} of its {n:,} elements (evenly spaced), {cost}"
    else:
        rng = np.random.default_rng(sample.seed)
        picked = rng.choice(n, size=min(n, sample.elements), replace=False)  # in random order
        cut = affordable < picked.size
        wanted = np.sort(picked[:affordable])
        how = f"a random sample of {wanted.size:,} of its {n:,} elements (seed {sample.seed}, --fd-seed; " + (
            f"{cost})" if cut else "--fd-elements)"
        )
    return wanted, f"finite differences for '{name}' on {how}; the exact routes judge the rest"


def _per_element(
    ev: _Evaluator,
    x: np.ndarray,
    plan: tuple[np.ndarray, np.ndarray],
    out0: Array,
    name: str,
    limits: tuple[int, Sample],
) -> FDResult:
    shape = tuple(x.shape)
    n = x.size
    if n == 0:
        return _blank(shape, "per element", "")
    budget, sample = limits
    per_element = 2 * float(np.mean(plan[1])) * (ev.cost + n)
    if per_element > budget:
        return _empty(shape, "skipped", _over_budget(name, per_element, budget))
    chosen, note = _chosen(n, per_element, name, budget, sample)
    steps = level_steps(x.ravel()[chosen])
    levels, m = steps.shape
    fp, fm = np.full((levels, m), np.nan), np.full((levels, m), np.nan)
    xp_all, xm_all = np.full((levels, m), np.nan), np.full((levels, m), np.nan)
    flat = x.ravel()
    point = flat.copy()  # one buffer: an element is moved, evaluated, and put back
    for col, j in enumerate(chosen):
        for k in range(levels):
            h = steps[k, col]
            if not np.isfinite(h):
                break
            for sign, f_out, x_out in ((1.0, fp, xp_all), (-1.0, fm, xm_all)):
                point[j] = flat[j] + sign * h
                x_out[k, col] = point[j]
                f_out[k, col] = float(np.sum(ev.output(point.reshape(shape))))
            point[j] = flat[j]
    f0 = np.full(m, float(np.sum(out0)))
    magnitude = max(float(ev.magnitude(None)), float(np.sum(np.abs(out0))))
    est, err, step, rough = richardson(fp, fm, f0, xp_all, xm_all, magnitude)
    out = _blank(shape, "per element", note)
    _scatter(out, chosen, est, err, step, rough)
    return out
