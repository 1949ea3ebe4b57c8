"""Number literals: the float64 of a decimal number, or an error when float64 cannot hold it."""

from __future__ import annotations

import math

from gradcli.errors import LimitError
from gradcli.spans import NO_SPAN, Span


def check_float(text: str, span: Span = NO_SPAN) -> float:
    """The float64 of a number written in decimal, or a LimitError when float64 cannot hold it:
    too large (1e999 is not infinity) or too small (1e-400 is not 0), alike."""
    value = float(text)
    if value == math.inf:
        raise LimitError(
            f"the number {shorten(text)} is too large for a float64 (the largest is about 1.8e308)",
            span=span,
            hint="numbers that overflow are errors, not infinity; exp(1000) gives inf with a warning",
        )
    if value == 0 and any(d in text.lower().split("e")[0] for d in "123456789"):
        raise LimitError(
            f"the number {shorten(text)} is too small for a float64 (the smallest is about 4.9e-324)",
            span=span,
            hint="numbers that underflow are errors, not 0; write 0 for zero; exp(-1000) gives 0",
        )
    return value


def shorten(text: str, width: int = 40) -> str:
    """At most about `width` characters of `text`: its two ends around an ellipsis."""
    return text if len(text) <= width else text[: width // 2] + "…" + text[-(width // 2) :]
