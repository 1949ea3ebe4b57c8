"""The tutorial notebook's numbers (shared/seed-notebook.txt), reproduced by both modes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcli import evaluate, grad

MODES = ["reverse", "forward"]


@pytest.mark.parametrize("mode", MODES)
def test_square_at_3(mode: str) -> None:
    r = grad("x**2", x=3.0, mode=mode)
    assert r.value == 9.0
    assert r.gradient["x"] == 6.0


def test_hand_derivative_of_square() -> None:
    # In [1]: dy_dx(x) = 2*x -> 6 at 3, matching the automatic one.
    assert grad("x**2", x=3.0).gradient["x"] == 2 * 3


@pytest.mark.parametrize("mode", MODES)
def test_sin_of_square(mode: str) -> None:
    r = grad("sin(x**2)", x=3.0, mode=mode)
    assert r.value == pytest.approx(0.41211848524, abs=1e-11)
    # The notebook's dz_dx(3) = 2*x*cos(x**2) printed -5.466781571308061.
    assert r.gradient["x"] == pytest.approx(-5.466781571308061, rel=1e-15)
    assert r.gradient["x"] == pytest.approx(2 * 3 * math.cos(9), rel=1e-15)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "program",
    [
        "bce(sigmoid(w*x+b), y)",
        "z = w*x + b; p = sigmoid(z); bce(p, y)",
        "z = w*x + b\np = sigmoid(z)\nbce(p, y)",
    ],
)
def test_bce_of_sigmoid(mode: str, program: str) -> None:
    r = grad(program, x=6.7, y=0.0, w=1.0, b=0.0, wrt=["w", "b"], mode=mode)
    assert round(float(r.value), 4) == 6.7012
    assert round(float(r.gradient["w"]), 4) == 6.6918
    assert round(float(r.gradient["b"]), 4) == 0.9988
    assert set(r.gradient) == {"w", "b"}  # x and y are constants (requires_grad=False)

    # The notebook's manual chain rule, computed independently in plain Python.
    x, y, w, b = 6.7, 0.0, 1.0, 0.0
    y_pred = _sigmoid(w * x + b)
    dloss_dy_pred = (y_pred - y) / (y_pred * (1 - y_pred))
    dy_pred_dz = y_pred * (1 - y_pred)
    assert r.gradient["w"] == pytest.approx(dloss_dy_pred * dy_pred_dz * x, rel=1e-9)
    assert r.gradient["b"] == pytest.approx(dloss_dy_pred * dy_pred_dz * 1, rel=1e-9)
    assert r.value == pytest.approx(-(y * math.log(y_pred) + (1 - y) * math.log(1 - y_pred)), rel=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_vector_mean(mode: str) -> None:
    r = grad("mean(x**2)", x=[1.0, 2.0, 3.0], mode=mode)
    assert round(float(r.value), 4) == 4.6667
    assert np.round(r.gradient["x"], 4).tolist() == [0.6667, 1.3333, 2.0]
    np.testing.assert_allclose(r.gradient["x"], 2 * np.array([1.0, 2.0, 3.0]) / 3, rtol=1e-15)


def test_gradients_do_not_accumulate_between_calls() -> None:
    # The notebook shows x.grad accumulating across backward() calls until zero_() is called.
    # gradcli is functional: every call starts from zero, so repeating a call gives the same 6,
    # and accumulation is written explicitly as a sum in the program.
    first = grad("x**2", x=3.0).gradient["x"]
    second = grad("x**2", x=3.0).gradient["x"]
    assert first == second == 6.0
    assert grad("x**2 + x**2", x=3.0).gradient["x"] == 12.0  # two backward passes' worth


@pytest.mark.parametrize("mode", MODES)
def test_detach_blocks_gradient(mode: str) -> None:
    # Option 2 of the notebook: z = y.detach(); y1 = z**2 -> 16, no gradient to x.
    r = grad("y = x**2; z = detach(y); z**2", x=2.0, mode=mode)
    assert r.value == 16.0
    assert r.gradient["x"] == 0.0
    r = grad("stop_gradient(x**2) * x", x=2.0, mode=mode)
    assert r.gradient["x"] == 4.0  # only the undetached factor contributes


def test_no_grad_and_requires_grad_false() -> None:
    # Option 3 (no_grad): evaluate computes the value only.
    assert evaluate("x**2", x=2.0) == 4.0
    # Option 1 (requires_grad_(False)): leave x out of wrt.
    r = grad("x**2 * w", x=2.0, w=1.0, wrt=["w"])
    assert r.gradient == {"w": 4.0}
