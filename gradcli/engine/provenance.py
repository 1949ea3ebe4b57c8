"""Where a NaN or an infinity was born, and which kink a point sits on: the warnings of grad,
explain and check, in words a person can act on.

- Forward pass: the first op whose value has a non-finite element while its arguments are
  finite there, with those arguments' values and the function's domain.
- Backward sweep: when the values are finite but a gradient is not, the first product of the
  sweep (in sweep order) that is non-finite while its upstream gradient and arguments are
  finite: `∂sqrt(x)/∂x` at x = 0.
- Kinks: the ops whose point is exactly on a kink of the table (relu at 0, abs at 0, a tie of
  max), with the convention used there.

Steps are numbered as explain's forward table numbers its rows: every op except the numeric
literals, in evaluation order.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.engine.graph import Graph, Op
from gradcli.engine.rules import kinks
from gradcli.lang.ast import Num

Array = Any


@dataclass
class Origin:
    """The first non-finite number of a pass."""

    where: str  # "forward" or "backward"
    step: int
    op: int
    node: str  # the node's source text
    line: int
    column: int
    function: str
    arguments: dict[str, float]  # parameter -> the value at the first bad element
    domain: str
    what: str  # "NaN" or "infinite"
    slot: str = ""  # backward: the argument the product flows to

    def arguments_text(self) -> str:
        return ", ".join(f"{k} = {_num(v)}" for k, v in self.arguments.items())

    def describe(self) -> str:
        args = self.arguments_text()
        domain = f" ({self.function} is defined for {self.domain})" if self.domain else ""
        if self.where == "forward":
            return f"it first appears at step {self.step}, {self.node} with {args}{domain}"
        return (
            f"it first appears in the backward sweep at step {self.step}, the derivative of {self.node} "
            f"with respect to {self.slot}, with {args}{domain}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "pass": self.where,
            "step": self.step,
            "node": self.node,
            "line": self.line,
            "column": self.column,
            "function": self.function,
            "arguments": {k: _json(v) for k, v in self.arguments.items()},
            "domain": self.domain,
            "kind": self.what,
        }


@dataclass
class Kink:
    step: int
    node: str
    function: str
    convention: str
    elements: int = 1
    of: int = 1

    def describe(self) -> str:
        where = f" ({self.elements:,} of {self.of:,} elements)" if self.of > 1 else ""
        return (
            f"{self.node} is at a kink of {self.function}{where}: the derivative there is the "
            f"convention {self.convention or 'of the table'}"
        )


@dataclass
class Provenance:
    forward: Origin | None = None
    backward: Origin | None = None
    kinks: list[Kink] = field(default_factory=list)


def _num(v: float) -> str:
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.6g}"


def _json(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def steps(graph: Graph) -> list[int]:
    """explain's step number of each op (0 for numeric literals, which get no row)."""
    out, n = [0] * len(graph.ops), 0
    for i, op in enumerate(graph.ops):
        if op.prim is None and op.input is None and isinstance(op.node, Num) and i != graph.output:
            continue
        n += 1
        out[i] = n
    return out


def _element(value: Array, index: tuple[int, ...], shape: tuple[int, ...]) -> float:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), shape) if shape else np.asarray(value)
    return float(arr[index]) if shape else float(arr)


def _first_bad(out: Array, args: Sequence[Array]) -> tuple[int, ...] | None:
    """The first element where `out` is not finite but every argument is."""
    shape = np.shape(out)
    bad = ~np.isfinite(np.asarray(out, dtype=np.float64))
    for a in args:
        if np.broadcast_shapes(np.shape(a), shape) == shape:
            bad &= np.isfinite(np.broadcast_to(np.asarray(a, dtype=np.float64), shape))
        elif not bool(np.all(np.isfinite(a))):  # a reduction of a non-finite argument
            return None
    found = np.argwhere(np.atleast_1d(bad))
    if not found.size:
        return None
    return tuple(int(i) for i in found[0]) if shape else ()


def _origin(
    graph: Graph,
    i: int,
    op: Op,
    where: str,
    index: tuple[int, ...],
    out: Array,
    args: list[Array],
    number: int,
) -> Origin:
    assert op.prim is not None
    shape = np.shape(out)
    node = op.node
    span = node.span if node is not None else None
    values = {}
    domain = op.prim.domain
    for p, a, arg in zip(op.prim.params, args, op.args, strict=False):
        # the argument as the program writes it (log(p) with p = -0.2, defined for p > 0),
        # unless it is a literal number (log(-1): defined for x > 0)
        written = graph.source_text(arg, limit=30)
        label = written if graph.ops[arg].depends_on_input else p
        if label != p:
            domain = re.sub(rf"\b{re.escape(p)}\b", label if label.isidentifier() else f"({label})", domain)
        try:
            values[label] = _element(a, index, shape) if np.ndim(a) else float(np.asarray(a))
        except (ValueError, TypeError):
            continue
    v = _element(out, index, shape) if shape else float(np.asarray(out))
    return Origin(
        where,
        number,
        i,
        graph.source_text(i, limit=60, named=False),
        span.line if span else 0,
        span.column if span else 0,
        op.prim.name,
        values,
        domain,
        "NaN" if np.isnan(v) else "infinite",
    )


def forward_origin(graph: Graph, vals: Sequence[Array]) -> Origin | None:
    numbers = steps(graph)
    for i, op in enumerate(graph.ops):
        if op.prim is None:
            continue
        out = vals[i]
        if bool(np.all(np.isfinite(out))):
            continue
        args = [vals[a] for a in op.args]
        index = _first_bad(out, args)
        if index is not None:
            return _origin(graph, i, op, "forward", index, out, args, numbers[i])
    return None


def backward_origin(
    graph: Graph, vals: Sequence[Array], counts: Sequence[int], wrt: Collection[str]
) -> Origin | None:
    """The first product of the backward sweep that is non-finite from finite numbers."""
    from gradcli.engine import reverse

    numbers = steps(graph)
    found: list[Origin] = []

    def trace(i: int, k: int, g: Array, contrib: Array) -> None:
        if found or bool(np.all(np.isfinite(contrib))):
            return
        op = graph.ops[i]
        if op.prim is None or op.prim.kind == "vector":
            return
        args = [vals[a] for a in op.args]
        if not (bool(np.all(np.isfinite(g))) and all(bool(np.all(np.isfinite(a))) for a in args)):
            return
        index = _first_bad(contrib, [])
        origin = _origin(graph, i, op, "backward", index or (), contrib, args, numbers[i])
        origin.slot = graph.source_text(op.args[k], limit=40)
        found.append(origin)

    with np.errstate(all="ignore"):
        reverse.backward(graph, vals, counts, wrt, trace=trace)
    return found[0] if found else None


def kinks_at(graph: Graph, vals: Sequence[Array], counts: Sequence[int], need: Sequence[bool]) -> list[Kink]:
    """The ops on a gradient's path whose point is exactly on a kink of the table."""
    numbers = steps(graph)
    out: list[Kink] = []
    for i, op in enumerate(graph.ops):
        prim = op.prim
        if prim is None or not need[i]:
            continue
        if prim.kink is None and (prim.derivatives is None or prim.derivatives.kink is None):
            continue
        with np.errstate(all="ignore"):
            found = kinks(prim, [vals[a] for a in op.args], vals[i], counts[i], op.params)
        if found is None:
            continue
        mask = np.asarray(found) != 0
        if mask.any():
            out.append(
                Kink(
                    numbers[i],
                    graph.source_text(i, limit=60, named=False),
                    prim.name,
                    prim.convention,
                    int(mask.sum()),
                    int(mask.size),
                )
            )
    return out
