"""Text -> tokens, with one regular expression made from the Lark grammar's terminals.

Lark's own lexer builds a Token object per token and counts lines as it goes; on a program
of a million tokens that is much of the parse. This lexer reads the same terminals, in the
same order of preference (the order Lark's basic lexer tries them), from the loaded Lark
parser and joins them into one pattern: what the grammar ignores (white space, comments) is
skipped inside each match, one named group per terminal says which one matched. A token is
the regex match itself (its terminal from the group that matched): no object is built per
token, and the
line and column of a position are looked up only for the positions a node's span needs
(`Lines`). It also does the post-lexer's job: a newline inside (...) or [...] continues the
line, as in Python.

The grammar file stays the one definition of the tokens: a terminal added there is lexed
here without a change. A character that starts no token is the token BAD, which no parser
state accepts: the caller then runs Lark's own parser on the text for its error report.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from lark import Lark

from gradcli.spans import Span

Match = re.Match[str]  # a token: its terminal is names[m.lastindex], its text m.group(m.lastindex)

OPENING = frozenset({"LPAR", "LSQB"})
CLOSING = frozenset({"RPAR", "RSQB"})
NEWLINE = "_NL"  # the grammar's newline terminal (a statement separator outside brackets)
BAD = "bad"  # a character no terminal starts with (lower case: never a terminal's name)
END = "end"  # the end of the text (the parser tables call it "$END", not a valid group name)


def text(m: Match) -> str:
    """The text of a token."""
    return m.group(m.lastindex or 0)


def start(m: Match) -> int:
    """The offset of a token's first character."""
    return m.start(m.lastindex or 0)


@dataclass(frozen=True)
class Lexer:
    pattern: re.Pattern[str]  # ignored text, then one token (one named group per terminal)
    names: tuple[str, ...]  # group index -> terminal name ("" for a terminal's own groups)

    @classmethod
    def of(cls, parser: Lark) -> Lexer:
        """The lexer of a loaded Lark parser: its terminals, in its lexer's order."""
        conf = parser.lexer_conf
        ignore = set(conf.ignore)
        # Lark's basic lexer tries terminals by priority, then the longest possible match,
        # then the longest pattern, then the name; a regex alternation tries them in order.
        terminals = sorted(
            conf.terminals,
            key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name),
        )
        skip = "|".join(f"(?:{t.pattern.to_regexp()})" for t in terminals if t.name in ignore)
        groups = [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals if t.name not in ignore]
        # Any other character is the token BAD; the end of the text (after ignored text) is END.
        groups += [f"(?P<{BAD}>.)", rf"(?P<{END}>\Z)"]
        skipped = f"(?:{skip})*" if skip else ""
        pattern = re.compile(skipped + "(?:" + "|".join(groups) + ")", conf.g_regex_flags | re.DOTALL)
        # A terminal's own groups shift the numbers: index -> name from the named groups
        # (a match's lastindex is the outermost group that matched: the terminal's).
        names = [""] * (pattern.groups + 1)
        for name, index in pattern.groupindex.items():
            names[index] = "$END" if name == END else name
        return cls(pattern, tuple(names))

    def tokens(self, source: str) -> Iterator[Match]:
        """The tokens of `source`, the last one END ("$END"), newlines inside brackets dropped.
        A token's terminal is `names[m.lastindex]`."""
        if "\n" not in source:  # one line: no newline tokens, no brackets to count
            return self.pattern.finditer(source)
        return self._lines(source)

    def _lines(self, source: str) -> Iterator[Match]:
        names = self.names
        depth = 0
        for m in self.pattern.finditer(source):
            kind = names[m.lastindex or 0]
            if kind in OPENING:
                depth += 1
            elif kind in CLOSING:
                depth = max(0, depth - 1)
            elif kind == NEWLINE and depth:
                continue
            yield m


class Lines:
    """Line and column of offsets in one source text (1-based), for the spans of nodes."""

    def __init__(self, source: str) -> None:
        self.newlines = [m.start() for m in re.finditer("\n", source)] if "\n" in source else []

    def span(self, first: int, end: int) -> Span:
        """The span [first, end) with the line and column of `first`."""
        if not self.newlines:
            return Span(first, end, 1, first + 1)
        line = bisect.bisect_left(self.newlines, first)  # newlines before `first`
        line_start = self.newlines[line - 1] + 1 if line else 0
        return Span(first, end, line + 1, first - line_start + 1)

    def token(self, m: Match) -> Span:
        """The span of a token."""
        first, end = m.span(m.lastindex or 0)
        if not self.newlines:
            return Span(first, end, 1, first + 1)
        return self.span(first, end)
