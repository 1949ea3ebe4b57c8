"""Where a NaN or an infinity was born, and kinks: every function with a domain driven out of
it (the origin named, with the argument's value and the domain in the program's words), a NaN
made only by the backward sweep found there, and a warning for each kink convention."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from gradcli import grad
from gradcli.cli.main import app
from gradcli.explain.model import explain
from gradcli.explain.render import table_text
from gradcli.primitives import PRIMITIVES

# Per function with a domain: a program that leaves it (through a named intermediate u, so
# that the message speaks of u) and the bindings.
OUT_OF_DOMAIN: dict[str, tuple[str, dict[str, Any], str]] = {
    "div": ("u = x - 1; 2/u", {"x": 1.0}, "u != 0"),
    "pow": ("u = x - 9; u**0.5", {"x": 1.0}, "u > 0, or integer b"),
    "asin": ("u = x + 1; asin(u)", {"x": 1.5}, "-1 <= u <= 1"),
    "acos": ("u = x + 1; acos(u)", {"x": 1.5}, "-1 <= u <= 1"),
    "log": ("u = x - 2; log(u)", {"x": 1.0}, "u > 0"),
    "log2": ("u = x - 2; log2(u)", {"x": 1.0}, "u > 0"),
    "log10": ("u = x - 2; log10(u)", {"x": 1.0}, "u > 0"),
    "log1p": ("u = x - 3; log1p(u)", {"x": 1.0}, "u > -1"),
    "sqrt": ("u = x - 2; sqrt(u)", {"x": 1.0}, "u >= 0"),
    "logdet": ("u = A*1; logdet(u)", {"A": [[-1.0, 0.0], [0.0, 1.0]]}, "det(u) > 0"),
    "inv": ("u = A*1; sum(inv(u))", {"A": [[1.0, 2.0], [2.0, 4.0]]}, "det(u) != 0"),
}

# Per function with a kink: a point exactly on it.
ON_A_KINK: dict[str, tuple[str, dict[str, Any]]] = {
    "abs": ("abs(x)", {"x": 0.0}),
    "sign": ("sign(x)*x", {"x": 0.0}),
    "relu": ("relu(x)", {"x": 0.0}),
    "clamp": ("clamp(x, 0, 1)", {"x": 1.0}),
    "min": ("min(x, y)", {"x": 2.0, "y": 2.0}),
    "max": ("max(x, y)", {"x": 2.0, "y": 2.0}),
    "atan2": ("atan2(y, x)", {"y": 0.0, "x": -1.0}),
    "hypot": ("hypot(x, y)", {"x": 0.0, "y": 0.0}),
    "norm": ("norm(x)", {"x": [0.0, 0.0]}),
    "bce": ("bce(p, 1)", {"p": 1e-8}),
    "norm_axis": ("sum(norm(x, axis=0))", {"x": [[0.0, 1.0], [0.0, 2.0]]}),
    "amax": ("max(x)", {"x": [1.0, 3.0, 3.0]}),
    "amin": ("min(x)", {"x": [1.0, 1.0, 3.0]}),
}


def test_every_domain_and_every_kink_has_a_case() -> None:
    domains = {p.name for p in PRIMITIVES.values() if p.domain and not p.name.endswith("_of_one")}
    assert domains == set(OUT_OF_DOMAIN), domains ^ set(OUT_OF_DOMAIN)
    kinked = {
        p.name
        for p in PRIMITIVES.values()
        if (p.kink or (p.derivatives and p.derivatives.kink))
        and not p.name.endswith("_of_one")  # --at's twins
    }
    assert kinked == set(ON_A_KINK), kinked ^ set(ON_A_KINK)


@pytest.mark.parametrize("name", sorted(OUT_OF_DOMAIN))
def test_the_origin_of_a_nan_is_named_with_its_argument_and_domain(name: str) -> None:
    program, point, domain = OUT_OF_DOMAIN[name]
    r = grad(program, point)
    assert r.nan_origin is not None, r.warnings
    assert r.nan_origin["function"] == name
    assert r.nan_origin["pass"] == "forward"
    assert r.nan_origin["domain"] == domain
    if name not in ("logdet", "inv"):  # a matrix argument has no element to name
        assert "u" in r.nan_origin["arguments"]
    assert r.nan_origin["line"] == 1 and r.nan_origin["column"] > 1
    assert any(f"defined for {domain}" in w for w in r.warnings), r.warnings


def test_a_nan_born_in_the_backward_sweep_is_found_there() -> None:
    r = grad("sqrt(x)*0", x=0.0)  # value 0; sqrt'(0) = inf times 0 = NaN, in the sweep
    assert np.isnan(r.gradient["x"])
    assert r.nan_origin is not None and r.nan_origin["pass"] == "backward"
    assert r.nan_origin["function"] == "sqrt" and r.nan_origin["arguments"] == {"x": 0.0}
    assert any("first appears in the backward sweep at step 2" in w for w in r.warnings), r.warnings
    # inf * 0 through a product: x*0 is a computed zero, not a structural one
    r = grad("y = x**0.5; y*0", x=0.0)
    assert r.nan_origin is not None and r.nan_origin["pass"] == "backward"


def test_the_gradients_own_message_and_the_json() -> None:
    program = "z = w*x; p = sigmoid(z) - 1.2; log(p)"
    result = CliRunner().invoke(app, ["grad", program, "w=1", "x=2", "--json"])
    data = json.loads(result.stdout)
    origin = data["nan_origin"]
    assert (origin["step"], origin["node"], origin["function"], origin["domain"]) == (
        6,
        "log(p)",
        "log",
        "p > 0",
    )
    assert (origin["line"], origin["column"]) == (1, 32)
    assert origin["arguments"]["p"] == pytest.approx(-0.3192029220221176)
    assert any("defined for p > 0 (step 6, with p = -0.319203)" in w for w in data["warnings"])


@pytest.mark.parametrize("name", sorted(ON_A_KINK))
def test_a_point_on_a_kink_says_which_convention(name: str) -> None:
    program, point = ON_A_KINK[name]
    r = grad(program, point)
    convention = PRIMITIVES[name].convention
    assert any(f"at a kink of {name}" in w and convention in w for w in r.warnings), r.warnings


def test_explain_marks_the_rows() -> None:
    text = table_text(explain("z = w*x; p = sigmoid(z) - 1.2; log(p)", {"w": 1.0, "x": 2.0}), width=120)
    assert (
        "  6!  L" in text
        and "step 6!: the first NaN number (forward pass): log(p) with p = -0.319203" in text
    )
    text = table_text(explain("relu(x)*2", {"x": 0.0}), width=120)
    assert "2!  relu(x)" in text and "relu'(0) = 0" in text
    assert "!" not in table_text(explain("relu(x)*2", {"x": 1.0}), width=120).split("Backward")[0]
