"""Blocked, multi-threaded evaluation of big element-wise-then-reduce programs agrees with the
whole-array evaluators (block sizes shrunk so that small arrays make many blocks)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli import compile
from gradcli.api import Compiled
from gradcli.engine import blocked

PROGRAMS = [
    "mean(sin(x**2))",
    "sum(x*w) + w**2",
    "bce(sigmoid(w*x+b), y)",
    "mean(x**2) * norm(x)",
    "mse(x, y) + dot(x, y)/c",
    "q = sum(exp(-x**2)); sqrt(q) + mean(detach(x)*x)",
    "bce_with_logits(x*w, y) + mean(relu(x) + abs(x)) + mean(clamp(x, -1, w))",
    "z = w*x + b; p = sigmoid(z); bce(p, y) + mean(p)**2",
    "mean(x) * sum(y) + norm(x*y)",
    "sum(x) * sum([1, 2] * w) + sum(linspace(0, 1, 3))",
]


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocked, "BLOCK", 64)
    monkeypatch.setattr(blocked, "MIN_ELEMENTS", 100)


def _point(f: Compiled, n: int, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    pt = {"x": rng.uniform(-2, 2, n), "y": rng.uniform(0.01, 0.99, n), "w": 0.7, "b": 0.1, "c": 3.0}
    return {k: v for k, v in pt.items() if k in f.inputs}


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("program", PROGRAMS)
def test_blocked_modes_agree_with_whole_array_reverse_mode(
    program: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = compile(program)
    pt = _point(f, 1000)
    inputs = {k: np.asarray(v, dtype=float) for k, v in pt.items()}
    assert blocked.plan(f.graph, inputs) is not None
    rev = f.grad(pt)  # blocked
    fwd = f.grad(pt, mode="forward")  # blocked forward mode
    with monkeypatch.context() as m:
        m.setattr(blocked, "MIN_ELEMENTS", 10**9)
        whole = f.grad(pt)  # whole-array reverse mode: the reference
    assert rev.value == pytest.approx(whole.value, rel=1e-12)
    assert set(rev.gradient) == set(f.inputs)
    for name in rev.gradient:
        np.testing.assert_allclose(rev.gradient[name], whole.gradient[name], rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(fwd.gradient[name], whole.gradient[name], rtol=1e-10, atol=1e-15)
    assert f.evaluate(pt) == pytest.approx(whole.value, rel=1e-12)


@pytest.mark.usefixtures("small_blocks")
def test_blocked_results_are_deterministic() -> None:
    f = compile("bce(sigmoid(w*x+b), y) + norm(x)")
    pt = _point(f, 5000)
    first = f.grad(pt)
    for _ in range(3):
        again = f.grad(pt)
        assert again.value == first.value
        for name in first.gradient:
            np.testing.assert_array_equal(again.gradient[name], first.gradient[name])


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize(
    "program",
    # logsumexp's weights read every element (its `out` is rounded: see the primitive table)
    ["x - mean(x)", "sum((x - mean(x))**2)", "prod(x)", "sum(x * linspace(0, 1, 1000))", "logsumexp(x)"],
)
def test_programs_that_do_not_qualify_fall_back(program: str) -> None:
    f = compile(program)
    pt = _point(f, 1000)
    inputs = {k: np.asarray(v, dtype=float) for k, v in pt.items()}
    assert blocked.plan(f.graph, inputs) is None
    rev, fwd = f.grad(pt), f.grad(pt, mode="forward")
    for name in rev.gradient:
        np.testing.assert_allclose(rev.gradient[name], fwd.gradient[name], rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("small_blocks")
def test_non_finite_results_still_get_domain_warnings() -> None:
    x = np.linspace(-1, 1, 1000)
    r = compile("mean(log(x))").grad({"x": x})
    assert np.isnan(r.value)
    assert any("log" in w for w in r.warnings)


@settings(max_examples=25, deadline=None)
@given(st.integers(101, 700), st.integers(0, 2**31 - 1), st.sampled_from(PROGRAMS))
def test_any_size_splits_into_blocks_correctly(n: int, seed: int, program: str) -> None:
    old = blocked.BLOCK, blocked.MIN_ELEMENTS
    blocked.BLOCK, blocked.MIN_ELEMENTS = 37, 100  # ragged last block
    try:
        f = compile(program)
        pt = _point(f, n, seed)
        rev = f.grad(pt)
        fwd = f.grad(pt, mode="forward")
        blocked.MIN_ELEMENTS = 10**9
        whole = f.grad(pt)
    finally:
        blocked.BLOCK, blocked.MIN_ELEMENTS = old
    for name in rev.gradient:
        np.testing.assert_allclose(rev.gradient[name], whole.gradient[name], rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(rev.gradient[name], fwd.gradient[name], rtol=1e-10, atol=1e-15)


@pytest.mark.slow
@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("budget", [4096, 256])
def test_blocked_forward_mode_with_a_long_tail_after_the_reduction(
    budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 300 scalar ops after the reduction: a generous budget keeps only a few tangents alive;
    # a budget below one block's row makes the blocked pass give up, and the whole-array
    # path chunks the directions instead. Either way: the right gradient, no crash.
    from gradcli.limits import LIMITS

    monkeypatch.setattr(LIMITS, "max_forward_chunk_bytes", budget)
    program = "sum(sin(x))" + " + 1" * 300
    x = np.linspace(0, 1, 1000)
    g = compile(program).grad({"x": x}, mode="forward").gradient["x"]
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-14)
