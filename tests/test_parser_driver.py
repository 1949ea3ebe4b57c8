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
from gradcli.primitives import resolve

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
    "W @ x * 2 + b",
    "W.T @ W.T.T",
    "x[0] + W[1, -2] + W[:, 0] + x[1:3] + x[::2] + x[::-1] + W[1:, :2:1]",
    "-x[0]**2",
    "x < y + 1",
    "where(x >= 0, x, -x) != 0",
    "sum(W, axis=-1, keepdims=True)",
    "max(x)",
    "softmax(z, axis=0,)",
]


def from_tree(item: Any, outer: tuple[int, int] | None = None) -> str:
    """A canonical form of a Lark tree (keep_all_tokens): kinds, names, spans, children.
    `outer`: the span of parentheses around it (the AST keeps those in the node's span)."""
    data = item.data
    kids = [k for k in item.children if k is not None]
    if data in ("add", "sub", "mul", "div", "pow", "matmul"):
        return f"({data} {from_tree(kids[0])} {from_tree(kids[2])})"
    matrix = _matrix_tree(data, kids)
    if matrix is not None:
        return matrix
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
        keywords = [a for a in args if a.startswith("kw:")]
        positional = [a for a in args if not a.startswith("kw:")]
        func = resolve(str(kids[0]), len(positional), tuple(k.split("=")[0][3:] for k in keywords))
        assert func is not None
        params = "".join(" " + k[3:] for k in keywords)
        return f"(call {func.name}@{span[0]}-{span[1]} {' '.join(positional)}{params})"

    if data == "vector":
        return f"(vector@{span[0]}-{span[1]} {' '.join(_items(kids[1]))})"
    raise AssertionError(data)


def _matrix_tree(data: str, kids: list[Any]) -> str | None:
    """The forms of issue 12 (keywords, comparisons, .T, indexing), or None for the others."""
    if data == "keyword":
        return f"kw:{kids[0]}={_static(kids[2])}"
    if data == "compare":
        names = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
        return f"({names[str(kids[1])]} {from_tree(kids[0])} {from_tree(kids[2])})"
    if data == "attribute":
        return f"(call transpose@{_start(kids[0])}-{kids[2].end_pos} {from_tree(kids[0])})"
    if data == "index":
        return f"(call index@{_start(kids[0])}-{kids[-1].end_pos} {from_tree(kids[0])} key={_key(kids[2])})"
    return None


def _start(item: Any) -> int:
    """The first offset of a subtree (its first token)."""
    while isinstance(item, Tree):
        item = next(k for k in item.children if k is not None)
    return int(item.start_pos)


def _static(item: Any) -> str:
    """A keyword's value as the AST keeps it: True/False, or a whole number."""
    text = "".join(str(t) for t in item.scan_values(lambda _: True)) if isinstance(item, Tree) else str(item)
    return str(text == "True") if text in ("True", "False") else str(int(float(text)))


def _key(item: Any) -> str:
    """The subscripts of an index, as the AST keeps them: ints, or (start, stop, step)."""
    subs = [k for k in item.children if isinstance(k, Tree)] if item.data == "subscripts" else [item]
    flat: list[Any] = []
    for sub in subs:
        if sub.data == "subscripts":
            flat += [k for k in sub.children if isinstance(k, Tree)]
        else:
            flat.append(sub)
    out = []
    for sub in flat:
        if sub.data == "integer":
            out.append(str(int("".join(str(t) for t in sub.children))))
        else:
            parts: list[str] = ["None"]
            for k in sub.children:
                if isinstance(k, Tree):
                    parts[-1] = str(int("".join(str(t) for t in k.children)))
                else:
                    parts.append("None")
            out.append("(" + ", ".join([*parts, "None", "None"][:3]) + ")")
    return "(" + ", ".join(out) + ("," if len(out) == 1 else "") + ")"


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
    binary = ("add", "sub", "mul", "div", "pow", "neg", "matmul", "lt", "le", "gt", "ge", "eq", "ne")
    if kind == "Call" and node.func in binary:
        return f"({node.func} {' '.join(from_ast(a) for a in node.args)})"
    if kind == "Call" and node.func == "index":
        key = dict(node.params)["key"]
        return f"(call index@{node.span.start}-{node.span.end} {from_ast(node.args[0])} key={key})"
    if kind == "Call":
        params = "".join(f" {k}={v}" for k, v in node.params)
        return (
            f"(call {node.func}@{node.span.start}-{node.span.end} "
            f"{' '.join(from_ast(a) for a in node.args)}{params})"
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
