"""Matrices in the language: `@`, indexing and slicing, `.T`, axis reductions, comparisons and
`where`, softmax and cross-entropy, linear algebra; each checked against numbers computed
another way (numpy by hand, closed forms, matrix identities, finite differences)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradcheck import numeric_gradient
from typer.testing import CliRunner

import gradcli
from gradcli import grad
from gradcli.cli.main import app
from gradcli.errors import GradcliError, ParseError, ShapeError
from gradcli.lang.ast import Call
from gradcli.lang.parser import parse

RNG = np.random.default_rng(12)


def both(program: str, **point: Any) -> dict[str, np.ndarray]:
    """The reverse-mode gradient, after checking that forward mode gives the same."""
    rev = grad(program, point, mode="reverse")
    fwd = grad(program, point, mode="forward")
    for name in rev.gradient:
        np.testing.assert_allclose(fwd.gradient[name], rev.gradient[name], rtol=1e-12, atol=1e-14)
    return {k: np.asarray(v) for k, v in rev.gradient.items()}


# -- the language ------------------------------------------------------------------------


def _tree(text: str) -> str:
    def show(node: Any) -> str:
        if isinstance(node, Call):
            params = "".join(f" {k}={v}" for k, v in node.params)
            return f"{node.func}({', '.join(show(a) for a in node.args)}{params})"
        return str(getattr(node, "id", None) or getattr(node, "text", "?"))

    return show(parse(text).statements[-1].expr)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a @ b * c", "mul(matmul(a, b), c)"),  # @ binds as * does, left to right
        ("a * b @ c", "matmul(mul(a, b), c)"),
        ("a + b @ c", "add(a, matmul(b, c))"),
        ("-x[0]", "neg(index(x key=(0,)))"),  # postfix binds tighter than unary minus
        ("x[0]**2", "pow(index(x key=(0,)), 2)"),
        ("W.T @ x", "matmul(transpose(W), x)"),
        ("W.T[1, -1]", "index(transpose(W) key=(1, -1))"),
        ("W[:, 0]", "index(W key=((None, None, None), 0))"),
        ("x[1:3]", "index(x key=((1, 3, None),))"),
        ("x[::-2]", "index(x key=((None, None, -2),))"),
        ("x < y + 1", "lt(x, add(y, 1))"),  # comparisons below arithmetic
        ("x != 0", "ne(x, 0)"),
        ("sum(x, axis=-1, keepdims=True)", "sum_axis(x axis=-1 keepdims=True)"),
        ("max(x)", "amax(x)"),
        ("max(x, y)", "max(x, y)"),
        ("max(x, axis=0)", "amax(x axis=0)"),
        ("softmax(z, axis=0)", "softmax(z axis=0)"),
    ],
)
def test_syntax_and_precedence(text: str, tree: str) -> None:
    assert _tree(text) == tree


def test_values_follow_numpy() -> None:
    W = RNG.normal(size=(3, 4))
    x = RNG.normal(size=4)
    cases = {
        "W @ x": W @ x,
        "x @ x": x @ x,
        "W.T": W.T,
        "transpose(W)[1, 2]": W.T[1, 2],
        "W[:, 1]": W[:, 1],
        "W[-1]": W[-1],
        "W[1:, ::2]": W[1:, ::2],
        "x[::-1]": x[::-1],
        "sum(W, axis=0)": W.sum(axis=0),
        "mean(W, axis=-1, keepdims=True)": W.mean(axis=-1, keepdims=True),
        "max(W, axis=1)": W.max(axis=1),
        "min(W)": W.min(),
        "prod(W, axis=0)": W.prod(axis=0),
        "norm(W, axis=1)": np.linalg.norm(W, axis=1),
        "logsumexp(W, axis=0)": np.log(np.exp(W).sum(axis=0)),
        "reshape(W, 2, 6)": W.reshape(2, 6),
        "outer(x, x)": np.outer(x, x),
        "W > 0": (W > 0).astype(float),
        "where(W > 0, W, 0)": np.where(W > 0, W, 0),
        "eye(3) @ W": W,
        "onehot(2, 4)": np.eye(4)[2],
        "zeros(2, 3) + ones(3)": np.ones((2, 3)),
        "diag(x)": np.diag(x),
        "trace(W @ W.T)": np.trace(W @ W.T),
    }
    for program, expected in cases.items():
        got = gradcli.evaluate(program, W=W, x=x) if "x" in program else gradcli.evaluate(program, W=W)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15, err_msg=program)


# -- gradients against independent routes ----------------------------------------------


def test_two_layer_network_against_backprop_by_hand() -> None:
    """The classic manual backprop (dW = δ xᵀ) written out in numpy, batch of rows."""
    X = RNG.normal(size=(6, 4))
    W1, b1 = RNG.normal(size=(5, 4)), RNG.normal(size=5)
    W2, b2 = RNG.normal(size=(3, 5)), RNG.normal(size=3)
    y = np.array([0, 2, 1, 2, 0, 1])
    program = "H = relu(X @ W1.T + b1); Z = H @ W2.T + b2; cross_entropy(Z, y)"
    g = both(program, X=X, W1=W1, b1=b1, W2=W2, b2=b2, y=y.astype(float))
    # by hand
    A = X @ W1.T + b1
    H = np.maximum(A, 0)
    Z = H @ W2.T + b2
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    dZ = (P - np.eye(3)[y]) / len(y)
    dW2, db2 = dZ.T @ H, dZ.sum(axis=0)
    dA = (dZ @ W2) * (A > 0)
    dW1, db1 = dA.T @ X, dA.sum(axis=0)
    for name, expected in {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "X": dA @ W1}.items():
        np.testing.assert_allclose(g[name], expected, rtol=1e-12, atol=1e-15, err_msg=name)
    assert not g["y"].any()  # class indices get no gradient


def test_softmax_and_cross_entropy_closed_forms() -> None:
    z = np.array([1.0, 2.0, 3.0])
    s = np.exp(z) / np.exp(z).sum()
    # d cross_entropy(z, k)/dz = softmax(z) - onehot(k): torch's 0.0900, 0.2447, -0.3348
    np.testing.assert_allclose(both("cross_entropy(z, 2)", z=z)["z"], s - [0, 0, 1], rtol=1e-14)
    np.testing.assert_allclose(s - [0, 0, 1], [0.09003057317038043, 0.24472847105479764, -0.3347590442251782])
    # probabilities as the target: (softmax·sum(p) - p)/batch, and -log_softmax/batch for p
    Z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    Pt = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    g = both("cross_entropy(Z, Pt)", Z=Z, Pt=Pt)
    np.testing.assert_allclose(
        g["Z"],
        [
            [-0.05498471341480979, -0.027635764472601174, 0.08262047788741089],
            [-0.3940292211914573, 0.10597077880854272, 0.28805844238291456],
        ],
        rtol=1e-13,
    )  # PyTorch 2.13 float64
    np.testing.assert_allclose(
        g["Pt"],
        [
            [1.2038029822221903, 0.7038029822221902, 0.2038029822221902],
            [0.7757223569660255, 0.7757223569660255, 0.27572235696602554],
        ],
        rtol=1e-13,
    )
    # d softmax(z)[i]/dz_j = s_i (δ_ij - s_j): row 0 of the Jacobian
    np.testing.assert_allclose(both("softmax(z)[0]", z=z)["z"], s[0] * (np.eye(3)[0] - s), rtol=1e-14)
    # nll(log_softmax) is cross_entropy
    np.testing.assert_allclose(
        both("nll(log_softmax(Z), [2, 0])", Z=Z)["Z"], both("cross_entropy(Z, [2, 0])", Z=Z)["Z"], rtol=1e-14
    )


def test_linear_algebra_identities() -> None:
    A = RNG.normal(size=(4, 4)) + 4 * np.eye(4)
    inv = np.linalg.inv(A)
    np.testing.assert_allclose(both("det(A)", A=A)["A"], np.linalg.det(A) * inv.T, rtol=1e-11)
    np.testing.assert_allclose(both("logdet(A @ A.T)", A=A)["A"], 2 * inv.T, rtol=1e-11)
    # d sum(inv(A)) = -inv(A)ᵀ · ones · inv(A)ᵀ
    np.testing.assert_allclose(both("sum(inv(A))", A=A)["A"], -inv.T @ np.ones((4, 4)) @ inv.T, rtol=1e-11)
    np.testing.assert_allclose(both("trace(A)", A=A)["A"], np.eye(4))
    # det at a singular matrix: the cofactors (exact; PyTorch gives 0 here for 2x2)
    np.testing.assert_allclose(
        both("det(S)", S=np.array([[1.0, 2.0], [2.0, 4.0]]))["S"], [[4, -2], [-2, 1]], rtol=1e-14
    )
    # ... and for a rank-2 3x3, PyTorch's numbers
    S3 = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    np.testing.assert_allclose(both("det(S)", S=S3)["S"], [[4, 4, -4], [-2, -2, 2], [0, 0, 0]], atol=1e-13)


def test_reductions_along_an_axis_share_ties_like_torch_amax() -> None:
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    np.testing.assert_array_equal(both("max(x)", x=x)["x"], [[0, 0.5, 0.5], [0, 0, 0]])
    np.testing.assert_array_equal(both("sum(max(x, axis=1))", x=x)["x"], [[0, 0.5, 0.5], [0.5, 0.5, 0]])
    # prod along an axis with zeros: the product of the others, no division (torch: 6, 0, 0 / 0, 0, 0)
    z = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(both("sum(prod(z, axis=1))", z=z)["z"], [[6, 0, 0], [0, 0, 0]])
    # norm along an axis is 0 where the row is 0, not NaN (torch: 0)
    np.testing.assert_array_equal(both("sum(norm(z*0, axis=1))", z=z)["z"], np.zeros((2, 3)))


def test_indexing_scatters_back_and_repeated_use_adds_up() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(both("x[0] + x[-1] + x[0]", x=x)["x"], [2, 0, 0, 1])
    np.testing.assert_array_equal(both("sum(x[1:3]**2)", x=x)["x"], [0, 4, 6, 0])
    np.testing.assert_array_equal(both("sum(x[::2])", x=x)["x"], [1, 0, 1, 0])
    W = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(both("sum(W[:, 1] * W.T[2])", W=W)["W"], [[0, 2, 1], [0, 5, 4]])


def test_where_sends_the_gradient_to_the_chosen_branch_only() -> None:
    x = np.array([-1.0, 4.0])
    # sqrt(x) is NaN at -1, but that branch is not chosen there: gradient 0, not NaN.
    # (PyTorch gives NaN here: 0 * inf in the unchosen branch.)
    np.testing.assert_array_equal(both("sum(where(x > 0, sqrt(x), 0))", x=x)["x"], [0, 0.25])
    np.testing.assert_array_equal(both("sum(where(x >= 4, x**2, -x))", x=x)["x"], [-1, 8])
    assert both("sum(x > 0)", x=x)["x"].tolist() == [0, 0]  # comparisons carry no gradient


@pytest.mark.parametrize(
    ("program", "point"),
    [
        (
            "sum(relu(W @ x + b))",
            {"W": RNG.normal(size=(3, 4)), "x": RNG.normal(size=4), "b": RNG.normal(size=3)},
        ),
        ("x @ W.T @ W @ x", {"W": RNG.normal(size=(3, 4)), "x": RNG.normal(size=4)}),
        ("sum(softmax(W, axis=0) * log_softmax(W))", {"W": RNG.normal(size=(3, 4))}),
        ("logsumexp(W @ W.T, axis=1)[1] + norm(W, axis=0)[2]", {"W": RNG.normal(size=(3, 4))}),
        (
            "cross_entropy(W, [0, 3, 1]) + mean(W, axis=0, keepdims=True)[0, 1]",
            {"W": RNG.normal(size=(3, 4))},
        ),
        ("det(A @ A.T + eye(3)) * trace(inv(A))", {"A": RNG.normal(size=(3, 3)) + 3 * np.eye(3)}),
        ("sum(outer(diag(A), x[0:3]) * A)", {"A": RNG.normal(size=(3, 3)), "x": RNG.normal(size=4)}),
        ("sum(reshape(A, 9) * reshape(A.T, 9))", {"A": RNG.normal(size=(3, 3))}),
    ],
)
def test_compositions_against_finite_differences(program: str, point: dict[str, Any]) -> None:
    g = both(program, **point)
    for name in point:
        np.testing.assert_allclose(g[name], numeric_gradient(program, point, name), rtol=1e-6, atol=1e-8)


def test_forward_mode_on_matrices_has_its_work_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcli.limits import LIMITS

    monkeypatch.setattr(LIMITS, "max_forward_work", 10_000)
    monkeypatch.setattr(LIMITS, "max_forward_chunk_bytes", 100_000)  # no single pass over all
    W = RNG.normal(size=(60, 60))
    with pytest.raises(GradcliError, match="reverse"):
        grad("sum(W @ W)", {"W": W}, mode="forward")


# -- errors ------------------------------------------------------------------------------


def _error(program: str, **point: Any) -> GradcliError:
    with pytest.raises(GradcliError) as info:
        grad(program, point)
    return info.value


@pytest.mark.parametrize(
    ("program", "point", "kind", "fragment", "column"),
    [
        (
            "sum(W @ x)",
            {"W": np.ones((2, 2)), "x": np.ones(3)},
            ShapeError,
            "shapes (2, 2) and (3,) do not line up",
            7,
        ),
        ("x[3]", {"x": np.ones(3)}, ShapeError, "index 3 is out of range for axis 0 of size 3", 1),
        (
            "W[0, 0, 0]",
            {"W": np.ones((2, 2))},
            ShapeError,
            "too many indices: 3 for an array of shape (2, 2)",
            1,
        ),
        (
            "sum(x, axis=1)",
            {"x": np.ones(3)},
            ShapeError,
            "axis 1 is out of range for an array of shape (3,)",
            1,
        ),
        ("sum(x, axis=x)", {"x": np.ones(3)}, ParseError, "axis= takes a whole number", 13),
        ("sum(x, keepdims=1)", {"x": np.ones(3)}, ParseError, "keepdims= takes True or False", 17),
        ("sin(x, axis=0)", {"x": np.ones(3)}, GradcliError, "sin() takes no keyword argument 'axis'", 8),
        ("x[1.5]", {"x": np.ones(3)}, ParseError, "an index must be a whole number", 3),
        ("x.shape", {"x": np.ones(3)}, ParseError, "attribute access is not supported", 2),
        (
            "cross_entropy(z, 3)",
            {"z": np.ones(3)},
            ShapeError,
            "class indices must be whole numbers from 0 to 2",
            1,
        ),
        ("reshape(x, 2, 2)", {"x": np.ones(3)}, ShapeError, "do not fill shape (2, 2)", 1),
        (
            "reshape(x, n)",
            {"x": np.ones(3), "n": 3.0},
            GradcliError,
            "sizes are numbers written in the program",
            1,
        ),
        ("det(x)", {"x": np.ones((2, 3))}, ShapeError, "det takes a square matrix", 1),
    ],
)
def test_errors_name_shapes_and_point_at_the_place(
    program: str, point: dict[str, Any], kind: type, fragment: str, column: int
) -> None:
    err = _error(program, **point)
    assert isinstance(err, kind), err
    assert fragment in err.message
    assert err.span.column == column, (err.span, str(err))


# -- the command line ---------------------------------------------------------------------


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "100"})


@pytest.fixture
def network(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    arrays = {
        "x": rng.normal(size=4),
        "W1": rng.normal(size=(5, 4)),
        "b1": rng.normal(size=5),
        "W2": rng.normal(size=(3, 5)),
        "b2": rng.normal(size=3),
    }
    for name, value in arrays.items():
        if value.ndim == 2:
            np.save(tmp_path / f"{name}.npy", value)
        else:
            np.savetxt(tmp_path / f"{name}.txt", value)
    return tmp_path, arrays


NETWORK = "h = relu(W1 @ x + b1); z = W2 @ h + b2; cross_entropy(z, 2)"


def _bindings(d: Path) -> list[str]:
    return [f"x=@{d}/x.txt", f"W1=@{d}/W1.npy", f"b1=@{d}/b1.txt", f"W2=@{d}/W2.npy", f"b2=@{d}/b2.txt"]


def test_check_accepts_the_manual_backprop_of_a_two_layer_network(network: tuple[Path, Any]) -> None:
    d, _ = network
    ok = _run(
        "check", NETWORK, *_bindings(d), "--wrt", "W2,b2",
        "--manual", "W2: outer(softmax(z) - onehot(2, 3), h)", "--manual", "b2: softmax(z) - onehot(2, 3)",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "result: pass" in ok.output
    # a wrong manual derivative (h and the error swapped: the transpose) fails the check
    bad = _run(
        "check", NETWORK, *_bindings(d), "--wrt", "W2",
        "--manual", "W2: transpose(outer(h, softmax(z) - onehot(2, 3)))[:, 0:5] * 0 + 1",
    )  # fmt: skip
    assert bad.exit_code == 1, bad.output


def test_grad_json_of_the_network_matches_backprop_by_hand(network: tuple[Path, Any]) -> None:
    import json

    d, a = network
    out = _run("grad", NETWORK, *_bindings(d), "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    h_pre = a["W1"] @ a["x"] + a["b1"]
    h = np.maximum(h_pre, 0)
    z = a["W2"] @ h + a["b2"]
    p = np.exp(z - z.max())
    p /= p.sum()
    dz = p - np.eye(3)[2]
    np.testing.assert_allclose(data["gradient"]["W2"], np.outer(dz, h), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        data["gradient"]["W1"], np.outer((a["W2"].T @ dz) * (h_pre > 0), a["x"]), rtol=1e-12, atol=1e-15
    )


def test_explain_shows_the_matrix_step_as_written_by_hand() -> None:
    out = _run(
        "explain", "h = relu(W @ x + b); sum(h)", "W=[[1,2],[3,4]]", "x=[1,2]", "b=[0.5,-20]", "--wrt", "W"
    )
    assert out.exit_code == 0, out.output
    assert "(∂L/∂(W @ x)) · xᵀ" in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 100
