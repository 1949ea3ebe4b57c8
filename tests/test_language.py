"""The language: numbers, precedence (Python's), statements, spans."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcli import evaluate
from gradcli.lang.ast import Call
from gradcli.lang.parser import parse

PRECEDENCE = [
    ("-x**2", {"x": 3.0}, -9.0),
    ("(-x)**2", {"x": 3.0}, 9.0),
    ("-2**2", {}, -4.0),
    ("2**-1", {}, 0.5),
    ("2**3**2", {}, 512.0),
    ("(2**3)**2", {}, 64.0),
    ("2^3^2", {}, 512.0),
    ("a*-b", {"a": 2.0, "b": 3.0}, -6.0),
    ("a - b - c", {"a": 1.0, "b": 2.0, "c": 3.0}, -4.0),
    ("a / b / c", {"a": 12.0, "b": 3.0, "c": 2.0}, 2.0),
    ("1 + 2 * 3", {}, 7.0),
    ("(1 + 2) * 3", {}, 9.0),
    ("2 * 3 ** 2", {}, 18.0),
    ("-3 ** 2 * 2", {}, -18.0),
    ("+x", {"x": 5.0}, 5.0),
    ("--x", {"x": 5.0}, 5.0),
    ("- -x", {"x": 5.0}, 5.0),
    ("2**-x**2", {"x": 1.0}, 0.5),
    ("pi", {}, math.pi),
    ("e", {}, math.e),
    ("3", {}, 3.0),
    ("3.0", {}, 3.0),
    (".5", {}, 0.5),
    ("1e-3", {}, 0.001),
    ("1E3", {}, 1000.0),
    ("2.5e+2", {}, 250.0),
    ("pow(2, 10)", {}, 1024.0),
]


@pytest.mark.parametrize(("program", "bindings", "expected"), PRECEDENCE)
def test_precedence_and_numbers(program: str, bindings: dict[str, float], expected: float) -> None:
    # Cross-check with Python's own precedence where the syntax coincides.
    assert evaluate(program, **bindings) == pytest.approx(expected, rel=1e-15)


def test_python_agrees_on_precedence() -> None:
    for program, bindings, expected in PRECEDENCE:
        if "^" in program or "pow" in program or program in ("pi", "e"):
            continue
        assert eval(program, {}, dict(bindings)) == pytest.approx(expected)  # test-only oracle


def test_statements_separators_comments() -> None:
    prog = "z = w*x + b  # affine\n\n p = sigmoid(z);  bce(p, y)\n# trailing comment\n"
    assert evaluate(prog, w=1.0, x=6.7, b=0.0, y=0.0) == pytest.approx(6.701230154951767)
    assert evaluate("a = 1; b = a + 1; b * 3") == 6.0
    assert evaluate("a = 2; a") == 2.0
    assert evaluate("a = 2") == 2.0  # last statement may be an assignment: its value is the output


def test_newlines_inside_brackets_continue_the_line() -> None:
    assert evaluate("max(\n  x,\n  2\n)", x=1.0) == 2.0
    assert evaluate("sum([1,\n 2,\n 3])") == 6.0


def test_vectors_and_matrices() -> None:
    np.testing.assert_array_equal(evaluate("[1, 2, 3]"), [1.0, 2.0, 3.0])
    m = evaluate("[[1, 2], [3, 4]]")
    assert isinstance(m, np.ndarray) and m.shape == (2, 2)
    np.testing.assert_array_equal(evaluate("[x, 2*x]", x=[1.0, 2.0]), [[1.0, 2.0], [2.0, 4.0]])


def test_spans_point_into_the_source() -> None:
    source = "z = w*x + b; sigmoid(z)"
    prog = parse(source)
    first, second = prog.statements
    assert source[first.span.start : first.span.end] == "z = w*x + b"
    call = second.expr
    assert isinstance(call, Call)
    assert source[call.span.start : call.span.end] == "sigmoid(z)"
    assert (call.span.line, call.span.column) == (1, 14)
    mul = first.expr.args[0]  # type: ignore[union-attr]
    assert source[mul.span.start : mul.span.end] == "w*x"


def test_spans_on_later_lines() -> None:
    prog = parse("a = 1\nb = sin(a)")
    call = prog.statements[1].expr
    assert (call.span.line, call.span.column) == (2, 5)


def test_aliases_and_constants() -> None:
    assert evaluate("stop_gradient(3)") == 3.0
    assert evaluate("x^2", x=3.0) == 9.0
