"""The Python API of derivatives beyond the gradient: `diff` (the derivative as a formula),
`jacobian` and `hessian` (exact numbers), over lang, engine and symbolic.

The Hessian is exact, not finite differences: the gradient written out as a program
(gradcli/symbolic/derive.py, source-to-source), then that program's Jacobian by forward mode
(all directions of an input in batched passes) or reverse mode, whichever sweeps less.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.api import Compiled
from gradcli.engine import forward, reverse
from gradcli.engine.values import bind, forward_values
from gradcli.errors import BindingError, GradcliError
from gradcli.lang.ast import Num
from gradcli.primitives import PRIMITIVES
from gradcli.symbolic.derive import DiffError, Formula, derivative

Array = Any
MAX_ORDER = 8  # derivative programs grow with each order; beyond this, ask for a reason


@dataclass
class Derivative:
    """The derivative of a program with respect to one input, as a program."""

    input: str
    order: int
    formula: Formula
    value: Array | None = None  # at the point, when bindings were given
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.formula.text()


@dataclass
class Matrix:
    """A Jacobian or Hessian: the matrix, and how its rows and columns map to elements."""

    matrix: np.ndarray
    rows: list[tuple[str, tuple[int, ...]]]  # (name, index) per row
    columns: list[tuple[str, tuple[int, ...]]]
    mode: str = ""
    warnings: list[str] = field(default_factory=list)
    asymmetry: float = 0.0  # Hessian: max |H - Hᵀ| relative to max |H|


def _shapes(
    compiled: Compiled, bindings: Mapping[str, Any] | None
) -> tuple[dict[int, tuple[int, ...]] | None, Any]:
    if bindings is None:
        return None, None
    inputs, _ = bind(compiled.graph, bindings)
    vals, _counts = forward_values(compiled.graph, inputs)
    return {i: np.shape(v) for i, v in enumerate(vals)}, inputs


def diff(
    program: str,
    bindings: Mapping[str, Any] | None = None,
    *,
    wrt: Iterable[str] | str | None = None,
    order: int = 1,
) -> dict[str, Derivative]:
    """For each input of `wrt` (default: all), the `order`-th derivative of the program's output
    as a program; with `bindings`, written for their shapes and evaluated there."""
    if not 1 <= order <= MAX_ORDER:
        raise BindingError(f"--order must be from 1 to {MAX_ORDER}, got {order}")
    compiled = Compiled(program)
    names = compiled.check_wrt(wrt)
    shapes, inputs = _shapes(compiled, bindings)
    if order > 1 and inputs is not None:
        arrays = [n for n in names if np.ndim(inputs[n]) != 0]
        if arrays:
            raise BindingError(
                f"--order {order} is for inputs that are single numbers; '{arrays[0]}' is an array",
                hint="use hessian for the second derivatives of array inputs",
            )
    out: dict[str, Derivative] = {}
    kinked = sorted(
        {
            op.prim.name
            for op in compiled.graph.ops
            if op.prim is not None
            and op.prim.public
            and (
                op.prim.kink is not None
                or (op.prim.derivatives is not None and op.prim.derivatives.kink is not None)
            )
        }
    )
    notes = []
    if kinked and order > 1:
        which = ", ".join(kinked)
        notes.append(
            f"{which}: a kink; the formula takes the convention there ({PRIMITIVES[kinked[0]].convention or 'see gradcli functions'})"
            + (
                ", and is 0 almost everywhere where a derivative of the kink's own indicator is taken"
                if order > 1
                else ""
            )
        )
    first = derivative(compiled.graph, names, shapes)
    for name in names:
        formula = first[name]
        for _ in range(order - 1):
            again = Compiled(formula.text())
            if name not in again.graph.inputs:  # the derivative no longer depends on it
                formula = Formula([], Num(0.0, "0"))
                break
            s, _ = _shapes(again, bindings)
            formula = derivative(again.graph, [name], s)[name]
        value = None
        if bindings is not None:
            value = _evaluate(formula, bindings)
        out[name] = Derivative(name, order, formula, value, list(notes))
    return out


def _evaluate(formula: Formula, bindings: Mapping[str, Any]) -> Array:
    program = Compiled(formula.text())
    used = {k: v for k, v in bindings.items() if k in program.graph.inputs}
    return program.evaluate(used)


def _layout(name: str, shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(int(i) for i in idx)) for idx in np.ndindex(shape)] if shape else [(name, ())]


def jacobian(
    program: str,
    bindings: Mapping[str, Any],
    *,
    wrt: Iterable[str] | str | None = None,
    mode: str = "auto",
) -> Matrix:
    """∂output/∂inputs at a point: rows are the output's elements, columns the elements of the
    `wrt` inputs in order (each flattened row-major). `mode`: forward (one pass per input, all
    its directions), reverse (one sweep per output element) or auto (whichever sweeps less)."""
    return _jacobian(Compiled(program), bindings, wrt, mode)


def _jacobian(
    compiled: Compiled, bindings: Mapping[str, Any], wrt: Iterable[str] | str | None, mode: str
) -> Matrix:
    if mode not in ("auto", "forward", "reverse"):
        raise BindingError(f"unknown mode '{mode}'", hint="use auto, forward or reverse")
    names = compiled.check_wrt(wrt)
    inputs, warnings = bind(compiled.graph, bindings)
    vals, counts = forward_values(compiled.graph, inputs)
    out_shape = np.shape(vals[compiled.graph.output])
    sizes = [int(np.size(inputs[n])) for n in names]
    if mode == "auto":
        mode = "forward" if sum(sizes) <= int(np.prod(out_shape)) else "reverse"
    run = forward.jacobian if mode == "forward" else reverse.jacobian
    with np.errstate(all="ignore"):
        blocks = [run(compiled.graph, vals, counts, n) for n in names]
    matrix = np.concatenate(blocks, axis=1) if blocks else np.zeros((int(np.prod(out_shape)), 0))
    columns = [c for n in names for c in _layout(n, np.shape(inputs[n]))]
    return Matrix(matrix, _layout("out", out_shape), columns, mode, warnings)


def hessian(
    program: str,
    bindings: Mapping[str, Any],
    *,
    wrt: Iterable[str] | str | None = None,
) -> Matrix:
    """The matrix of second partial derivatives of a scalar program at a point (inputs of
    `wrt` in order, each flattened row-major): the Jacobian of the gradient program."""
    compiled = Compiled(program)
    names = compiled.check_wrt(wrt)
    shapes, inputs = _shapes(compiled, bindings)
    assert shapes is not None and inputs is not None
    if shapes[compiled.graph.output] != ():
        raise BindingError(
            f"the output has shape {shapes[compiled.graph.output]}: a Hessian is of a single number",
            hint="use jacobian for array outputs (or sum(...) the output)",
        )
    gradients = derivative(compiled.graph, names, shapes)
    rows: list[np.ndarray] = []
    for name in names:
        text = gradients[name].text()
        g_program = Compiled(text)
        present = [n for n in names if n in g_program.graph.inputs]
        size = int(np.size(inputs[name]))
        block = np.zeros((size, sum(int(np.size(inputs[n])) for n in names)))
        if present:
            used = {k: v for k, v in bindings.items() if k in g_program.graph.inputs}
            part = _jacobian(g_program, used, present, "auto")
            col = 0
            for n in names:
                width = int(np.size(inputs[n]))
                if n in present:
                    j = present.index(n)
                    offset = sum(int(np.size(inputs[p])) for p in present[:j])
                    block[:, col : col + width] = np.broadcast_to(
                        part.matrix[:, offset : offset + width], (size, width)
                    )
                col += width
        rows.append(block)
    matrix = np.concatenate(rows, axis=0) if rows else np.zeros((0, 0))
    layout = [c for n in names for c in _layout(n, np.shape(inputs[n]))]
    scale = float(np.max(np.abs(matrix))) if matrix.size else 0.0
    asym = float(np.max(np.abs(matrix - matrix.T))) / scale if scale > 0 and np.isfinite(scale) else 0.0
    warnings: list[str] = []
    if asym > 1e-10:
        warnings.append(f"the Hessian is not symmetric: max |H - Hᵀ| is {asym:.2g} of its largest entry")
    return Matrix(matrix, layout, layout, "forward over the gradient program", warnings, asym)


__all__ = ["Derivative", "DiffError", "GradcliError", "Matrix", "diff", "hessian", "jacobian"]
