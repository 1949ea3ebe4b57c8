"""Central finite differences with Richardson extrapolation (gradcli.check.finite_diff), against
hand-derived derivatives: the estimate, its error estimate, steps, smoothness flags, and
the bounded work for big inputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.api import Compiled
from gradcli.check import finite_diff as fd
from gradcli.check.verdict import FD_FACTOR
from gradcli.engine.values import bind, forward_values
from gradcli.limits import LIMITS


def _graph_vals(program: str, **bindings: Any) -> tuple[Any, Any]:
    graph = Compiled(program).graph
    inputs, _ = bind(graph, bindings)
    vals, _ = forward_values(graph, inputs)
    return graph, vals


def fd_of(program: str, name: str = "x", budget: int | None = None, **bindings: Any) -> fd.FDResult:
    graph, vals = _graph_vals(program, **bindings)
    return fd.gradient(graph, vals, name, budget=budget)


def assert_within_estimate(r: fd.FDResult, exact: Any) -> None:
    """The estimate is within FD_FACTOR error estimates of the true derivative, everywhere."""
    exact = np.broadcast_to(np.asarray(exact, dtype=np.float64), r.shape)
    assert np.all(r.computed)
    assert np.all(np.isfinite(r.estimate))
    off = np.abs(r.estimate - exact)
    assert np.all(off <= FD_FACTOR * r.error + 1e-7 * np.abs(exact)), (r.estimate, exact, r.error)


# Hand-derived derivatives at points chosen to stress the step choice.
SCALAR_CASES = [
    ("sin(x**2)", 3.0, 2 * 3.0 * math.cos(9.0)),
    ("sin(x**2)", 30.0, 2 * 30.0 * math.cos(900.0)),  # oscillates on a scale of 0.05
    ("sin(1000*x)", 1.0, 1000 * math.cos(1000.0)),
    ("exp(x)", 20.0, math.exp(20.0)),
    ("log(x)", 1e-6, 1e6),  # the domain edge at 0 is 1e-6 away: steps must stay on its side
    ("log(x)", 1e-3, 1e3),
    ("sqrt(x)", 1e-9, 0.5 / math.sqrt(1e-9)),
    ("cos(x)", 1e-9, -math.sin(1e-9)),
    ("cos(x)", 0.0, 0.0),
    ("x**3", 0.0, 0.0),
    ("1/x", 1e-5, -1e10),
    ("tan(x)", 1.5, 1 / math.cos(1.5) ** 2),
    ("log(1 + x**2)", 1e-5, 2e-5 / (1 + 1e-10)),  # cancellation: rounded at the scale of 1
    ("exp(x) - 1 - x", 3e-6, math.expm1(3e-6)),
    ("x + 1e8 - 1e8", 0.3, 1.0),  # rounded at the scale of 1e8: an honest error near 1e-6
    ("sigmoid(x)", -40.0, math.exp(-40.0) / (1 + math.exp(-40.0)) ** 2),
]


@pytest.mark.parametrize(("program", "x", "exact"), SCALAR_CASES)
def test_scalar_derivatives_against_hand_derived(program: str, x: float, exact: float) -> None:
    r = fd_of(program, x=x)
    assert r.shape == ()
    assert_within_estimate(r, exact)
    assert not r.rough
    # The error estimate is honest but not vacuous: a relative 1e-6 or better here (1e-5 when
    # the evaluation itself rounds at 1e8).
    assert float(r.error) <= (1e-5 if "1e8" in program else 1e-6) * max(abs(exact), 1.0)


def test_notebook_logistic_gradient_per_element() -> None:
    # z = w*x + b; p = sigmoid(z); L = bce(p, y) = -log(1 - p) at y = 0: dL/dw = p*x, dL/db = p.
    p = 1 / (1 + math.exp(-6.7))
    program = "z = w*x + b; p = sigmoid(z); bce(p, y)"
    for name, exact in (("w", p * 6.7), ("b", p), ("y", -6.7)):  # dL/dy = log(1-p) - log(p) = -z
        r = fd_of(program, name, x=6.7, y=0.0, w=1.0, b=0.0)
        assert r.method == "per element"  # bce reduces: elements are differenced one at a time
        assert_within_estimate(r, exact)


def test_reduction_per_element() -> None:
    x = np.array([1.0, -2.0, 3.5])
    r = fd_of("mean(x**2)", x=x)
    assert r.method == "per element"
    assert_within_estimate(r, 2 * x / 3)
    r = fd_of("norm(x)", x=np.array([3.0, 4.0]))
    assert_within_estimate(r, [0.6, 0.8])
    r = fd_of("prod(x)", x=np.array([2.0, 0.0, 5.0]))
    assert_within_estimate(r, [0.0, 10.0, 0.0])


def test_elementwise_program_is_batched_with_broadcasting() -> None:
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([[1.0], [10.0]])
    # sum over the (2, 3) output of x*y + sin(x): d/dx_j = sum_i y_i + 2 cos(x_j); d/dy_i = sum_j x_j.
    rx = fd_of("x*y + sin(x)", "x", x=x, y=y)
    ry = fd_of("x*y + sin(x)", "y", x=x, y=y)
    assert rx.method == ry.method == "element-wise batch"
    assert_within_estimate(rx, 11.0 + 2 * np.cos(x))
    assert_within_estimate(ry, np.full((2, 1), 6.0))
    # Vector literals keep the element-wise structure.
    rv = fd_of("v = [x, 2*x]; v**2", x=x)
    assert rv.method == "element-wise batch"
    assert_within_estimate(rv, 2 * x + 8 * x)


def test_batch_and_per_element_agree() -> None:
    x = np.linspace(0.1, 2.0, 7)
    batched = fd_of("exp(-x) * sin(3*x)", x=x)
    per_element = fd_of("sum(exp(-x) * sin(3*x))", x=x)
    assert batched.method == "element-wise batch" and per_element.method == "per element"
    exact = np.exp(-x) * (3 * np.cos(3 * x) - np.sin(3 * x))
    assert_within_estimate(batched, exact)
    assert_within_estimate(per_element, exact)


def test_input_that_does_not_reach_the_output() -> None:
    r = fd_of("z = y*2; x*0 + z", "y", x=1.0, y=3.0)
    assert_within_estimate(r, 2.0)
    r = fd_of("a = x; 3*y", "x", x=1.0, y=3.0)  # x is an input, but the output ignores it
    assert r.method == "constant"
    assert float(r.estimate) == 0.0 and float(r.error) == 0.0


def test_detach_is_seen_through() -> None:
    # Finite differences see values only: d/dx (x * detach(x)) of the value is 2x (AD says x).
    r = fd_of("x*detach(x)", x=3.0)
    assert_within_estimate(r, 6.0)


def test_kink_at_the_point_gives_the_mean_slope_and_is_rough() -> None:
    r = fd_of("relu(x)", x=0.0)
    assert float(r.estimate) == pytest.approx(0.5, abs=1e-12)  # (1 + 0) / 2
    assert bool(r.rough)
    r = fd_of("abs(x)", x=0.0)
    assert float(r.estimate) == pytest.approx(0.0, abs=1e-12)
    assert bool(r.rough)


def test_kink_closer_than_the_smallest_step_is_rough() -> None:
    r = fd_of("relu(x - 1)", x=1 + 1e-9)  # the true derivative is 1; every step straddles the kink
    assert float(r.estimate) == pytest.approx(0.5, abs=1e-6)
    assert bool(r.rough)


def test_kink_farther_than_the_smallest_steps_is_resolved() -> None:
    r = fd_of("relu(x - 1)", x=1.01)
    assert_within_estimate(r, 1.0)
    assert not r.rough


def test_jump_is_rough() -> None:
    r = fd_of("sign(x - 1)", x=1 + 1e-9)
    assert bool(r.rough)


@pytest.mark.parametrize("y", [0.3, 0.05])
def test_aliasing_coarse_steps_do_not_give_a_confident_wrong_answer(y: float) -> None:
    # sin(k*y) with period 1/128: the coarse steps 1/16 ... 1/128 are whole periods, so their
    # differences agree on 0, consistently and wrongly. The fine steps see k*cos(k*y).
    k = 2 * math.pi * 128
    r = fd_of("sin(k*y)", "y", k=k, y=y)
    exact = k * math.cos(k * y)
    assert abs(float(r.estimate) - exact) <= FD_FACTOR * float(r.error)  # never confidently wrong
    assert float(r.estimate) == pytest.approx(exact, rel=1e-9)  # the fine steps' answer


def test_undefined_around_the_point() -> None:
    r = fd_of("sqrt(x)", x=0.0)  # sqrt(-h) is NaN at every step
    assert np.isnan(r.estimate) and np.isinf(r.error)
    assert not r.rough
    r = fd_of("log(x)", x=-1.0)
    assert np.isnan(r.estimate)


def test_array_with_an_undefined_element() -> None:
    r = fd_of("sqrt(x)", x=np.array([0.0, 4.0]))
    assert np.isnan(r.estimate[0]) and np.isinf(r.error[0])
    assert abs(r.estimate[1] - 0.25) <= FD_FACTOR * r.error[1]


def test_level_plan() -> None:
    top, count = fd.level_plan(np.array([3.0, -2.0, 1e-3, 0.0, 1e-300]))
    assert list(top) == [3 / 16, 2 / 16, 1 / 16, 1 / 16, 1 / 16]  # max(|x|, 1) / 16
    assert list(count[:2]) == [fd.LEVELS, fd.LEVELS]
    # Small |x|: more halvings, down to |x| / 16 / 2**(LEVELS - 1) (10 more for 1e-3).
    assert count[2] == fd.LEVELS + math.ceil(math.log2(1e3))
    assert count[3] == fd.LEVELS
    assert count[4] == fd.LEVELS + fd.MAX_EXTRA
    steps = fd.level_steps(np.array([3.0, 1e-3]))
    assert steps.shape == (fd.LEVELS + 10, 2)
    assert np.all(np.isnan(steps[fd.LEVELS :, 0]))  # the first element has fewer steps
    assert steps[-1, 1] <= 1e-3 / 16 / 2 ** (fd.LEVELS - 1)
    assert np.allclose(steps[1:, 1] / steps[:-1, 1], 0.5)


def test_richardson_on_a_cubic_is_exact() -> None:
    # f = x**3 at x = 2: D(h) = 12 + h**2 exactly; one extrapolation removes the h**2 term.
    x, levels = 2.0, 6
    h = 0.5 * 2.0 ** -np.arange(levels)
    xp, xm = (x + h)[:, None], (x - h)[:, None]
    est, err, step, rough = fd.richardson(xp**3, xm**3, np.array([x**3]), xp, xm)
    assert est[0] == pytest.approx(12.0, abs=1e-12)
    assert err[0] < 1e-10
    assert np.isclose(h, step[0]).any()  # the finest step of the chosen entry is one of the steps
    assert not rough[0]


def test_rounding_noise_floor_uses_the_intermediates() -> None:
    # log(1 + x**2) at x = 1e-5: f is 1e-10, but the rounding is that of 1 + x**2, i.e. 1e-16.
    r = fd_of("log(1 + x**2)", x=1e-5)
    assert float(r.error) >= fd.EPS * 1.0 / 1.0  # not the eps·|f| = 1e-26 of a naive floor
    assert_within_estimate(r, 2e-5 / (1 + 1e-10))


def test_a_costly_input_is_differenced_on_fewer_elements_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = np.linspace(0.0, 1.0, 50)
    monkeypatch.setattr(LIMITS, "max_check_fd_work", 400_000)
    r = fd_of("sum(sin(x))", x=x)
    assert r.method == "per element"
    chosen = np.flatnonzero(r.computed)
    assert 1 <= chosen.size < 50
    assert chosen[0] == 0 and chosen[-1] == 49  # evenly spaced, both ends
    assert "of its 50 elements" in r.note and "GRADCLI_MAX_CHECK_FD_WORK" in r.note
    assert np.all(np.isnan(r.estimate[~r.computed]))
    assert_within_estimate(
        fd.FDResult(
            r.estimate[chosen], r.error[chosen], r.step[chosen], r.rough[chosen], r.computed[chosen], r.method
        ),
        np.cos(x[chosen]),
    )


def test_work_over_the_budget_is_skipped_not_slow() -> None:
    r = fd_of("sin(x)", budget=10, x=np.ones(4))
    assert r.method == "skipped" and not r.computed.any()
    assert "skipped" in r.note
    r = fd_of("sum(x)", budget=10, x=np.ones(4))
    assert r.method == "skipped"


def test_big_elementwise_output_keeps_a_sample_of_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fd, "MAX_COLUMNS", 10)
    x = np.linspace(0.5, 1.5, 101)
    r = fd_of("x**2", x=x)
    assert r.computed.sum() == 10 and r.computed[0] and r.computed[-1]
    assert np.allclose(r.estimate[r.computed], 2 * x[r.computed], rtol=1e-9)


def test_empty_array() -> None:
    r = fd_of("sum(x)", x=np.zeros(0))
    assert r.shape == (0,)


@settings(max_examples=40, deadline=None)
@given(
    coeffs=st.lists(st.floats(-5, 5), min_size=1, max_size=5),
    x=st.floats(-3, 3),
)
def test_polynomials_against_their_derivative(coeffs: list[float], x: float) -> None:
    program = " + ".join(f"({c!r})*x**{k}" for k, c in enumerate(coeffs))
    exact = sum(k * c * x ** (k - 1) for k, c in enumerate(coeffs) if k)
    r = fd_of(program, x=x)
    off = abs(float(r.estimate) - exact)
    scale = sum(abs(c) * max(abs(x), 1) ** k for k, c in enumerate(coeffs)) + 1
    assert off <= FD_FACTOR * float(r.error) + 1e-7 * abs(exact) + 1e-12 * scale


@settings(max_examples=40, deadline=None)
@given(
    a=st.floats(0.1, 4),
    b=st.floats(-2, 2),
    x=st.one_of(st.floats(-4, 4), st.floats(-1e-6, 1e-6)),
)
def test_smooth_compositions(a: float, b: float, x: float) -> None:
    program = "sin(a*x + b) * exp(-x**2) + tanh(a*x)"
    exact = (
        a * math.cos(a * x + b) * math.exp(-x * x)
        - 2 * x * math.sin(a * x + b) * math.exp(-x * x)
        + a * (1 - math.tanh(a * x) ** 2)
    )
    r = fd_of(program, x=x, a=a, b=b)
    assert abs(float(r.estimate) - exact) <= FD_FACTOR * float(r.error) + 1e-7 * abs(exact) + 1e-12


def test_a_big_input_is_differenced_on_a_seeded_random_sample() -> None:
    x = np.linspace(0.0, 1.0, 5000)
    r = fd_of("sum(sin(x))", x=x)
    chosen = np.flatnonzero(r.computed)
    assert chosen.size == fd.FD_ELEMENTS
    assert f"seed {fd.FD_SEED}" in r.note and "random sample of 100 of its 5,000 elements" in r.note
    again = fd.gradient(*_graph_vals("sum(sin(x))", x=x), "x")
    np.testing.assert_array_equal(np.flatnonzero(again.computed), chosen)  # the same seed, the same sample
    other = fd.gradient(*_graph_vals("sum(sin(x))", x=x), "x", sample=fd.Sample(7, 1))
    assert np.flatnonzero(other.computed).size == 7 and "seed 1" in other.note
    np.testing.assert_allclose(r.estimate[chosen], np.cos(x[chosen]), rtol=1e-8)


def test_the_cost_of_an_evaluation_counts_what_a_reduction_reads() -> None:
    """sum(x) of a million elements costs a million element-operations per evaluation: the
    budget then allows few elements (it used to be charged one, and took minutes)."""
    x = np.linspace(0.0, 1.0, 1_000_000)
    r = fd_of("sum(x)", x=x)
    assert 1 <= int(r.computed.sum()) <= 10 and "element-operations" in r.note
