"""Syntax errors: Lark's error for a program the grammar rejects, as a ParseError with a
caret under the bad column and a hint (Lark's match_examples names the usual mistakes).

Also the one pass over the text for characters no program may contain (`check_text`)."""

from __future__ import annotations

from typing import Any

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from gradcli.errors import UNPRINTABLE, ParseError
from gradcli.spans import Span

# Error examples for Lark's match_examples: the parser state decides the label.
EXAMPLES: dict[str, list[str]] = {
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
    "an opening bracket is never closed": [
        "(1",
        "sin(1",
        "((1)",
        "[1, 2",
        "f(1, 2",
        "sin(x",
        "f(x, y",
        "[x",
        "(x",
    ],
    "a closing bracket has no opening one": ["1)", ")", "1]", "(1))"],
    "two values with no operator between them": ["1 2", "x y", "2 x", "(1)(2)", "2(x)", "x(1)(2)"],
    "an index is a whole number written in the program: x[0], x[-1], W[:, 1], x[1:3]": [
        "x[y]",
        "x[1 + 1]",
        "x[(1)]",
        "x[0, y]",
        "x[1:y]",
    ],
    "a '.' starts a number (1.5, .5) or the transpose W.T; there is no other attribute": [
        ".",
        ".e1",
        "x + .",
    ],
    "comparisons do not chain: write (a < b)*(b < c)": ["1 < 2 < 3", "x == y == z", "a <= b > c"],
    "attribute access is not supported (the one attribute is .T, the transpose)": [
        "a.b(1)",
        "x.T(1)",
        "a.b.c(2)",
    ],
}

CHAR_HINTS = {
    "×": "use * to multiply",
    "·": "use * to multiply",
    "÷": "use / to divide",
    "−": "that is a Unicode minus sign; use the ASCII '-'",
    "–": "that is a dash; use the ASCII '-'",
    "—": "that is a dash; use the ASCII '-'",
    "'": "strings are not part of the language",
    '"': "strings are not part of the language",
    ".": "attribute access is not supported (the one attribute is .T); numbers are written 1.5 or .5",
    "{": "use [ ] for vectors",
    "}": "use [ ] for vectors",
    ":": "only expressions and assignments (name = expression) are supported; ':' is for slices x[1:3]",
    "!": "there is no '!' operator; != compares",
    "&": "there are no bitwise or logical operators",
    "|": "there are no bitwise or logical operators",
    "%": "there is no '%' operator",
    "²": "write powers with **: x**2",
    "³": "write powers with **: x**3",
    "√": "write square roots as sqrt(x)",
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


def convert(err: UnexpectedInput, source: str, parse: Any) -> ParseError:
    pos = err.pos_in_stream if err.pos_in_stream is not None else len(source)
    line, column = err.line, err.column
    if isinstance(err, UnexpectedCharacters):
        ch = source[pos] if pos < len(source) else ""
        return ParseError(
            f"unexpected character {ch!r}",
            span=Span(pos, pos + 1, line, column),
            hint=CHAR_HINTS.get(ch, "see README for the syntax"),
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
        label = err.match_examples(parse, EXAMPLES, use_accepts=True)
    except Exception:
        label = None
    hint = label
    if tok is not None and tok.type == "NAME" and pos > 0 and source[pos - 1].isdigit():
        hint = "a number needs an operator before a name (2*x, not 2x); exponents need digits (1e3)"
    elif tok is not None and tok.type == "NUMBER" and pos > 0 and source[pos - 1] in ".0123456789":
        hint = "a number has at most one decimal point"
    elif tok is not None and str(tok) == "=":
        hint = "assignments are `name = expression`, one per statement; == compares"
    width = max(1, len(str(tok))) if tok is not None and tok.type not in ("$END", "_NL") else 1
    if hint is None:
        expected = sorted(getattr(err, "expected", None) or getattr(err, "accepts", None) or [])
        shown_expected = [e for e in expected if not e.startswith("_") and e != "$END"]
        if shown_expected:
            hint = "expected one of: " + ", ".join(TERMINAL_NAMES.get(e, e) for e in shown_expected)
    return ParseError(f"unexpected {what}", span=Span(pos, pos + width, line, column), hint=hint)


TERMINAL_NAMES = {
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
    "AT": "'@'",
    "DOT": "'.'",
    "COLON": "':'",
    "COMPARE": "a comparison (< <= > >= == !=)",
}


def check_text(source: str) -> None:
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
        hint=CHAR_HINTS.get(
            ch,
            f"control characters (here U+{ord(ch):04X}) are not allowed anywhere "
            "in a program, not even in a comment",
        ),
    )
