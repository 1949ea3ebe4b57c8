"""gradcli/tolerance.py: the one rule for "two exact routes agree", shared by `check`,
`grad --mode both` and the tests that compare routes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from faults import skew_forward

from gradcli.api import Compiled
from gradcli.check import tolerance
from gradcli.check.both import difference, grad_both
from gradcli.check.verdict import CheckSpec, run


def test_close_per_element() -> None:
    assert tolerance.close(1.0, 1.0)
    assert tolerance.close(2.0, 2.0 * (1 + 1e-15))
    assert not tolerance.close(2.0, 2.0 * (1 + 1e-6))
    assert tolerance.close(np.inf, np.inf) and not tolerance.close(np.inf, -np.inf)
    assert tolerance.close(np.nan, np.nan) and not tolerance.close(np.nan, 1.0)
    assert not tolerance.close(np.inf, 1e308)
    # atol is scaled by s: 1e-12·s
    assert tolerance.close(0.0, 5e-13) and not tolerance.close(0.0, 5e-12)
    assert tolerance.close(0.0, 5e-12, s=10.0)
    assert list(tolerance.close(np.array([1.0, 2.0]), np.array([1.0, 2.1]))) == [True, False]


def test_scale() -> None:
    assert tolerance.scale(0.5) == 1.0
    assert tolerance.scale(np.array([-300.0, 2.0, np.inf, np.nan])) == 300.0


def test_agree_whole_gradient() -> None:
    assert tolerance.agree(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert not tolerance.agree(np.zeros(2), np.zeros(3))
    # An element that cancels to ~0 is judged against the gradient's scale, not its own ...
    assert tolerance.agree(np.array([1e3, 1e-14]), np.array([1e3, -1e-14]))
    assert tolerance.agree(1.000005634e-12, 1e-12)
    # ... but a small element that is simply wrong is not hidden by a large one.
    assert not tolerance.agree(np.array([1e3, 1.0]), np.array([1e3, 1.1]))
    assert not tolerance.agree(np.array([1e3, 1.0]), np.array([1e3, 1.0 + 1e-6]))


def test_difference_names_the_worst_disagreeing_element() -> None:
    assert difference(np.array([1.0, 2.0]), np.array([1.0, 2.0 * (1 + 1e-15)])) is None
    assert difference(np.array([1e3, 1.1]), np.array([1e3, 1.0])) == pytest.approx(0.1 / 1.1)
    assert difference(np.nan, 1.0) == math.inf
    assert difference(np.zeros(2), np.zeros(3)) == math.inf


@pytest.mark.parametrize(
    ("program", "point", "exact"),
    [
        # terms of size 0.1 cancel: the two modes differ by an ulp of 0.1, far above 1e-9 of 1e-12
        ("x*0.1 - x*0.1 + x*1e-12", {"x": 1.7}, 1e-12),
        ("tanh(exp(x*x)) + 0.3*x - 0.3*x", {"x": 1.7}, None),
    ],
)
def test_check_and_mode_both_judge_a_cancellation_alike(
    program: str, point: dict[str, float], exact: float | None
) -> None:
    both = grad_both(Compiled(program), point)
    reverse, forward = float(both.reverse.gradient["x"]), float(both.forward.gradient["x"])
    assert reverse != forward  # a real rounding difference, not two identical numbers
    if exact is not None:
        assert abs(reverse - exact) < 1e-16 and abs(forward - exact) < 1e-16
    assert both.agree, both.differences
    result = run(CheckSpec(program, point))
    assert not result.failures, result.failures


def test_check_and_mode_both_fail_alike_on_a_real_disagreement(monkeypatch: pytest.MonkeyPatch) -> None:
    skew_forward(monkeypatch, 1e-6)
    both = grad_both(Compiled("x**3"), {"x": 2.0})
    assert not both.agree and both.differences["x"] == pytest.approx(1e-6, rel=1e-3)
    result = run(CheckSpec("x**3", {"x": 2.0}))
    assert any("forward mode gives" in f for f in result.failures), result.failures
