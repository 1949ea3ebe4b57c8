"""The lexer and LALR driver (gradcli/lang/lexer.py, lalr.py) against Lark's own parser.

Both run the same grammar and tables; the driver builds the AST in its reductions, Lark
builds a parse tree. Here the tree is turned into the same AST by an independent
converter, and the two must be equal, spans included, on hand-picked and random programs;
where Lark rejects a text, the driver must reject it with Lark's error at the same place.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from differential import generate
from lark import Lark, Tree
from lark.exceptions import UnexpectedInput

from gradcli.errors import GradcliError, ParseError
from gradcli.lang import parser
from gradcli.primitives import ALIASES

TREE_PARSER = Lark(
    parser.grammar_path().read_text(encoding="utf-8"),
    **parser._LARK_OPTIONS,
    postlex=parser.NewlinesInBrackets(),
)

HAND_PICKED = [
    "x",
    "-x**2",
    "2**3**2",
    "2**-1",
    "a*-b",
    "+-+x",
    "(((x)))",
    "sin(x)**2 + cos(x)**2",
    "min(a, b,)",
    "[1, 2, 3,]",
    "[[1, 2], [3, 4]]",
    "a = 1; b = a*2\nb + 1",
    "a = (1 +\n 2)\n\n# comment\nsin(a)  # trailing",
    "\n\n x \n\n",
    "x;;;",
    "f = clamp(x, -1, 1)\nlog(f + 2)",
    "1e-3 * .5 + 2. - 3.25e+2",
    "x ^ 2",
    "mean([x,\n y,\n z])",
    "sum(linspace(0, 1, 5))",
]


def from_tree(item: Any, outer: tuple[int, int] | None = None) -> str:
    """A canonical form of a Lark tree (keep_all_tokens): kinds, names, spans, children.
    `outer`: the span of parentheses around it (the AST keeps those in the node's span)."""
    data = item.data
    kids = [k for k in item.children if k is not None]
    if data in ("add", "sub", "mul", "div", "pow"):
        return f"({data} {from_tree(kids[0])} {from_tree(kids[2])})"
    if data == "neg":
        return f"(neg {from_tree(kids[1])})"
    if data == "pos":
        return from_tree(kids[1], outer)
    if data in ("number", "name"):
        tok = kids[0]
        start = tok.start_pos if outer is None else outer[0]
        return f"{data}:{tok}@{start}:{tok.line}:{tok.column + start - tok.start_pos}"
    if data == "paren":
        return from_tree(kids[1], outer or (kids[0].start_pos, kids[2].end_pos))
    if data == "program":
        return " ; ".join(from_tree(k) for k in kids if isinstance(k, Tree))
    if data == "assign":
        return f"(assign {kids[0]}@{kids[0].line}:{kids[0].column} {from_tree(kids[2])})"
    span = outer or (kids[0].start_pos, kids[-1].end_pos)
    if data == "call":
        args = _items(kids[2]) if len(kids) == 4 else []
        func = ALIASES.get(str(kids[0]), str(kids[0]))
        return f"(call {func}@{span[0]}-{span[1]} {' '.join(args)})"
    if data == "vector":
        return f"(vector@{span[0]}-{span[1]} {' '.join(_items(kids[1]))})"
    raise AssertionError(data)


def _items(item: Any) -> list[str]:
    """The items of `args` / `items` (left-recursive, commas kept)."""
    if isinstance(item, Tree) and item.data in ("args", "items"):
        out: list[str] = []
        for k in item.children:
            if isinstance(k, Tree) and k.data in ("args", "items"):
                out += _items(k)
            elif isinstance(k, Tree):
                out.append(from_tree(k))
        return out
    return [from_tree(item)]


def from_ast(node: Any) -> str:
    """The same canonical form of gradcli's AST."""
    kind = type(node).__name__
    if kind == "Statement":
        inner = from_ast(node.expr)
        if node.target is None:
            return inner
        return f"(assign {node.target}@{node.target_span.line}:{node.target_span.column} {inner})"
    if kind in ("Num", "Name"):
        text, label = (node.text, "number") if kind == "Num" else (node.id, "name")
        return f"{label}:{text}@{node.span.start}:{node.span.line}:{node.span.column}"
    if kind == "Call" and node.func in ("add", "sub", "mul", "div", "pow", "neg"):
        return f"({node.func} {' '.join(from_ast(a) for a in node.args)})"
    if kind == "Call":
        return (
            f"(call {node.func}@{node.span.start}-{node.span.end} {' '.join(from_ast(a) for a in node.args)})"
        )
    return f"(vector@{node.span.start}-{node.span.end} {' '.join(from_ast(a) for a in node.items)})"


def lark_canonical(source: str) -> str:
    return from_tree(TREE_PARSER.parse(source))


def ours(source: str) -> str:
    return " ; ".join(from_ast(s) for s in parser._run(source, allow_internal=False))


@pytest.mark.parametrize("source", HAND_PICKED)
def test_hand_picked_programs_parse_as_lark_parses_them(source: str) -> None:
    assert ours(source) == lark_canonical(source)


def test_random_programs_parse_as_lark_parses_them() -> None:
    rng = random.Random(20261201)
    for _ in range(300):
        source = generate(rng).program
        assert ours(source) == lark_canonical(source), source


@pytest.mark.parametrize(
    "source",
    [
        "1 +",
        "(1",
        "1)",
        "1 2",
        "x = ",
        "sin(1, *)",
        "[1, 2",
        "x $ y",
        "a\\b",
        "2x",
        "1.2.3",
        "f(1)(2)",
        "==",
        "x = = 1",
    ],
)
def test_rejected_texts_get_lark_s_error_at_lark_s_place(source: str) -> None:
    with pytest.raises(UnexpectedInput) as lark_error:
        TREE_PARSER.parse(source)
    with pytest.raises(GradcliError) as ours_error:
        parser._run(source, allow_internal=False)
    assert isinstance(ours_error.value, ParseError)
    err = lark_error.value
    expected_line = getattr(err, "line", None)
    if expected_line not in (None, -1):
        assert ours_error.value.span.line == expected_line
