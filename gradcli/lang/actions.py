"""The grammar rules' actions: each reduction of the parser builds an AST node.

One function per rule name of gradcli/lang/gradcli.lark (the alias where a rule has one);
each takes the rule's children: tokens (regex matches, gradcli/lang/lexer.py) and the nodes
built for the sub-rules, and returns the node of the rule. The parser gets them from
`Actions(...).table()`, made for one source text (spans need its lines); a rule the grammar
gains needs its action here. Names of functions are checked here (a call of an unknown function,
a wrong number of arguments), numbers against float64's range (gradcli/lang/literals.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradcli.errors import ArityError, LimitError, ParseError, UnknownNameError, did_you_mean
from gradcli.lang.ast import Call, Name, Node, Num, Statement, Vector
from gradcli.lang.lexer import Lines, text
from gradcli.lang.literals import check_float
from gradcli.limits import LIMITS, exceeded
from gradcli.primitives import ALIASES, CONSTANTS, lookup, public_names
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


def _check_call(name: str, count: int, name_span: Span, span: Span, allow_internal: bool) -> None:
    prim = lookup(name)
    if prim is None or (not prim.public and not allow_internal):
        if name in CONSTANTS:
            raise UnknownNameError(f"'{name}' is a constant, not a function", span=name_span)
        raise UnknownNameError(
            f"unknown function '{name}'",
            span=name_span,
            hint=did_you_mean(name, public_names()) or "`gradcli functions` lists the functions",
        )
    if not prim.accepts(count):
        expected = f"at least {len(prim.params)}" if prim.variadic else str(len(prim.params))
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
        }
        for func in ("add", "sub", "mul", "div", "pow"):
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
            return Call(node.func, node.args, span, node.name_span)
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
        return Vector(tuple(c[1]), span)  # its items counted as they were read

    def assign(self, c: Children) -> Statement:
        target, _, expr = c
        first = self.lines.token(target)
        return Statement(
            text(target), expr, Span(first.start, expr.span.end, first.line, first.column), first
        )

    def call(self, c: Children) -> Call:
        name_tok, close = c[0], c[-1]
        arguments: tuple[Node, ...] = tuple(c[2]) if len(c) == 4 else ()
        func = name_tok.group(name_tok.lastindex)
        name_span = self.lines.token(name_tok)
        span = Span(name_span.start, close.end(close.lastindex), name_span.line, name_span.column)
        self.left += len(arguments) - 1  # the call counts once; its arguments are refunded
        if self.left < 0:
            raise self._over(span)
        if (func, len(arguments)) not in self.checked:
            _check_call(func, len(arguments), name_span, span, self.allow_internal)
            self.checked.add((func, len(arguments)))
        return Call(ALIASES.get(func, func), arguments, span, name_span)
