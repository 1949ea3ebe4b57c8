"""Every resource limit, in one place. Each can be overridden by an environment
variable of the same name prefixed with GRADCLI_ (e.g. GRADCLI_MAX_PROGRAM_CHARS).

The defaults keep any input under them within seconds and a few GiB on a
2-core, 24 GiB machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get("GRADCLI_" + name)
    if raw is None:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class Limits:
    max_program_chars: int
    max_nodes: int
    max_statements: int
    max_array_elements: int
    max_forward_work: int
    max_forward_chunk_bytes: int
    max_explain_paths: int


def load() -> Limits:
    return Limits(
        # Source text of one program (2 MB: ~1e5-term sums fit with room to spare).
        max_program_chars=_env_int("MAX_PROGRAM_CHARS", 2_000_000),
        # Operations in the evaluated graph.
        max_nodes=_env_int("MAX_NODES", 1_000_000),
        max_statements=_env_int("MAX_STATEMENTS", 100_000),
        # Elements in any one array (bindings, literals, intermediates): 1e8 float64 = 800 MB.
        max_array_elements=_env_int("MAX_ARRAY_ELEMENTS", 100_000_000),
        # Forward mode: directions x elements summed over the graph, before it refuses
        # and suggests reverse mode.
        max_forward_work=_env_int("MAX_FORWARD_WORK", 2_000_000_000),
        # Forward mode: bytes of one dense tangent before directions are chunked.
        max_forward_chunk_bytes=_env_int("MAX_FORWARD_CHUNK_BYTES", 256 * 2**20),
        max_explain_paths=_env_int("MAX_EXPLAIN_PATHS", 50),
    )


LIMITS = load()
