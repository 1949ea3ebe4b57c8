"""Where a piece of source text is: the span every stage carries, so that an error can put a
caret under the right column and a table can quote the source text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, unsafe_hash=True)
class Span:
    """Half-open character range [start, end) in the source, plus 1-based line/column.
    Never changed once made (not frozen only for speed, see gradcli/lang/ast.py)."""

    start: int
    end: int
    line: int
    column: int


NO_SPAN = Span(0, 0, 0, 0)
