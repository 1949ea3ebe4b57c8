"""Every resource limit, in one place. Each can be overridden by an environment
variable of the same name prefixed with GRADCLI_ (e.g. GRADCLI_MAX_PROGRAM_CHARS).

The defaults keep any input under them within about 20 s and 3 GB on a 2-core,
24 GiB machine (the measured worst cases are in the README's Limits section).
Above a limit, the input gets a LimitError (exit 2) naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from gradcli.errors import LimitError
from gradcli.spans import NO_SPAN, Span


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get("GRADCLI_" + name)
    if raw is None:
        return default
    try:
        value = int(float(raw))
    except (ValueError, OverflowError):  # "abc", "inf", "1e400"
        value = 0
    if value <= 0:
        # A start-up warning, not an error: the command still runs, with the default.
        import sys

        sys.stderr.write(
            f"warning: GRADCLI_{name}={raw!r} is not a positive whole number; using the default {default:,}\n"
        )
        return default
    return value


@dataclass
class Limits:
    """Mutable so that tests (and embedders) can lower a limit in place for every module."""

    max_program_chars: int
    max_nodes: int
    max_statements: int
    max_array_elements: int
    max_total_elements: int
    max_array_dims: int
    max_text_file_bytes: int
    max_forward_work: int
    max_forward_chunk_bytes: int
    max_explain_paths: int
    max_check_fd_work: int
    max_matrix_work: int


def load() -> Limits:
    return Limits(
        # Source text of one program: 4 MB. The parser stops at the operations limit, so the
        # longest programs cost no more than a program of 1,000,000 operations (README, Limits).
        max_program_chars=_env_int("MAX_PROGRAM_CHARS", 4_000_000),
        # Operations in the evaluated graph.
        max_nodes=_env_int("MAX_NODES", 1_000_000),
        max_statements=_env_int("MAX_STATEMENTS", 100_000),
        # Elements in any one array (bindings, literals, intermediates): 1e7 float64 = 80 MB.
        max_array_elements=_env_int("MAX_ARRAY_ELEMENTS", 10_000_000),
        # Elements of all the values one evaluation keeps (reverse mode keeps every
        # intermediate): 1e8 float64 = 800 MB, a few GB at the peak of a gradient.
        max_total_elements=_env_int("MAX_TOTAL_ELEMENTS", 100_000_000),
        # Dimensions of an array (nested vector literals, .npy files). At most 32: forward
        # mode's dense tangents have the input's dimensions plus the value's, and numpy
        # stops at 64.
        max_array_dims=min(32, _env_int("MAX_ARRAY_DIMS", 32)),
        # Bytes of a text file of numbers (x=@values.txt); .npy files are limited by
        # their element count instead.
        max_text_file_bytes=_env_int("MAX_TEXT_FILE_BYTES", 64 * 2**20),
        # Forward mode: directions x elements summed over the graph, before it refuses
        # and suggests reverse mode.
        max_forward_work=_env_int("MAX_FORWARD_WORK", 2_000_000_000),
        # Forward mode: bytes of the dense tangents alive at once before directions are chunked.
        max_forward_chunk_bytes=_env_int("MAX_FORWARD_CHUNK_BYTES", 256 * 2**20),
        max_explain_paths=_env_int("MAX_EXPLAIN_PATHS", 50),
        # Multiply-adds of one matrix operation (m·k·n for a @ b, n³ for det, inv, logdet):
        # an array of a few million elements is cheap, their product is not (about 2 s on
        # 2 cores at the limit).
        max_matrix_work=_env_int("MAX_MATRIX_WORK", 4_000_000_000),
        # `check`: element-operations spent on the finite differences of one input before
        # they are taken on an evenly spaced sample of its elements.
        max_check_fd_work=_env_int("MAX_CHECK_FD_WORK", 500_000_000),
    )


LIMITS = load()


def variable(limit: str) -> str:
    """The environment variable of a limit: `max_nodes` -> `GRADCLI_MAX_NODES`."""
    assert limit in {f.name for f in fields(Limits)}, limit
    return "GRADCLI_" + limit.upper()


def exceeded(
    limit: str, message: str, *, span: Span = NO_SPAN, source: str | None = None, advice: str = ""
) -> LimitError:
    """The error for input above limit `limit` (a field of `Limits`): the message, and a hint
    naming the variable that raises it (after `advice`, when there is some)."""
    hint = f"set {variable(limit)} to raise it"
    return LimitError(message, span=span, source=source, hint=f"{advice}; {hint}" if advice else hint)
