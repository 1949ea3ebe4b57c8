"""The syntax tree: what the parser produces and every later stage reads.

Nodes carry their source span so that errors can put a caret under the right column and
the explain table can quote the source text. No stage changes a node once the parser has
built it; they are not frozen dataclasses only because those cost three times as much to
build, and a big program is millions of nodes.
Partial-derivative rules in the primitive table are parsed into the same nodes
(with no span), so one printer and one evaluator serve both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.spans import NO_SPAN, Span

__all__ = ["NO_SPAN", "Call", "Name", "Node", "Num", "Program", "Span", "Statement", "Vector"]


@dataclass(slots=True, eq=False)
class Num:
    value: float
    text: str
    span: Span = field(default=NO_SPAN)


@dataclass(slots=True, eq=False)
class Name:
    id: str
    span: Span = field(default=NO_SPAN)


@dataclass(slots=True, eq=False)
class Call:
    """An application of a primitive: operators are calls too (`a + b` is `add(a, b)`)."""

    func: str
    args: tuple[Node, ...]
    span: Span = field(default=NO_SPAN)
    name_span: Span = field(default=NO_SPAN)
    # Static parameters from the program text: keyword arguments (axis=0, keepdims=True) and
    # the key of an index x[1, :] (("key", (1, (None, None, None)))).
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(slots=True, eq=False)
class Vector:
    items: tuple[Node, ...]
    span: Span = field(default=NO_SPAN)


Node = Num | Name | Call | Vector


@dataclass(slots=True)
class Statement:
    target: str | None
    expr: Node
    span: Span
    target_span: Span = NO_SPAN


@dataclass(slots=True)
class Program:
    source: str
    statements: tuple[Statement, ...]
