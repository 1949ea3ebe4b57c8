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


def _trigger(field: str, tmp_path: Path) -> None:
    """Go over the limit `field` (set to a small value by the caller)."""
    import numpy as np

    from gradcli.api import evaluate, grad
    from gradcli.bindings import parse_binding
    from gradcli.lang.parser import parse

    if field == "max_program_chars":
        parse("x" + " + x" * 10)
    elif field == "max_statements":
        parse("a = 1; b = 2; c = 3; a + b + c")
    elif field == "max_nodes":
        evaluate("x + x + x + x + x + x + x", x=1.0)
    elif field == "max_array_elements":
        parse_binding("x=linspace(0, 1, 10)")
    elif field == "max_total_elements":
        grad("x*x*x*x", x=np.ones(5))
    elif field == "max_array_dims":
        evaluate("x", x=np.zeros((1, 1, 1)))
    elif field == "max_text_file_bytes":
        (tmp_path / "v.txt").write_text("1 2 3 4 5 6 7 8 9", encoding="utf-8")
        parse_binding(f"x=@{tmp_path / 'v.txt'}")
    elif field == "max_forward_work":
        grad("a*b*c*d", a=1.0, b=2.0, c=3.0, d=4.0, mode="forward")
    else:
        raise AssertionError(field)


SMALL = {
    "max_program_chars": 10,
    "max_statements": 2,
    "max_nodes": 5,
    "max_array_elements": 5,
    "max_total_elements": 10,
    "max_array_dims": 2,
    "max_text_file_bytes": 4,
    "max_forward_work": 5,
}


@pytest.mark.parametrize(("field", "value"), sorted(SMALL.items()))
def test_a_limit_error_names_its_variable(
    field: str, value: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradcli.errors import LimitError

    monkeypatch.setattr(limits.LIMITS, field, value)
    with pytest.raises(LimitError) as info:
        _trigger(field, tmp_path)
    assert "GRADCLI_" + field.upper() in str(info.value)


def test_vector_literal_depth_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcli.bindings import parse_binding
    from gradcli.errors import LimitError

    monkeypatch.setattr(limits.LIMITS, "max_array_dims", 2)
    with pytest.raises(LimitError, match="dimensions") as info:
        parse_binding("x=[[[1]]]")
    assert "GRADCLI_MAX_ARRAY_DIMS" in str(info.value)


def test_limit_messages_say_what_and_how_much(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcli import evaluate
    from gradcli.errors import LimitError

    with pytest.raises(LimitError, match="array size limit"):
        evaluate("linspace(0, 1, 1e12)")
    monkeypatch.setattr(limits.LIMITS, "max_program_chars", 10)
    with pytest.raises(LimitError, match="17 characters long; the limit is 10"):
        evaluate("1 + 2 + 3 + 4 + 5")
    monkeypatch.setattr(limits.LIMITS, "max_program_chars", 1000)
    monkeypatch.setattr(limits.LIMITS, "max_array_elements", 100)
    with pytest.raises(LimitError, match=r"shape \(20, 20\) \(400 elements, limit 100\)"):
        evaluate("x + y", x=[1.0] * 20, y=[[1.0]] * 20)
