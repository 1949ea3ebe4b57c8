"""The float path of single-number programs (gradcli/engine/scalar.py) against the general
evaluators: the same values and gradients where it runs, and the general path wherever a
number leaves its ground (non-finite values, products beyond [2**-300, 2**300], underflow)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from differential import generate

import gradcli
from gradcli.api import Compiled
from gradcli.check import tolerance
from gradcli.engine import forward, reverse, scalar
from gradcli.engine.values import bind, forward_values
from gradcli.primitives import PRIMITIVES

POINTS = [
    0.0, -0.0, 1e-310, -1e-310, 1e-200, 0.3, -0.7, 0.5, 1.0, -1.0, 1 - 1e-8, 2.5, -2.5, 20.0, -20.0,
    709.0, 710.0, -745.0, 1e15, -1e15, 1e300, -1e300,
]  # fmt: skip


def _ulps(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / math.ulp(max(abs(a), abs(b)))


@pytest.mark.parametrize("name", sorted(n for n, p in PRIMITIVES.items() if p.scalar is not None))
def test_each_float_form_gives_what_the_numpy_form_gives(name: str) -> None:
    prim = PRIMITIVES[name]
    assert prim.scalar is not None
    rng = random.Random(name)
    for _ in range(400):
        args = [rng.choice(POINTS) * rng.choice([1.0, 1.0, 0.37, 3.1]) for _ in prim.params]
        with np.errstate(all="ignore"):
            want = float(prim.fn(*[np.float64(a) for a in args]))
        try:
            got = prim.scalar(*args)
        except (ArithmeticError, ValueError):
            assert not math.isfinite(want), (name, args, want)  # it may refuse only where numpy is not finite
            continue
        if math.isfinite(want):
            assert _ulps(got, want) <= 2, (name, args, got, want)
        else:
            assert not math.isfinite(got) or got != got, (name, args, got, want)


def general(program: str, bindings: dict[str, float], mode: str) -> dict[str, Any]:
    c = Compiled(program)
    inputs, _ = bind(c.graph, bindings)
    vals, counts = forward_values(c.graph, inputs)
    names = list(c.graph.inputs)
    if mode == "reverse":
        return reverse.backward(c.graph, vals, counts, names)
    return forward.gradients(c.graph, vals, counts, names)


def test_random_single_number_programs_agree_with_the_general_path() -> None:
    rng = random.Random(11)
    taken = 0
    for _ in range(3000):
        case = generate(rng)
        if not all(np.ndim(v) == 0 for v in case.point.values()):
            continue
        try:
            c = Compiled(case.program)
            inputs, _ = bind(c.graph, case.point)
        except gradcli.GradcliError:
            continue
        floats = scalar.inputs_of(inputs)
        vals = None if floats is None else scalar.values(c.graph, floats)
        if vals is None or floats is None:
            continue
        for mode in ("reverse", "forward"):
            fast = (scalar.backward if mode == "reverse" else scalar.forward)(c.graph, vals, list(floats))
            if fast is None:
                continue
            taken += 1
            slow = general(case.program, case.point, mode)
            for name, g in fast.items():
                want = float(slow[name])
                assert tolerance.agree(g, want, rtol=1e-12, atol=0.0), (case.program, name, g, want)
        sizes = scalar.backward(c.graph, vals, list(floats), absolute=True)
        if sizes is not None:  # the magnitudes of the terms (check's rounding slack)
            ins, _ = bind(c.graph, case.point)
            all_vals, counts = forward_values(c.graph, ins)
            want_sizes = reverse.magnitudes(c.graph, all_vals, counts, list(floats))
            for name, m in sizes.items():
                assert m == pytest.approx(float(want_sizes[name]), rel=1e-12), (case.program, name)
    assert taken > 300  # the path is exercised, not skipped


@pytest.mark.parametrize(
    ("program", "bindings", "gradient"),
    [
        ("x/y", {"x": 1e-200, "y": 1e-200}, {"x": 1e200, "y": -1e200}),  # adjoints beyond 2**300
        ("sqrt(relu(x))", {"x": -1.0}, {"x": 0.0}),  # inf times a structural zero
        ("x*log(x)", {"x": 1e-310}, {"x": math.log(1e-310) + 1}),  # a subnormal on the way
        ("exp(x)*exp(-x)", {"x": 800.0}, None),  # inf * 0: NaN, the general path says so
    ],
)
def test_numbers_off_the_float_path_take_the_general_one(
    program: str,
    bindings: dict[str, float],
    gradient: dict[str, float] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = {"general": 0}
    real = reverse.backward

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["general"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(reverse, "backward", counted)
    result = gradcli.grad(program, bindings)
    assert calls["general"] == 1
    if gradient is not None:
        for name, want in gradient.items():
            assert result.gradient[name] == pytest.approx(want, rel=1e-12)
    else:
        assert result.warnings  # the general path names the operation that went non-finite


def test_an_ordinary_program_never_reaches_the_general_evaluators(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the general path ran")

    monkeypatch.setattr(reverse, "backward", fail)
    monkeypatch.setattr(forward, "gradients", fail)
    program = " + ".join(f"sin(x{i})*y{i}" for i in range(100))
    bindings = {f"x{i}": 0.01 * i for i in range(100)} | {f"y{i}": 1.0 + i for i in range(100)}
    r = gradcli.grad(program, bindings)
    assert r.gradient["x7"] == pytest.approx(math.cos(0.07) * 8.0, rel=1e-15)
    assert r.gradient["y7"] == pytest.approx(math.sin(0.07), rel=1e-15)
    f = gradcli.grad("sin(sin(sin(x)))*y", x=0.5, y=2.0, mode="forward")
    s1 = math.sin(0.5)
    s2 = math.sin(s1)
    assert f.gradient["x"] == pytest.approx(2.0 * math.cos(s2) * math.cos(s1) * math.cos(0.5), rel=1e-15)


def test_a_zero_gradient_keeps_its_sign() -> None:
    # exp(-x**2) at 100 underflows to 0; its gradient is -0.0 on both paths (as PyTorch).
    r = gradcli.grad("exp(-x**2)", x=100.0)
    assert r.gradient["x"] == 0.0 and math.copysign(1.0, r.gradient["x"]) == -1.0
