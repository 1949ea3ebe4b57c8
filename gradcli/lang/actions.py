"""The grammar rules' actions: each reduction of the parser builds an AST node.

One function per rule name of gradcli/lang/gradcli.lark (the alias where a rule has one);
each takes the rule's children: tokens (regex matches, gradcli/lang/lexer.py) and the nodes
built for the sub-rules, and returns the node of the rule. The parser gets them from
`Actions(...).table()`, made for one source text (spans need its lines); a rule the grammar
gains needs its action here. Names of functions are checked here (a call of an unknown function,
a wrong number of arguments), numbers against float64's range (gradcli/lang/literals.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradcli.errors import ArityError, LimitError, ParseError, UnknownNameError, did_you_mean
from gradcli.lang.ast import Call, Name, Node, Num, Statement, Vector
from gradcli.lang.lexer import Lines, start, text
from gradcli.lang.literals import check_float
from gradcli.limits import LIMITS, exceeded
from gradcli.primitives import ALIASES, CONSTANTS, lookup, public_names, resolve
from gradcli.spans import Span

Children = list[Any]
Action = Callable[[Children], Any]


def _is_node(item: Any) -> bool:
    return isinstance(item, (Call, Name, Num, Vector, Statement))


def pos(c: Children) -> Node:
    operand: Node = c[1]  # unary plus is the identity
    return operand


def args(c: Children) -> list[Node]:
    items: list[Node] = c[0]  # `?args`: only a trailing comma makes this reduction
    return items


def program(c: Children) -> list[Statement]:
    return [
        item if isinstance(item, Statement) else Statement(None, item, item.span)
        for item in c
        if _is_node(item)
    ]


@dataclass(slots=True)
class Keyword:
    """`name=value` among a call's arguments, before the call checks it."""

    name: str
    value: Node
    span: Span


# Names other tools use for functions of the table (`ln` is `log` here).
OTHER_NAMES = {
    "ln": "log",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arctan2": "atan2",
    "power": "a ** b",
    "maximum": "max",
    "minimum": "min",
    "matmul": "a @ b",
    "softmin": "softmax(-x)",
    "logistic": "sigmoid",
    "expit": "sigmoid",
    "swish": "silu",
}
COMPARISONS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
Subscript = int | tuple[int | None, int | None, int | None]


def _check_call(name: str, count: int, name_span: Span, span: Span, allow_internal: bool) -> None:
    prim = lookup(name)
    if prim is not None and count == 1 and prim.one_argument is not None:
        return  # max(x): the reduction
    if prim is None or (not prim.public and not allow_internal):
        if name in CONSTANTS:
            raise UnknownNameError(f"'{name}' is a constant, not a function", span=name_span)
        raise UnknownNameError(
            f"unknown function '{name}'",
            span=name_span,
            hint=(f"did you mean '{OTHER_NAMES[name]}'?" if name in OTHER_NAMES else None)
            or did_you_mean(name, public_names())
            or "`gradcli functions` lists the functions",
        )
    if not prim.accepts(count):
        expected = f"at least {len(prim.params)}" if prim.variadic else str(len(prim.params))
        if prim.one_argument is not None:
            expected = f"1 or {expected}"
        noun = "argument" if expected == "1" else "arguments"
        raise ArityError(
            f"{name}() takes {expected} {noun}, got {count}", span=span, hint=f"usage: {prim.signature}"
        )


class Actions:
    """The actions for one source text. `allow_internal` lets a call name an internal
    function (the derivative rules of the table use them).

    They also keep the operations budget (LIMITS.max_nodes; the items of a vector literal
    count one each): the parser stops at the first operation too many, so that a long
    program costs no more memory than the limit allows (a 4 MB program of unary minus signs
    would otherwise be 4 million nodes before the graph counted them)."""

    def __init__(self, lines: Lines, allow_internal: bool = False) -> None:
        self.lines = lines
        self.allow_internal = allow_internal
        self.left = LIMITS.max_nodes  # operations still allowed
        self.checked: set[tuple[str, int]] = set()  # (function, argument count) seen to be fine

    def table(self) -> dict[str, Action]:
        """The action of each rule, by alias, else name."""
        table: dict[str, Action] = {
            "number": self.number,
            "name": self.name,
            "neg": self.neg,
            "pos": pos,
            "paren": self.paren,
            "args": args,
            "items": self.items,
            "vector": self.vector,
            "assign": self.assign,
            "program": program,
            "call": self.call,
            "compare": self.compare,
            "index": self.index,
            "attribute": self.attribute,
            "keyword": self.keyword,
            "subscripts": subscripts,
            "slice": self.slice,
            "integer": self.integer,
        }
        for func in ("add", "sub", "mul", "div", "pow", "matmul"):
            table[func] = self._binary(func)
        return table

    def _over(self, span: Span) -> LimitError:
        return exceeded("max_nodes", f"the program has more than {LIMITS.max_nodes:,} operations", span=span)

    def _count(self, span: Span) -> None:
        self.left -= 1
        if self.left < 0:
            raise self._over(span)

    def _binary(self, func: str) -> Action:
        def binary(c: Children) -> Call:
            left, _, right = c
            first = left.span
            span = Span(first.start, right.span.end, first.line, first.column)
            self.left -= 1
            if self.left < 0:
                raise self._over(span)
            if func == "matmul":  # its shape errors point at the operator
                return Call(func, (left, right), span, self.lines.token(c[1]))
            return Call(func, (left, right), span)

        return binary

    def number(self, c: Children) -> Num:
        span = self.lines.token(c[0])
        written = text(c[0])
        self._count(span)
        return Num(check_float(written, span), written, span)

    def name(self, c: Children) -> Name:
        return Name(text(c[0]), self.lines.token(c[0]))

    def neg(self, c: Children) -> Call:
        op, x = c
        first = self.lines.token(op)
        span = Span(first.start, x.span.end, first.line, first.column)
        self._count(span)
        return Call("neg", (x,), span)

    def paren(self, c: Children) -> Node:
        # The node keeps its parentheses in its span, so that an enclosing operator's span
        # (first operand to last) quotes balanced text: `(-8)**(1/3)`.
        open_, node, close = c
        span = self.lines.span(open_.start(open_.lastindex), close.end(close.lastindex))
        if isinstance(node, Call):
            return Call(node.func, node.args, span, node.name_span, node.params)
        if isinstance(node, Name):
            return Name(node.id, span)
        if isinstance(node, Num):
            return Num(node.value, node.text, span)
        return Vector(node.items, span)

    def items(self, c: Children) -> list[Node]:
        # Each item holds one unit of the budget until its call is reduced (a call refunds
        # its arguments: `sin(` nested a million deep is a million operations, not two); a
        # vector literal keeps them, one operation per item. So a 4 MB literal of two
        # million items stops at the limit while it is read, not after.
        self.left -= 1
        if len(c) == 1:
            if self.left < 0:
                raise self._over(c[0].span)
            return [c[0]]
        listed: list[Node] = c[0]
        listed.append(c[2])
        if self.left < 0:
            raise self._over(c[2].span)
        return listed

    def vector(self, c: Children) -> Vector:
        open_, close = c[0], c[-1]
        span = self.lines.span(open_.start(open_.lastindex), close.end(close.lastindex))
        if len(c) == 2:
            raise ParseError(
                "empty vector literal '[]'", span=span, hint="write at least one item: [1, 2, 3]"
            )
        for item in c[1]:
            if isinstance(item, Keyword):
                raise ParseError("a keyword argument is not an item of a vector literal", span=item.span)
        return Vector(tuple(c[1]), span)  # its items counted as they were read

    def assign(self, c: Children) -> Statement:
        target, _, expr = c
        first = self.lines.token(target)
        return Statement(
            text(target), expr, Span(first.start, expr.span.end, first.line, first.column), first
        )

    def call(self, c: Children) -> Call:
        name_tok, close = c[0], c[-1]
        given: list[Node | Keyword] = list(c[2]) if len(c) == 4 and c[2] is not None else []
        func = name_tok.group(name_tok.lastindex)
        name_span = self.lines.token(name_tok)
        span = Span(name_span.start, close.end(close.lastindex), name_span.line, name_span.column)
        arguments = tuple(a for a in given if not isinstance(a, Keyword))
        keywords = [a for a in given if isinstance(a, Keyword)]
        if keywords and not isinstance(given[-1], Keyword):
            first = keywords[0]
            raise ParseError("a positional argument follows a keyword argument", span=first.span)
        self.left += len(given) - 1  # the call counts once; its arguments are refunded
        if self.left < 0:
            raise self._over(span)
        if (func, len(arguments)) not in self.checked:
            _check_call(func, len(arguments), name_span, span, self.allow_internal)
            self.checked.add((func, len(arguments)))
        if not keywords:
            prim = resolve(func, len(arguments), ())
            return Call(prim.name if prim else ALIASES.get(func, func), arguments, span, name_span)
        return self._with_keywords(func, arguments, keywords, span, name_span)

    def _with_keywords(
        self, func: str, arguments: tuple[Node, ...], keywords: list[Keyword], span: Span, name_span: Span
    ) -> Call:
        prim = resolve(func, len(arguments), tuple(k.name for k in keywords))
        assert prim is not None
        params: dict[str, Any] = {}
        for kw in keywords:
            if kw.name not in prim.keywords:
                accepted = ", ".join(f"{k}=" for k in prim.keywords)
                raise ArityError(
                    f"{func}() takes no keyword argument '{kw.name}'",
                    span=kw.span,
                    hint=f"{func}() takes {accepted}" if accepted else f"usage: {prim.signature}",
                )
            if kw.name in params:
                raise ArityError(f"keyword argument '{kw.name}' is given twice", span=kw.span)
            params[kw.name] = _static(kw, boolean=kw.name == "keepdims")
        return Call(prim.name, arguments, span, name_span, tuple(params.items()))

    def keyword(self, c: Children) -> Keyword:
        name, _, value = c
        first = self.lines.token(name)
        return Keyword(text(name), value, Span(first.start, value.span.end, first.line, first.column))

    def compare(self, c: Children) -> Call:
        left, op, right = c
        first = left.span
        span = Span(first.start, right.span.end, first.line, first.column)
        self._count(span)
        return Call(COMPARISONS[text(op)], (left, right), span)

    def attribute(self, c: Children) -> Call:
        base, dot, name = c
        attr = text(name)
        if attr != "T":
            raise ParseError(
                f"attribute access is not supported: '.{attr}'",
                span=self.lines.span(start(dot), self.lines.token(name).end),
                hint="the one attribute is .T (the transpose: W.T)",
            )
        end = self.lines.token(name).end
        span = Span(base.span.start, end, base.span.line, base.span.column)
        self._count(span)
        return Call("transpose", (base,), span)

    def index(self, c: Children) -> Call:
        base, close = c[0], c[-1]
        key: list[Subscript] = c[2]
        span = Span(base.span.start, close.end(close.lastindex), base.span.line, base.span.column)
        self._count(span)
        return Call("index", (base,), span, params=(("key", tuple(key)),))

    def integer(self, c: Children) -> int:
        tok = c[-1]
        written = text(tok)
        span = self.lines.token(tok)
        value = check_float(written, span)
        if value != math.floor(value):
            raise ParseError(f"an index must be a whole number, got {written}", span=span)
        if abs(value) > 2**62:
            raise ParseError(
                f"index {written} is out of range", span=span, hint="indices run up to an axis's size"
            )
        return -int(value) if len(c) == 2 else int(value)

    def slice(self, c: Children) -> tuple[int | None, int | None, int | None]:
        parts: list[int | None] = [None]
        for child in c:
            if isinstance(child, int):
                parts[-1] = child
            else:  # a ':'
                parts.append(None)
        start, stop, step = [*parts, None, None][:3]
        return (start, stop, step)


def subscripts(c: Children) -> list[Subscript]:
    if len(c) == 1:
        return [c[0]]
    listed: list[Subscript] = c[0]
    listed.append(c[2])
    return listed


def _static(kw: Keyword, boolean: bool) -> Any:
    """The value of a keyword argument, written in the program: True or False (`boolean`),
    else a whole number (negative allowed)."""
    node = kw.value
    if boolean:
        if isinstance(node, Name) and node.id in ("True", "False"):
            return node.id == "True"
        raise ParseError(f"{kw.name}= takes True or False", span=node.span)
    sign = 1
    if isinstance(node, Call) and node.func == "neg" and len(node.args) == 1:
        node, sign = node.args[0], -1
    if isinstance(node, Num) and node.value == math.floor(node.value) and abs(node.value) < 2**31:
        return sign * int(node.value)
    raise ParseError(
        f"{kw.name}= takes a whole number written in the program, such as 0 or -1", span=kw.value.span
    )
