"""Text from untrusted input never carries a control character back to the terminal: a
program may not contain one anywhere (comments included), the quoted source line under
an error never echoes one, and messages escape the ones they quote (a binding word)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.api import grad
from gradcli.errors import UNPRINTABLE, BindingError, ParseError, caret_context
from gradcli.lang.ast import Span
from gradcli.lang.parser import parse

CONTROLS = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))]


def test_the_set_is_c0_c1_and_del_but_tab_newline_and_cr() -> None:
    every = {chr(c) for c in range(0x100)}
    assert {ch for ch in every if UNPRINTABLE.match(ch)} == set(CONTROLS)
    assert UNPRINTABLE.match("\udcff")  # a byte that was not UTF-8
    assert not UNPRINTABLE.search("x\t+ 1\r\n# é ∂ ×")


@pytest.mark.parametrize("ch", CONTROLS)
@pytest.mark.parametrize("template", ["x # {}", "x + 1 # a comment {} here", "{}x", "a = x\n# {}\na"])
def test_a_control_character_anywhere_is_a_syntax_error_with_caret_and_hint(template: str, ch: str) -> None:
    source = template.format(ch)
    with pytest.raises(ParseError) as info:
        parse(source)
    err = info.value
    pos = source.index(ch)
    assert (err.span.start, err.span.end) == (pos, pos + 1)
    assert err.message == f"unexpected character {ch!r}"
    assert err.hint and ("control characters" in err.hint or "NUL" in err.hint)
    text = str(err)
    assert not UNPRINTABLE.search(text.replace("\n", ""))
    line = source.split("\n")[err.span.line - 1]
    quoted, carets = text.split("\n")[1:3]
    assert quoted == f"  {err.span.line} | " + line.replace(ch, "?")
    assert carets.index("^") == quoted.index("|") + 2 + line.index(ch)  # under the character


def test_tab_newline_and_crlf_are_still_fine() -> None:
    assert grad("a = x\t* 2 # tab\r\n# é\r\na + 1", x=3.0).gradient["x"] == 2.0


def test_the_first_offender_is_reported_with_its_line_and_column() -> None:
    with pytest.raises(ParseError) as info:
        parse("x\ny # ok\nz # \x1b[31m \x07")
    assert (info.value.span.line, info.value.span.column) == (3, 5)


def test_not_utf8_is_still_its_own_message() -> None:
    with pytest.raises(ParseError, match="not valid UTF-8"):
        parse("x # \udcff")


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(max_codepoint=0x2FF), max_size=60),
    st.integers(min_value=0, max_value=80),
    st.integers(min_value=1, max_value=3),
)
def test_caret_context_never_echoes_a_control_character(text: str, column: int, lines: int) -> None:
    source = "\n".join([text] * lines)
    shown = caret_context(source, Span(column, column + 1, lines, column + 1))
    assert not UNPRINTABLE.search(shown.replace("\n", "", 1))
    assert shown.count("\n") == 1  # one quoted line, one caret line


def test_messages_escape_what_they_quote() -> None:
    err = BindingError("'\x1b]0;pwned\x07' is not a binding", hint="not \x9b either")
    assert str(err) == "binding error: '\\x1b]0;pwned\\x07' is not a binding\nhint: not \\x9b either"
