"""Every error class: message, position (caret), hint."""

from __future__ import annotations

from typing import Any

import pytest

from gradcli import evaluate, grad
from gradcli.errors import (
    ArityError,
    BindingError,
    GradcliError,
    ParseError,
    ProgramError,
    ShapeError,
    UnknownNameError,
)


def _error(program: str, **bindings: Any) -> GradcliError:
    with pytest.raises(GradcliError) as info:
        grad(program, **bindings)
    return info.value


def _caret_column(err: GradcliError) -> int:
    """0-based column of the first caret in the rendered context."""
    lines = str(err).splitlines()
    src_line = next(i for i, line in enumerate(lines) if " | " in line)
    gutter = lines[src_line].index(" | ") + 3
    return lines[src_line + 1].index("^") - gutter


@pytest.mark.parametrize(
    ("program", "column", "fragment"),
    [
        ("1 +", 3, "unexpected end of input"),
        ("(1 + 2", 6, "never closed"),
        ("1 + 2)", 5, "no opening"),
        ("sin(x", 5, "never closed"),
        ("2 3", 2, "no operator"),
        ("x × y", 2, "use * to multiply"),
        ("x − y", 2, "ASCII"),
        ("1.2.3", 3, "decimal point"),
        ("1e", 1, "exponents need digits"),
        ("a.b", 1, "attribute"),
        ("x = = 1", 4, "unexpected"),
    ],
)
def test_parse_errors_have_caret_and_hint(program: str, column: int, fragment: str) -> None:
    err = _error(program, x=1.0, y=1.0)
    assert isinstance(err, ParseError)
    assert err.exit_code == 2
    assert fragment in str(err)
    assert _caret_column(err) == column
    assert "hint:" in str(err)


def test_empty_program() -> None:
    for program in ["", "   ", "# just a comment", ";;\n;"]:
        err = _error(program)
        assert isinstance(err, ParseError)
        assert "empty" in err.message


def test_unknown_function_did_you_mean() -> None:
    err = _error("sinn(x)", x=1.0)
    assert isinstance(err, UnknownNameError)
    assert "unknown function 'sinn'" in err.message
    assert "did you mean 'sin'" in str(err)
    assert _caret_column(err) == 0


def test_unknown_function_position_in_longer_program() -> None:
    err = _error("y = 2*x\nexpp(y)", x=1.0)
    assert err.span.line == 2 and err.span.column == 1
    assert "did you mean 'exp'" in str(err)


def test_function_used_as_value_and_constant_called() -> None:
    assert "is a function" in _error("sin + 1").message
    assert "constant" in _error("pi(2)").message


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("sin(x, x)", "takes 1 argument, got 2"),
        ("clamp(x, 1)", "takes 3 arguments, got 2"),
        ("max(x, x, x)", "takes 1 or 2 arguments, got 3"),
        ("sum()", "takes 1 argument, got 0"),
    ],
)
def test_arity(program: str, expected: str) -> None:
    err = _error(program, x=1.0)
    assert isinstance(err, ArityError)
    assert expected in err.message
    assert "usage:" in str(err)
    assert _caret_column(err) == 0


def test_missing_inputs_are_all_named() -> None:
    err = _error("a*x + b + c", x=1.0)
    assert isinstance(err, BindingError)
    assert "missing inputs: a, b, c" in err.message
    assert "a=... b=... c=..." in str(err)


def test_unused_binding_is_a_warning_not_an_error() -> None:
    r = grad("x**2", x=1.0, xx=2.0)
    assert any("'xx' is bound but the program does not use it" in w for w in r.warnings)


def test_wrt_must_name_inputs() -> None:
    with pytest.raises(BindingError, match="not an input") as info:
        grad("x**2", x=1.0, wrt=["y"])
    assert "x" in str(info.value)
    assert grad("p = x**2; p", x=1.0, wrt=["p"]).gradient["p"] == 1.0  # an intermediate: ∂L/∂p


def test_shape_mismatch_names_both_shapes() -> None:
    err = _error("x + y", x=[1.0, 2.0, 3.0], y=[1.0, 2.0])
    assert isinstance(err, ShapeError)
    assert "(3,)" in err.message and "(2,)" in err.message
    assert _caret_column(err) == 0
    err = _error("dot(x, y)", x=[1.0, 2.0, 3.0], y=[1.0, 2.0])
    assert isinstance(err, ShapeError) and "(3,)" in err.message and "(2,)" in err.message
    err = _error("[[1, 2], [3]]")
    assert isinstance(err, ShapeError) and "same shape" in err.message


def test_program_errors() -> None:
    err = _error("a = 1; a = 2")
    assert isinstance(err, ProgramError) and "assigned twice" in err.message
    assert err.span.column == 8
    err = _error("y = x + 1; x = 2; y", x=1.0)
    assert isinstance(err, ProgramError) and "is an input" in err.message
    assert isinstance(_error("pi = 3"), ProgramError)
    assert isinstance(_error("sin = 3"), ProgramError)
    assert isinstance(_error("linspace(0, x, 3)", x=1.0), ProgramError)


def test_domain_errors_are_nan_with_warning() -> None:
    for program, x in [("log(x)", -1.0), ("sqrt(x)", -1.0), ("asin(x)", 2.0)]:
        r = grad(program, x=x)
        assert r.value != r.value  # NaN
        assert any("NaN" in w for w in r.warnings), r.warnings
        assert any(program.split("(")[0] in w for w in r.warnings)


def test_no_eval_of_user_text() -> None:
    for program in ["__import__('os')", "x.__class__", "lambda: 1", "f'{x}'", "exec('1')", "[].__len__()"]:
        with pytest.raises(GradcliError):
            evaluate(program, x=1.0)


def test_an_unused_expression_statement_is_an_error() -> None:
    # `x**2` then `+ y` on the next line: two statements, and the first would be lost.
    err = _error("x**2\n  + y", x=3.0, y=2.0)
    assert isinstance(err, ProgramError)
    assert "not used" in err.message and err.span.line == 1
    assert "parentheses" in str(err)
    assert grad("(x**2\n  + y)", x=3.0, y=2.0).gradient == {"x": 6.0, "y": 1.0}
    assert isinstance(_error("1; 2"), ProgramError)


def test_limit_variables_that_are_not_numbers_fall_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gradcli.limits import load

    for raw in ("inf", "1e400", "abc", "-5", "0"):
        monkeypatch.setenv("GRADCLI_MAX_NODES", raw)
        assert load().max_nodes == 1_000_000
        assert "GRADCLI_MAX_NODES" in capsys.readouterr().err
    monkeypatch.setenv("GRADCLI_MAX_NODES", "2e3")
    assert load().max_nodes == 2000
