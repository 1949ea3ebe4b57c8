"""The README's Limits table tells the truth about gradcli/limits.py, and the variables work."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from gradcli import limits

README = Path(__file__).parent.parent / "README.md"


def _table() -> dict[str, str]:
    """Variable -> default cell, from the README's Limits table."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Limits") :]
    section = section[: section.index("\n## ", 3)]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2].startswith("`GRADCLI_"):
            rows[cells[2].strip("`")] = cells[1]
    return rows


def _number(cell: str) -> float:
    """'1,000,000 characters' -> 1e6, '10,000,000 (80 MB)' -> 1e7, '64 MiB' -> 2**26, '2e9' -> 2e9."""
    match = re.match(r"([\d,]+(?:\.\d+)?(?:e\d+)?)\s*(MiB)?", cell)
    assert match, cell
    value = float(match.group(1).replace(",", ""))
    return value * 2**20 if match.group(2) else value


def test_every_limit_is_in_the_readme_with_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for f in fields(limits.Limits):
        monkeypatch.delenv("GRADCLI_" + f.name.upper(), raising=False)
    defaults = limits.load()
    table = _table()
    for f in fields(limits.Limits):
        variable = "GRADCLI_" + f.name.upper()
        assert variable in table, f"{variable} is not in the README's Limits table"
        assert _number(table[variable]) == getattr(defaults, f.name), variable
    assert len(table) == len(fields(limits.Limits))


def test_a_variable_overrides_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADCLI_MAX_ARRAY_ELEMENTS", "1e3")
    monkeypatch.setenv("GRADCLI_MAX_ARRAY_DIMS", "100")  # numpy's tangents cap it at 32
    monkeypatch.setenv("GRADCLI_MAX_STATEMENTS", "not a number")  # ignored: the default stays
    loaded = limits.load()
    assert loaded.max_array_elements == 1000
    assert loaded.max_array_dims == 32
    assert loaded.max_statements == 100_000
