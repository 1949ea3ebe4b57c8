"""Command-line inputs (gradcli.bindings), human rendering (gradcli.cli.human) and the
forward/reverse agreement test of `--mode both` (gradcli.check.both)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradcli.bindings import parse_binding, read_program
from gradcli.errors import BindingError, GradcliError, LimitError, ParseError

# --------------------------------------------------------------------------
# parse_binding


@pytest.mark.parametrize(
    ("word", "name", "expected"),
    [
        ("x=3", "x", 3.0),
        ("x=-1.5", "x", -1.5),
        ("x=pi/4", "x", math.pi / 4),
        ("alpha_2 = 2**-1", "alpha_2", 0.5),
        ("x=[1,2,3]", "x", [1.0, 2.0, 3.0]),
        ("x=[[1, 2], [3, 4]]", "x", [[1.0, 2.0], [3.0, 4.0]]),
        ("x=linspace(0, 1, 5)", "x", [0.0, 0.25, 0.5, 0.75, 1.0]),
        ("x=arange(0, 1, 0.25)", "x", [0.0, 0.25, 0.5, 0.75]),
        ("x=sqrt(2)", "x", math.sqrt(2)),
    ],
)
def test_binding_values(word: str, name: str, expected: Any) -> None:
    got_name, value = parse_binding(word)
    assert got_name == name
    assert np.asarray(value, dtype=float) == pytest.approx(np.asarray(expected), rel=1e-15)


@pytest.mark.parametrize(
    ("word", "error", "fragment"),
    [
        ("x", BindingError, "not a binding"),
        ("=3", BindingError, "not a binding"),
        ("2x=3", BindingError, "not a binding"),
        ("x-y=3", BindingError, "not a binding"),
        ("x=", BindingError, "no value"),
        ("x=  ", BindingError, "no value"),
        ("x=y", BindingError, "must be a constant"),
        ("x=1 +", ParseError, "in the value of 'x'"),
        ("x=linspace(0, 1, 1e12)", LimitError, "array size limit"),
        ("x=arange(0, 1e12, 1)", LimitError, "array size limit"),
        ("x=linspace(0, 1, 2.5)", GradcliError, "whole number"),
    ],
)
def test_binding_errors(word: str, error: type[GradcliError], fragment: str) -> None:
    with pytest.raises(error) as info:
        parse_binding(word)
    assert fragment in str(info.value)
    assert info.value.exit_code == 2


def test_binding_value_error_has_caret() -> None:
    with pytest.raises(ParseError) as info:
        parse_binding("x=[1, 2 3]")
    lines = str(info.value).splitlines()
    src = next(i for i, line in enumerate(lines) if " | " in line)
    assert lines[src].endswith("[1, 2 3]")
    gutter = lines[src].index(" | ") + 3
    assert lines[src + 1].index("^") - gutter == len("[1, 2 ")


def test_npy_binding(tmp_path: Path) -> None:
    path = tmp_path / "v.npy"
    np.save(path, np.arange(6, dtype=np.int32).reshape(2, 3))
    name, value = parse_binding(f"w=@{path}")
    assert name == "w"
    assert value.dtype == np.float64
    assert value.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_npy_binding_refuses_pickles_and_non_numbers(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BindingError):
        parse_binding(f"x=@{path}")
    text = tmp_path / "strings.npy"
    np.save(text, np.array(["a", "b"]))
    with pytest.raises(BindingError, match=r"strings\.npy"):
        parse_binding(f"x=@{text}")


def test_txt_binding(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("1,2, 3\n\t-4.5e0  5\n")
    assert parse_binding(f"x=@{path}")[1].tolist() == [1.0, 2.0, 3.0, -4.5, 5.0]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "holds no numbers"), (b"1 2 x", "not a number"), (b"\xff\xfe1", "not UTF-8")],
)
def test_txt_binding_errors(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "v.txt"
    path.write_bytes(content)
    with pytest.raises(BindingError, match=fragment):
        parse_binding(f"x=@{path}")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BindingError, match="No such file"):
        parse_binding(f"x=@{tmp_path / 'nothing.npy'}")
    with pytest.raises(BindingError, match="cannot read"):
        parse_binding(f"x=@{tmp_path / 'nothing.txt'}")


# --------------------------------------------------------------------------
# read_program


def test_read_program_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_program("x**2") == "x**2"
    path = tmp_path / "p.gc"
    path.write_text("y = x\ny*2\n")
    assert read_program(f"@{path}") == "y = x\ny*2\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("sin(x)\n"))
    assert read_program("-") == "sin(x)\n"
    with pytest.raises(BindingError, match="cannot read program file"):
        read_program(f"@{tmp_path}")  # a directory


def test_read_program_stdin_not_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe"), encoding="utf-8"))
    with pytest.raises(BindingError, match="not UTF-8"):
        read_program("-")


def test_text_files_rows_comments_and_a_header(tmp_path: Path) -> None:
    """Issue 15: rows of several numbers are a matrix, '#' starts a comment, a header of names
    is skipped with a note."""
    from gradcli.bindings import NOTES, parse_binding

    matrix = tmp_path / "m.txt"
    matrix.write_text("1 2 3\n4 5 6  # the second row\n")
    _, value = parse_binding(f"x=@{matrix}")
    assert np.shape(value) == (2, 3) and value[1, 2] == 6.0
    header = tmp_path / "h.csv"
    header.write_text("# exported\na,b\n1,2\n3,4\n")
    NOTES.clear()
    _, value = parse_binding(f"x=@{header}")
    assert np.shape(value) == (2, 2) and "header of names" in NOTES[0]
    column = tmp_path / "c.txt"
    column.write_text("1\n2\n3\n")
    assert np.shape(parse_binding(f"x=@{column}")[1]) == (3,)


def test_inf_and_nan_bindings_and_hints() -> None:
    from gradcli.bindings import parse_binding
    from gradcli.errors import GradcliError

    assert parse_binding("x=inf")[1] == float("inf") and parse_binding("x=-inf")[1] == float("-inf")
    assert np.isnan(parse_binding("x=nan")[1])
    with pytest.raises(GradcliError) as info:
        parse_binding("x=1,2,3")
    assert info.value.hint == "several numbers are a vector in brackets: x=[1,2,3]"


def test_names_from_other_tools_get_a_hint() -> None:
    from gradcli import grad
    from gradcli.errors import GradcliError

    with pytest.raises(GradcliError) as info:
        grad("ln(x)", x=1.0)
    assert info.value.hint == "did you mean 'log'?"
    with pytest.raises(GradcliError) as info:
        grad("x²", x=1.0)
    assert info.value.hint == "write powers with **: x**2"
