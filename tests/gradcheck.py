"""Independent routes to a gradient, for tests: finite differences through values only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcli.api import Compiled


def numeric_gradient(program: str, point: Mapping[str, Any], name: str, rel_step: float = 1e-4) -> Any:
    """Five-point central difference of sum(output) with respect to `name`, element by element.

    Uses only gradcli's value evaluation (no derivative rules), so it is independent of both modes.
    """
    compiled = Compiled(program)
    base = {k: np.array(v, dtype=np.float64) for k, v in point.items()}
    x = base[name]
    grad = np.zeros(x.shape)

    def f(shifted: np.ndarray) -> float:
        values = dict(base)
        values[name] = shifted
        return float(np.sum(compiled.evaluate(values)))

    for idx in np.ndindex(x.shape):
        h = rel_step * max(1.0, abs(float(x[idx]))) ** 0.5
        terms = []
        for k in (2, 1, -1, -2):
            shifted = x.copy()
            shifted[idx] += k * h
            terms.append(f(shifted))
        grad[idx] = (-terms[0] + 8 * terms[1] - 8 * terms[2] + terms[3]) / (12 * h)
    return grad[()] if grad.ndim == 0 else grad


def on_kink(program: str, point: Mapping[str, Any]) -> bool:
    """True if any op sits exactly on a kink of its primitive (the table's `kink` expressions)."""
    from gradcli.engine.rules import kinks
    from gradcli.engine.values import bind, forward_values

    compiled = Compiled(program)
    graph = compiled.graph
    inputs, _ = bind(graph, point)
    vals, counts = forward_values(graph, inputs)
    for i, op in enumerate(graph.ops):
        if op.prim is None:
            continue
        with np.errstate(all="ignore"):
            found = kinks(op.prim, [vals[a] for a in op.args], vals[i], counts[i], op.params)
        if found is not None and np.any(found):
            return True
    return False


def scalar(value: Any) -> float:
    """A route's number, asserting it was computed (not None)."""
    assert value is not None
    return float(value)
