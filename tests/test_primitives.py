"""Every entry of the primitive table: forward == reverse == finite differences inside its domain,
plus each kink/edge convention, one by one."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import numeric_gradient

from gradcli import grad
from gradcli.cli.docs import conventions_table, generated, markdown_table
from gradcli.primitives import PRIMITIVES, Primitive

V = [0.3, -0.7, 1.2]
P = [0.2, 0.55, 0.9]  # probabilities
POS = [0.4, 1.3, 2.2]
M = [[0.3, -0.7, 1.2], [2.0, 0.5, -1.1]]  # 2 x 3
M2 = [[1.5, -0.4, 0.2], [0.3, -0.9, 0.8]]  # 2 x 3
SQ = [[2.0, -0.5, 0.3], [0.4, 1.5, -0.2], [0.1, 0.7, 1.1]]  # well conditioned
TIES = [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]


class Lit:
    """An argument written into the program as a literal (a class index, a size): not an input."""

    def __init__(self, text: str) -> None:
        self.text = text


class Kw:
    """A keyword argument written into the program: axis=0, keepdims=True."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text


# Points inside each function's domain, away from kinks. A new public primitive without
# an entry here fails `test_every_public_primitive_has_samples`.
SAMPLES: dict[str, list[tuple[object, ...]]] = {
    "add": [(1.5, -0.25), (V, 2.0)],
    "sub": [(1.5, -0.25), (V, POS)],
    "mul": [(1.5, -0.25), (V, POS)],
    "div": [(1.5, -0.25), (V, POS)],
    "neg": [(1.5,), (V,)],
    "pow": [(1.7, 2.3), (POS, 0.5), (1.3, -1.5), (POS, V)],
    "sin": [(0.7,), (V,)],
    "cos": [(0.7,), (V,)],
    "tan": [(0.7,), (V,)],
    "asin": [(0.3,), ([-0.5, 0.1, 0.8],)],
    "acos": [(0.3,), ([-0.5, 0.1, 0.8],)],
    "atan": [(0.7,), (V,)],
    "sinh": [(0.7,), (V,)],
    "cosh": [(0.7,), (V,)],
    "tanh": [(0.7,), (V,)],
    "exp": [(0.7,), (V,)],
    "log": [(0.7,), (POS,)],
    "log2": [(0.7,), (POS,)],
    "log10": [(0.7,), (POS,)],
    "log1p": [(0.7,), (V,)],
    "expm1": [(0.7,), (V,)],
    "sqrt": [(0.7,), (POS,)],
    "abs": [(-0.7,), (V,)],
    "sign": [(-0.7,), (V,)],
    "relu": [(0.7,), (V,)],
    "sigmoid": [(0.7,), (V,), (-30.0,)],
    "softplus": [(0.7,), (V,), (25.0,)],
    "clamp": [(0.5, 0.0, 1.0), (V, -0.5, 1.0), (2.0, 0.0, 1.0), (0.5, 2.0, 1.0), (V, 2.0, 1.0)],
    "min": [(0.5, 1.0), (V, POS)],
    "max": [(0.5, 1.0), (V, POS)],
    "erf": [(0.7,), (V,), (-3.0,)],
    "erfc": [(0.7,), (V,), (5.0,)],
    "gelu": [(0.7,), (V,), (-6.0,)],
    "silu": [(0.7,), (V,), (-30.0,)],
    "atan2": [(0.5, 1.0), (V, POS), (0.3, -2.0), (-1.5, -0.2)],
    "hypot": [(0.5, 1.0), (V, POS), (-3.0, 0.0)],
    "logaddexp": [(0.5, 1.0), (V, POS), (1000.0, 999.0)],
    "sum": [(V,), ([[1.0, 2.0], [3.0, 4.0]],)],
    "mean": [(V,), ([[1.0, 2.0], [3.0, 4.0]],)],
    "prod": [(V,), ([0.0, 2.0, 3.0],)],
    "logsumexp": [(V,), ([1000.0, 1001.0, 999.0],)],
    "dot": [(V, POS)],
    "norm": [(V,), (2.0,)],
    "bce": [(0.3, 1.0), (P, [0.0, 1.0, 1.0]), (P, 0.3)],
    "bce_with_logits": [(0.3, 1.0), (V, [0.0, 1.0, 1.0])],
    "mse": [(V, POS), (V, 0.5)],
    "detach": [(0.7,)],
    "linspace": [],
    "arange": [],  # constant-only: no gradient to check
    "size": [(V,), (2.0,)],
    "where": [(1.0, 0.5, 2.0), (V, V, POS), ([1.0, 0.0, 2.0], 1.5, POS)],
    # Matrices (structured primitives: a vjp and a jvp per argument).
    "matmul": [(M, [[1.0, 2.0], [0.5, -1.0], [0.3, 0.2]]), (M, V), (V[:2], M), (V, POS), (SQ, SQ)],
    "outer": [(V, POS), (V[:2], POS)],
    "transpose": [(M,), (V,)],
    "reshape": [(M, Lit("3"), Lit("2")), (M, Lit("6")), (V, Lit("3"), Lit("1"))],
    "softmax": [(V,), (M,), (M, Kw("axis", "0"))],
    "log_softmax": [(V,), (M,), (M, Kw("axis", "0"))],
    "cross_entropy": [(V, Lit("2")), (M, Lit("[2, 0]")), (M, [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]), (V, P)],
    "nll": [(V, Lit("1")), (M, Lit("[0, 2]"))],
    "trace": [(SQ,), (M,)],
    "diag": [(V,), (SQ,), (M,)],
    "det": [(SQ,), ([[2.0]],)],
    "logdet": [(SQ,)],
    "inv": [(SQ,)],
    "zeros": [],
    "ones": [],
    "eye": [],
    "onehot": [],  # constant-only
}

# The reductions with keyword arguments (sum_axis, amax, ...): each variant in the same check.
KEYWORD_SAMPLES: list[tuple[str, tuple[object, ...]]] = [
    ("sum", (M, Kw("axis", "0"))),
    ("sum", (M, Kw("axis", "-1"), Kw("keepdims", "True"))),
    ("mean", (M, Kw("axis", "1"))),
    ("prod", (M, Kw("axis", "0"))),
    ("prod", ([[0.0, 2.0, 3.0], [0.0, 0.0, 1.0]], Kw("axis", "1"))),
    ("logsumexp", (M, Kw("axis", "1"))),
    ("logsumexp", ([[1000.0, 1001.0], [-3.0, 2.0]], Kw("axis", "0"))),
    ("norm", (M, Kw("axis", "0"))),
    ("max", (M,)),
    ("max", (M, Kw("axis", "1"))),
    ("min", (M2, Kw("axis", "0"), Kw("keepdims", "True"))),
    ("min", (V,)),
]


def _public() -> list[Primitive]:
    return [p for p in PRIMITIVES.values() if p.public]


def test_every_public_primitive_has_samples() -> None:
    missing = [p.name for p in _public() if p.name not in SAMPLES]
    assert not missing, f"add sample points for {missing} in tests/test_primitives.py"
    for p in _public():
        if p.kind != "constant" and not p.blocks_gradient:
            assert SAMPLES[p.name], f"{p.name} needs at least one sample point"


def _cases() -> list[tuple[str, tuple[object, ...]]]:
    return [(p.name, args) for p in _public() for args in SAMPLES.get(p.name, [])]


def _program(name: str, args: tuple[object, ...]) -> tuple[str, dict[str, object]]:
    """`name(a0, a1, ...)` with the inputs a_i, literals and keyword arguments written in."""
    parts: list[str] = []
    point: dict[str, object] = {}
    for i, arg in enumerate(args):
        if isinstance(arg, Lit):
            parts.append(arg.text)
        elif isinstance(arg, Kw):
            parts.append(f"{arg.name}={arg.text}")
        else:
            parts.append(f"a{i}")
            point[f"a{i}"] = arg
    return f"{name}({', '.join(parts)})", point


@pytest.mark.parametrize(("name", "args"), _cases() + KEYWORD_SAMPLES)
def test_forward_reverse_and_finite_differences_agree(name: str, args: tuple[object, ...]) -> None:
    prim = PRIMITIVES[name]
    program, point = _program(name, args)
    rev = grad(program, point, mode="reverse")
    fwd = grad(program, point, mode="forward")
    assert not [w for w in rev.warnings if "sum(output)" not in w], rev.warnings
    for p in point:
        np.testing.assert_allclose(fwd.gradient[p], rev.gradient[p], rtol=1e-12, atol=1e-14)
        if prim.blocks_gradient:
            assert np.all(np.asarray(rev.gradient[p]) == 0.0)
            continue
        numeric = numeric_gradient(program, point, p)
        np.testing.assert_allclose(
            rev.gradient[p], numeric, rtol=1e-6, atol=1e-7, err_msg=f"{program} d/d{p}"
        )


def test_every_structured_primitive_is_sampled() -> None:
    """The variants reached through keywords or one argument (sum_axis, amax) have samples too."""
    from gradcli.primitives import resolve

    reached = set()
    for name, args in KEYWORD_SAMPLES:
        count = sum(1 for a in args if not isinstance(a, Kw))
        prim = resolve(name, count, tuple(a.name for a in args if isinstance(a, Kw)))
        assert prim is not None
        reached.add(prim.name)
    hidden = {
        p.name
        for p in PRIMITIVES.values()
        if p.derivatives is not None and not p.public and p.name != "index"
    }
    assert hidden <= reached, hidden - reached


@pytest.mark.parametrize("name", [p.name for p in _public() if p.kind == "constant"])
def test_constant_constructors_give_no_gradient(name: str) -> None:
    from gradcli.errors import ProgramError

    constants = CONSTANT_ARGUMENTS[name]
    with pytest.raises(ProgramError, match="constant arguments"):
        grad(f"sum({name}({', '.join([*constants[:-1], 'x'])}))", x=2.0)
    r = grad(f"sum({name}({', '.join(constants)})) * x", x=2.0)
    assert r.value != 0 or name == "zeros"
    assert r.gradient["x"] == r.value / 2.0


CONSTANT_ARGUMENTS = {
    "linspace": ["0", "1", "3"],
    "arange": ["0", "3", "1"],
    "zeros": ["2", "3"],
    "ones": ["2", "3"],
    "eye": ["3"],
    "onehot": ["1", "3"],
}


def test_linspace_and_arange_values() -> None:
    from gradcli import evaluate

    np.testing.assert_allclose(evaluate("linspace(0, 1, 5)"), [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(evaluate("arange(0, 1, 0.25)"), [0, 0.25, 0.5, 0.75])


MODES = ["reverse", "forward"]


@pytest.mark.parametrize("mode", MODES)
class TestConventions:
    """PyTorch's conventions at kinks and edges, one by one."""

    def test_relu_at_zero(self, mode: str) -> None:
        assert grad("relu(x)", x=0.0, mode=mode).gradient["x"] == 0.0
        assert grad("relu(x)", x=1e-300, mode=mode).gradient["x"] == 1.0

    def test_abs_at_zero(self, mode: str) -> None:
        assert grad("abs(x)", x=0.0, mode=mode).gradient["x"] == 0.0
        assert grad("abs(x)", x=-2.0, mode=mode).gradient["x"] == -1.0

    def test_sign_has_zero_derivative(self, mode: str) -> None:
        for x in (-1.0, 0.0, 3.0):
            assert grad("sign(x)", x=x, mode=mode).gradient["x"] == 0.0

    def test_sqrt_at_zero_is_inf(self, mode: str) -> None:
        r = grad("sqrt(x)", x=0.0, mode=mode)
        assert r.value == 0.0 and r.gradient["x"] == np.inf

    def test_clamp_passes_gradient_at_bounds(self, mode: str) -> None:
        for x in (0.0, 1.0, 0.5):
            r = grad("clamp(x, lo, hi)", x=x, lo=0.0, hi=1.0, mode=mode)
            assert r.gradient == {"x": 1.0, "lo": 0.0, "hi": 0.0}
        r = grad("clamp(x, lo, hi)", x=-1.0, lo=0.0, hi=1.0, mode=mode)
        assert r.gradient == {"x": 0.0, "lo": 1.0, "hi": 0.0}
        r = grad("clamp(x, lo, hi)", x=2.0, lo=0.0, hi=1.0, mode=mode)
        assert r.gradient == {"x": 0.0, "lo": 0.0, "hi": 1.0}
        # lo > hi: the value is hi everywhere, and the gradient goes to hi (PyTorch).
        for x in (0.5, 3.0, -1.0):
            r = grad("clamp(x, lo, hi)", x=x, lo=2.0, hi=1.0, mode=mode)
            assert r.value == 1.0
            assert r.gradient == {"x": 0.0, "lo": 0.0, "hi": 1.0}

    def test_min_max_ties_split(self, mode: str) -> None:
        for f in ("min", "max"):
            r = grad(f"{f}(a, b)", a=2.0, b=2.0, mode=mode)
            assert r.gradient == {"a": 0.5, "b": 0.5}
        assert grad("max(a, b)", a=3.0, b=2.0, mode=mode).gradient == {"a": 1.0, "b": 0.0}
        assert grad("min(a, b)", a=3.0, b=2.0, mode=mode).gradient == {"a": 0.0, "b": 1.0}

    def test_pow_at_zero_base(self, mode: str) -> None:
        # d/db a**b at a = 0 is 0 for b >= 0 (not 0 * log(0) = NaN).
        for b in (0.0, 2.0, 0.5):
            assert grad("a**b", a=0.0, b=b, mode=mode).gradient["b"] == 0.0
        # d/da a**b is 0 where b = 0, even at a = 0 (not 0 * 0**-1 = NaN).
        assert grad("a**b", a=0.0, b=0.0, mode=mode).gradient["a"] == 0.0
        assert grad("a**b", a=5.0, b=0.0, mode=mode).gradient["a"] == 0.0

    def test_norm_at_zero(self, mode: str) -> None:
        np.testing.assert_array_equal(grad("norm(x)", x=[0.0, 0.0], mode=mode).gradient["x"], [0.0, 0.0])

    def test_bce_clamp(self, mode: str) -> None:
        # p = 0 is clamped to 1e-8: finite loss, no gradient to p through the active clamp.
        r = grad("bce(p, t)", p=0.0, t=1.0, mode=mode)
        assert r.value == pytest.approx(-np.log(1e-8))
        assert r.gradient["p"] == 0.0
        r = grad("bce(p, t)", p=1.0, t=0.0, mode=mode)
        assert np.isfinite(r.value) and r.gradient["p"] == 0.0

    def test_prod_with_zeros_is_exact(self, mode: str) -> None:
        g = grad("prod(x)", x=[0.0, 2.0, 3.0], mode=mode).gradient["x"]
        np.testing.assert_array_equal(g, [6.0, 0.0, 0.0])
        g = grad("prod(x)", x=[0.0, 2.0, 0.0], mode=mode).gradient["x"]
        np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])


def test_stable_functions_at_extremes() -> None:
    assert grad("sigmoid(x)", x=-800.0).value == 0.0
    assert grad("sigmoid(x)", x=800.0).gradient["x"] == 0.0
    assert grad("softplus(x)", x=800.0).value == 800.0
    assert grad("logsumexp(x)", x=[1000.0, 1000.0]).value == pytest.approx(1000 + np.log(2))
    r = grad("bce_with_logits(z, t)", z=-800.0, t=1.0)
    assert r.value == pytest.approx(800.0) and r.gradient["z"] == pytest.approx(-1.0)


def test_bce_matches_the_notebook_definition() -> None:
    # binary_cross_entropy_loss from the notebook, in numpy, mean over elements.
    p = np.array([0.2, 0.55, 0.9, 0.0, 1.0])
    t = np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    pc = np.clip(p, 1e-8, 1 - 1e-8)
    expected = np.mean(-(t * np.log(pc) + (1 - t) * np.log(1 - pc)))
    assert grad("bce(p, t)", p=p, t=t).value == pytest.approx(expected, rel=1e-14)


def test_readme_function_list_is_generated_from_the_table() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = generated(readme, "functions")
    assert section == markdown_table(), "run `python -m gradcli.cli.docs` to regenerate the README list"
    for p in _public():
        if not p.symbol:
            assert f"`{p.signature}`" in section
    for op in ("`a + b`", "`a - b`", "`a * b`", "`a / b`", "`-a`", "`a ** b`"):
        assert op in section


def test_readme_conventions_are_generated_from_the_table() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = generated(readme, "conventions")
    assert section == conventions_table(), "run `python -m gradcli.cli.docs` to regenerate the README table"
    with_convention = [p for p in _public() if p.convention]
    assert len(with_convention) >= 8
    for p in with_convention:
        assert p.convention in section
