"""Text -> AST: the grammar (gradcli/lang/gradcli.lark) through Lark's LALR tables.

Lark builds the tables from the grammar once per machine (loaded from a cache file on every
start, gradcli/lang/parser_cache.py). A program is lexed by one regular expression made from
the grammar's terminals (gradcli/lang/lexer.py) and parsed by a lean driver over Lark's
tables (gradcli/lang/lalr.py) whose reductions build the AST directly
(gradcli/lang/actions.py): no parse tree, no recursion, so 100,000 levels of nesting parse
fine, and a million tokens parse in about a second. When the text is not a program, Lark's
own parser reads it again to report the error, with its expected tokens and error examples
(gradcli/lang/syntax_errors.py).
"""

from __future__ import annotations

import gc
from functools import cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedInput

from gradcli.errors import GradcliError, ParseError
from gradcli.lang.actions import Actions
from gradcli.lang.ast import Node, Program, Statement
from gradcli.lang.lalr import Mismatch, Tables, TooDeep
from gradcli.lang.lexer import Lexer, Lines, start
from gradcli.lang.parser_cache import load_or_build
from gradcli.lang.syntax_errors import check_text, convert
from gradcli.limits import LIMITS, exceeded

__all__ = ["grammar_path", "parse", "parse_rule"]


def grammar_path() -> Path:
    """The grammar file, next to this module in every kind of install (wheel, editable, source)."""
    return Path(__file__).resolve().parent / "gradcli.lark"


_LARK_OPTIONS: dict[str, Any] = {
    "start": "program",
    "parser": "lalr",
    "lexer": "basic",
    "keep_all_tokens": True,
    "maybe_placeholders": True,
}


class NewlinesInBrackets:
    """Lark's post-lexer: newlines inside (...) or [...] continue the line, as in Python
    (gradcli/lang/lexer.py does the same for the driver)."""

    always_accept = ("_NL",)

    def process(self, stream: Any) -> Any:
        depth = 0
        for tok in stream:
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif tok.type == "_NL" and depth:
                continue
            yield tok


class _Discard(Transformer[Token, Tree[Token]]):
    """Lark's parser only reports errors here: it keeps no tree (a big program stays small)."""

    def __default__(self, data: Any, children: Any, meta: Any) -> Tree[Token]:
        return Tree(data, [])


def lark_runtime() -> dict[str, Any]:
    """The options Lark's parser is loaded with that the cache file does not hold."""
    return {"transformer": _Discard(), "postlex": NewlinesInBrackets()}


@cache
def lark_parser() -> Lark:
    """Lark's parser of the grammar, loaded from the cache file (never rebuilt per run)."""
    return load_or_build(grammar_path().read_text(encoding="utf-8"), _LARK_OPTIONS, **lark_runtime())


class Parser:
    """The lexer and the tables of one Lark parser, and the run of both over a text."""

    def __init__(self, lark: Lark) -> None:
        self.lark = lark
        self.lexer = Lexer.of(lark)
        self.tables = Tables(lark, "program")

    def statements(self, source: str, allow_internal: bool = False) -> list[Statement]:
        """The statements of `source` (a ParseError, or another GradcliError, when it is not
        a program)."""
        # Big programs allocate millions of small objects; the cyclic GC only slows that down.
        was_enabled = gc.isenabled()
        gc.disable()
        lines = Lines(source)
        try:
            rules = Actions(lines, allow_internal).table()
            # Nesting counts against the operations limit: each open level is an operation to
            # be (`-`, `sin(`), or a bracket around one; the stack stays as small as the graph.
            depth = LIMITS.max_nodes + 16
            tokens = self.lexer.tokens(source)
            statements: list[Statement] = self.tables.run(tokens, self.lexer.names, rules, depth)
            return statements
        except Mismatch as stop:
            raise self._syntax_error(source, stop).with_source(source) from None
        except TooDeep as deep:
            error = exceeded(
                "max_nodes",
                f"the program is nested more than {LIMITS.max_nodes:,} levels deep",
                span=lines.token(deep.token),
                advice="nesting counts against the operations limit",
            )
            raise error.with_source(source) from None
        except GradcliError as err:
            raise err.with_source(source) from None
        finally:
            if was_enabled:
                gc.enable()

    def _syntax_error(self, source: str, stop: Mismatch) -> ParseError:
        """Lark's report of the error the driver stopped at."""
        try:
            self.lark.parse(source)
        except UnexpectedInput as err:
            return convert(err, source, self.lark.parse)
        # Lark accepted what the driver did not: report the driver's position (a bug if reached).
        pos = len(source) if stop.token is None else start(stop.token)
        return ParseError("unexpected input", span=Lines(source).span(pos, pos + 1))


@cache
def _parser() -> Parser:
    return Parser(lark_parser())


def _run(source: str, allow_internal: bool) -> list[Statement]:
    return _parser().statements(source, allow_internal)


def parse(source: str) -> Program:
    """Parse a program (one or more statements) into a `Program`."""
    if len(source) > LIMITS.max_program_chars:
        raise exceeded(
            "max_program_chars",
            f"the program is {len(source):,} characters long; the limit is {LIMITS.max_program_chars:,}",
        )
    check_text(source)
    statements = _run(source, allow_internal=False)
    if not statements:
        raise ParseError("the program is empty", hint="write an expression, e.g. sin(x**2)")
    if len(statements) > LIMITS.max_statements:
        raise exceeded(
            "max_statements",
            f"the program has {len(statements):,} statements; the limit is {LIMITS.max_statements:,}",
        )
    return Program(source, tuple(statements))


@cache
def parse_rule(text: str) -> Node:
    """Parse a derivative rule from the primitive table (internal functions allowed)."""
    statements = _run(text, allow_internal=True)
    assert len(statements) == 1 and statements[0].target is None, text
    return statements[0].expr
