"""`gradcli check`: every verdict path (pass, manual wrong, finite-difference-only
disagreement, kink, detach, not smooth, NaN, infinities), the tolerances, manual formulas
in the program's environment, and the command line (table, JSON Lines, github, JUnit,
exit codes). Expected numbers are hand-derived, never taken from gradcli's own output."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradcheck import scalar
from typer.testing import CliRunner, Result

from gradcli.check.verdict import (
    DETACH,
    FAIL,
    KINK,
    NAN,
    OK,
    ROUGH,
    CheckInputError,
    CheckResult,
    CheckSpec,
    environment,
    parse_manual,
    prepare,
    run,
)
from gradcli.cli.main import app
from gradcli.engine import rules
from gradcli.errors import BindingError
from gradcli.limits import LIMITS
from gradcli.primitives import PRIMITIVES

CLEAN_ENV: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOX = set("─│┃━┏┓┗┛╭╮╰╯┼┬┴├┤═║")
NOTEBOOK = "z = w*x + b; p = sigmoid(z); bce(p, y)"
NOTEBOOK_AT = {"x": 6.7, "y": 0.0, "w": 1.0, "b": 0.0}
NOTEBOOK_MANUAL = [("w", "(p - y)/(p*(1-p)) * p*(1-p) * x"), ("b", "(p - y)/(p*(1-p)) * p*(1-p)")]


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["check", *args], env=CLEAN_ENV)


def check(program: str, manual: Any = (), **kwargs: Any) -> CheckResult:
    at = {
        k: v for k, v in kwargs.items() if k not in ("wrt", "rtol", "atol", "expect_value", "expect_gradient")
    }
    opts = {k: v for k, v in kwargs.items() if k not in at}
    if isinstance(manual, str):
        manual = [parse_manual(manual)]
    return run(CheckSpec(program, at, manual=list(manual), **opts))


def statuses(result: CheckResult, name: str = "x") -> list[str]:
    row = next(r for r in result.rows if r.name == name)
    return [row.verdict_at(j) for j in range(row.status.size)]


# --------------------------------------------------------------------------
# Verdicts.


def test_pass_sin_of_square_with_the_right_manual_formula() -> None:
    r = check("sin(x**2)", "2*x*cos(x**2)", x=3.0)
    assert r.passed and r.failures == []
    row = r.rows[0]
    assert float(row.reverse) == pytest.approx(2 * 3 * math.cos(9), rel=1e-15)
    assert scalar(row.forward) == pytest.approx(2 * 3 * math.cos(9), rel=1e-15)
    assert scalar(row.manual) == pytest.approx(2 * 3 * math.cos(9), rel=1e-15)
    assert abs(float(row.fd.estimate) - 2 * 3 * math.cos(9)) < 1e-9
    assert statuses(r) == [OK]
    assert row.max_rel < 1e-9


def test_manual_wrong_fails_with_the_numbers() -> None:
    r = check("sin(x**2)", "2*x*sin(x**2)", x=3.0)
    assert not r.passed and r.verdict == FAIL
    assert statuses(r) == [FAIL]
    assert r.rows[0].reasons == {0: ["manual"]}  # only the manual route disagrees
    (message,) = r.failures
    wrong, right = 2 * 3 * math.sin(9), 2 * 3 * math.cos(9)
    assert f"{wrong:.10g}" in message and f"{right:.10g}" in message
    assert "2*x*sin(x**2)" in message
    assert r.rows[0].max_abs == pytest.approx(abs(wrong - right), rel=1e-12)


@pytest.fixture
def wrong_sine_rule(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A bug in the primitive table: sin' = -cos. Forward and reverse mode share the table,
    so they agree with each other; only the finite difference (values only) can see it."""
    bad = dataclasses.replace(PRIMITIVES["sin"], partials=("-cos(x)",))
    monkeypatch.setitem(PRIMITIVES, "sin", bad)
    rules.forget()
    yield
    rules.forget()


@pytest.mark.usefixtures("wrong_sine_rule")
def test_finite_difference_only_disagreement_fails() -> None:
    r = check("sin(x**2)", x=3.0)
    row = r.rows[0]
    assert float(row.reverse) == pytest.approx(-2 * 3 * math.cos(9), rel=1e-15)  # the buggy rule
    assert scalar(row.forward) == float(row.reverse)
    assert abs(float(row.fd.estimate) - 2 * 3 * math.cos(9)) < 1e-8  # the truth
    assert not r.passed
    assert row.reasons == {0: ["finite difference"]}
    assert "finite difference gives" in r.failures[0]
    # The same bug with a (right) manual formula: both routes are named.
    r = check("sin(x**2)", "2*x*cos(x**2)", x=3.0)
    assert r.rows[0].reasons == {0: ["manual", "finite difference"]}


def test_the_wrong_rule_is_undone_after_the_fixture() -> None:
    assert check("sin(x**2)", x=3.0).passed


def test_kink_passes_and_is_named() -> None:
    r = check("relu(x)", x=0.0)
    assert r.passed
    assert statuses(r) == [KINK]
    assert float(r.rows[0].fd.estimate) == pytest.approx(0.5, abs=1e-12)  # disagrees with 0 ...
    assert float(r.rows[0].reverse) == 0.0  # ... PyTorch's relu'(0) = 0
    (excuse,) = r.excuses
    assert excuse.kind == KINK and excuse.where == "relu(x)"
    assert "relu'(0) = 0" in excuse.describe()


def test_wrong_manual_at_a_kink_still_fails() -> None:
    r = check("relu(x)", "1", x=0.0)
    assert not r.passed and statuses(r) == [FAIL]
    assert r.rows[0].reasons == {0: ["manual"]}


@pytest.mark.parametrize(
    ("program", "x", "grad"),
    [
        ("abs(x)", 0.0, 0.0),
        ("max(x, 2)", 2.0, 0.5),  # ties split 0.5/0.5
        ("min(x, 2)", 2.0, 0.5),
        ("clamp(x, 0, 1)", 1.0, 1.0),  # the gradient passes at the bounds
        ("clamp(x, 0, 1)", 0.0, 1.0),
        ("sign(x)", 0.0, 0.0),
    ],
)
def test_kinks_from_the_primitive_table(program: str, x: float, grad: float) -> None:
    r = check(program, x=x)
    assert r.passed
    assert statuses(r) == [KINK]
    assert float(r.rows[0].reverse) == grad


def test_kink_in_one_element_of_an_array() -> None:
    r = check("relu(x)", x=np.array([-1.0, 0.0, 2.0]))
    assert r.passed
    assert statuses(r) == [OK, KINK, OK]
    assert "1 of its 3 elements" in r.excuses[0].describe()


def test_kink_after_a_reduction_covers_every_element() -> None:
    r = check("relu(sum(x))", x=np.array([-1.0, 1.0]))
    assert statuses(r) == [KINK, KINK]


def test_kink_of_an_intermediate_through_a_name() -> None:
    r = check("h = x - 1; relu(h) * 3", x=1.0, wrt="x")
    assert r.passed and statuses(r) == [KINK]
    assert r.excuses[0].where == "relu(h)"


def test_no_kink_away_from_it() -> None:
    r = check("relu(x)", x=0.5)
    assert statuses(r) == [OK] and r.excuses == []


def test_norm_at_zero_is_a_kink() -> None:
    r = check("norm(x)", x=np.zeros(2))
    assert statuses(r) == [KINK, KINK]


def test_detach_passes_with_the_reason() -> None:
    r = check("x*detach(x)", x=3.0)
    assert float(r.rows[0].reverse) == 3.0  # d/dx of x*c at c = x
    assert abs(float(r.rows[0].fd.estimate) - 6.0) < 1e-9  # the value's slope: 2x
    assert r.passed and statuses(r) == [DETACH]
    assert r.excuses[0].kind == DETACH
    assert not check("x*detach(x)", "2*x", x=3.0).passed  # the manual route still counts


def test_kink_closer_than_the_step_is_not_smooth() -> None:
    r = check("relu(x - 1)", x=1 + 1e-9)
    assert r.excuses == []  # not exactly on the kink
    assert float(r.rows[0].reverse) == 1.0
    assert r.passed and statuses(r) == [ROUGH]


def test_too_uncertain_finite_difference_does_not_vote() -> None:
    # bce clamps p to [1e-8, 1 - 1e-8]: at p = 1 the clamp is active (gradient 0 to p), and the
    # clamp's edge 1e-8 away is inside every step, so the finite difference is hopeless.
    r = check("bce(p, 0)", p=1.0, wrt="p")
    row = r.rows[0]
    assert float(row.reverse) == 0.0 and bool(row.vague)
    assert float(row.fd.error) > 1e-3 * abs(float(row.fd.estimate))
    assert r.passed and statuses(r, "p") == [OK] and row.max_abs == 0.0
    assert any("too uncertain to judge" in n for n in r.notes)
    assert not check("sin(x**2)", x=3.0).rows[0].vague  # a sound one votes


def test_aliased_finite_difference_is_no_false_failure() -> None:
    # Found by a random search: sin(y/x) has period 2*pi*x ~ 1/128 in y, a divisor of the
    # coarse steps. The exact routes are right; the finite difference must not fail them.
    r = check("log2(exp(acos(0.3)) + sin(y / x))", x=0.0012471682691240205, y=0.8439247111822764)
    x, y = 0.0012471682691240205, 0.8439247111822764
    inner = math.exp(math.acos(0.3)) + math.sin(y / x)
    dy = math.cos(y / x) / x / (inner * math.log(2))
    assert float(next(row for row in r.rows if row.name == "y").reverse) == pytest.approx(dy, rel=1e-9)
    assert r.passed, r.failures


def test_nan_value_fails() -> None:
    r = check("sqrt(x)", x=-1.0)
    assert not r.passed and r.verdict == NAN
    assert statuses(r) == [NAN]
    assert any("the value is NaN" in f and "sqrt(x)" in f for f in r.failures)


def test_nan_everywhere_raises_no_python_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would reach the user's stderr
        r = check("sum(sqrt(x))", x=np.array([-1.0, -2.0]))
        r2 = check("sqrt(x)", x=np.array([-1.0, -2.0]))
    assert not r.passed and not r2.passed


def test_nan_manual_fails() -> None:
    r = check("x**2", "log(x - 10)", x=3.0)
    assert not r.passed and statuses(r) == [NAN]
    assert any("manual is NaN" in f for f in r.failures)


def test_nan_gradient_with_a_finite_value_fails() -> None:
    # 0 * log(x) at x = 0: value 0 * -inf = NaN; use a program whose value is finite but whose
    # gradient is NaN: sqrt(x)*0 at 0 gives 0 * inf = NaN in the backward pass.
    r = check("sqrt(x)*0", x=0.0)
    assert math.isnan(float(r.rows[0].reverse))
    assert not r.passed and statuses(r) == [NAN]


def test_equal_infinities_agree_and_an_undefined_finite_difference_does_not_vote() -> None:
    r = check("sqrt(x)", "0.5/sqrt(x)", x=0.0)  # sqrt'(0) = +inf by convention
    assert float(r.rows[0].reverse) == math.inf and scalar(r.rows[0].manual) == math.inf
    assert np.isnan(r.rows[0].fd.estimate)
    assert r.passed and statuses(r) == [OK]


def test_infinity_against_a_finite_manual_fails() -> None:
    r = check("sqrt(x)", "1e300", x=0.0)
    assert not r.passed


# --------------------------------------------------------------------------
# Tolerances.


def test_rtol_default_and_override() -> None:
    slightly_off = "2*x*cos(x**2) * (1 + 1e-7)"
    assert not check("sin(x**2)", slightly_off, x=3.0).passed
    assert check("sin(x**2)", slightly_off, x=3.0, rtol=1e-6).passed
    assert check("sin(x**2)", "2*x*cos(x**2) * (1 + 1e-11)", x=3.0).passed


def test_atol_is_scaled_by_the_largest_gradient() -> None:
    # grad of sum(x**2)/2 is x = [1e6, 0]: s = 1e6, so atol·s = 1e-6 for the element at 0.
    x = np.array([1e6, 0.0])
    ok = check("sum(x**2)/2", "x + [0, 1e-7]", x=x)
    assert ok.passed and ok.rows[0].scale == 1e6
    bad = check("sum(x**2)/2", "x + [0, 1e-5]", x=x)
    assert not bad.passed and bad.rows[0].reasons == {1: ["manual"]}
    assert check("sum(x**2)/2", "x + [0, 1e-5]", x=x, atol=1e-10).passed


def test_expected_value_and_gradient() -> None:
    good = check("x**2", x=3.0, expect_value=9.0, expect_gradient={"x": 6.0})
    assert good.passed
    bad = check("x**2", x=3.0, expect_value=9.5)
    assert not bad.passed and "expected 9.5" in bad.failures[0]
    bad = check("x**2", x=3.0, expect_gradient={"x": 6.5})
    assert not bad.passed and bad.rows[0].reasons == {0: ["expected"]}


# --------------------------------------------------------------------------
# Manual formulas in the program's environment.


def test_notebook_manual_derivation_with_intermediates() -> None:
    r = run(CheckSpec(NOTEBOOK, NOTEBOOK_AT, wrt="w,b", manual=NOTEBOOK_MANUAL))
    assert r.passed, r.failures
    p = 1 / (1 + math.exp(-6.7))
    rows = {row.name: row for row in r.rows}
    assert set(rows) == {"w", "b"}
    assert scalar(rows["w"].manual) == pytest.approx(p * 6.7, rel=1e-12)  # (p - y) x at y = 0
    assert scalar(rows["b"].manual) == pytest.approx(p, rel=1e-12)
    assert round(float(rows["w"].reverse), 4) == 6.6918 and round(float(rows["b"].reverse), 4) == 0.9988


def test_environment_has_inputs_intermediates_and_aliases() -> None:
    spec = CheckSpec("z = 2*x; q = z; c = pi; k = 3; z + q + c + k + y", {"x": 1.0, "y": 5.0})
    prep = prepare(spec)
    env = environment(prep.compiled.graph, prep.vals)
    assert {k: float(v) for k, v in env.items()} == {
        "x": 1.0,
        "y": 5.0,
        "z": 2.0,
        "q": 2.0,
        "c": math.pi,
        "k": 3.0,
    }


def test_parse_manual() -> None:
    assert parse_manual("x:2*x") == ("x", "2*x")
    assert parse_manual(" w : (p - y)*x") == ("w", " (p - y)*x")
    assert parse_manual("2*x") == (None, "2*x")
    with pytest.raises(BindingError):
        parse_manual("2*x: 3")


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (CheckSpec("x*y", {"x": 1, "y": 2}, manual=[(None, "y")]), "manual", "ambiguous"),
        (CheckSpec("x*y", {"x": 1, "y": 2}, manual=[("z", "y")]), "manual.z", "not an input"),
        (CheckSpec("x*y", {"x": 1, "y": 2}, wrt="x", manual=[("y", "x")]), "manual.y", "not in --wrt"),
        (CheckSpec("x*y", {"x": 1, "y": 2}, manual=[("x", "q")]), "manual.x", "'q'"),
        (CheckSpec("x*y", {"x": 1, "y": 2}, manual=[("x", "y"), ("x", "y")]), "manual.x", "two manual"),
        (CheckSpec("x", {"x": [1.0, 2.0]}, manual=[("x", "[1, 2, 3]")]), "manual.x", "shape"),
        (CheckSpec("x", {"x": 1.0}, manual=[("x", "sin(")]), "manual.x", "manual formula"),
        (CheckSpec("sin(x", {"x": 1.0}), "program", "end of input"),
        (CheckSpec("x*y", {"x": 1.0}), "at", "missing input: y"),
        (CheckSpec("x", {"x": 1.0}, wrt="q"), "wrt", "'q'"),
        (CheckSpec("x", {"x": 1.0}, expect_gradient={"y": 1}), "expect.gradient.y", "not checked"),
        (CheckSpec("x", {"x": [1.0, 2.0]}, expect_gradient={"x": [1, 2, 3]}), "expect.gradient.x", "shape"),
    ],
)
def test_input_errors_name_their_field(spec: CheckSpec, field: str, words: str) -> None:
    with pytest.raises(CheckInputError) as info:
        prepare(spec)
    assert info.value.field == field
    assert words in str(info.value)
    assert info.value.exit_code == 2


def test_manual_formula_error_has_a_caret_under_the_formula() -> None:
    with pytest.raises(CheckInputError) as info:
        prepare(CheckSpec("sin(x)", {"x": 1.0}, manual=[("x", "cos(q)")]))
    text = str(info.value)
    assert "1 | cos(q)" in text
    caret_line = text.splitlines()[text.splitlines().index("  1 | cos(q)") + 1]
    assert caret_line.index("^") == "  1 | cos(q)".index("q")


# --------------------------------------------------------------------------
# The command line.


def test_cli_issue_example_passes() -> None:
    result = cli("sin(x**2)", "x=3", "--manual", "2*x*cos(x**2)")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "result: pass" in result.stdout
    assert result.stderr == ""


def test_cli_issue_example_with_the_wrong_formula_exits_1_and_shows_where() -> None:
    result = cli("sin(x**2)", "x=3", "--manual", "2*x*sin(x**2)")
    assert result.exit_code == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("x "))
    cells = row.split()
    assert cells[1] == f"{2 * 3 * math.cos(9):.10g}"  # reverse
    assert f"{2 * 3 * math.sin(9):.10g}" in cells  # manual
    assert row.endswith("FAIL: manual")
    assert "check failed: x: the manual formula '2*x*sin(x**2)' gives 2.472710911" in result.stderr


def test_cli_notebook_example() -> None:
    result = cli(
        NOTEBOOK,
        "x=6.7",
        "y=0",
        "w=1",
        "b=0",
        "--wrt",
        "w,b",
        "--manual",
        "w:(p - y)/(p*(1-p)) * p*(1-p) * x",
        "--manual",
        "b:(p - y)/(p*(1-p)) * p*(1-p)",
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    rows = [line.split() for line in result.stdout.splitlines() if line[:2] in ("w ", "b ")]
    assert [r[0] for r in rows] == ["w", "b"] and all(r[-1] == "ok" for r in rows)


def test_cli_relu_at_zero_names_the_kink() -> None:
    result = cli("relu(x)", "x=0")
    assert result.exit_code == 0
    assert "ok (kink)" in result.stdout
    assert "relu(x) is at a kink" in result.stdout and "relu'(0) = 0" in result.stdout


def test_cli_wrong_manual_at_a_kink_exits_1() -> None:
    assert cli("relu(x)", "x=0", "--manual", "1").exit_code == 1


@pytest.mark.usefixtures("wrong_sine_rule")
def test_cli_finite_difference_only_disagreement_exits_1() -> None:
    result = cli("sin(x)", "x=1")
    assert result.exit_code == 1
    assert "FAIL: finite difference" in result.stdout


def test_cli_nan_exits_1() -> None:
    result = cli("log(x)", "x=-1")
    assert result.exit_code == 1
    assert "NaN" in result.stdout and "the value is NaN" in result.stderr


def test_cli_rtol_atol_options() -> None:
    assert cli("x**2", "x=3", "--manual", "6.0000001").exit_code == 1
    assert cli("x**2", "x=3", "--manual", "6.0000001", "--rtol", "1e-7").exit_code == 0
    assert cli("x**2", "x=3", "--manual", "6.0000001", "--atol", "1e-6").exit_code == 0


def test_cli_leading_minus_program_and_manual() -> None:
    result = cli("-x**2", "x=1", "--manual", "-2*x")
    assert result.exit_code == 0, (result.stdout, result.stderr)


def test_cli_json_is_one_strict_object_per_check() -> None:
    result = cli("relu(x)", "x=[-1, 0, 2]", "--manual", "x >> 0", "--json")
    # 'x >> 0' is not in the language: a usage error, as one JSON object of its own
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["kind"] == "syntax error"
    result = cli("relu(x)", "x=[-1, 0, 2]", "--json")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0], parse_constant=_no_constants)
    assert obj["passed"] is True and obj["verdict"] == KINK
    g = obj["gradients"]["x"]
    assert g["reverse"] == [0.0, 0.0, 1.0] and g["forward"] == [0.0, 0.0, 1.0]
    assert g["finite_difference"][1] == pytest.approx(0.5, abs=1e-12)
    assert g["verdicts"] == [OK, KINK, OK]
    assert len(obj["kinks"]) == 1 and obj["failures"] == []


def test_cli_json_nan_is_null_with_a_warning() -> None:
    result = cli("sqrt(x)", "x=-1", "--format", "json")
    assert result.exit_code == 1
    obj = json.loads(result.stdout, parse_constant=_no_constants)
    assert obj["value"] is None and obj["gradients"]["x"]["reverse"] is None
    assert "value is nan; written as null" in obj["warnings"]
    assert obj["verdict"] == NAN and obj["passed"] is False


def _no_constants(name: str) -> Any:
    raise AssertionError(f"{name} literal in JSON output")


def test_cli_github_format_single_check() -> None:
    result = cli("sin(x**2)", "x=3", "--manual", "2*x*sin(x**2)", "--format", "github")
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    assert annotations[0].startswith("::error title=gradcli check sin(x**2)::x: the manual formula")
    assert "FAIL: manual" in result.stdout  # the table too
    passing = cli("sin(x**2)", "x=3", "--format", "github")
    assert passing.exit_code == 0 and "::error" not in passing.stdout


def test_cli_junit_for_a_single_check(tmp_path: Path) -> None:
    path = tmp_path / "one.xml"
    result = cli("sin(x**2)", "x=3", "--manual", "2*x*sin(x**2)", "--junit", str(path))
    assert result.exit_code == 1
    root = ET.parse(path).getroot()
    (case,) = root.iter("testcase")
    assert case.get("name") == "sin(x**2)"
    failure = case.find("failure")
    assert failure is not None and "2.472710911" in failure.get("message", "")


def test_cli_plain_output_when_piped() -> None:
    out = cli("relu(x)", "x=0").stdout
    assert not ANSI.search(out) and not (set(out) & BOX)
    assert all(line == line.rstrip() for line in out.splitlines())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "nothing to check"),
        (("--spec", "examples/checks.toml", "x=1"), "give no PROGRAM"),
        (("x*y", "x=1", "y=2", "--manual", "2"), "ambiguous"),
        (("x", "x=1", "--manual", "q:1"), "not an input"),
        (("x", "x=1", "--manual", "cs(x)"), "unknown function 'cs'"),
        (("x", "--manual", "1"), "missing input: x"),
        (("x", "x=1", "--spec", "nope.toml"), "give no PROGRAM"),
    ],
)
def test_cli_usage_errors_exit_2(args: tuple[str, ...], words: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_bad_option_values_exit_2() -> None:
    assert cli("x", "x=1", "--format", "xml").exit_code == 2
    assert cli("x", "x=1", "--rtol", "-1").exit_code == 2


def test_cli_big_input_says_what_finite_differences_covered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LIMITS, "max_check_fd_work", 300_000)
    result = cli("sum(sin(x))", "x=linspace(0, 1, 40)", "--manual", "cos(x)")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "of its 40 elements (evenly spaced)" in result.stdout
    assert "30 more elements of x not shown: 30 ok" in result.stdout
    sampled = int(re.search(r"on (\d+) of its 40 elements", result.stdout).group(1))  # type: ignore[union-attr]
    assert 1 <= sampled < 40
    obj = json.loads(cli("sum(sin(x))", "x=linspace(0, 1, 40)", "--json").stdout)
    fd = obj["gradients"]["x"]["finite_difference"]
    assert sum(v is not None for v in fd) == sampled and fd[0] is not None and fd[-1] is not None
    assert all(abs(v - math.cos(k / 39)) < 1e-8 for k, v in enumerate(fd) if v is not None)


def test_cli_big_input_shows_the_failing_elements() -> None:
    # 2*x is wrong only where x > 0.9 (the manual uses relu to break it there).
    result = cli("sum(x**2)", "x=linspace(0, 1, 50)", "--manual", "2*x + relu(x - 0.9)")
    assert result.exit_code == 1
    failing = [line for line in result.stdout.splitlines() if line.endswith("FAIL: manual")]
    assert len(failing) == 5  # x > 0.9: elements 45..49
    assert all(line.startswith("x[4") for line in failing)


def test_cli_junit_directory_must_exist(tmp_path: Path) -> None:
    result = cli("x", "x=1", "--junit", str(tmp_path / "missing" / "r.xml"))
    assert result.exit_code == 4 and result.stdout == ""  # the output cannot be written
    assert "cannot write the JUnit report" in result.stderr


def test_cli_arrays_two_dimensional_and_empty() -> None:
    result = cli("sum(x*y)", "x=[[1,2],[3,4]]", "y=[1,2]", "--manual", "y:[4, 6]")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "at     x = [[1, 2], [3, 4]], y = [1, 2]" in result.stdout
    rows = {
        cells[0]: cells
        for line in result.stdout.splitlines()
        if (cells := re.split(r"\s{2,}", line))[0].startswith(("x[", "y["))
    }
    # d/dx[i, j] = y[j]; d/dy[j] = x[0, j] + x[1, j].
    reverse = {k: float(v[1]) for k, v in rows.items()}
    assert reverse == {"x[0, 0]": 1, "x[0, 1]": 2, "x[1, 0]": 1, "x[1, 1]": 2, "y[0]": 4, "y[1]": 6}
    empty = cli("sum(x)", "x=linspace(0, 1, 0)")
    assert empty.exit_code == 0 and "skipped" not in empty.stdout


def test_check_judges_the_blocked_evaluator_that_grad_uses_for_big_arrays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Big element-wise-then-reduce programs go through gradcli/blocked.py in `grad`; `check`
    # must judge those same numbers. A wrong blocked result must fail the check.
    import numpy as np

    from gradcli.check.verdict import CheckSpec, run
    from gradcli.engine import blocked

    monkeypatch.setattr(blocked, "BLOCK", 64)
    monkeypatch.setattr(blocked, "MIN_ELEMENTS", 100)
    x = np.linspace(0.1, 2.0, 500)
    spec = CheckSpec(program="mean(sin(x**2))", bindings={"x": x})
    assert run(spec).passed
    real = blocked.gradient

    def skewed(*args: object, **kwargs: object) -> object:
        value, grads = real(*args, **kwargs)  # type: ignore[arg-type]
        return value, {k: v * (1 + 1e-6) for k, v in grads.items()}

    monkeypatch.setattr(blocked, "gradient", skewed)
    assert not run(spec).passed


def test_the_delta_columns_count_only_the_routes_that_vote() -> None:
    """A finite difference at a kink or through detach() shows its number, marked as not
    voting, and does not enter the Δ columns; an undefined one gets the promised note."""
    result = cli("relu(x)", "x=0")
    row = next(line for line in result.stdout.splitlines() if line.startswith("x "))
    assert "(no vote)" in row and row.split()[-3:] == ["0", "ok", "(kink)"]
    result = cli("detach(x)*x", "x=2")
    row = next(line for line in result.stdout.splitlines() if line.startswith("x "))
    assert "(no vote)" in row and "ok (detach)" in row
    obj = json.loads(cli("sqrt(x)", "x=0", "--json").stdout)
    assert any("undefined at the point" in note for note in obj["notes"])


def test_a_failed_expected_value_shows_in_the_delta_columns(tmp_path: Path) -> None:
    spec = tmp_path / "v.toml"
    spec.write_text('[[check]]\nname = "v"\nprogram = "x**2"\nat = { x = 3 }\nexpect = { value = 10 }\n')
    result = cli("--spec", str(spec))
    row = next(line for line in result.stdout.splitlines() if line.startswith("v "))
    assert "1.0e-01" in row and "FAIL" in row
