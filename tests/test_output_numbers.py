"""Numbers as text: one rule for every command (gradcli/output/numbers.py)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from gradcli.cli.human import value_line
from gradcli.cli.main import app
from gradcli.output.numbers import SUMMARY_THRESHOLD, number_text, sci_text, shape_text, value_text

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    ("x", "precision", "text"),
    [
        (0.4121184852417566, 10, "0.4121184852"),
        (-5.466781571308061, 10, "-5.466781571"),
        (-5.466781571308061, 3, "-5.47"),
        (3.0, 10, "3"),
        (1e-20, 10, "1e-20"),
        (1 / 3, 17, "0.33333333333333331"),
        (123456789012.0, 10, "1.23456789e+11"),
        (-0.0, 10, "0"),
        (float("nan"), 10, "nan"),
        (float("inf"), 10, "inf"),
        (float("-inf"), 10, "-inf"),
    ],
)
def test_number_text(x: float, precision: int, text: str) -> None:
    assert number_text(x, precision) == text


def test_sci_text() -> None:
    assert [sci_text(v) for v in (0.0, 1.5e-12, float("nan"), 2.0)] == ["0", "1.5e-12", "nan", "2.0e+00"]


def test_arrays_full_summarised_and_constant() -> None:
    short = np.arange(SUMMARY_THRESHOLD, dtype=float)
    assert value_text(short, 5) == "[" + ", ".join(str(i) for i in range(SUMMARY_THRESHOLD)) + "]"
    long = np.arange(SUMMARY_THRESHOLD + 1, dtype=float)
    assert (
        value_text(long, 5) == f"({SUMMARY_THRESHOLD + 1},) [0, 1, 2, ..., {SUMMARY_THRESHOLD - 2}, "
        f"{SUMMARY_THRESHOLD - 1}, {SUMMARY_THRESHOLD}]"
    )
    assert value_text(long, 5, shape=False).startswith("[0, 1, 2, ...")
    assert value_text(np.full(3, 0.5), 5) == "(3,) all 0.5"
    assert value_text(np.full(3, 0.5), 5, shape=False) == "all 0.5"
    assert value_text(np.zeros(0), 5) == "[]"
    assert value_text(np.array([[1.0, 2.0], [3.0, 4.0]]), 5, one_line=True) == "[[1, 2], [3, 4]]"
    assert value_text(np.array([-0.0, 1.0]), 5) == "[0, 1]"
    assert value_text(np.float64(2.5), 10) == "2.5"
    assert value_text(np.array([[1.0, 2.0], [3.0, 4.0]]), 10) == "[[1, 2],\n [3, 4]]"
    assert shape_text(np.arange(100.0)) == "(100,)"
    assert shape_text(3.0) == ""


def test_value_line_aligns_rows() -> None:
    line = value_line(np.array([[10.0, 40.0], [30.0, 80.0]]), 10)
    first, second = line.split("\n")
    assert first == "value  [[10, 40],"
    assert second.index("[30") == first.index("[10")
    assert value_line(0.5, 10) == "value  0.5"


def test_negative_zero_is_zero_in_grad_and_explain_alike() -> None:
    grad_out = run("grad", "-x*0", "x=1")
    assert grad_out.splitlines()[0] == "value  0"
    assert "-0" not in grad_out
    explain_out = run("explain", "-x*0", "x=1")
    assert "-0" not in explain_out


def test_one_summary_threshold_for_grad_and_explain() -> None:
    n = SUMMARY_THRESHOLD + 1
    binding = f"x=linspace(1, 2, {n})"
    grad_out = run("grad", "sum(x**2)", binding)
    explain_out = run("explain", "sum(x**2)", binding)
    for out in (grad_out, explain_out):
        assert "..." in out
    n = SUMMARY_THRESHOLD
    binding = f"x=linspace(1, 2, {n})"
    for out in (run("grad", "sum(x**2)", binding), run("explain", "sum(x**2)", binding)):
        assert "..." not in out
