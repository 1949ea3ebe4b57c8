"""Text -> AST, with Lark's LALR parser.

The parser's tables are built from `gradcli/lang/gradcli.lark` once per machine and
loaded from a cache file on every start (gradcli/parser_cache.py). The parser
builds AST nodes directly in its reduce callbacks: no parse tree, no recursion,
so 100,000 levels of nesting parse fine.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from gradcli.errors import (
    UNPRINTABLE,
    ArityError,
    GradcliError,
    LimitError,
    ParseError,
    UnknownNameError,
    did_you_mean,
)
from gradcli.lang.ast import NO_SPAN, Call, Name, Node, Num, Program, Span, Statement, Vector
from gradcli.lang.parser_cache import load_or_build
from gradcli.limits import LIMITS, exceeded
from gradcli.primitives import ALIASES, CONSTANTS, lookup, public_names


def grammar_path() -> Path:
    """The grammar file, next to this module in every kind of install (wheel, editable, source)."""
    return Path(__file__).resolve().parent / "gradcli.lark"


def check_float(text: str, span: Span = NO_SPAN) -> float:
    """The float64 of a number written in decimal, or a LimitError when float64 cannot hold it:
    too large (1e999 is not infinity) or too small (1e-400 is not 0), alike."""
    value = float(text)
    if value == math.inf:
        raise LimitError(
            f"the number {_shorten(text)} is too large for a float64 (the largest is about 1.8e308)",
            span=span,
            hint="numbers that overflow are errors, not infinity; exp(1000) gives inf with a warning",
        )
    mantissa = text.lower().split("e")[0]
    if value == 0 and any(d in mantissa for d in "123456789"):
        raise LimitError(
            f"the number {_shorten(text)} is too small for a float64 (the smallest is about 4.9e-324)",
            span=span,
            hint="numbers that underflow are errors, not 0; write 0 for zero; exp(-1000) gives 0",
        )
    return value


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width // 2] + "…" + text[-(width // 2) :]


def _span(tok: Token) -> Span:
    return Span(tok.start_pos or 0, tok.end_pos or 0, tok.line or 0, tok.column or 0)


def _join(first: Span, last: Span) -> Span:
    return Span(first.start, last.end, first.line, first.column)


def _start(item: Any) -> Span:
    return _span(item) if isinstance(item, Token) else item.span


class _Build(Transformer[Token, Any]):
    """Reduce callbacks: each rule becomes an AST node (keep_all_tokens gives the spans)."""

    def __init__(self, allow_internal: bool = False) -> None:
        super().__init__()
        self.allow_internal = allow_internal

    def number(self, c: list[Token]) -> Num:
        check_float(str(c[0]), _span(c[0]))
        return Num(float(c[0]), str(c[0]), _span(c[0]))

    def name(self, c: list[Token]) -> Name:
        return Name(str(c[0]), _span(c[0]))

    def _binary(self, func: str, c: list[Any]) -> Call:
        left, _, right = c
        return Call(func, (left, right), _join(left.span, right.span))

    def add(self, c: list[Any]) -> Call:
        return self._binary("add", c)

    def sub(self, c: list[Any]) -> Call:
        return self._binary("sub", c)

    def mul(self, c: list[Any]) -> Call:
        return self._binary("mul", c)

    def div(self, c: list[Any]) -> Call:
        return self._binary("div", c)

    def pow(self, c: list[Any]) -> Call:
        return self._binary("pow", c)

    def neg(self, c: list[Any]) -> Node:
        op, x = c
        return Call("neg", (x,), _join(_span(op), x.span))

    def pos(self, c: list[Any]) -> Node:
        operand: Node = c[1]  # unary plus is the identity
        return operand

    def paren(self, c: list[Any]) -> Node:
        # The node keeps its parentheses in its span, so that an enclosing operator's
        # span (first operand to last) quotes balanced text: `(-8)**(1/3)`.
        # Built with each type's own constructor and one Span (not dataclasses.replace and
        # _join(_span, _span)): this runs once per parenthesis, 500,000 times for the deepest
        # nesting under the length limit.
        open_, node, close = c
        span = Span(open_.start_pos or 0, close.end_pos or 0, open_.line or 0, open_.column or 0)
        if isinstance(node, Call):
            return Call(node.func, node.args, span, node.name_span)
        if isinstance(node, Name):
            return Name(node.id, span)
        if isinstance(node, Num):
            return Num(node.value, node.text, span)
        return Vector(node.items, span)

    def args(self, c: list[Any]) -> tuple[Node, ...]:
        return tuple(x for x in c if not isinstance(x, Token))

    def call(self, c: list[Any]) -> Call:
        name_tok, _, args, close = c
        args = args or ()
        span = _join(_span(name_tok), _span(close))
        name = str(name_tok)
        prim = lookup(name)
        if prim is None or (not prim.public and not self.allow_internal):
            if name in CONSTANTS:
                raise UnknownNameError(f"'{name}' is a constant, not a function", span=_span(name_tok))
            raise UnknownNameError(
                f"unknown function '{name}'",
                span=_span(name_tok),
                hint=did_you_mean(name, public_names()) or "`gradcli functions` lists the functions",
            )
        if not prim.accepts(len(args)):
            expected = f"at least {len(prim.params)}" if prim.variadic else str(len(prim.params))
            noun = "argument" if expected == "1" else "arguments"
            raise ArityError(
                f"{name}() takes {expected} {noun}, got {len(args)}",
                span=span,
                hint=f"usage: {prim.signature}",
            )
        return Call(ALIASES.get(name, name), args, span, _span(name_tok))

    def vector(self, c: list[Any]) -> Vector:
        open_, args, close = c
        span = _join(_span(open_), _span(close))
        if not args:
            raise ParseError(
                "empty vector literal '[]'", span=span, hint="write at least one item: [1, 2, 3]"
            )
        return Vector(args, span)

    def assign(self, c: list[Any]) -> Statement:
        target, _, expr = c
        return Statement(str(target), expr, _join(_span(target), expr.span), _span(target))

    def program(self, c: list[Any]) -> list[Statement]:
        out = []
        for item in c:
            if isinstance(item, Token):
                continue
            out.append(item if isinstance(item, Statement) else Statement(None, item, item.span))
        return out


class _NewlinesInBrackets:
    """Post-lexer: newlines inside (...) or [...] continue the line, as in Python."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        for tok in stream:
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif tok.type == "_NL" and depth:
                continue
            yield tok


_LARK_OPTIONS: dict[str, Any] = {
    "start": "program",
    "parser": "lalr",
    "lexer": "basic",
    "keep_all_tokens": True,
    "maybe_placeholders": True,
}


@cache
def _parser(allow_internal: bool = False) -> Lark:
    # Loaded from the user's cache directory, never rebuilt per run (gradcli/parser_cache.py).
    return load_or_build(
        grammar_path().read_text(encoding="utf-8"),
        _LARK_OPTIONS,
        transformer=_Build(allow_internal),
        postlex=_NewlinesInBrackets(),
    )


# Error examples for Lark's match_examples: the parser state decides the label.
_EXAMPLES: dict[str, list[str]] = {
    "an operand is missing after an operator": [
        "1 +",
        "1 *",
        "1 /",
        "2 **",
        "-",
        "1 + * 2",
        "x = ",
        "1 -",
        "sin(1, *)",
    ],
    "an opening bracket is never closed": ["(1", "sin(1", "((1)", "[1, 2", "f(1, 2"],
    "a closing bracket has no opening one": ["1)", ")", "1]", "(1))"],
    "two values with no operator between them": ["1 2", "x y", "2 x", "(1)(2)", "2(x)", "x(1)(2)"],
}

_CHAR_HINTS = {
    "×": "use * to multiply",
    "·": "use * to multiply",
    "÷": "use / to divide",
    "−": "that is a Unicode minus sign; use the ASCII '-'",
    "–": "that is a dash; use the ASCII '-'",
    "—": "that is a dash; use the ASCII '-'",
    "'": "strings are not part of the language",
    '"': "strings are not part of the language",
    ".": "attribute access is not supported; numbers are written 1.5 or .5",
    "{": "use [ ] for vectors",
    "}": "use [ ] for vectors",
    ":": "only expressions and assignments (name = expression) are supported",
    "!": "there is no '!' operator",
    "&": "there are no bitwise or logical operators",
    "|": "there are no bitwise or logical operators",
    "%": "there is no '%' operator",
    "@": "there is no '@' operator; dot(a, b) is the inner product",
    "\0": "NUL bytes are not allowed in programs, not even in a comment",
    "\\": "there is no line continuation: newlines inside brackets are fine",
}


def _token_text(tok: Token) -> str:
    if tok.type == "$END":
        return "end of input"
    if tok.type == "_NL":
        return "end of line"
    kind = {"NUMBER": "number ", "NAME": "name "}.get(tok.type, "")
    return f"{kind}'{tok}'"


def _convert(err: UnexpectedInput, source: str, parse: Any) -> ParseError:
    pos = err.pos_in_stream if err.pos_in_stream is not None else len(source)
    line, column = err.line, err.column
    if isinstance(err, UnexpectedCharacters):
        ch = source[pos] if pos < len(source) else ""
        return ParseError(
            f"unexpected character {ch!r}",
            span=Span(pos, pos + 1, line, column),
            hint=_CHAR_HINTS.get(ch, "see README for the syntax"),
        )
    tok = err.token if isinstance(err, (UnexpectedToken, UnexpectedEOF)) else None
    if tok is None or tok.type == "$END" or isinstance(err, UnexpectedEOF):
        lines = source.split("\n")
        line, column, pos = len(lines), len(lines[-1]) + 1, len(source)
        what = "end of input"
    else:
        what = _token_text(tok)
        line, column = tok.line or line, tok.column or column
        pos = tok.start_pos if tok.start_pos is not None else pos
    label = None
    try:
        label = err.match_examples(parse, _EXAMPLES, use_accepts=True)
    except Exception:
        label = None
    hint = label
    if tok is not None and tok.type == "NAME" and pos > 0 and source[pos - 1].isdigit():
        hint = "a number needs an operator before a name (2*x, not 2x); exponents need digits (1e3)"
    elif tok is not None and tok.type == "NUMBER" and pos > 0 and source[pos - 1] in ".0123456789":
        hint = "a number has at most one decimal point"
    elif tok is not None and str(tok) == "=":
        hint = "assignments are `name = expression`, one per statement; there is no '=='"
    width = max(1, len(str(tok))) if tok is not None and tok.type not in ("$END", "_NL") else 1
    if hint is None:
        expected = sorted(getattr(err, "expected", None) or getattr(err, "accepts", None) or [])
        shown_expected = [e for e in expected if not e.startswith("_") and e != "$END"]
        if shown_expected:
            hint = "expected one of: " + ", ".join(_TERMINAL_NAMES.get(e, e) for e in shown_expected)
    return ParseError(f"unexpected {what}", span=Span(pos, pos + width, line, column), hint=hint)


_TERMINAL_NAMES = {
    "NUMBER": "a number",
    "NAME": "a name",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "POW": "'**'",
    "COMMA": "','",
    "SEMICOLON": "';'",
    "EQUAL": "'='",
}


def _run(source: str, allow_internal: bool) -> list[Statement]:
    parser = _parser(allow_internal)
    # Big programs allocate millions of small objects; the cyclic GC only slows that down.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return parser.parse(source)  # type: ignore[return-value]
    except UnexpectedInput as err:
        raise _convert(err, source, parser.parse).with_source(source) from None
    except GradcliError as err:
        raise err.with_source(source) from None
    finally:
        if was_enabled:
            gc.enable()


def _check_text(source: str) -> None:
    """One regex pass for what no program may contain, anywhere, comments included
    (gradcli.errors.UNPRINTABLE): control characters other than tab, newline and CR (an
    escape sequence in a comment would reach the terminal when a message or a table quotes
    the source), and lone surrogates (bytes that were not UTF-8, which Python keeps as
    surrogate escapes and no output stream could print back)."""
    match = UNPRINTABLE.search(source)
    if match is None:
        return
    pos = match.start()
    ch = match.group()
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    span = Span(pos, pos + 1, line, column)
    if "\ud800" <= ch <= "\udfff":
        raise ParseError(
            "the program is not valid UTF-8 text",
            span=span,
            source=source,
            hint="save the program as UTF-8; gradcli programs need only ASCII",
        )
    raise ParseError(
        f"unexpected character {ch!r}",
        span=span,
        source=source,
        hint=_CHAR_HINTS.get(
            ch,
            f"control characters (here U+{ord(ch):04X}) are not allowed anywhere "
            "in a program, not even in a comment",
        ),
    )


def parse(source: str) -> Program:
    """Parse a program (one or more statements) into a `Program`."""
    if len(source) > LIMITS.max_program_chars:
        raise exceeded(
            "max_program_chars",
            f"the program is {len(source):,} characters long; the limit is {LIMITS.max_program_chars:,}",
        )
    _check_text(source)
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
