"""`--at FILE`: many points in one call. Each row's result against a call of its own (the
vectorized pass must equal the row-by-row route), CSV and JSON Lines in and out, bad rows by
number, a name bound twice, and check's one test case per row."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from gradcli import grad
from gradcli.api import Compiled
from gradcli.batch import read_rows, run
from gradcli.cli.main import app

TUTORIAL = "z = w*x + b; y_pred = sigmoid(z); bce(y_pred, y)"


def _run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def test_the_vectorized_pass_equals_one_call_per_row() -> None:
    rng = np.random.default_rng(5)
    text = "x,y\n" + "\n".join(f"{rng.normal():.6f},{rng.integers(0, 2)}" for _ in range(200))
    _, rows = read_rows(text)
    results, vectorized = run(Compiled(TUTORIAL), {"w": 1.0, "b": 0.0}, rows, gradient=True, wrt="w,b")
    assert vectorized
    for res in results[::17]:
        one = grad(TUTORIAL, {"w": 1.0, "b": 0.0, **res.row.values}, wrt="w,b")
        assert res.value == pytest.approx(one.value, rel=1e-14)
        for name in ("w", "b"):
            assert res.gradient[name] == pytest.approx(one.gradient[name], rel=1e-13, abs=1e-15)
    # a program that is not element-wise in the rows goes row by row, with the same answers
    results, vectorized = run(Compiled("mean([x, y*x])"), {}, rows[:5], gradient=True)
    assert not vectorized
    assert results[0].gradient["x"] == pytest.approx((1 + rows[0].values["y"]) / 2)


def test_the_notebooks_numbers_in_a_csv_row() -> None:
    out = _run(
        "grad", TUTORIAL, "w=1", "b=0", "--wrt", "w,b", "--at", "-", "--format", "csv", stdin="x,y\n6.7,0\n"
    )
    assert out.exit_code == 0, out.output
    table = list(csv.DictReader(io.StringIO(out.stdout)))
    assert float(table[0]["d/dw"]) == pytest.approx(6.691763029237442, rel=1e-14)
    assert float(table[0]["d/db"]) == pytest.approx(0.9987706013787226, rel=1e-14)


def test_jsonl_bad_rows_and_names_bound_twice() -> None:
    lines = '{"x": 6.7, "y": 0}\n{"x": "a", "y": 0}\n{"x": 1, "y": 1, "w": 3}\n'
    out = _run("grad", TUTORIAL, "w=1", "b=0", "--at", "-", "--format", "jsonl", stdin=lines)
    assert out.exit_code == 2
    objs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [o["row"] for o in objs] == [1, 2, 3]
    assert "value" in objs[0] and "error" in objs[1] and "binds 'w'" in objs[2]["error"]
    assert "row 2 (line 2)" in out.stderr
    out = _run("grad", TUTORIAL, "w=1", "b=0", "--at", "-", "--fail-fast", "--format", "jsonl", stdin=lines)
    assert out.exit_code == 2 and len(out.stdout.splitlines()) == 1


def test_eval_and_nan_rows() -> None:
    out = _run("eval", "log(x)", "--at", "-", "--format", "csv", stdin="x\n1\n-1\n")
    assert out.exit_code == 0
    assert "row 2: NaN or infinite" in out.stderr
    assert out.stdout.splitlines()[2].startswith("2,-1.0,nan")


def test_check_at_one_testcase_per_row(tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    points.write_text("x,y\n6.7,0\n1,1\n")
    junit = tmp_path / "report.xml"
    out = _run(
        "check", TUTORIAL, "w=1", "b=0", "--wrt", "w,b", "--manual", "w: (y_pred - y)*x", "--manual", "b: y_pred - y",
        "--at", str(points), "--junit", str(junit),
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    xml = junit.read_text()
    assert xml.count("<testcase") == 2 and 'name="row 2"' in xml
    out = _run("check", TUTORIAL, "w=1", "b=0", "--manual", "w: y_pred*x", "--wrt", "w", "--at", str(points))
    assert out.exit_code == 1
