"""One exception hierarchy, with messages written for a person.

Every user error is a `GradcliError`: the CLI prints `str(error)` (message, the
source line with a caret under the offending columns, and a hint) and exits with
`error.exit_code`. Nothing here ever shows a Python traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gradcli.spans import NO_SPAN, Span


class GradcliError(Exception):
    """Base class of every error caused by user input (exit code 2)."""

    exit_code = 2
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        span: Span = NO_SPAN,
        source: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.source = source
        self.hint = hint

    def with_source(self, source: str) -> GradcliError:
        if self.source is None:
            self.source = source
        return self

    def context(self) -> str:
        """The offending source line with carets under the span ('' when unknown)."""
        if self.source is None or self.span is NO_SPAN:
            return ""
        return caret_context(self.source, self.span)

    def __str__(self) -> str:
        parts = [f"{self.kind}: {escape(self.message)}"]
        ctx = self.context()
        if ctx:
            parts.append(ctx)
        if self.hint:
            parts.append(f"hint: {escape(self.hint)}")
        return "\n".join(parts)


class ParseError(GradcliError):
    kind = "syntax error"


class UnknownNameError(GradcliError):
    kind = "name error"


class ArityError(GradcliError):
    kind = "arity error"


class ProgramError(GradcliError):
    """Misuse of statements: re-assignment, assigning to an input, empty program."""

    kind = "program error"


class ShapeError(GradcliError):
    kind = "shape error"


class BindingError(GradcliError):
    """A missing, malformed or superfluous input binding."""

    kind = "binding error"


class UsageError(GradcliError):
    """A command called wrongly: options that do not go together, a file name it cannot write."""

    kind = "usage error"


class OutputError(GradcliError):
    """The output could not be written: an --export or --junit path, or stdout itself."""

    exit_code = 4
    kind = "output error"


class LimitError(GradcliError):
    """Input above one of the documented limits (see gradcli.limits)."""

    kind = "limit exceeded"


_MAX_SHOWN = 76  # columns of source shown around the caret
# Characters gradcli never echoes, and never accepts in a program (gradcli/parser.py): C0 and
# C1 control characters other than tab, newline and CR (an escape sequence in a comment would
# reach the terminal), DEL, and lone surrogates (bytes that were not UTF-8).
UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def escape(text: str) -> str:
    """`text` with its unprintable characters written as Python escapes (`\\x1b`): a message
    may quote a binding word or a file name as typed."""
    return UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], text)


def caret_context(source: str, span: Span) -> str:
    """Render `  3 | text` and a caret line; long lines are windowed around the span."""
    lines = source.split("\n")
    lineno = max(1, min(span.line, len(lines)))
    # one column per character, so the caret stays under its character
    text = UNPRINTABLE.sub("?", lines[lineno - 1]).replace("\t", " ").replace("\r", " ")
    col = max(0, span.column - 1)
    # The span may run past this line (multi-line nodes): underline to its end only.
    width = max(1, min(span.end - span.start, len(text) - col if col < len(text) else 1))
    offset = 0
    if len(text) > _MAX_SHOWN:
        offset = max(0, min(col - _MAX_SHOWN // 2, len(text) - _MAX_SHOWN))
        shown = text[offset : offset + _MAX_SHOWN]
        prefix = "…" if offset else ""
        suffix = "…" if offset + _MAX_SHOWN < len(text) else ""
        text = prefix + shown + suffix
        col = col - offset + len(prefix)
        width = min(width, _MAX_SHOWN - (col - len(prefix)))
    gutter = f"{lineno} | "
    return f"  {gutter}{text}\n  {' ' * len(gutter)}{' ' * col}{'^' * max(1, width)}"


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    import difflib  # only on error paths: not paid by every start

    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not matches:
        return None
    return "did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"
