"""`--mode both`: forward and reverse mode on the same point, and whether they agree.

Both modes are exact; they differ only in the order of the floating-point operations,
so they must agree to rounding, by the same rule as `gradcli check` (gradcli/tolerance.py):
per input and element, |forward - reverse| <= atol·s + rtol·max(|forward|, |reverse|),
s = max(1, largest |reverse| element of that input). NaN agrees with NaN and an
infinity with the same infinity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcli.api import Compiled, GradResult
from gradcli.check import tolerance


@dataclass
class Both:
    reverse: GradResult
    forward: GradResult
    differences: dict[str, float]  # input -> largest relative difference where the modes disagree

    @property
    def agree(self) -> bool:
        return not self.differences


def difference(forward: Any, reverse: Any, slack: Any = None) -> float | None:
    """None when forward mode agrees with reverse mode (given the rounding slack of the terms); else the
    largest relative difference among the elements that disagree (inf for a shape mismatch or
    NaN on one side only)."""
    if tolerance.agree(forward, reverse, slack=slack):
        return None
    if np.shape(forward) != np.shape(reverse):
        return float("inf")
    fwd = np.asarray(forward, dtype=np.float64)
    rev = np.asarray(reverse, dtype=np.float64)
    bad = ~tolerance.close(fwd, rev, s=tolerance.scale(rev), slack=slack)
    rel = tolerance.discrepancy(fwd, rev)[0]
    rel = np.where(np.isnan(fwd) != np.isnan(rev), np.inf, rel)
    return float(np.max(rel[bad]))


def rounding_slack(
    compiled: Compiled, bindings: Mapping[str, Any], wrt: Iterable[str] | str | None = None
) -> dict[str, Any]:
    """Per input element, how far two exact routes to the gradient may fairly differ by
    rounding the chain rule's terms (gradcli.check.tolerance.slack_of)."""
    from gradcli.engine import scalar
    from gradcli.engine.values import bind, forward_values

    names = compiled.check_wrt(wrt)
    inputs, _ = bind(compiled.graph, bindings)
    floats = scalar.inputs_of(inputs)
    on_floats = None if floats is None else scalar.values(compiled.graph, floats)
    if on_floats is not None:  # single numbers: the sweep on floats, as the gradients were
        fast = scalar.backward(compiled.graph, on_floats, names, absolute=True, seed=tolerance.MTOL)
        if fast is not None:
            return dict(fast)
    vals, counts = forward_values(compiled.graph, inputs)
    return tolerance.slack_of(compiled.graph, vals, counts, names)


def grad_both(compiled: Compiled, bindings: Mapping[str, Any], wrt: Any = None) -> Both:
    reverse = compiled.grad(bindings, wrt=wrt, mode="reverse")
    forward = compiled.grad(bindings, wrt=wrt, mode="forward")
    slack = rounding_slack(compiled, bindings, wrt)
    differences = {}
    for name, g in reverse.gradient.items():
        diff = difference(forward.gradient[name], g, slack[name])
        if diff is not None:
            differences[name] = diff
    return Both(reverse, forward, differences)
