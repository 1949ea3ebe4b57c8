"""Both evaluators: broadcasting, repeated names, wrt, array outputs, chunking, depth and length."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import numeric_gradient

from gradcli import compile, grad
from gradcli.limits import LIMITS

MODES = ["reverse", "forward"]


def _agree(program: str, point: dict[str, object], rtol: float = 1e-7) -> None:
    rev = grad(program, point, mode="reverse")
    fwd = grad(program, point, mode="forward")
    for name in rev.gradient:
        np.testing.assert_allclose(fwd.gradient[name], rev.gradient[name], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(
            rev.gradient[name], numeric_gradient(program, point, name), rtol=rtol, atol=1e-8
        )


def test_broadcast_scalar_with_vector() -> None:
    point = {"x": [1.0, 2.0, 3.0], "s": 0.5}
    _agree("sum(s * x + s**2)", point)
    r = grad("sum(s * x)", point)
    assert r.gradient["s"] == pytest.approx(6.0)  # summed over the broadcast axis
    np.testing.assert_allclose(r.gradient["x"], [0.5, 0.5, 0.5])


def test_broadcast_row_with_column() -> None:
    point = {"r": [1.0, 2.0, 3.0], "c": [[1.0], [-2.0]]}
    _agree("mean(sin(r * c) + c)", point)
    r = grad("sum(r * c)", point)
    np.testing.assert_allclose(r.gradient["r"], [-1.0, -1.0, -1.0])
    np.testing.assert_allclose(r.gradient["c"], [[6.0], [6.0]])
    assert np.shape(r.gradient["c"]) == (2, 1)


def test_repeated_use_of_a_name_adds_up() -> None:
    r = grad("x*x + x", x=3.0)
    assert r.gradient["x"] == 7.0
    r = grad("y = sin(x); y*y + y", x=0.4)
    assert r.gradient["x"] == pytest.approx(2 * np.sin(0.4) * np.cos(0.4) + np.cos(0.4), rel=1e-14)
    _agree("y = x*x; z = y + x; z*y*x", {"x": 1.3})


@pytest.mark.parametrize("mode", MODES)
def test_wrt_subset(mode: str) -> None:
    r = grad("a*b + c", a=2.0, b=3.0, c=1.0, wrt="b", mode=mode)
    assert r.gradient == {"b": 2.0}
    r = grad("a*b + c", a=2.0, b=3.0, c=1.0, wrt=["c", "a"], mode=mode)
    assert list(r.gradient) == ["c", "a"] and r.gradient == {"c": 1.0, "a": 3.0}


@pytest.mark.parametrize("mode", MODES)
def test_array_output_gives_gradient_of_sum(mode: str) -> None:
    x = np.array([0.1, 0.5, 2.0])
    r = grad("sin(x)", x=x, mode=mode)
    np.testing.assert_allclose(r.gradient["x"], np.cos(x), rtol=1e-15)
    assert any("sum(output)" in w for w in r.warnings)


@pytest.mark.parametrize("mode", MODES)
def test_vector_literals_carry_gradients(mode: str) -> None:
    r = grad("dot([x, 2*x, y], [1, 2, 3])", x=1.0, y=2.0, mode=mode)
    assert r.gradient == {"x": 5.0, "y": 3.0}
    r = grad("sum([[x, y], [y, x]] * [[1, 2], [3, 4]])", x=1.0, y=1.0, mode=mode)
    assert r.gradient == {"x": 5.0, "y": 5.0}


def test_non_diagonal_jacobians() -> None:
    # x - mean(x) mixes elements: forward mode needs dense tangents here.
    x, w = np.array([1.0, 2.0, 4.0, 7.0]), np.array([1.0, 2.0, 3.0, 4.0])
    program = "sum((x - mean(x))**2 * w)"
    rev, fwd = (grad(program, x=x, w=w, mode=m).gradient for m in ("reverse", "forward"))
    d = x - x.mean()  # by hand: d/dx_j = 2 w_j d_j - (2/n) sum_i w_i d_i
    by_hand = 2 * w * d - 2 * np.sum(w * d) / x.size
    np.testing.assert_allclose(rev["x"], by_hand, rtol=1e-13)
    np.testing.assert_allclose(fwd["x"], by_hand, rtol=1e-13)
    np.testing.assert_allclose(rev["w"], d**2, rtol=1e-13)
    # logsumexp(x*|x|) and prod(x)*sum(x): each mode against finite differences
    for program, point in (
        ("logsumexp(x * norm(x))", {"x": [0.3, -0.2, 0.9]}),
        ("prod(x) * sum(x)", {"x": [[1.0, 2.0], [3.0, 0.5]]}),
    ):
        fd = numeric_gradient(program, point, "x")
        for mode in ("reverse", "forward"):
            np.testing.assert_allclose(
                grad(program, point, mode=mode).gradient["x"], fd, rtol=1e-7, err_msg=program
            )


def test_forward_mode_chunks_when_dense_tangents_are_big(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.linspace(-1, 1, 300)
    program = "sum((x - mean(x))**2 * sin(x))"
    rev = grad(program, x=x).gradient["x"]
    monkeypatch.setattr(LIMITS, "max_forward_chunk_bytes", 64 * 1024)  # forces several chunks
    fwd = grad(program, x=x, mode="forward").gradient["x"]
    np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-14)


def test_forward_mode_refuses_unreasonable_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcli.errors import LimitError

    monkeypatch.setattr(LIMITS, "max_forward_chunk_bytes", 64 * 1024)
    monkeypatch.setattr(LIMITS, "max_forward_work", 10_000)
    with pytest.raises(LimitError, match="reverse mode"):
        grad("sum((x - mean(x))**2)", x=np.ones(1000), mode="forward")


def test_forward_mode_elementwise_programs_stay_linear() -> None:
    # The diagonal form: 1e6 elements through an element-wise chain and a mean.
    x = np.linspace(0.1, 3, 1_000_000)
    g = grad("mean(sin(x**2))", x=x, mode="forward").gradient["x"]
    np.testing.assert_allclose(g, 2 * x * np.cos(x**2) / x.size, rtol=1e-12)


def test_batched_scalar_inputs_do_not_leak_infinities() -> None:
    r = grad("a**b", a=0.0, b=0.5, mode="forward")
    assert r.gradient["b"] == 0.0 and r.gradient["a"] == np.inf


def test_compiled_program_is_reusable() -> None:
    f = compile("mean(x**2)")
    assert f.inputs == ["x"]
    for x in ([1.0, 2.0], [3.0, 4.0, 5.0]):
        np.testing.assert_allclose(f.grad({"x": x}).gradient["x"], 2 * np.array(x) / len(x))


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_depth_100000(mode: str) -> None:
    n = 100_000
    assert grad("(" * n + "x" + ")" * n, x=0.5, mode=mode).gradient["x"] == 1.0
    r = grad("-" * n + "x", x=0.5, mode=mode)
    assert r.value == 0.5 and r.gradient["x"] == 1.0
    # 100,000 nested calls: sin(sin(...sin(x))) with the chain rule checked by recurrence.
    r = grad("sin(" * n + "x" + ")" * n, x=0.5, mode=mode)
    v, d = 0.5, 1.0
    for _ in range(n):
        d *= np.cos(v)
        v = np.sin(v)
    assert r.value == pytest.approx(v, rel=1e-12)
    assert r.gradient["x"] == pytest.approx(d, rel=1e-9)


@pytest.mark.slow
def test_length_100000_terms() -> None:
    n = 100_000
    program = " + ".join(f"{i % 7}*x" for i in range(n))
    expected = float(sum(i % 7 for i in range(n)))
    for mode in MODES:
        assert grad(program, x=1.0, mode=mode).gradient["x"] == expected
    products = " + ".join(f"x{i}*y{i}" for i in range(2000))
    point = {f"x{i}": float(i) for i in range(2000)} | {f"y{i}": 2.0 for i in range(2000)}
    for mode in MODES:
        r = grad(products, point, mode=mode)
        assert r.gradient["x7"] == 2.0 and r.gradient["y7"] == 7.0


@pytest.mark.parametrize("program", ["sqrt(x*0)", "sqrt(x - x)", "sqrt(x*0) + y", "log(x - x)*y"])
@pytest.mark.parametrize("shape", ["scalar", "array"])
def test_forward_mode_keeps_a_genuine_zero_times_infinity(program: str, shape: str) -> None:
    # d/dx sqrt(x*0) = (1/(2*sqrt(0))) * 0 = inf * 0 = NaN in reverse mode (and PyTorch);
    # forward mode must not mistake that computed zero for a structurally absent direction.
    point = {"x": 1.0, "y": 2.0} if shape == "scalar" else {"x": [1.0, 2.0], "y": [2.0, 3.0]}
    rev = grad(program, point, mode="reverse")
    fwd = grad(program, point, mode="forward")
    for name in rev.gradient:
        np.testing.assert_array_equal(np.isnan(fwd.gradient[name]), np.isnan(rev.gradient[name]))
        np.testing.assert_allclose(fwd.gradient[name], rev.gradient[name], rtol=1e-12)
    assert np.all(np.isnan(rev.gradient["x"]))
