"""Exact at the edges of floating point (issue 11): each case failed before, and each is checked
in both modes against the true value (worked out by hand, or by mpmath at 50 digits)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from gradcli import grad

MODES = ("reverse", "forward")


def both(program: str, **point: Any) -> dict[str, dict[str, Any]]:
    """The gradient in each mode (they agree to rounding, element by element, NaN included)."""
    out = {m: grad(program, point, mode=m).gradient for m in MODES}
    for name in out["reverse"]:
        np.testing.assert_allclose(
            out["forward"][name], out["reverse"][name], rtol=1e-14, err_msg=f"{program} d/d{name}"
        )
    return out


# --------------------------------------------------------------------------
# Structural zeros select: 0 stays 0 against an infinite or NaN gradient.


@pytest.mark.parametrize(
    ("program", "x"),
    [
        ("sqrt(relu(x))", -1.0),  # relu below 0: the function is constant there
        ("sqrt(clamp(x, 0, 1))", -1.0),  # clamp outside its bounds
        ("sqrt(min(x, 0) + 0)", 1.0),  # min on the losing side
        ("sqrt(max(x, 0))", -2.0),
        ("sqrt(sign(x) + 1)", -1.0),  # sign' = 0 everywhere
        ("sqrt(x**0 - 1)", 0.5),  # pow's b = 0 case
        ("log(bce(x, 0))", 2.0),  # bce's clamp is active: no gradient to p
        ("sqrt(prod([x, 0, 0]))", 3.0),  # a product with two zeros does not depend on x
    ],
)
def test_a_structural_zero_stays_zero_against_an_infinite_gradient(program: str, x: float) -> None:
    grads = both(program, x=x)
    assert grads["reverse"]["x"] == 0.0, program


def test_a_computed_zero_times_infinity_is_still_nan() -> None:
    # x*0 is a computed 0, not a structural one: sqrt'(0) * 0 is NaN, as in PyTorch
    assert math.isnan(both("sqrt(x*0)", x=2.0)["reverse"]["x"])


# --------------------------------------------------------------------------
# Rules written for floating point.


def test_quotient_rule_does_not_overflow() -> None:
    g = both("x/y", x=1e-200, y=1e-200)["reverse"]
    assert g["x"] == pytest.approx(1e200, rel=1e-15) and g["y"] == pytest.approx(-1e200, rel=1e-15)
    assert both("y/y", y=1e-300)["reverse"]["y"] == 0.0  # was -inf with -a/b**2


def test_log_at_a_subnormal() -> None:
    g = both("x*log(x)", x=1e-310)["reverse"]["x"]  # log(x) + 1, was inf
    assert g == pytest.approx(math.log(1e-310) + 1, rel=1e-15)


def test_power_where_the_partial_alone_overflows() -> None:
    g = both("x**x", x=5e-324)["reverse"]["x"]  # x**x (log x + 1); a**(b - 1) is inf on its own
    assert g == pytest.approx(math.log(5e-324) + 1, rel=1e-12)


def test_asin_near_one_keeps_its_digits() -> None:
    x = 1 - 2.0**-30  # 1 - x**2 would lose about half the digits
    exact = 1 / math.sqrt((1 - x) * (1 + x))
    assert both("asin(x)", x=x)["reverse"]["x"] == pytest.approx(exact, rel=1e-15)


# --------------------------------------------------------------------------
# Values and gradients beyond the range of the intermediates.


@pytest.mark.parametrize(
    ("x", "norm"), [([3e-170, 4e-170], 5e-170), ([3e300, 4e300], 5e300), ([0.0, 0.0], 0.0)]
)
def test_norm_is_scaled(x: list[float], norm: float) -> None:
    r = grad("norm(x)", x=x)
    assert r.value == pytest.approx(norm, rel=1e-15)
    expected = [0.6, 0.8] if norm else [0.0, 0.0]
    np.testing.assert_allclose(both("norm(x)", x=x)["reverse"]["x"], expected, rtol=1e-15)


def test_tangents_and_adjoints_beyond_float64_meet_ordinary_numbers() -> None:
    # forward mode carries 1/(y·ln 10) = 4.3e309 on the way; reverse mode 1/(1e-320·x) = 1e320
    g = both("log10(y)*1e-300", y=1e-310)["reverse"]["y"]
    assert g == pytest.approx(1e-300 / (1e-310 * math.log(10)), rel=1e-14)
    g = both("log(1e-320*x)", x=1.0)["reverse"]["x"]
    assert g == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(
    ("program", "point", "value"),
    [
        ("sum(x)", {"x": [1e308, 1e308, -1e308]}, 1e308),
        ("mean(x)", {"x": [1e308, 1e308]}, 1e308),
        ("dot(x, y)", {"x": [1e200, 1e200], "y": [1e200, -1e200]}, 0.0),
        ("prod(x)", {"x": [4.0, 1.4, -3.4, 2e-300, -2e-300, -2e300]}, 4 * 1.4 * -3.4 * 2 * -2 * -2 * 1e-300),
        ("mse(x, y)", {"x": [1e154, 0.0], "y": [-0.5e154, 0.0]}, 1.125e308),  # (1.5e154)**2 / 2
    ],
)
def test_reductions_have_no_intermediate_overflow(program: str, point: dict[str, Any], value: float) -> None:
    assert grad(program, point).value == pytest.approx(value, rel=1e-14, abs=1e-300)


@pytest.mark.parametrize(
    ("z", "t", "value", "dz", "dt"),
    [
        (math.inf, 0.0, math.inf, 1.0, -math.inf),
        (math.inf, 1.0, 0.0, 0.0, -math.inf),
        (-math.inf, 1.0, math.inf, -1.0, math.inf),
        (-math.inf, 0.0, 0.0, 0.0, math.inf),
    ],
)
def test_bce_with_logits_at_an_infinite_logit_is_the_limit(
    z: float, t: float, value: float, dz: float, dt: float
) -> None:
    assert grad("bce_with_logits(z, t)", z=z, t=t).value == value
    g = both("bce_with_logits(z, t)", z=z, t=t)["reverse"]
    assert (g["z"], g["t"]) == (dz, dt)


# --------------------------------------------------------------------------
# Forward and reverse mode agree.


def test_a_constant_item_of_a_vector_literal_is_a_structural_zero() -> None:
    assert both("sqrt([0, sum(x)])", x=[4.0])["reverse"]["x"].tolist() == [0.25]


def test_an_empty_array_carries_no_gradient_through_an_infinite_partial() -> None:
    g = both("a*acos(z)", a=np.zeros(0), z=2.0)["reverse"]
    assert g["z"] == 0.0 and g["a"].shape == (0,)


def test_cancellation_is_judged_against_the_terms_not_the_result() -> None:
    """tanh(x)/x at 1e-8, divided by a clamp: terms of 1e16 sum to about -0.7. The two modes
    round differently (by about eps·1e16), and --mode both says they agree to rounding."""
    from gradcli.api import Compiled
    from gradcli.check.both import grad_both

    program = "tanh(x) / clamp(x, 0, 2) / clamp(z, 0, 2)"
    both_modes = grad_both(Compiled(program), {"x": 1e-8, "z": [1.7, 2.5, 1e-8]})
    assert both_modes.agree, both_modes.differences
