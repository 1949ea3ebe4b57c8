"""A parenthesised node keeps its fields and its parentheses in its span, for every node
type, so that an operator's span (first operand to last) quotes balanced source text."""

from __future__ import annotations

import pytest

from gradcli.lang.ast import Call, Name, Num, Vector
from gradcli.lang.parser import parse


def _expr(source: str) -> object:
    return parse(source).statements[0].expr


def _text(source: str, node: object) -> str:
    span = node.span  # type: ignore[attr-defined]
    return source[span.start : span.end]


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("( 2.50 )", Num),
        ("(x)", Name),
        ("(sin(x, ))", Call),
        ("(a + b)", Call),
        ("(-x)", Call),
        ("([1, 2])", Vector),
        ("(((x)))", Name),
        ("(\n  x\n)", Name),
    ],
)
def test_the_span_includes_the_parentheses(source: str, kind: type) -> None:
    node = _expr(source)
    assert isinstance(node, kind)
    assert _text(source, node) == source
    assert (node.span.line, node.span.column) == (1, 1)  # type: ignore[attr-defined]


def test_fields_survive_the_parentheses() -> None:
    num = _expr("(2.50)")
    assert isinstance(num, Num) and (num.value, num.text) == (2.5, "2.50")
    name = _expr("(x)")
    assert isinstance(name, Name) and name.id == "x"
    source = "(sin(x))"
    call = _expr(source)
    assert isinstance(call, Call) and call.func == "sin" and [a.id for a in call.args] == ["x"]  # type: ignore[union-attr]
    assert source[call.name_span.start : call.name_span.end] == "sin"
    vec = _expr("([1, x])")
    assert isinstance(vec, Vector) and [type(i) for i in vec.items] == [Num, Name]


def test_an_operator_quotes_balanced_text() -> None:
    source = "y = (-8)**(1/3) + 1"
    power = parse(source).statements[0].expr.args[0]  # type: ignore[union-attr]
    assert isinstance(power, Call) and power.func == "pow"
    assert _text(source, power) == "(-8)**(1/3)"
    assert [_text(source, a) for a in power.args] == ["(-8)", "(1/3)"]
