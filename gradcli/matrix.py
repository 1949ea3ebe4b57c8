"""Value rules and derivative rules of the structured primitives: matrix products, indexing,
reductions along an axis, softmax and the losses over classes, linear algebra.

These are not element-wise, so their derivatives are not one partial per element: each
declares, in the primitive table (gradcli/primitives.py), a vector-Jacobian product (reverse
mode: the upstream gradient `g`, shaped like the output, to what argument k receives, shaped
like the argument) and a Jacobian-vector product (forward mode: a batch of tangents of
argument k, with any number of leading direction axes, to tangents of the output). A dense
Jacobian is never built. Axes are handled from the right (negative), so the same rule serves
an argument with or without leading direction axes.

Static parameters (axis, keepdims, an index) come from the program text, never from values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcli.arrays import Array
from gradcli.errors import ShapeError
from gradcli.limits import LIMITS, exceeded

# An index of `x[...]`: per axis an integer or a slice (start, stop, step; None: omitted).
Key = tuple[int | tuple[int | None, int | None, int | None], ...]
Vjp = Callable[..., Array]  # (g, args, out, **params) -> contribution to one argument
Jvp = Callable[..., Array]  # (t, args, out, **params) -> tangent of the output (t: D + arg shape)


@dataclass(frozen=True)
class Rules:
    """The derivative rules of one structured primitive, one per argument."""

    vjp: tuple[Vjp, ...]
    jvp: tuple[Jvp, ...]
    # Where the point sits on a kink ((args, out, **params) -> mask shaped like out), so that
    # `check` does not hold finite differences against the convention there; None: smooth.
    kink: Callable[..., Array] | None = None


def _f64(x: Array) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _out(x: Array) -> Array:
    arr = np.asarray(x, dtype=np.float64)
    return arr[()] if arr.ndim == 0 else arr


def lead(t: Array, like: Array) -> int:
    """How many leading direction axes tangent `t` has beyond the shape of `like`."""
    return np.ndim(t) - np.ndim(like)


def no_gradient_vjp_of(k: int) -> Vjp:
    """The vjp of an argument no gradient flows to (class indices, sizes): zeros of its shape."""

    def vjp(g: Array, args: list[Array], out: Array, **params: Any) -> Array:
        return np.zeros(np.shape(args[k]))[()]

    return vjp


def no_gradient_jvp_of(k: int) -> Jvp:
    """The tangent through such an argument: zeros, with the tangent's direction axes."""

    def jvp(t: Array, args: list[Array], out: Array, **params: Any) -> Array:
        return np.zeros(np.shape(t)[: lead(t, args[k])] + np.shape(out))[()]

    return jvp


# --------------------------------------------------------------------------
# a @ b


def _shape_text(x: Array) -> str:
    shape = np.shape(x)
    return "a scalar" if shape == () else f"shape {shape}"


def matmul(a: Array, b: Array) -> Array:
    a, b = _f64(a), _f64(b)
    if a.ndim not in (1, 2) or b.ndim not in (1, 2):
        raise ShapeError(
            f"@ takes vectors and matrices (1-D and 2-D arrays), got {_shape_text(a)} and {_shape_text(b)}",
            hint="for a scalar factor use *",
        )
    inner_a, inner_b = a.shape[-1], b.shape[0]
    if inner_a != inner_b:
        raise ShapeError(
            f"@: shapes {a.shape} and {b.shape} do not line up ({inner_a} != {inner_b})",
            hint="the last axis of the left operand must match the first axis of the right one; "
            "transpose(x) or x.T swaps the axes of a matrix",
        )
    _work(
        (a.shape[0] if a.ndim == 2 else 1) * inner_a * (b.shape[1] if b.ndim == 2 else 1),
        f"a @ b of shapes {a.shape} and {b.shape}",
    )
    return _out(a @ b)


def _work(count: int, what: str) -> None:
    """Refuse a matrix operation of more than LIMITS.max_matrix_work multiply-adds (its vjp and
    jvp cost as much again): bounded time for any program."""
    if count > LIMITS.max_matrix_work:
        raise exceeded(
            "max_matrix_work",
            f"{what} needs {count:,} multiply-adds, above the limit of {LIMITS.max_matrix_work:,}",
        )


def _row(x: np.ndarray) -> np.ndarray:
    """A 1-D left operand as a 1 x k matrix (its tangents: ... x 1 x k)."""
    return x[..., None, :]


def _col(x: np.ndarray) -> np.ndarray:
    return x[..., :, None]


def _as_out(m: np.ndarray, a: np.ndarray, b: np.ndarray) -> Array:
    """A product of the promoted (matrix) operands back in the shape of a @ b."""
    if a.ndim == 1:
        m = m[..., 0, :]
    if b.ndim == 1:
        m = m[..., 0]
    return _out(m)


def _matmul_vjp_a(g: Array, args: list[Array], out: Array) -> Array:
    a, b = _f64(args[0]), _f64(args[1])
    b2 = b if b.ndim == 2 else _col(b)
    g2 = _f64(g)
    g2 = g2 if (a.ndim == 2 and b.ndim == 2) else g2.reshape(a.shape[0] if a.ndim == 2 else 1, -1)
    da = g2 @ b2.T  # ∂L/∂a = g · bᵀ
    return _out(da[0] if a.ndim == 1 else da)


def _matmul_vjp_b(g: Array, args: list[Array], out: Array) -> Array:
    a, b = _f64(args[0]), _f64(args[1])
    a2 = a if a.ndim == 2 else _row(a)
    g2 = _f64(g).reshape(a2.shape[0], b.shape[1] if b.ndim == 2 else 1)
    db = a2.T @ g2  # ∂L/∂b = aᵀ · g
    return _out(db[:, 0] if b.ndim == 1 else db)


def _matmul_jvp_a(t: Array, args: list[Array], out: Array) -> Array:
    a, b = _f64(args[0]), _f64(args[1])
    t = _f64(t)
    if a.ndim == 1:  # t: directions x k; one matrix product for all of them
        return _out(t @ b)
    b2 = b if b.ndim == 2 else _col(b)
    return _as_out(t @ b2, a, b)


def _matmul_jvp_b(t: Array, args: list[Array], out: Array) -> Array:
    a, b = _f64(args[0]), _f64(args[1])
    t = _f64(t)
    if b.ndim == 1:  # t: directions x k: (a · t_d) for every d is t · aᵀ, one product
        return _out(t @ a.T if a.ndim == 2 else t @ a)
    a2 = a if a.ndim == 2 else _row(a)
    return _as_out(a2 @ t, a, b)


MATMUL = Rules((_matmul_vjp_a, _matmul_vjp_b), (_matmul_jvp_a, _matmul_jvp_b))


def outer(a: Array, b: Array) -> Array:
    a, b = _f64(a), _f64(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer takes two vectors, got {_shape_text(a)} and {_shape_text(b)}")
    return np.outer(a, b)


OUTER = Rules(
    (
        lambda g, args, out: _out(_f64(g) @ _f64(args[1])),
        lambda g, args, out: _out(_f64(g).T @ _f64(args[0])),
    ),
    (
        lambda t, args, out: _f64(t)[..., :, None] * _f64(args[1]),
        lambda t, args, out: _f64(args[0])[:, None] * _f64(t)[..., None, :],
    ),
)


# --------------------------------------------------------------------------
# transpose, reshape, indexing


def transpose(x: Array) -> Array:
    x = _f64(x)
    if x.ndim > 2:
        raise ShapeError(f"transpose takes a vector or a matrix, got shape {x.shape}")
    return _out(x.T)


def _swap_last(t: Array, like: Array) -> Array:
    return _out(np.swapaxes(_f64(t), -1, -2)) if np.ndim(like) == 2 else t


TRANSPOSE = Rules(
    (lambda g, args, out: _swap_last(g, args[0]),),
    (lambda t, args, out: _swap_last(t, args[0]),),
)


def reshape(x: Array, *shape: Array) -> Array:
    x = _f64(x)
    dims = tuple(_whole(d, "reshape's sizes") for d in shape)
    if math.prod(dims) != x.size:
        raise ShapeError(
            f"reshape: {x.size:,} elements of shape {x.shape} do not fill shape {dims}",
            hint="the sizes must multiply to the number of elements",
        )
    return _out(x.reshape(dims))


def _reshape_jvp(t: Array, args: list[Array], out: Array) -> Array:
    t = _f64(t)
    return _out(t.reshape(t.shape[: lead(t, args[0])] + np.shape(out)))


RESHAPE_FIRST: tuple[Vjp, Jvp] = (
    lambda g, args, out: _out(_f64(g).reshape(np.shape(args[0]))),
    _reshape_jvp,
)


def _resolve(key: Key, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """The numpy index of a key, after checking it against the shape (errors name both)."""
    if len(key) > len(shape):
        raise ShapeError(
            f"too many indices: {len(key)} for an array of shape {shape}",
            hint="one index (or slice) per axis" if shape else "a scalar cannot be indexed",
        )
    out: list[Any] = []
    for axis, (k, size) in enumerate(zip(key, shape, strict=False)):
        if isinstance(k, tuple):
            if k[2] == 0:
                raise ShapeError("a slice step cannot be 0")
            out.append(slice(*k))
        else:
            if not -size <= k < size:
                raise ShapeError(
                    f"index {k} is out of range for axis {axis} of size {size} (shape {shape})",
                    hint=f"indices run from 0 to {size - 1}, or from -{size} to -1"
                    if size
                    else "the axis is empty",
                )
            out.append(k)
    # The axes not indexed, in full: a tangent's leading direction axes come before them
    return tuple(out) + (slice(None),) * (len(shape) - len(key))


def index(x: Array, key: Key = ()) -> Array:
    x = _f64(x)
    return _out(np.array(x[_resolve(key, x.shape)]))


def _index_vjp(g: Array, args: list[Array], out: Array, key: Key = ()) -> Array:
    x = _f64(args[0])
    grad = np.zeros(x.shape)
    # Basic indexing selects each element at most once: assignment adds nothing twice.
    grad[_resolve(key, x.shape)] = g
    return _out(grad)


def _index_jvp(t: Array, args: list[Array], out: Array, key: Key = ()) -> Array:
    x = _f64(args[0])
    return _out(_f64(t)[(Ellipsis, *_resolve(key, x.shape))])


INDEX = Rules((_index_vjp,), (_index_jvp,))


# --------------------------------------------------------------------------
# Reductions along an axis (axis None: all of them), keepdims as numpy.


def _axes(x: Array, axis: int | None) -> tuple[int, ...]:
    """The reduced axes, negative (counted from the right: the same with leading directions)."""
    ndim = np.ndim(x)
    if axis is None:
        return tuple(range(-ndim, 0))
    if not -ndim <= axis < ndim:
        shape = np.shape(x)
        raise ShapeError(
            f"axis {axis} is out of range for an array of shape {shape}"
            + (f" (axes run from {-ndim} to {ndim - 1})" if ndim else " (a scalar has no axes)"),
        )
    return (axis - ndim if axis >= 0 else axis,)


def _kept(r: Array, x: Array, axis: int | None, keepdims: bool) -> Array:
    """A reduced array (or its gradient) with the reduced axes back as size 1 (broadcasts to x)."""
    r = _f64(r)
    if keepdims:
        return r
    for ax in sorted(_axes(x, axis), reverse=True):  # from the right-most: -1 first
        r = np.expand_dims(r, ax)
    return r


def _count(x: Array, axis: int | None) -> int:
    shape = np.shape(x)
    return math.prod(shape[a] for a in _axes(x, axis))


def reduce_sum(x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    x = _f64(x)
    return _out(np.sum(x, axis=_axes(x, axis), keepdims=keepdims))


def reduce_mean(x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    x = _f64(x)
    with np.errstate(all="ignore"):
        return _out(np.sum(x, axis=_axes(x, axis), keepdims=keepdims) / _count(x, axis))


def _spread(g: Array, x: Array, axis: int | None, keepdims: bool) -> np.ndarray:
    """g (shaped like the reduction) broadcast back over x's shape."""
    return np.broadcast_to(_kept(g, x, axis, keepdims), np.shape(x))


def _sum_t(t: Array, x: Array, axis: int | None, keepdims: bool) -> Array:
    return _out(np.sum(_f64(t), axis=_axes(x, axis), keepdims=keepdims))


SUM_AXIS = Rules(
    (lambda g, args, out, axis=None, keepdims=False: _out(np.array(_spread(g, args[0], axis, keepdims))),),
    (lambda t, args, out, axis=None, keepdims=False: _sum_t(t, args[0], axis, keepdims),),
)


def _mean_vjp(
    g: Array, args: list[Array], out: Array, axis: int | None = None, keepdims: bool = False
) -> Array:
    n = _count(args[0], axis)
    with np.errstate(all="ignore"):
        return _out(_spread(g, args[0], axis, keepdims) / n)


def _mean_jvp(
    t: Array, args: list[Array], out: Array, axis: int | None = None, keepdims: bool = False
) -> Array:
    with np.errstate(all="ignore"):
        return _out(_f64(_sum_t(t, args[0], axis, keepdims)) / _count(args[0], axis))


MEAN_AXIS = Rules((_mean_vjp,), (_mean_jvp,))


def _weights(x: Array, out: Array, axis: int | None, keepdims: bool, how: str) -> np.ndarray:
    """Per element, its share of d out: amax/amin ties share equally (torch.amax);
    logsumexp: the softmax along the axis; norm: x / out (0 where out is 0)."""
    x = _f64(x)
    o = _kept(out, x, axis, keepdims)
    axes = _axes(x, axis)
    with np.errstate(all="ignore"):
        if how == "extreme":
            hit = (x == o).astype(np.float64)
            return np.asarray(hit / np.sum(hit, axis=axes, keepdims=True))
        if how == "logsumexp":
            return _softmax(x, axes)
        return np.where(o == 0, 0.0, x / np.where(o == 0, 1.0, o))  # norm


def _extreme_kink(args: list[Array], out: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    """A tie for the largest (smallest) element: the gradient is shared, not a derivative."""
    x = _f64(args[0])
    hits = np.sum(x == _kept(out, x, axis, keepdims), axis=_axes(x, axis), keepdims=keepdims)
    return hits > 1


def _zero_kink(args: list[Array], out: Array, **params: Any) -> Array:
    return _f64(out) == 0


def _weighted(how: str) -> Rules:
    def vjp(
        g: Array, args: list[Array], out: Array, axis: int | None = None, keepdims: bool = False
    ) -> Array:
        w = _weights(args[0], out, axis, keepdims, how)
        return _out(_select(w, _spread(g, args[0], axis, keepdims)))

    def jvp(
        t: Array, args: list[Array], out: Array, axis: int | None = None, keepdims: bool = False
    ) -> Array:
        w = _weights(args[0], out, axis, keepdims, how)
        return _out(np.sum(_select(w, _f64(t)), axis=_axes(args[0], axis), keepdims=keepdims))

    kink = _extreme_kink if how == "extreme" else _zero_kink if how == "norm" else None
    return Rules((vjp,), (jvp,), kink)


def _select(w: np.ndarray, g: np.ndarray) -> np.ndarray:
    """w · g, where a zero weight stays 0 whatever g is (inf, NaN): the structural zeros."""
    with np.errstate(all="ignore"):
        return np.where(w == 0, 0.0, w * g)


def reduce_max(x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    x = _f64(x)
    axes = _axes(x, axis)
    if x.size == 0:
        raise ShapeError("max of an empty array has no value", hint="PyTorch raises here too")
    return _out(np.max(x, axis=axes, keepdims=keepdims))


def reduce_min(x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    x = _f64(x)
    axes = _axes(x, axis)
    if x.size == 0:
        raise ShapeError("min of an empty array has no value", hint="PyTorch raises here too")
    return _out(np.min(x, axis=axes, keepdims=keepdims))


def reduce_logsumexp(x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    x = _f64(x)
    axes = _axes(x, axis)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0.0)
        r = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return _out(r if keepdims else np.squeeze(r, axis=axes))


def reduce_norm(x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    x = np.abs(_f64(x))
    axes = _axes(x, axis)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axes, keepdims=True, initial=0.0)
        safe = np.where((m > 0) & np.isfinite(m), m, 1.0)
        r = safe * np.sqrt(np.sum(np.square(x / safe), axis=axes, keepdims=True))
        r = np.where(np.isinf(m), np.inf, r)
    return _out(r if keepdims else np.squeeze(r, axis=axes))


def reduce_prod(x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    x = _f64(x)
    return _out(np.prod(x, axis=_axes(x, axis), keepdims=keepdims))


def _others(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Per element, the product of the other elements along `axes` (no division: exact at zeros),
    from the products before and after it."""
    moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    flat = moved.reshape((*moved.shape[: moved.ndim - len(axes)], -1))
    ones = np.ones((*flat.shape[:-1], 1))
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.flip(np.cumprod(np.concatenate([ones, np.flip(flat[..., 1:], -1)], axis=-1), axis=-1), -1)
    return np.moveaxis((before * after).reshape(moved.shape), tuple(range(-len(axes), 0)), axes)


def _prod_vjp(
    g: Array, args: list[Array], out: Array, axis: int | None = None, keepdims: bool = False
) -> Array:
    x = _f64(args[0])
    with np.errstate(all="ignore"):
        return _out(_select(_others(x, _axes(x, axis)), _spread(g, x, axis, keepdims)))


def _prod_jvp(
    t: Array, args: list[Array], out: Array, axis: int | None = None, keepdims: bool = False
) -> Array:
    x = _f64(args[0])
    axes = _axes(x, axis)
    with np.errstate(all="ignore"):
        return _out(np.sum(_select(_others(x, axes), _f64(t)), axis=axes, keepdims=keepdims))


PROD_AXIS = Rules((_prod_vjp,), (_prod_jvp,))
EXTREME = _weighted("extreme")
LOGSUMEXP_AXIS = _weighted("logsumexp")
NORM_AXIS = _weighted("norm")


# --------------------------------------------------------------------------
# softmax, log_softmax, cross_entropy, nll


def _softmax(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0.0)
        e = np.exp(x - m)
        return np.asarray(e / np.sum(e, axis=axes, keepdims=True))


def _class_axis(x: Array, axis: int) -> tuple[int, ...]:
    if np.ndim(x) == 0:
        raise ShapeError("softmax takes a vector or a matrix, not a scalar")
    return _axes(x, axis)


def softmax(x: Array, axis: int = -1) -> Array:
    x = _f64(x)
    return _out(_softmax(x, _class_axis(x, axis)))


def log_softmax(x: Array, axis: int = -1) -> Array:
    x = _f64(x)
    axes = _class_axis(x, axis)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0.0)
        return _out(x - m - np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)))


def _softmax_vjp(g: Array, args: list[Array], out: Array, axis: int = -1) -> Array:
    s, g = _f64(out), _f64(g)
    return _out(s * (g - np.sum(g * s, axis=axis, keepdims=True)))


def _softmax_jvp(t: Array, args: list[Array], out: Array, axis: int = -1) -> Array:
    s, t = _f64(out), _f64(t)
    ax = _axes(args[0], axis)
    return _out(s * (t - np.sum(t * s, axis=ax, keepdims=True)))


def _log_softmax_vjp(g: Array, args: list[Array], out: Array, axis: int = -1) -> Array:
    s, g = np.exp(_f64(out)), _f64(g)
    return _out(g - s * np.sum(g, axis=axis, keepdims=True))


def _log_softmax_jvp(t: Array, args: list[Array], out: Array, axis: int = -1) -> Array:
    s, t = np.exp(_f64(out)), _f64(t)
    ax = _axes(args[0], axis)
    return _out(t - np.sum(t * s, axis=ax, keepdims=True))


SOFTMAX = Rules((_softmax_vjp,), (_softmax_jvp,))
LOG_SOFTMAX = Rules((_log_softmax_vjp,), (_log_softmax_jvp,))


def _whole(v: Array, what: str) -> int:
    if np.ndim(v) != 0 or not np.isfinite(v) or float(v) != math.floor(float(v)):
        raise ShapeError(f"{what} must be whole numbers, got {np.asarray(v).tolist()}")
    return int(v)


def _targets(logits: np.ndarray, target: Array, what: str) -> tuple[np.ndarray, int]:
    """The target as class probabilities shaped like the logits, and the batch size.

    Classes run along the last axis; a target shaped like the logits is probabilities, one of
    fewer axes is class indices (a scalar for one row, a vector for a batch of rows)."""
    if logits.ndim not in (1, 2):
        raise ShapeError(
            f"{what} takes logits of shape (classes,) or (batch, classes), got {_shape_text(logits)}"
        )
    classes = logits.shape[-1]
    batch = 1 if logits.ndim == 1 else logits.shape[0]
    t = _f64(target)
    if t.shape == logits.shape:
        return t, batch
    if t.shape != logits.shape[:-1]:
        raise ShapeError(
            f"{what}: target of shape {t.shape} for logits of shape {logits.shape}",
            hint="a class index per row (shape "
            f"{logits.shape[:-1]}) or class probabilities shaped like the logits",
        )
    flat = t.reshape(-1)
    if (
        not np.all(np.isfinite(flat))
        or np.any(flat != np.floor(flat))
        or np.any((flat < 0) | (flat >= classes))
    ):
        raise ShapeError(
            f"{what}: class indices must be whole numbers from 0 to {classes - 1}, got {t.tolist()}"
        )
    return np.eye(classes)[flat.astype(np.int64)].reshape(logits.shape), batch


def cross_entropy(logits: Array, target: Array) -> Array:
    z = _f64(logits)
    p, batch = _targets(z, target, "cross_entropy")
    return _out(-np.sum(_select(p, log_softmax(z))) / batch)


def _ce_vjp_z(g: Array, args: list[Array], out: Array) -> Array:
    z = _f64(args[0])
    p, batch = _targets(z, args[1], "cross_entropy")
    # ∂/∂z = (softmax(z)·sum(p) - p) / batch: softmax - p for probabilities that sum to 1
    s = softmax(z)
    return _out(_f64(g) * (s * np.sum(p, axis=-1, keepdims=True) - p) / batch)


def _ce_vjp_t(g: Array, args: list[Array], out: Array) -> Array:
    z, t = _f64(args[0]), _f64(args[1])
    if t.shape != z.shape:  # class indices: no gradient
        return np.zeros(t.shape)[()]
    return _out(-_f64(g) * log_softmax(z) / (1 if z.ndim == 1 else z.shape[0]))


def _ce_jvp_z(t: Array, args: list[Array], out: Array) -> Array:
    d = _ce_vjp_z(np.float64(1.0), args, out)
    return _out(np.sum(_f64(t) * d, axis=tuple(range(-np.ndim(d), 0))))


def _ce_jvp_t(t: Array, args: list[Array], out: Array) -> Array:
    d = _ce_vjp_t(np.float64(1.0), args, out)
    return _out(
        np.sum(_f64(t) * d, axis=tuple(range(-np.ndim(d), 0))) if np.ndim(d) else 0.0 * np.sum(t, axis=())
    )


CROSS_ENTROPY = Rules((_ce_vjp_z, _ce_vjp_t), (_ce_jvp_z, _ce_jvp_t))


def nll(logp: Array, target: Array) -> Array:
    lp = _f64(logp)
    p, batch = _targets(lp, target, "nll")
    if np.shape(target) == lp.shape:
        raise ShapeError(
            "nll takes class indices as its target", hint="for class probabilities use cross_entropy"
        )
    return _out(-np.sum(_select(p, lp)) / batch)


def _nll_vjp(g: Array, args: list[Array], out: Array) -> Array:
    lp = _f64(args[0])
    p, batch = _targets(lp, args[1], "nll")
    return _out(-_f64(g) * p / batch)


def _nll_jvp(t: Array, args: list[Array], out: Array) -> Array:
    d = _nll_vjp(np.float64(1.0), args, out)
    return _out(np.sum(_f64(t) * d, axis=tuple(range(-np.ndim(d), 0))))


NLL = Rules((_nll_vjp, no_gradient_vjp_of(1)), (_nll_jvp, no_gradient_jvp_of(1)))


# --------------------------------------------------------------------------
# trace, diag, det, logdet, inv


def _square(a: Array, what: str) -> np.ndarray:
    a = _f64(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"{what} takes a square matrix, got {_shape_text(a)}")
    _work(a.shape[0] ** 3, f"{what} of a {a.shape[0]} x {a.shape[0]} matrix")
    return np.asarray(a)


def trace(a: Array) -> Array:
    a = _f64(a)
    if a.ndim != 2:
        raise ShapeError(f"trace takes a matrix, got {_shape_text(a)}")
    return np.float64(np.trace(a))


TRACE = Rules(
    (lambda g, args, out: _f64(g) * np.eye(*np.shape(args[0])),),
    (lambda t, args, out: _out(np.trace(_f64(t), axis1=-2, axis2=-1)),),
)


def diag(x: Array) -> Array:
    x = _f64(x)
    if x.ndim not in (1, 2):
        raise ShapeError(
            f"diag takes a vector (to a diagonal matrix) or a matrix (to its diagonal), got {_shape_text(x)}"
        )
    return _out(np.diag(x))


def _diag_vjp(g: Array, args: list[Array], out: Array) -> Array:
    x, g = _f64(args[0]), _f64(g)
    if x.ndim == 1:
        return _out(np.diagonal(g).copy())
    grad = np.zeros(x.shape)
    k = min(x.shape)
    grad[np.arange(k), np.arange(k)] = g
    return grad


def _diag_jvp(t: Array, args: list[Array], out: Array) -> Array:
    x, t = _f64(args[0]), _f64(t)
    if x.ndim == 1:
        return _out(t[..., :, None] * np.eye(x.shape[0]))
    return _out(np.diagonal(t, axis1=-2, axis2=-1).copy())


DIAG = Rules((_diag_vjp,), (_diag_jvp,))


def det(a: Array) -> Array:
    a = _square(a, "det")
    return np.float64(np.linalg.det(a)) if a.size else np.float64(1.0)


def cofactors(a: Array) -> np.ndarray:
    """∂det/∂A, the matrix of cofactors, from the SVD A = U·diag(s)·Vᵀ: det(U)·det(V)·U·diag(the
    product of the other singular values)·Vᵀ. Exact at singular matrices too (rank n-1: one
    non-zero term), where det·inv(A)ᵀ is 0·inf; PyTorch's gradient there is the same."""
    a = _f64(a)
    n = a.shape[0]
    if n == 0:
        return np.zeros((0, 0))
    if not np.all(np.isfinite(a)):
        return np.full(a.shape, np.nan)
    u, s, vt = np.linalg.svd(a)
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return np.asarray(sign * (u * _others(s, (-1,))) @ vt)


DET = Rules(
    (lambda g, args, out: _f64(g) * cofactors(args[0]),),
    (lambda t, args, out: _out(np.sum(_f64(t) * cofactors(args[0]), axis=(-2, -1))),),
)


def logdet(a: Array) -> Array:
    """log(det(A)), as torch.logdet: NaN for a negative determinant, -inf for 0."""
    a = _square(a, "logdet")
    sign, log = np.linalg.slogdet(a)
    return np.float64(np.nan if sign < 0 else log if sign > 0 else -np.inf)


def _inverse_t(a: Array) -> np.ndarray:
    try:
        return np.linalg.inv(_f64(a)).T
    except np.linalg.LinAlgError:  # singular: the gradient is not finite
        return np.full(np.shape(a), np.nan)


LOGDET = Rules(
    (lambda g, args, out: _f64(g) * _inverse_t(args[0]),),
    (lambda t, args, out: _out(np.sum(_f64(t) * _inverse_t(args[0]), axis=(-2, -1))),),
)


def inv(a: Array) -> Array:
    """The inverse; a singular matrix gives NaN everywhere (with the usual warning), where
    PyTorch raises."""
    a = _square(a, "inv")
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.full(a.shape, np.nan)


INV = Rules(
    (lambda g, args, out: _out(-(_f64(out).T @ _f64(g) @ _f64(out).T)),),
    (lambda t, args, out: _out(-(_f64(out) @ _f64(t) @ _f64(out))),),
)


# --------------------------------------------------------------------------
# Constant arrays (no gradient)


def _shape(dims: tuple[Array, ...]) -> tuple[int, ...]:
    shape = tuple(_size(d) for d in dims)
    if math.prod(shape) > LIMITS.max_array_elements:
        raise exceeded(
            "max_array_elements",
            f"shape {shape} has {math.prod(shape):,} elements, above the limit of {LIMITS.max_array_elements:,}",
        )
    return shape


def zeros(*shape: Array) -> Array:
    return np.zeros(_shape(shape))


def ones(*shape: Array) -> Array:
    return np.ones(_shape(shape))


def eye(n: Array) -> Array:
    size = _size(n)
    _shape((size, size))
    return np.eye(size)


def onehot(k: Array, n: Array) -> Array:
    size = _size(n)
    ks = _f64(k)
    _shape((*ks.shape, size))
    flat = ks.reshape(-1)
    if not np.all(np.isfinite(flat)) or np.any(flat != np.floor(flat)) or np.any((flat < 0) | (flat >= size)):
        raise ShapeError(f"onehot(k, n): k must be whole numbers from 0 to {size - 1}, got {ks.tolist()}")
    return np.asarray(np.eye(size)[flat.astype(np.int64)].reshape((*ks.shape, size)))


def _size(d: Array) -> int:
    n = _whole(d, "sizes")
    if n < 0:
        raise ShapeError(f"sizes must not be negative, got {n}")
    if n > LIMITS.max_array_elements:
        raise exceeded(
            "max_array_elements", f"size {n:,} is above the array size limit of {LIMITS.max_array_elements:,}"
        )
    return n
