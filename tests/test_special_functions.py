"""erf, erfc, gelu, silu, atan2, hypot and logaddexp: values against mpmath at 50 digits on grids
with extreme arguments (subnormals, 1e300, the infinities), gradients in both modes against each
other and against the exact derivative, and PyTorch's numbers at the special points (torch 2.13,
float64; written here as numbers, the tests do not import torch)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradcli
from gradcli import numerics

INF = math.inf
NAN = math.nan
MODES = ("reverse", "forward")

MAGNITUDES = [
    5e-324, 1e-320, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-200, 2.0**-56, 2.0**-28, 1e-8, 0.25,
    0.5, 0.84375, 1.0, 1.25, 2.8571414947509766, 2.8571434020996094, 6.0, 10.0, 26.5, 27.0, 27.2,
    27.3, 28.0, 30.0, 37.0, 37.6, 38.0, 40.0, 745.0, 1e15, 1e300, 1.7976931348623157e308,
]  # fmt: skip
_rng = np.random.default_rng(20240601)
GRID = np.concatenate(
    [
        [0.0, -0.0],
        MAGNITUDES,
        np.negative(MAGNITUDES),
        np.linspace(-40.0, 40.0, 801),
        _rng.uniform(-6.0, 6.0, 300),
        np.logspace(-320, 2.5, 120),
        -np.logspace(-320, 2.5, 120),
    ]
)
PAIR_MAGNITUDES = [0.0, 5e-324, 1e-310, 1e-300, 1e-200, 1e-20, 0.3, 1.0, 2.5, 1e20, 1e200, 1e300, 1.7e308]
_values = sorted({s * m for m in PAIR_MAGNITUDES for s in (1.0, -1.0)} | set(_rng.uniform(-5.0, 5.0, 12)))
PAIRS_A, PAIRS_B = (np.array(c) for c in zip(*[(a, b) for a in _values for b in _values], strict=True))


def _mp() -> Any:
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    return mpmath


def _ulps(got: float, exact: Any) -> float:
    """|got - exact| in ulps of the exact value (a subnormal's ulp below the normal range)."""
    mpmath = _mp()
    if mpmath.isnan(exact):
        return 0.0 if math.isnan(got) else math.inf
    if mpmath.isinf(exact) or abs(exact) > 1.7976931348623157e308:
        return 0.0 if got == (INF if exact > 0 else -INF) else math.inf
    if math.isnan(got) or math.isinf(got):
        return math.inf
    return float(abs(mpmath.mpf(got) - exact) / math.ulp(float(abs(exact))))


# --------------------------------------------------------------------------
# The exact functions and derivatives (mpmath), with their limits where mpmath has none.


def _sigmoid(x: Any) -> Any:
    return 1 / (1 + _mp().exp(-x))


def _erf(x: Any) -> Any:
    return _mp().sign(x) if abs(x) > 100 else _mp().erf(x)


def _erfc(x: Any) -> Any:
    if abs(x) > 100:  # mpmath's erfc overflows at 1e300; it is 0 or 2 far before
        return _mp().mpf(0 if x > 0 else 2)
    return _mp().erfc(x)


def _gelu(x: Any) -> Any:
    if abs(x) > 100:
        return x if x > 0 else _mp().mpf(0)
    return x * _mp().ncdf(x)


def _silu(x: Any) -> Any:
    if abs(x) > 1000:
        return x if x > 0 else _mp().mpf(0)
    return x * _sigmoid(x)


def _d_erf(x: Any) -> Any:
    return 2 / _mp().sqrt(_mp().pi) * _mp().exp(-x * x)


def _d_gelu(x: Any) -> Any:
    return _mp().ncdf(x) + x * _mp().npdf(x) if abs(x) < 100 else _mp().mpf(int(x > 0))


def _d_silu(x: Any) -> Any:
    if abs(x) > 1000:
        return _mp().mpf(int(x > 0))
    s = _sigmoid(x)
    return s * (1 + x * (1 - s))


UNARY: dict[str, Callable[[Any], Any]] = {"erf": _erf, "erfc": _erfc, "gelu": _gelu, "silu": _silu}


def _exact(name: str, xs: np.ndarray) -> list[Any]:
    mpmath = _mp()
    return [UNARY[name](mpmath.mpf(float(x))) for x in xs]


# --------------------------------------------------------------------------
# Values.


@pytest.mark.parametrize(("name", "bound"), [("erf", 1.0), ("erfc", 2.5), ("gelu", 4.0), ("silu", 3.0)])
def test_unary_values_against_mpmath(name: str, bound: float) -> None:
    got = np.asarray(gradcli.evaluate(f"{name}(x)", x=GRID))
    errors = [_ulps(float(g), e) for g, e in zip(got, _exact(name, GRID), strict=True)]
    worst = max(zip(errors, GRID, strict=True))
    assert worst[0] <= bound, f"{name}: {worst[0]:.2f} ulp at x = {worst[1]!r}"


def test_erf_erfc_against_the_math_module() -> None:
    """Python's math.erf / math.erfc (the float path's twins): a few ulp apart at most, both
    being within about 2.5 ulp of the exact value."""
    for ours, theirs in ((numerics.erf, math.erf), (numerics.erfc, math.erfc)):
        got = ours(GRID)
        for x, g in zip(GRID, got, strict=True):
            want = theirs(float(x))
            assert abs(g - want) <= 4 * math.ulp(max(abs(g), abs(want))), (theirs.__name__, x, g, want)


def test_erf_erfc_special_values() -> None:
    erf, erfc = numerics.erf, numerics.erfc
    assert erf(INF) == 1.0 and erf(-INF) == -1.0 and math.isnan(erf(NAN))
    assert erfc(INF) == 0.0 and erfc(-INF) == 2.0 and math.isnan(erfc(NAN))
    assert erf(0.0) == 0.0 and math.copysign(1.0, erf(-0.0)) == -1.0
    assert erf(-5e-324) == -5e-324 and erf(1e-310) == 1.1283791670955e-310  # as PyTorch
    assert erfc(10.0) == 2.088487583762545e-45  # relative precision in the tail, not 1 - erf
    assert erfc(27.0) == float(_mp().erfc(27))  # a subnormal, 5.237e-319
    assert erfc(30.0) == 0.0 and erfc(-30.0) == 2.0 and erf(6.0) == 1.0
    # array and scalar forms
    np.testing.assert_array_equal(erf(np.array([[0.5, -0.5]])), [[erf(0.5), -erf(0.5)]])
    assert isinstance(erf(0.5), np.float64) and np.shape(erfc(np.zeros(0))) == (0,)


def test_gelu_silu_limits_and_signs() -> None:
    for name in ("gelu", "silu"):
        v = np.asarray(gradcli.evaluate(f"{name}(x)", x=np.array([-INF, INF, NAN, -0.0, -1e300, 1e300])))
        assert v[0] == 0.0 and math.copysign(1.0, v[0]) == -1.0  # the limit -0 (PyTorch: NaN)
        assert v[1] == INF and math.isnan(v[2])
        assert v[3] == 0.0 and math.copysign(1.0, v[3]) == -1.0  # as PyTorch
        assert v[4] == 0.0 and v[5] == 1e300


def test_gelu_keeps_the_lower_tail() -> None:
    """0.5*x*(1 + erf(x/sqrt(2))) cancels to 0 from x = -8.3 on (PyTorch's gelu(-30) is -0.0);
    erfc keeps it, with the rounding of x/sqrt(2) corrected (else |x|²/2 ulp)."""
    mpmath = _mp()
    for x in (-8.5, -20.0, -30.0, -37.0, -37.55, -37.6, -37.62):
        got = float(gradcli.evaluate("gelu(x)", x=x))
        assert _ulps(got, _gelu(mpmath.mpf(x))) <= 4, x
    assert gradcli.evaluate("gelu(x)", x=-30.0) == pytest.approx(-1.4720141781444561e-196, rel=1e-15)


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp"])
def test_binary_values_against_mpmath(name: str) -> None:
    mpmath = _mp()
    got = np.asarray(gradcli.evaluate(f"{name}(a, b)", a=PAIRS_A, b=PAIRS_B))
    for a, b, g in zip(PAIRS_A, PAIRS_B, got, strict=True):
        ma, mb = mpmath.mpf(float(a)), mpmath.mpf(float(b))
        if name == "atan2":
            if a == 0 and b <= 0:
                continue  # ±0 or ±pi by the signs of the zeros, which mpmath has not: below
            assert _ulps(float(g), mpmath.atan2(ma, mb)) <= 2, (a, b, g)
        elif name == "hypot":
            assert _ulps(float(g), mpmath.hypot(ma, mb)) <= 1, (a, b, g)
        else:
            hi, lo = max(ma, mb), min(ma, mb)
            exact = hi + mpmath.log1p(mpmath.exp(lo - hi))
            # well-conditioned but where the result cancels (a, b < 0, the result near 0)
            slack = 2 * math.ulp(max(abs(a), abs(b))) + math.ulp(1.0)
            assert float(abs(mpmath.mpf(float(g)) - exact)) <= 2 * math.ulp(float(abs(exact))) + slack, (a, b)
    assert gradcli.evaluate("atan2(y, x)", y=-0.0, x=-1.0) == -math.pi
    assert gradcli.evaluate("atan2(y, x)", y=0.0, x=-0.0) == math.pi


def test_binary_special_values() -> None:
    ev = gradcli.evaluate
    assert (
        ev("hypot(a, b)", a=INF, b=NAN) == INF
        and ev("hypot(a, b)", a=1e308, b=1e308) == 1.4142135623730951e308
    )
    assert ev("hypot(a, b)", a=3e-320, b=4e-320) == 5e-320
    assert ev("logaddexp(a, b)", a=1e308, b=1e308) == 1e308
    assert ev("logaddexp(a, b)", a=-INF, b=-INF) == -INF and ev("logaddexp(a, b)", a=INF, b=INF) == INF
    assert ev("logaddexp(a, b)", a=-INF, b=1.0) == 1.0
    assert ev("atan2(y, x)", y=INF, x=INF) == math.pi / 4


# --------------------------------------------------------------------------
# Gradients: both modes, the float path, and the exact derivative.


def _gradients(program: str, point: dict[str, Any]) -> list[dict[str, Any]]:
    compiled = gradcli.compile(program)
    return [compiled.grad(point, mode=mode).gradient for mode in MODES]


@pytest.mark.parametrize("name", ["erf", "erfc", "gelu", "silu"])
def test_unary_gradients_both_modes_against_mpmath(name: str) -> None:
    mpmath = _mp()
    rev, fwd = (g["x"] for g in _gradients(f"{name}(x)", {"x": GRID}))
    np.testing.assert_array_equal(rev, fwd)
    for x, g in zip(GRID, rev, strict=True):
        m = mpmath.mpf(float(x))
        if name in ("erf", "erfc"):
            exact = _d_erf(m) * (1 if name == "erf" else -1)
            # exp(-x*x): the rounding of x*x is x²·2**-53 relative in the result
            assert _ulps(float(g), exact) <= 4 + 2 * min(abs(float(x)), 1e3) ** 2, (x, g)
            continue
        exact = _d_gelu(m) if name == "gelu" else _d_silu(m)
        # the size of the terms that cancel near the zero of the derivative (x = -0.75, -1.28)
        if name == "gelu":
            size = mpmath.ncdf(m) + abs(m) * mpmath.npdf(m) if abs(x) < 100 else 1
            allowed = 4 * (1 + min(abs(float(x)), 1e3) ** 2)  # exp(-x*x/2), as erf
        else:
            s = _sigmoid(m) if abs(x) < 1000 else mpmath.mpf(int(x > 0))
            size = s * (1 + abs(m) * (1 - s))
            allowed = 4.0
        assert float(abs(mpmath.mpf(float(g)) - exact)) <= allowed * math.ulp(float(size)), (x, g)


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp"])
def test_binary_gradients_both_modes_against_mpmath(name: str) -> None:
    mpmath = _mp()
    rev, fwd = _gradients(f"{name}(a, b)", {"a": PAIRS_A, "b": PAIRS_B})
    for k in ("a", "b"):
        np.testing.assert_array_equal(rev[k], fwd[k])
    for a, b, ga, gb in zip(PAIRS_A, PAIRS_B, rev["a"], rev["b"], strict=True):
        ma, mb = mpmath.mpf(float(a)), mpmath.mpf(float(b))
        if a == 0 and b == 0 and name != "logaddexp":
            assert ga == 0.0 and gb == 0.0  # the conventions, below
            continue
        if name == "atan2":  # atan2(y = a, x = b)
            r2 = ma * ma + mb * mb
            assert _ulps(float(ga), mb / r2) <= 4, (a, b, ga)
            assert _ulps(float(gb), -ma / r2) <= 4, (a, b, gb)
        elif name == "hypot":
            h = mpmath.hypot(ma, mb)
            assert _ulps(float(ga), ma / h) <= 2, (a, b, ga)
            assert _ulps(float(gb), mb / h) <= 2, (a, b, gb)
        else:
            wa = 1 / (1 + mpmath.exp(mb - ma))
            # sigmoid(a - b): a - b is rounded, by half an ulp, times sigmoid's slope w(1 - w)
            d = float(abs(ma - mb))
            slack = float(wa * (1 - wa)) * math.ulp(d) if math.isfinite(d) else 0.0
            for g, w in ((ga, wa), (gb, 1 - wa)):
                assert float(abs(mpmath.mpf(float(g)) - w)) <= 4 * math.ulp(float(w)) + slack, (a, b, g)


@pytest.mark.parametrize(
    ("program", "point"),
    [
        ("erf(x)", {"x": 0.7}),
        ("erfc(x)", {"x": 3.5}),
        ("gelu(x)", {"x": -3.2}),
        ("gelu(x)", {"x": -37.3}),
        ("silu(x)", {"x": -2.5}),
        ("atan2(y, x)", {"y": 0.3, "x": -2.0}),
        ("hypot(a, b)", {"a": -1e-200, "b": 3e-200}),
        ("logaddexp(a, b)", {"a": 700.5, "b": 699.0}),
    ],
)
def test_single_numbers_take_the_float_path_and_agree(program: str, point: dict[str, float]) -> None:
    """Single numbers run through the table's `scalar` forms (gradcli/engine/scalar.py): the same
    numbers, to an ulp or two, as the array evaluators."""
    arrays = {k: np.array([v]) for k, v in point.items()}
    for mode in MODES:
        one = gradcli.compile(program).grad(point, mode=mode)
        many = gradcli.compile(program).grad(arrays, mode=mode)
        assert one.value == pytest.approx(float(np.asarray(many.value)[0]), rel=1e-15, abs=0)
        for k in point:
            assert one.gradient[k] == pytest.approx(float(np.asarray(many.gradient[k])[0]), rel=1e-15, abs=0)


def test_partials_beyond_float64_times_a_small_gradient() -> None:
    """atan2's partial at y = x = 5e-324 is 1e323 (beyond float64); times 1e-20 it is 1.0e303, in
    both modes. hypot's partial at a rounded subnormal (hypot(5e-324, 5e-324) is 5e-324) is still
    1/sqrt(2), and a partial below 1e-308 times 1e300 is an ordinary number."""
    exact = 1e-20 / (2 * 5e-324)
    for g in _gradients("1e-20*atan2(y, x)", {"y": 5e-324, "x": 5e-324}):
        assert g["y"] == pytest.approx(exact, rel=1e-15) and g["x"] == pytest.approx(-exact, rel=1e-15)
    for g in _gradients("hypot(a, b)", {"a": 5e-324, "b": 5e-324}):
        assert g["a"] == pytest.approx(math.sqrt(0.5), rel=1e-15)
    for g in _gradients("1e300*hypot(a, b)", {"a": 0.9, "b": 1.7e308}):
        assert g["a"] == pytest.approx(1e300 * 0.9 / 1.7e308, rel=1e-12)
    for g in _gradients("atan2(y, x)", {"y": 1e-20, "x": 5e-324}):
        assert g["x"] == pytest.approx(-1e-20 / 1e-40, rel=1e-15)


# --------------------------------------------------------------------------
# PyTorch's conventions (torch 2.13, float64), and where gradcli gives the limit or the exact
# number instead of PyTorch's NaN or rounded-away result.

# (program, point, value, gradient) as PyTorch gives them.
AS_PYTORCH: list[tuple[str, dict[str, float], float, dict[str, float]]] = [
    ("erf(x)", {"x": 0.0}, 0.0, {"x": 1.1283791670955126}),
    ("erf(x)", {"x": -INF}, -1.0, {"x": 0.0}),
    ("erf(x)", {"x": INF}, 1.0, {"x": 0.0}),
    ("erf(x)", {"x": 30.0}, 1.0, {"x": 0.0}),
    ("erfc(x)", {"x": 0.0}, 1.0, {"x": -1.1283791670955126}),
    ("erfc(x)", {"x": -INF}, 2.0, {"x": -0.0}),
    ("erfc(x)", {"x": INF}, 0.0, {"x": -0.0}),
    ("gelu(x)", {"x": 0.0}, 0.0, {"x": 0.5}),
    ("gelu(x)", {"x": 1e-310}, 5e-311, {"x": 0.5}),
    ("gelu(x)", {"x": 1e300}, 1e300, {"x": 1.0}),
    ("gelu(x)", {"x": -1e300}, -0.0, {"x": 0.0}),
    ("gelu(x)", {"x": 40.0}, 40.0, {"x": 1.0}),
    ("silu(x)", {"x": 0.0}, 0.0, {"x": 0.5}),
    ("silu(x)", {"x": -40.0}, -1.6993417021166355e-16, {"x": -1.6568581595637197e-16}),
    ("silu(x)", {"x": -800.0}, -0.0, {"x": -0.0}),
    ("silu(x)", {"x": 1e300}, 1e300, {"x": 1.0}),
    ("atan2(y, x)", {"y": 0.0, "x": 0.0}, 0.0, {"y": 0.0, "x": 0.0}),  # PyTorch: 0 at the origin
    ("atan2(y, x)", {"y": 0.0, "x": -0.0}, math.pi, {"y": 0.0, "x": 0.0}),
    ("atan2(y, x)", {"y": 1.0, "x": 0.0}, math.pi / 2, {"y": 0.0, "x": -1.0}),
    ("atan2(y, x)", {"y": 0.0, "x": 1.0}, 0.0, {"y": 1.0, "x": 0.0}),
    ("atan2(y, x)", {"y": INF, "x": 1.0}, math.pi / 2, {"y": 0.0, "x": 0.0}),  # PyTorch: x's NaN
    ("hypot(a, b)", {"a": 1.0, "b": 0.0}, 1.0, {"a": 1.0, "b": 0.0}),
    ("hypot(a, b)", {"a": 0.0, "b": 1.0}, 1.0, {"a": 0.0, "b": 1.0}),
    ("hypot(a, b)", {"a": 1e300, "b": 1e300}, 1.4142135623730952e300, {"a": 0.7071067811865475, "b": 0.7071067811865475}),
    ("hypot(a, b)", {"a": 1e200, "b": 1e-200}, 1e200, {"a": 1.0, "b": 0.0}),
    ("logaddexp(a, b)", {"a": 0.0, "b": 0.0}, 0.6931471805599453, {"a": 0.5, "b": 0.5}),
    ("logaddexp(a, b)", {"a": 1.0, "b": 0.0}, 1.3132616875182228, {"a": 0.7310585786300049, "b": 0.2689414213699951}),
    ("logaddexp(a, b)", {"a": INF, "b": 1.0}, INF, {"a": 1.0, "b": 0.0}),
    ("logaddexp(a, b)", {"a": 1.0, "b": -INF}, 1.0, {"a": 1.0, "b": 0.0}),
    ("logaddexp(a, b)", {"a": -INF, "b": INF}, INF, {"a": 0.0, "b": 1.0}),
    ("logaddexp(a, b)", {"a": 1e300, "b": 1e300}, 1e300, {"a": 0.5, "b": 0.5}),
    ("logaddexp(a, b)", {"a": -1000.0, "b": -1000.0}, -999.3068528194401, {"a": 0.5, "b": 0.5}),
]  # fmt: skip


@pytest.mark.parametrize(("program", "point", "value", "gradient"), AS_PYTORCH)
def test_as_pytorch(program: str, point: dict[str, float], value: float, gradient: dict[str, float]) -> None:
    for mode in MODES:
        r = gradcli.compile(program).grad(point, mode=mode)
        assert r.value == value, (mode, r.value)
        assert r.gradient == gradient, (mode, r.gradient)
        arrays = gradcli.compile(program).grad({k: np.array([v]) for k, v in point.items()}, mode=mode)
        assert {k: float(np.asarray(v)[0]) for k, v in arrays.gradient.items()} == gradient, mode


# (program, point, value, gradient) where gradcli differs from PyTorch on purpose; PyTorch's
# numbers in the comments.
NOT_AS_PYTORCH: list[tuple[str, dict[str, float], float, dict[str, float]]] = [
    # the limits at the infinities (PyTorch: gelu(-inf) NaN, gradients NaN)
    ("gelu(x)", {"x": -INF}, -0.0, {"x": 0.0}),
    ("gelu(x)", {"x": INF}, INF, {"x": 1.0}),
    ("silu(x)", {"x": -INF}, -0.0, {"x": -0.0}),
    ("silu(x)", {"x": INF}, INF, {"x": 1.0}),
    # Phi(x) + x*phi(x) with Phi from erfc (PyTorch: -0.0 and -4.4209384046356e-195: its Phi is 0)
    ("gelu(x)", {"x": -30.0}, -1.4720141781444563e-196, {"x": -4.416031690708495e-195}),
    # sigmoid(-x), not 1 - sigmoid(x) (PyTorch: 1.000000000002711)
    ("silu(x)", {"x": 30.0}, 29.999999999997197, {"x": 1.0000000000027138}),
    # hypot: 0 at the origin, as abs and norm; the limits at an infinity (PyTorch: NaN)
    ("hypot(a, b)", {"a": 0.0, "b": 0.0}, 0.0, {"a": 0.0, "b": 0.0}),
    ("hypot(a, b)", {"a": INF, "b": 1.0}, INF, {"a": 1.0, "b": 0.0}),
    # exact where x**2 + y**2 underflows or overflows (PyTorch: 0 and -0)
    ("atan2(y, x)", {"y": 1e-300, "x": 1e-300}, math.pi / 4, {"y": 5e299, "x": -5e299}),
    ("atan2(y, x)", {"y": 1e300, "x": 1e300}, math.pi / 4, {"y": 5e-301, "x": -5e-301}),
    # hypot at a rounded subnormal (PyTorch: 1, 1)
    ("hypot(a, b)", {"a": 5e-324, "b": 5e-324}, 5e-324, {"a": 0.7071067811865475, "b": 0.7071067811865475}),
    # ties split 0.5/0.5 at the infinities too (PyTorch: NaN)
    ("logaddexp(a, b)", {"a": INF, "b": INF}, INF, {"a": 0.5, "b": 0.5}),
    ("logaddexp(a, b)", {"a": -INF, "b": -INF}, -INF, {"a": 0.5, "b": 0.5}),
]


@pytest.mark.parametrize(("program", "point", "value", "gradient"), NOT_AS_PYTORCH)
def test_on_purpose_not_as_pytorch(
    program: str, point: dict[str, float], value: float, gradient: dict[str, float]
) -> None:
    for mode in MODES:
        r = gradcli.compile(program).grad(point, mode=mode)
        assert r.value == pytest.approx(value, rel=1e-15, abs=0), (mode, r.value)
        assert math.copysign(1.0, r.value) == math.copysign(1.0, value), (mode, r.value)
        for k, want in gradient.items():
            assert r.gradient[k] == pytest.approx(want, rel=1e-15, abs=0), (mode, k, r.gradient)


def test_exact_numbers_of_the_differences() -> None:
    """The numbers of NOT_AS_PYTORCH that are not limits are mpmath's, to an ulp."""
    mpmath = _mp()
    x = mpmath.mpf(-30)
    assert _ulps(-1.4720141781444563e-196, _gelu(x)) <= 1
    assert _ulps(-4.416031690708495e-195, _d_gelu(x)) <= 1
    assert _ulps(1.0000000000027138, _d_silu(mpmath.mpf(30))) <= 1
    assert _ulps(5e299, 1 / mpmath.mpf(2e-300)) <= 1


def test_kinks_are_declared() -> None:
    """atan2 on its branch cut (y = 0, x <= 0) and hypot at the origin sit on kinks: `check`
    and the differential test do not judge them by finite differences."""
    from gradcheck import on_kink

    assert on_kink("atan2(y, x)", {"y": 0.0, "x": -1.0}) and on_kink("atan2(y, x)", {"y": 0.0, "x": 0.0})
    assert not on_kink("atan2(y, x)", {"y": 0.0, "x": 1.0})
    assert on_kink("hypot(a, b)", {"a": 0.0, "b": 0.0}) and not on_kink("hypot(a, b)", {"a": 0.0, "b": 2.0})
