"""Applying one op to numpy values, with the shape and size checks every evaluator needs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradcli.engine.graph import Graph, Op
from gradcli.errors import BindingError, GradcliError, LimitError, ShapeError, did_you_mean
from gradcli.lang.ast import Call
from gradcli.limits import LIMITS, exceeded

Array = Any

_MAX_LISTED = 20  # missing inputs named in one message


def element_shape(op: Op, args: Sequence[Array], source: str) -> tuple[int, ...]:
    """The broadcast shape of an op's arguments, checked against the size limit."""
    try:
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    except ValueError:
        shapes = " and ".join(str(np.shape(a)) for a in args)
        assert op.prim is not None and op.node is not None
        raise ShapeError(
            f"{op.prim.name}: incompatible shapes {shapes}",
            span=op.node.span,
            source=source,
            hint="shapes combine by numpy broadcasting: equal sizes, or 1, per axis from the right",
        ) from None
    if math.prod(shape) > LIMITS.max_array_elements:
        assert op.node is not None
        raise exceeded(
            "max_array_elements",
            f"this operation would make an array of shape {shape} "
            f"({math.prod(shape):,} elements, limit {LIMITS.max_array_elements:,})",
            span=op.node.span,
            source=source,
        )
    return shape


def apply(op: Op, args: Sequence[Array], source: str) -> tuple[Array, int]:
    """Value of `op` on argument values, and the element count (for reductions' `n`)."""
    prim = op.prim
    assert prim is not None
    if prim.kind == "vector":
        shape = element_shape(op, args, source)  # equal shapes are checked by the value rule
        n = math.prod(shape) * len(args)
        if n > LIMITS.max_array_elements:
            raise exceeded(
                "max_array_elements",
                f"vector literal of {n:,} elements is above the limit of {LIMITS.max_array_elements:,}",
                source=source,
            )
        if len(shape) + 1 > LIMITS.max_array_dims:
            assert op.node is not None
            raise exceeded(
                "max_array_dims",
                f"this vector literal would have {len(shape) + 1} dimensions; arrays have at most "
                f"{LIMITS.max_array_dims}",
                span=op.node.span,
                source=source,
                advice="nest [ ] at most that deep (32 levels at most)",
            )
    elif prim.kind == "constant" or prim.kind == "structured":
        n = 0
    else:
        n = math.prod(element_shape(op, args, source))
    try:
        if prim.kind == "structured":
            return _structured(op, args, source), n
        return prim.fn(*args), n
    except GradcliError as err:
        if err.span == err.span.__class__(0, 0, 0, 0) and op.node is not None:  # no span of its own
            err.span = op.node.span
            if prim.notation is not None and isinstance(op.node, Call) and op.node.name_span.end:
                err.span = op.node.name_span  # an operator's error points at the operator
        raise err.with_source(source) from None


def _structured(op: Op, args: Sequence[Array], source: str) -> Array:
    """A structured primitive's value (its static parameters from the program), size-checked."""
    assert op.prim is not None
    value = op.prim.fn(*args, **op.params)
    if np.size(value) > LIMITS.max_array_elements:
        assert op.node is not None
        raise exceeded(
            "max_array_elements",
            f"this operation would make an array of shape {np.shape(value)} "
            f"({np.size(value):,} elements, limit {LIMITS.max_array_elements:,})",
            span=op.node.span,
            source=source,
        )
    return value


def as_value(raw: Any, name: str) -> Array:
    """A binding's value as float64 (scalar or array)."""
    if type(raw) is float:  # the common case, without numpy's conversion machinery
        return np.float64(raw)
    try:
        value = np.asarray(raw, dtype=np.float64)
    except OverflowError:  # an integer beyond float64's range: 10**400
        raise BindingError(
            f"the value of '{name}' is too large for a float64 (the largest is about 1.8e308)",
            hint="numbers that overflow are errors, not infinity",
        ) from None
    except (TypeError, ValueError) as exc:
        raise BindingError(f"the value of '{name}' is not a number or an array of numbers ({exc})") from None
    if value.size > LIMITS.max_array_elements:
        raise LimitError(
            f"the value of '{name}' has {value.size:,} elements, above the limit of "
            f"{LIMITS.max_array_elements:,}",
        )
    if value.ndim > LIMITS.max_array_dims:
        raise exceeded(
            "max_array_dims",
            f"the value of '{name}' has {value.ndim} dimensions; arrays have at most {LIMITS.max_array_dims}",
            advice="arrays have 32 dimensions at most",
        )
    return value[()] if value.ndim == 0 else value


def constant_value(op: Op) -> Array:
    return np.float64(op.const)


def bind(graph: Graph, bindings: Mapping[str, Any]) -> tuple[dict[str, Array], list[str]]:
    """Check the bindings against the program's inputs: returns the values and warnings."""
    missing = [name for name in graph.inputs if name not in bindings]
    if missing:
        shown = missing[:_MAX_LISTED]
        more = f" (and {len(missing) - len(shown):,} more)" if len(missing) > len(shown) else ""
        listed = ", ".join(shown) + more
        first = graph.input_spans[missing[0]]
        noun = "input" if len(missing) == 1 else "inputs"
        raise BindingError(
            f"missing {noun}: {listed}",
            span=first,
            source=graph.program.source,
            hint="give each a value: " + " ".join(f"{m}=..." for m in shown) + (" ..." if more else ""),
        )
    warnings = []
    for name in bindings:
        if name not in graph.inputs:
            hint = did_you_mean(name, graph.inputs) or ""
            msg = f"'{name}' is bound but the program does not use it as an input"
            warnings.append(f"{msg}; {hint}" if hint else msg)
    values = {name: as_value(bindings[name], name) for name in graph.inputs}
    return values, warnings


def forward_values(graph: Graph, inputs: Mapping[str, Array]) -> tuple[list[Array], list[int]]:
    """Every op's value (the primal pass), iteratively, and each op's element count.

    All values are kept (reverse mode needs them), so their total size is limited too.
    """
    source = graph.program.source
    vals: list[Array] = [None] * len(graph.ops)
    counts: list[int] = [0] * len(graph.ops)
    total = 0
    # Domain problems become NaN/inf, reported afterwards; numpy's RuntimeWarnings
    # (e.g. the mean of an empty array) would only repeat that on stderr.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, op in enumerate(graph.ops):
            if op.prim is None:
                vals[i] = inputs[op.input] if op.input is not None else constant_value(op)
            else:
                vals[i], counts[i] = apply(op, [vals[a] for a in op.args], source)
                total += np.size(vals[i])
                if total > LIMITS.max_total_elements:
                    assert op.node is not None
                    raise exceeded(
                        "max_total_elements",
                        f"the program's values hold more than {LIMITS.max_total_elements:,} elements in all",
                        span=op.node.span,
                        source=source,
                        advice="every intermediate value is kept for the gradient",
                    )
    return vals, counts


def fit(arr: Array, shape: tuple[int, ...], how: Callable[..., Array] = np.sum) -> Array:
    """Reduce `arr` (with `how`, a sum by default) over the axes that broadcasting added to
    `shape`, or broadcast it up to `shape`: the adjoint of broadcasting."""
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
        arr = how(arr, axis=axes, keepdims=True)
        if lead:
            arr = arr.reshape(arr.shape[lead:])
    return arr[()] if shape == () else arr


def fit_live(live: Array | None, shape: tuple[int, ...]) -> Array | None:
    """Where a contribution fitted to `shape` is live: any of the entries summed into it.
    None (live everywhere) stays None, and so does a mask that is all True."""
    if live is None:
        return None
    arr = np.broadcast_to(fit(np.asarray(live, dtype=bool), shape, np.any), shape)
    return None if arr.all() else arr


def or_live(a: Array | None, b: Array | None) -> Array | None:
    """Live where either is (None: live everywhere)."""
    return None if a is None or b is None else np.logical_or(a, b)
