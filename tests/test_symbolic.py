"""The derivative as a formula (`diff`), higher orders, `hessian` and `jacobian`: against the
engine's gradient (another route: evaluated formulas vs. the backward sweep), finite
differences of the gradient, hand-derived textbook results and matrix identities."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from test_properties import expressions, points
from typer.testing import CliRunner

import gradcli
from gradcli.cli.main import app
from gradcli.errors import GradcliError
from gradcli.higher import diff, hessian, jacobian
from gradcli.lang.ast import Call
from gradcli.lang.parser import parse_rule
from gradcli.primitives import PRIMITIVES
from gradcli.symbolic.latex import formula_latex

EXAMPLES = int(os.environ.get("GRADCLI_PROPERTY_EXAMPLES", "250"))

# The formulas a calculus textbook lists, and the notebook's programs: diff's exact output.
GOLDEN = {
    "x**2": "2 * x",
    "sin(x**2)": "2 * x * cos(x**2)",
    "cos(x)": "-sin(x)",
    "tan(x)": "1 / cos(x)**2",
    "exp(2*x)": "2 * exp(2 * x)",
    "log(x)": "1 / x",
    "sqrt(x)": "0.5 / sqrt(x)",
    "1/x": "-1 / x**2",
    "x**3 - 3*x + 2": "3 * x**2 - 3",
    "log(x**2 + 1)": "2 * x / (x**2 + 1)",
    "x*exp(x)": "exp(x) + x * exp(x)",
    "x**2*sin(x)": "x**2 * cos(x) + 2 * x * sin(x)",
    "sin(x)/x": "cos(x) / x - sin(x) / x**2",
    "atan(x)": "1 / (x**2 + 1)",
    "tanh(x)": "1 - tanh(x)**2",
    "sigmoid(x)": "sigmoid(x) * (1 - sigmoid(x))",
    "softplus(x)": "sigmoid(x)",
    "exp(-x**2/2)": "-x * exp(-0.5 * x**2)",
    "sqrt(1 - x**2)": "-x / sqrt(1 - x**2)",
    "log(log(x))": "1 / (x * log(x))",
    "exp(sin(x))": "cos(x) * exp(sin(x))",
    "sin(x)**2 + cos(x)**2": "0",
    "x - x": "0",
    # the notebook: y = x**2 (6 at 3), sin(x**2), and the BCE chain as statements
    "y = x**2; sin(y)": "y = x**2\ndy = cos(y)\n2 * dy * x",
}


@pytest.mark.parametrize(("program", "expected"), list(GOLDEN.items()))
def test_golden_formulas(program: str, expected: str) -> None:
    assert diff(program)["x"].text == expected


def test_golden_latex() -> None:
    assert formula_latex(diff("sin(x**2)")["x"].formula) == r"2 \cdot x \cdot \cos\left(x^{2}\right)"
    assert formula_latex(diff("1/x")["x"].formula) == r"\frac{-1}{x^{2}}"
    assert (
        formula_latex(diff("sigmoid(x)")["x"].formula)
        == r"\sigma\left(x\right) \cdot \left(1 - \sigma\left(x\right)\right)"
    )


def test_the_notebooks_bce_derivation_as_formulas() -> None:
    """dL/dz = p - y (the manual derivation of the notebook) falls out of the chain."""
    point = {"w": 1.0, "b": 0.0, "x": 6.7, "y": 0.0}
    program = "z = w*x + b; y_pred = sigmoid(z); bce(y_pred, y)"
    d = diff(program, point, wrt="w,b")
    assert "dz = dy_pred * y_pred * (1 - y_pred)" in d["w"].text
    assert d["w"].text.endswith("dz * x") and d["b"].text.endswith("dz")
    # the notebook's numbers: dL/dw = 6.6918, dL/db = 0.9988
    assert d["w"].value == pytest.approx(6.691762970762251, rel=1e-8)
    assert d["b"].value == pytest.approx(0.9987706, rel=1e-6)


def test_named_intermediates_keep_the_output_linear() -> None:
    """A chain of named squares: the formula grows with the program, not exponentially."""
    for n in (10, 40, 160):
        program = "a0 = x\n" + "\n".join(f"a{i} = a{i - 1}*a{i - 1} + 1" for i in range(1, n)) + f"\na{n - 1}"
        size = diff(program)["x"].formula.operations
        assert size <= 12 * n, (n, size)
    deep = "sin(" * 300 + "x" + ")" * 300
    d = diff(deep, {"x": 0.3})["x"]
    assert d.formula.operations <= 10 * 300
    expected = gradcli.grad(deep, x=0.3).gradient["x"]
    assert d.value == pytest.approx(expected, rel=1e-12)


def test_formulas_parse_back_and_check_accepts_them() -> None:
    program = "h = tanh(w*x + b); mean((h - y)**2)"
    point = {"w": 0.7, "b": -0.2, "x": np.array([0.5, 1.5, -1.0]), "y": np.array([0.1, 0.2, 0.3])}
    d = diff(program, point)
    result = CliRunner().invoke(
        app,
        ["check", program, "w=0.7", "b=-0.2", "x=[0.5, 1.5, -1]", "y=[0.1, 0.2, 0.3]", "--wrt", "w,b", "--manual", f"w: {d['w'].text}", "--manual", f"b: {d['b'].text}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def _f(v: Any) -> float:
    return float(v)


@settings(
    max_examples=max(20, EXAMPLES // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(expressions(["x", "y"]), points, points)
def test_evaluated_formulas_equal_both_modes(program: str, x: float, y: float) -> None:
    point = {"x": x, "y": y}
    try:
        rev = gradcli.grad(program, point, mode="reverse")
    except GradcliError:
        assume(False)
    assume(all(np.isfinite(v) for v in [rev.value, *rev.gradient.values()]))
    fwd = gradcli.grad(program, point, mode="forward")
    formulas = diff(program, point)
    for name, d in formulas.items():
        value = _f(d.value)
        assume(np.isfinite(value))
        scale = 1 + abs(float(rev.gradient[name]))
        assert abs(value - float(rev.gradient[name])) <= 1e-9 * scale, (program, name, d.text)
        assert abs(value - float(fwd.gradient[name])) <= 1e-9 * scale


@settings(
    max_examples=max(20, EXAMPLES // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(expressions(["x", "y"]), points, points)
def test_second_order_is_the_hessian_diagonal_and_the_hessian_is_symmetric(
    program: str, x: float, y: float
) -> None:
    point = {"x": x, "y": y}
    try:
        h = hessian(program, point)
        second = diff(program, point, order=2)
    except GradcliError:
        assume(False)
    assume(bool(np.all(np.isfinite(h.matrix))))
    names = [r[0] for r in h.rows]
    for k, name in enumerate(names):
        value = _f(second[name].value)
        assume(np.isfinite(value))
        assert abs(value - h.matrix[k, k]) <= 1e-8 * (1 + abs(value)), (program, name)
    assert h.asymmetry <= 1e-9, (program, h.matrix)


def _fd_of_gradient(program: str, point: dict[str, float], step: float = 1e-5) -> np.ndarray:
    names = list(point)
    rows = []
    for name in names:
        up, down = dict(point), dict(point)
        up[name] += step
        down[name] -= step
        gu = gradcli.grad(program, up).gradient
        gd = gradcli.grad(program, down).gradient
        rows.append([(gu[n] - gd[n]) / (2 * step) for n in names])
    return np.array(rows).T


@pytest.mark.parametrize(
    ("program", "point"),
    [
        ("x**2*y + y**3", {"x": 1.0, "y": 2.0}),
        ("sin(x*y) + exp(x - y)", {"x": 0.3, "y": -0.4}),
        ("log(1 + exp(x*y)) / (1 + y**2)", {"x": 0.7, "y": 1.1}),
        ("z = x*y; p = sigmoid(z); bce(p, 0.3)", {"x": 0.5, "y": -0.8}),
    ],
)
def test_hessian_against_finite_differences_of_the_gradient(program: str, point: dict[str, float]) -> None:
    h = hessian(program, point)
    np.testing.assert_allclose(h.matrix, _fd_of_gradient(program, point), rtol=1e-6, atol=1e-8)


def test_hessian_of_the_logistic_loss_is_a_weighted_gram_matrix() -> None:
    rng = np.random.default_rng(4)
    A, w = rng.normal(size=(6, 3)), rng.normal(size=3)
    h = hessian("sum(log(1 + exp(A @ w)))", {"A": A, "w": w}, wrt="w")
    s = 1 / (1 + np.exp(-(A @ w)))
    np.testing.assert_allclose(h.matrix, A.T @ np.diag(s * (1 - s)) @ A, rtol=1e-12)
    assert [label for label, _ in h.rows] == ["w", "w", "w"] and h.rows[2] == ("w", (2,))


def test_jacobian_modes_agree_with_each_other_and_with_the_closed_form() -> None:
    W = np.array([[1.0, 2.0, -1.0], [0.5, -0.3, 2.0]])
    x = np.array([0.3, -1.2, 0.8])
    fwd = jacobian("tanh(W @ x)", {"W": W, "x": x}, wrt="x", mode="forward")
    rev = jacobian("tanh(W @ x)", {"W": W, "x": x}, wrt="x", mode="reverse")
    expected = np.diag(1 - np.tanh(W @ x) ** 2) @ W
    np.testing.assert_allclose(fwd.matrix, expected, rtol=1e-13)
    np.testing.assert_allclose(rev.matrix, expected, rtol=1e-13)
    auto = jacobian("tanh(W @ x)", {"W": W, "x": x}, wrt="x")
    assert auto.mode == "reverse"  # 3 inputs, 2 outputs: one sweep per output is cheaper
    assert jacobian("sin(x)*2", {"x": np.ones(2)}, mode="auto").mode == "forward"


def test_every_primitive_has_a_second_derivative() -> None:
    """Table-parametrized: each public function of one or two numbers, at a sample point of
    tests/test_primitives.py, has a second derivative (diff at order 2) that matches finite
    differences of its first; so a new entry's rules must themselves be differentiable."""
    from test_primitives import SAMPLES

    checked = 0
    for prim in PRIMITIVES.values():
        if not prim.public or prim.kind not in ("elementwise",) or prim.blocks_gradient:
            continue
        scalar = [s for s in SAMPLES.get(prim.name, []) if all(isinstance(a, float) for a in s)]
        assert scalar, f"{prim.name}: add a sample point of single numbers in tests/test_primitives.py"
        args = scalar[0]
        names = [f"a{i}" for i in range(len(args))]
        program = f"{prim.name}({', '.join(names)})"
        point = dict(zip(names, args, strict=True))
        second = _f(diff(program, point, wrt="a0", order=2)["a0"].value)
        h = 1e-5 * max(1.0, abs(_f(args[0])))
        up: dict[str, float] = {k: _f(v) for k, v in point.items()}
        down = dict(up)
        up["a0"] += h
        down["a0"] -= h
        fd = (
            float(gradcli.grad(program, up).gradient["a0"])
            - float(gradcli.grad(program, down).gradient["a0"])
        ) / (2 * h)
        assert second == pytest.approx(fd, rel=1e-5, abs=1e-6), (prim.name, second, fd)
        checked += 1
    assert checked >= 30


def test_the_rule_language_is_closed_under_differentiation() -> None:
    """Every function a rule's textbook form calls has rules of its own (or is structured,
    written by derive.py): differentiating a derivative again never meets a dead end."""
    for prim in PRIMITIVES.values():
        if not prim.public or prim.kind in ("structured", "constant"):
            continue
        for text in prim.display or prim.partials:
            stack = [parse_rule(text)]
            while stack:
                node = stack.pop()
                if isinstance(node, Call):
                    used = PRIMITIVES[node.func]
                    assert used.kind != "constant" or node.func in ("arange",), (prim.name, node.func)
                    assert used.public or used.truth is not None, f"{prim.name}'s rule calls {node.func}"
                    stack.extend(node.args)


def test_errors_are_messages() -> None:
    with pytest.raises(GradcliError, match="a Hessian is of a single number"):
        hessian("x*2", {"x": np.ones(2)})
    with pytest.raises(GradcliError, match="depends on the shapes"):
        diff("sum(W @ x)")
    with pytest.raises(GradcliError, match="for inputs that are single numbers"):
        diff("sum(x**3)", {"x": np.ones(2)}, order=2)


# -- the command line --------------------------------------------------------------------


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"NO_COLOR": "1"})


def test_cli_diff_text_latex_json() -> None:
    out = _run("diff", "sin(x**2)")
    assert out.exit_code == 0 and out.stdout == "d/dx = 2 * x * cos(x**2)\n"
    out = _run("diff", "sin(x**2)", "x=3", "--json")
    data = json.loads(out.stdout)
    assert data["derivatives"]["x"]["formula"] == "2 * x * cos(x**2)"
    assert data["derivatives"]["x"]["value"] == pytest.approx(-5.466781571308061, rel=1e-15)
    out = _run("diff", "x**3", "--order", "2", "x=2")
    assert "d²/dx² = 6 * x" in out.stdout and "12" in out.stdout
    out = _run("diff", "relu(x)**3", "--order", "3", "x=2")
    assert out.exit_code == 0 and "kink" in out.stderr


def test_cli_hessian_jacobian_and_grad_order_2() -> None:
    out = _run("hessian", "x**2*y + y**3", "x=1", "y=2", "--json")
    data = json.loads(out.stdout)
    assert data["hessian"] == [[4.0, 2.0], [2.0, 12.0]] and data["rows"] == ["x", "y"]
    out = _run("jacobian", "sin(x)*y", "x=[1, 2]", "y=3", "--json")
    data = json.loads(out.stdout)
    assert data["columns"] == ["x[0]", "x[1]", "y"]
    np.testing.assert_allclose(data["jacobian"][0], [3 * np.cos(1), 0, np.sin(1)])
    out = _run("grad", "sin(x**2)", "x=3", "--order", "2", "--json")
    data = json.loads(out.stdout)
    assert data["second_derivative"]["x"] == pytest.approx(2 * np.cos(9) - 36 * np.sin(9), rel=1e-14)
    out = _run("hessian", "x*2", "x=[1, 2]")
    assert out.exit_code == 2 and "use jacobian" in out.stderr


def test_check_order_2_compares_the_exact_hessian_with_finite_differences_and_manual_formulas() -> None:
    ok = _run(
        "check", "x**3*y", "x=2", "y=1", "--order", "2", "--manual", "x: 6*x*y", "--manual", "x,y: 3*x**2"
    )
    assert ok.exit_code == 0, ok.output
    assert "result: pass" in ok.stdout
    bad = _run("check", "x**3*y", "x=2", "y=1", "--order", "2", "--manual", "x: 6*x**2")
    assert bad.exit_code == 1 and "FAIL: manual" in bad.stdout
    out = _run(
        "check",
        "sum(log(1 + exp(A @ w)))",
        "A=[[1,2],[3,4],[0.5,-1]]",
        "w=[0.3,-0.2]",
        "--wrt",
        "w",
        "--order",
        "2",
        "--json",
    )
    data = json.loads(out.stdout)
    assert data["passed"] and data["symmetric"] and len(data["entries"]) == 4
    # a wrong second derivative of the table would show here: the exact Hessian is built
    # from the rules, the finite differences from gradients only
    assert all(abs(e["exact"] - e["finite_difference"]) < 1e-6 for e in data["entries"])
