"""Property: on random programs over the primitive table, forward == reverse == finite differences
wherever the program is smooth at the point."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from gradcheck import on_kink
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcli import grad
from gradcli.primitives import PRIMITIVES

EXAMPLES = int(os.environ.get("GRADCLI_PROPERTY_EXAMPLES", "250"))

# Function families drawn from the table itself, so a new primitive joins the property.
UNARY = sorted(
    p.name
    for p in PRIMITIVES.values()
    if p.public and p.kind == "elementwise" and len(p.params) == 1 and not p.symbol
)
BINARY = sorted(
    p.name
    for p in PRIMITIVES.values()
    if p.public and p.kind == "elementwise" and len(p.params) == 2 and not p.symbol
)
REDUCE1 = sorted(
    p.name for p in PRIMITIVES.values() if p.public and p.kind == "reduce" and len(p.params) == 1
)
OPERATORS = ["+", "-", "*", "/", "**"]


def expressions(leaves: list[str]) -> st.SearchStrategy[str]:
    leaf = st.sampled_from([*leaves, "0.5", "2", "1.5", "pi"])

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(UNARY), children),
            st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(BINARY), children, children),
            st.builds(lambda a, op, b: f"({a}) {op} ({b})", children, st.sampled_from(OPERATORS), children),
            st.builds(lambda a: f"-({a})", children),
            st.builds(lambda a, b, c: f"clamp({a}, {b}, {c})", children, children, children),
        )

    return st.recursive(leaf, extend, max_leaves=6)


def _finite(*values: object) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(v, dtype=float)))) for v in values)


def _check(program: str, point: dict[str, object]) -> None:
    rev = grad(program, point, mode="reverse")
    fwd = grad(program, point, mode="forward")
    assume(_finite(rev.value, *rev.gradient.values()))
    for name, g in rev.gradient.items():
        np.testing.assert_allclose(fwd.gradient[name], g, rtol=1e-9, atol=1e-12, err_msg=program)
    if "detach" in program or on_kink(program, point):
        # finite differences cannot see a blocked gradient, nor judge a kink's convention;
        # forward == reverse is checked above
        return
    # Finite differences (values only: gradcli.check.finite_diff) only where the program is
    # smooth within their steps: no kink closer than the smallest step (`rough`), and a small
    # error estimate. A kink at 1e-16 from the point (clamp(y, tan(pi), p) at y = 0) is rough.
    from gradcli.api import Compiled
    from gradcli.check import finite_diff
    from gradcli.engine.values import bind, forward_values

    graph = Compiled(program).graph
    vals, _ = forward_values(graph, bind(graph, point)[0])
    for name, g in rev.gradient.items():
        fd = finite_diff.gradient(graph, vals, name)
        scale = 1.0 + float(np.max(np.abs(g)))
        assume(not np.any(fd.rough) and bool(np.all(np.isfinite(fd.estimate))))
        assume(float(np.max(fd.error)) < 1e-6 * scale and float(np.max(np.abs(g))) < 1e6)
        np.testing.assert_allclose(
            g, fd.estimate, rtol=1e-6, atol=1e-7 * scale, err_msg=f"{program} d/d{name}"
        )


points = st.floats(-2.0, 2.0, allow_nan=False).map(lambda v: round(v, 3))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(expressions(["x", "y"]), points, points)
def test_scalar_programs(program: str, x: float, y: float) -> None:
    _check(program, {"x": x, "y": y})


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(expressions(["v", "s"]), st.sampled_from(REDUCE1), st.lists(points, min_size=3, max_size=3), points)
def test_array_programs_with_a_reduction(program: str, reduce: str, v: list[float], s: float) -> None:
    _check(f"{reduce}({program}) + s", {"v": v, "s": s})


@settings(
    max_examples=max(10, EXAMPLES // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(expressions(["x", "y"]), expressions(["p", "y"]), points, points)
def test_multi_statement_programs(first: str, second: str, x: float, y: float) -> None:
    _check(f"p = {first}; q = {second}; p*q + p", {"x": x, "y": y})


# -- matrices: programs typed by shape (M: 2 x 3, V: 3, U: 2, S: a scalar) ------------------
# Each production keeps its shape, so every generated program is well formed; together they
# cover @, .T, indexing and slicing, axis reductions, comparisons with where, softmax and the
# losses, outer and trace.
def _elementwise(a: str) -> list[str]:
    return [f"sin({a})", f"tanh({a})", f"({a})*({a})", f"sigmoid({a})", f"relu({a})", f"0.5*({a})"]


@st.composite
def typed(draw: st.DrawFn, kind: str, depth: int = 3) -> str:
    def sub(k: str) -> str:
        return draw(typed(k, depth - 1))

    if depth <= 0:
        return {"M": "W", "V": "v", "U": "u", "S": "s"}[kind]
    if kind == "M":
        options: list[Callable[[], str]] = [
            lambda: "W",
            lambda: draw(st.sampled_from(_elementwise(sub("M")))),
            lambda: f"({sub('M')}) + ({sub('V')})",
            lambda: f"({sub('M')}) * ({sub('S')})",
            lambda: f"where({sub('M')} > 0.1, {sub('M')}, {sub('M')})",
            lambda: f"softmax({sub('M')}, axis={draw(st.sampled_from(['0', '1', '-1']))})",
            lambda: f"log_softmax({sub('M')})",
            lambda: f"({sub('M')}).T.T",
            lambda: f"outer({sub('U')}, {sub('V')})",
            lambda: f"({sub('M')})[::-1, :]",
            lambda: f"reshape(({sub('M')}).T, 2, 3)",
        ]
    elif kind == "V":
        options = [
            lambda: "v",
            lambda: draw(st.sampled_from(_elementwise(sub("V")))),
            lambda: f"({sub('U')}) @ ({sub('M')})",
            lambda: f"({sub('M')}).T @ ({sub('U')})",
            lambda: f"({sub('M')})[{draw(st.sampled_from(['0', '1', '-1']))}]",
            lambda: (
                f"{draw(st.sampled_from(['sum', 'mean', 'max', 'min', 'logsumexp', 'prod']))}({sub('M')}, axis=0)"
            ),
            lambda: f"({sub('V')})[::-1]",
            lambda: f"softmax({sub('V')})",
        ]
    elif kind == "U":
        options = [
            lambda: "u",
            lambda: draw(st.sampled_from(_elementwise(sub("U")))),
            lambda: f"({sub('M')}) @ ({sub('V')})",
            lambda: f"({sub('M')})[:, {draw(st.sampled_from(['0', '2', '-2']))}]",
            lambda: f"{draw(st.sampled_from(['sum', 'mean', 'norm', 'max']))}({sub('M')}, axis=1)",
            lambda: f"({sub('V')})[0:2]",
        ]
    else:
        options = [
            lambda: "s",
            lambda: f"({sub('V')}) @ ({sub('V')})",
            lambda: f"sum({sub('M')})",
            lambda: f"cross_entropy({sub('M')}, [0, 2])",
            lambda: f"cross_entropy({sub('V')}, 1)",
            lambda: f"({sub('M')})[1, 2]",
            lambda: f"max({sub('U')})",
            lambda: f"trace(outer({sub('U')}, {sub('U')}))",
            lambda: f"det(outer({sub('U')}, {sub('U')}) + eye(2))",
            lambda: f"logsumexp({sub('M')})",
        ]
    build: Callable[[], str] = draw(st.sampled_from(options))
    return build()


matrices = st.lists(points, min_size=6, max_size=6).map(lambda m: np.reshape(m, (2, 3)).tolist())


@settings(
    max_examples=max(20, EXAMPLES // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(
    typed("S"),
    matrices,
    st.lists(points, min_size=3, max_size=3),
    st.lists(points, min_size=2, max_size=2),
    points,
)
def test_matrix_programs(
    program: str, W: list[list[float]], v: list[float], u: list[float], s: float
) -> None:
    point: dict[str, object] = {"W": W, "v": v, "u": u, "s": s}
    from gradcli.api import Compiled

    used = Compiled(program).graph.inputs
    _check(program, {k: val for k, val in point.items() if k in used})
