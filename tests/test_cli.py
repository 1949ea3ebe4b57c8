"""The command line: every command and option, exit codes, JSON, colour, errors with carets.

Gradients are checked against hand-derived formulas or central finite differences
(tests/gradcheck.py), never against gradcli's own output.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from faults import skew_forward
from gradcheck import numeric_gradient
from typer.testing import CliRunner, Result

from gradcli import __version__
from gradcli.cli.main import app, main
from gradcli.primitives import PRIMITIVES

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOX = set("─│┃━┏┓┗┛╭╮╰╯┼┬┴├┤═║")
# Tests must not depend on the colour settings of the shell that runs them.
CLEAN_ENV: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None}


def run(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input, env={**CLEAN_ENV, **(env or {})})


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def as_json(*args: str, input: str | None = None, code: int = 0) -> dict[str, Any]:
    """Run with --json; stdout must be exactly one JSON object on one line."""
    result = run(*args, "--json", input=input)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout.count("\n") == 1 and result.stdout.endswith("\n")
    obj = json.loads(result.stdout, parse_constant=_no_constants)  # strict JSON: no NaN/Infinity
    assert isinstance(obj, dict)
    return obj


def _no_constants(name: str) -> Any:
    raise AssertionError(f"{name} literal in JSON output")


def user_error(*args: str, input: str | None = None) -> str:
    """A user error: exit 2, nothing on stdout, no traceback; returns stderr."""
    result = run(*args, input=input)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    return result.stderr


def caret_column(stderr: str) -> int:
    """0-based column, in the shown source line, of the first caret."""
    lines = stderr.splitlines()
    i = next(i for i, line in enumerate(lines) if " | " in line)
    gutter = lines[i].index(" | ") + 3
    return lines[i + 1].index("^") - gutter


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# --------------------------------------------------------------------------
# The notebook's numbers, through the command line.


def test_notebook_sin_of_square() -> None:
    obj = as_json("grad", "sin(x**2)", "x=3")
    assert obj["value"] == pytest.approx(0.41211848524, abs=1e-11)
    assert obj["gradient"]["x"] == pytest.approx(2 * 3 * math.cos(9), rel=1e-14)  # dz/dx = 2x cos(x^2)
    assert obj["gradient"]["x"] == pytest.approx(-5.466781571308061, rel=1e-14)
    assert obj["inputs"] == {"x": 3.0}
    assert obj["mode"] == "reverse"
    assert obj["program"] == "sin(x**2)"
    assert obj["warnings"] == []


def test_notebook_bce_of_sigmoid_wrt_w_b() -> None:
    obj = as_json("grad", "bce(sigmoid(w*x+b), y)", "x=6.7", "y=0", "w=1", "b=0", "--wrt", "w,b")
    p = sigmoid(1 * 6.7 + 0)
    assert obj["value"] == pytest.approx(-math.log(1 - p), rel=1e-12)  # y = 0: loss = -log(1 - p)
    assert round(obj["value"], 4) == 6.7012
    # dL/dz = p - y; dz/dw = x, dz/db = 1.
    assert set(obj["gradient"]) == {"w", "b"}
    assert obj["gradient"]["w"] == pytest.approx((p - 0) * 6.7, rel=1e-9)
    assert obj["gradient"]["b"] == pytest.approx(p - 0, rel=1e-9)
    assert round(obj["gradient"]["w"], 4) == 6.6918
    assert round(obj["gradient"]["b"], 4) == 0.9988
    assert obj["inputs"] == {"w": 1.0, "x": 6.7, "b": 0.0, "y": 0.0}


def test_notebook_mean_of_squares() -> None:
    obj = as_json("grad", "mean(x**2)", "x=[1,2,3]")
    assert obj["value"] == pytest.approx(14 / 3, rel=1e-15)
    assert round(obj["value"], 4) == 4.6667
    assert obj["gradient"]["x"] == pytest.approx([2 * 1 / 3, 2 * 2 / 3, 2 * 3 / 3], rel=1e-15)
    assert [round(g, 4) for g in obj["gradient"]["x"]] == [0.6667, 1.3333, 2.0]
    assert obj["inputs"]["x"] == [1.0, 2.0, 3.0]


def test_notebook_human_output() -> None:
    out = ok("grad", "sin(x**2)", "x=3").stdout
    assert out.splitlines()[0] == "value  0.4121184852"  # 10 significant digits by default
    row = next(line for line in out.splitlines() if line.startswith("x "))
    assert row.split() == ["x", "3", "-5.466781571"]
    assert "input" in out and "gradient" in out


# --------------------------------------------------------------------------
# grad and eval options.


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_modes_against_finite_differences(mode: str) -> None:
    program = "sum(tanh(w*x) * exp(-x/2))"
    obj = as_json("grad", program, "x=[0.5, -1, 2]", "w=1.3", "--mode", mode)
    assert obj["mode"] == mode
    point = {"x": [0.5, -1.0, 2.0], "w": 1.3}
    for name in ("x", "w"):
        assert np.allclose(
            obj["gradient"][name], numeric_gradient(program, point, name), rtol=1e-7, atol=1e-9
        )


def test_mode_both_agrees() -> None:
    obj = as_json("grad", "sin(x)*y", "x=0.3", "y=2", "--mode", "both")
    assert obj["mode"] == "both"
    assert obj["agree"] is True
    assert obj["gradient"]["x"] == pytest.approx(2 * math.cos(0.3), rel=1e-15)
    assert obj["forward_gradient"]["x"] == pytest.approx(2 * math.cos(0.3), rel=1e-15)
    assert obj["gradient"]["y"] == pytest.approx(math.sin(0.3), rel=1e-15)
    out = ok("grad", "sin(x)*y", "x=0.3", "y=2", "--mode", "both").stdout
    assert "reverse" in out and "forward" in out and "agree" in out


def test_mode_both_disagreement_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    skew_forward(monkeypatch, 1e-6)
    obj = as_json("grad", "x**3", "x=2", "--mode", "both", code=1)
    assert obj["agree"] is False
    result = run("grad", "x**3", "x=2", "--mode", "both")
    assert result.exit_code == 1
    assert "disagree" in result.stderr and "'x'" in result.stderr
    assert "Traceback" not in result.stderr
    # A difference at the level of rounding is agreement.
    monkeypatch.undo()
    skew_forward(monkeypatch, 1e-14)
    assert run("grad", "x**3", "x=2", "--mode", "both").exit_code == 0


@pytest.mark.parametrize("program", ["x*0.1 - x*0.1 + x*1e-12", "tanh(exp(x*x)) + 0.3*x - 0.3*x"])
def test_mode_both_accepts_rounding_in_a_cancellation(program: str) -> None:
    # Terms of size 0.1 cancel to ~1e-12: the modes differ by an ulp of 0.1, which is rounding
    # (the rule `check` uses), not a disagreement.
    obj = as_json("grad", program, "x=1.7", "--mode", "both")
    assert obj["agree"] is True
    assert obj["gradient"]["x"] != obj["forward_gradient"]["x"]  # they really do differ
    if "1e-12" in program:
        assert obj["gradient"]["x"] == pytest.approx(1e-12, rel=1e-4)
        assert obj["forward_gradient"]["x"] == pytest.approx(1e-12, rel=1e-4)
    out = ok("grad", program, "x=1.7", "--mode", "both").stdout
    assert "agree to rounding" in out
    check = run("check", program, "x=1.7")
    assert check.exit_code == 0, check.stderr


def test_wrt_comma_separated_and_repeated() -> None:
    a = as_json("grad", "x*y*z", "x=2", "y=3", "z=5", "--wrt", "x,z")
    b = as_json("grad", "x*y*z", "x=2", "y=3", "z=5", "--wrt", "x", "--wrt", "z")
    assert a["gradient"] == b["gradient"] == {"x": 15.0, "z": 6.0}
    out = ok("grad", "x*y*z", "x=2", "y=3", "z=5", "--wrt", "x").stdout
    assert next(line for line in out.splitlines() if line.startswith("y ")).split() == ["y", "3", "constant"]


def test_wrt_errors() -> None:
    err = user_error("grad", "x*y", "x=1", "y=2", "--wrt", "q")
    assert "binding error" in err and "'q'" in err and "inputs: x, y" in err
    # an assigned name is differentiable (retain_grad): ∂L/∂z = 2z = 4
    obj = as_json("grad", "z = 2*x; z**2", "x=1", "--wrt", "z")
    assert obj["gradient"] == {"z": 4.0} and obj["intermediates"] == {"z": 2.0}


def test_eval_value_only() -> None:
    obj = as_json("eval", "sin(x**2)", "x=3")
    assert "gradient" not in obj
    assert obj["mode"] is None
    assert obj["value"] == pytest.approx(math.sin(9), rel=1e-15)
    assert obj["inputs"] == {"x": 3.0}
    out = ok("eval", "x/4", "x=1").stdout
    assert out.splitlines()[0] == "value  0.25"
    assert "gradient" not in out


def test_precision_option() -> None:
    out = ok("grad", "sin(x**2)", "x=3", "--precision", "4").stdout
    assert out.splitlines()[0] == "value  0.4121"
    assert "-5.467" in out and "-5.4668" not in out
    out = ok("eval", "1/3", "--precision", "17").stdout
    assert float(out.split()[1]) == 1 / 3
    for bad in ("0", "18", "x"):
        assert "--precision" in user_error("eval", "1", "--precision", bad)


def test_json_full_round_trip_precision() -> None:
    obj = as_json("grad", "x/3 + y", "x=1", "y=0.1")
    assert obj["value"] == 1 / 3 + 0.1  # exact: floats written with repr
    assert obj["gradient"]["x"] == 1 / 3


def test_json_arrays_nested() -> None:
    obj = as_json("grad", "sum(x**2)", "x=[[1, 2], [3, 4]]")
    assert obj["inputs"]["x"] == [[1.0, 2.0], [3.0, 4.0]]
    assert obj["gradient"]["x"] == [[2.0, 4.0], [6.0, 8.0]]


def test_array_output_warns_sum() -> None:
    obj = as_json("grad", "x**2", "x=[1,2]")
    assert obj["value"] == [1.0, 4.0]
    assert obj["gradient"]["x"] == [2.0, 4.0]
    assert any("sum(output)" in w for w in obj["warnings"])


def test_long_arrays_are_summarised_with_shape() -> None:
    out = ok("eval", "x", "x=linspace(0, 1, 101)").stdout
    first = out.splitlines()[0]
    assert first.startswith("value  (101,) [0, 0.01, 0.02, ...")  # a summary starts with the shape
    assert "..." in first and first.count(",") < 10
    assert "0.99" in first and first.rstrip().endswith("1]")
    out = ok("grad", "sum(x)", "x=[[1,2,3],[4,5,6]]").stdout
    assert "(2, 3)" in out


# --------------------------------------------------------------------------
# NaN and infinity.


def test_nan_value_is_null_with_warning() -> None:
    result = run("eval", "log(x)", "x=-1", "--json")
    assert result.exit_code == 0
    obj = json.loads(result.stdout)
    assert obj["value"] is None
    assert any("log(x)" in w and "NaN" in w for w in obj["warnings"])
    assert any("null" in w for w in obj["warnings"])
    assert "warning:" in result.stderr and "log(x)" in result.stderr


def test_infinite_gradient_is_null_with_warning() -> None:
    obj = as_json("grad", "sqrt(x)", "x=0")
    assert obj["value"] == 0.0
    assert obj["gradient"]["x"] is None
    assert any("gradient.x" in w for w in obj["warnings"])


def test_nan_inside_array_is_null() -> None:
    obj = as_json("eval", "log(x)", "x=[1, -1]")
    assert obj["value"][0] == 0.0 and obj["value"][1] is None


def test_nan_human_output() -> None:
    result = run("eval", "log(x)", "x=-1")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "value  nan"
    assert "defined for x > 0" in result.stderr


def test_strict_makes_nan_exit_1() -> None:
    obj = as_json("eval", "log(x)", "x=-1", "--strict", code=1)  # the JSON is still written
    assert obj["value"] is None
    result = run("grad", "sqrt(x)", "x=0", "--strict")
    assert result.exit_code == 1
    assert "--strict" in result.stderr
    assert run("grad", "sqrt(x)", "x=1", "--strict").exit_code == 0


# --------------------------------------------------------------------------
# Programs from stdin and files; leading minus.


def test_program_from_stdin() -> None:
    obj = as_json("grad", "-", "x=3", input="y = x**2\nsin(y)\n")
    assert obj["gradient"]["x"] == pytest.approx(6 * math.cos(9), rel=1e-14)
    assert obj["program"] == "y = x**2\nsin(y)\n"


def test_program_from_file(tmp_path: Path) -> None:
    path = tmp_path / "loss.gc"
    path.write_text("z = w*x + b   # logit\np = sigmoid(z)\nbce(p, y)\n")
    obj = as_json("grad", f"@{path}", "x=6.7", "y=0", "w=1", "b=0", "--wrt", "w,b")
    assert obj["gradient"]["b"] == pytest.approx(sigmoid(6.7), rel=1e-9)
    err = user_error("grad", f"@{tmp_path / 'missing.gc'}", "x=1")
    assert "cannot read program file" in err


def test_errors_in_a_program_file_point_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.gc"
    path.write_text("a = x*2\nb = sin(a) */ 2\nb\n")
    err = user_error("grad", f"@{path}", "x=1")
    assert "syntax error" in err and "2 | b = sin(a) */ 2" in err
    assert caret_column(err) == len("b = sin(a) *")


@pytest.mark.parametrize(
    ("args", "value", "grad"),
    [
        (["grad", "-x**2", "x=-1"], -1.0, 2.0),  # -(x**2): d/dx = -2x
        (["grad", "-x", "x=1"], -1.0, -1.0),
        (["grad", "--json", "-x**2", "x=3"], -9.0, -6.0),
        (["grad", "-x**2", "x=3", "--mode", "forward"], -9.0, -6.0),
        (["grad", "-h*x", "h=2", "x=3", "--wrt", "x"], -6.0, -2.0),  # -h is the help flag; -h*x is not
    ],
)
def test_leading_minus_programs(args: list[str], value: float, grad: float) -> None:
    obj = as_json(*args)
    assert obj["value"] == value
    assert obj["gradient"]["x"] == grad


def test_double_dash_ends_options() -> None:
    result = run("grad", "--json", "--", "-x", "x=2")
    assert json.loads(result.stdout)["gradient"] == {"x": -1.0}
    assert "'--json' is not a binding" in user_error("grad", "--", "-x", "x=2", "--json")


def test_leading_minus_eval_and_negative_bindings() -> None:
    assert as_json("eval", "-1")["value"] == -1.0
    assert as_json("eval", "-x", "x=-1.5")["value"] == 1.5


# --------------------------------------------------------------------------
# Bindings.


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        ("x=3", 3.0),
        ("x=-1.5", -1.5),
        ("x=pi/4", math.pi / 4),
        ("x=[1,2,3]", [1.0, 2.0, 3.0]),
        ("x=linspace(0,1,5)", [0.0, 0.25, 0.5, 0.75, 1.0]),
        ("x=arange(0,1,0.25)", [0.0, 0.25, 0.5, 0.75]),
        ("x = 2 * e", 2 * math.e),
    ],
)
def test_binding_forms(binding: str, expected: Any) -> None:
    obj = as_json("grad", "sum(x**2)", binding)
    assert obj["inputs"]["x"] == pytest.approx(expected, rel=1e-15)
    assert obj["gradient"]["x"] == pytest.approx(2 * np.asarray(expected), rel=1e-15)


def test_binding_from_npy(tmp_path: Path) -> None:
    path = tmp_path / "values.npy"
    np.save(path, np.array([[1.0, 2.0], [3.0, 4.0]]))
    obj = as_json("grad", "sum(x**2)", f"x=@{path}")
    assert obj["inputs"]["x"] == [[1.0, 2.0], [3.0, 4.0]]
    assert obj["gradient"]["x"] == [[2.0, 4.0], [6.0, 8.0]]


def test_binding_from_txt(tmp_path: Path) -> None:
    path = tmp_path / "values.txt"
    path.write_text("1, 2,3\n 4\t5e-1\n")
    obj = as_json("eval", "x", f"x=@{path}")
    assert obj["value"] == [1.0, 2.0, 3.0, 4.0, 0.5]


def test_binding_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 three")
    assert "not a number" in user_error("eval", "x", f"x=@{bad}")
    assert "No such file" in user_error("eval", "x", f"x=@{tmp_path / 'nope.npy'}")


def test_missing_binding_names_every_input() -> None:
    err = user_error("grad", "x*y + z", "x=1")
    assert "missing inputs: y, z" in err
    assert caret_column(err) == 2  # under the first missing input, y
    assert "y=... z=..." in err


def test_unused_binding_warns_on_stderr() -> None:
    result = run("grad", "x**2", "x=3", "xx=4", "--json")
    assert result.exit_code == 0
    obj = json.loads(result.stdout)
    assert obj["inputs"] == {"x": 3.0}
    assert any("'xx'" in w for w in obj["warnings"])
    assert "warning:" in result.stderr and "'xx'" in result.stderr
    human = run("grad", "x**2", "x=3", "xx=4")
    assert "'xx'" in human.stderr and "'xx'" not in human.stdout


@pytest.mark.parametrize(
    ("word", "fragment"),
    [
        ("x", "not a binding"),
        ("+", "quote the whole program"),
        ("1x=2", "not a binding"),
        ("x=", "has no value"),
        ("x=y+1", "must be a constant"),
        ("x=[1,2", "in the value of 'x'"),
    ],
)
def test_bad_bindings(word: str, fragment: str) -> None:
    err = user_error("eval", "x", word)
    assert fragment in err


@pytest.mark.parametrize("words", [["x", "=", "3"], ["x", "=3"]])
def test_binding_with_spaces_around_equals(words: list[str]) -> None:
    err = user_error("grad", "x**2", *words)
    assert "space before '='" in err and "x=3" in err


def test_binding_twice_is_an_error() -> None:
    assert "bound twice" in user_error("eval", "x", "x=1", "x=2")


def test_binding_size_cap() -> None:
    err = user_error("eval", "sum(x)", "x=linspace(0, 1, 1e12)")
    assert "limit exceeded" in err and "GRADCLI_MAX_ARRAY_ELEMENTS" in err


def test_program_that_looks_like_a_binding() -> None:
    result = run("grad", "x=3")
    assert result.exit_code == 0
    assert "no inputs" in result.stderr and "the program comes first" in result.stderr


# --------------------------------------------------------------------------
# Errors: one per class, with the caret; usage errors; --debug.


@pytest.mark.parametrize(
    ("args", "kind", "column"),
    [
        (["grad", "sin(x**", "x=1"], "syntax error", 7),
        (["grad", "1 + foo(x)", "x=1"], "name error", 4),
        (["grad", "1 + sin(x, x)", "x=1"], "arity error", 4),
        (["grad", "x + [1,2]*[1,2,3]", "x=1"], "shape error", 4),
        (["grad", "x*q", "x=1"], "binding error", 2),
        (["eval", "x = 1; x = 2"], "program error", None),
        (["eval", "x + linspace(0, 1, 1e12)", "x=1"], "limit exceeded", None),
    ],
)
def test_error_classes(args: list[str], kind: str, column: int | None) -> None:
    err = user_error(*args)
    assert err.startswith(f"{kind}: ")
    if column is not None:
        assert caret_column(err) == column


def test_errors_with_json_are_one_json_object_on_stdout() -> None:
    result = run("grad", "sin(", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "syntax error" and error["message"] == "unexpected end of input"
    assert (error["line"], error["column"], error["exit_code"]) == (1, 5, 2)
    assert "syntax error" in result.stderr and "Traceback" not in result.stderr
    assert run("grad", "sin(").stdout == ""  # without --json, stdout stays empty


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["grad", "x", "x=1", "--bogus"], "No such option"),
        (["grad", "x", "x=1", "--mode", "sideways"], "--mode"),
        (["grad", "x", "--wrt"], "requires an argument"),
        (["grad"], "Missing argument"),
        (["frobnicate"], "No such command"),
        (["eval", "--x"], "No such option"),
    ],
)
def test_usage_errors_exit_2(args: list[str], fragment: str) -> None:
    assert fragment in user_error(*args)


def test_debug_shows_traceback_only_then() -> None:
    plain = run("grad", "sin(", "x=1")
    assert "Traceback" not in plain.stderr
    debug = run("grad", "sin(", "x=1", "--debug")
    assert debug.exit_code == 2
    assert "Traceback" in debug.stderr and "ParseError" in debug.stderr
    assert "syntax error" in debug.stderr


def _run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["gradcli", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0)


def test_main_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_main(monkeypatch, capsys, "grad", "x**2", "x=3", "--json") == 0
    assert json.loads(capsys.readouterr().out)["gradient"] == {"x": 6.0}
    assert _run_main(monkeypatch, capsys, "grad", "x**", "x=3") == 2
    assert "syntax error" in capsys.readouterr().err
    assert _run_main(monkeypatch, capsys, "grad", "--nope") == 2
    assert _run_main(monkeypatch, capsys, "eval", "log(x)", "x=0", "--strict") == 1
    capsys.readouterr()


def test_main_internal_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import gradcli.api

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(gradcli.api.Compiled, "grad", broken)
    assert _run_main(monkeypatch, capsys, "grad", "x", "x=1") == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "--debug" in err
    assert "Traceback" not in err
    monkeypatch.setattr(sys, "argv", ["gradcli", "grad", "x", "x=1", "--debug"])
    with pytest.raises(RuntimeError, match="boom"):
        main()


# --------------------------------------------------------------------------
# Colour and box-drawing.


def test_piped_output_is_plain() -> None:
    for args in (["grad", "mean(x**2)", "x=[1,2,3]"], ["functions"], ["grad", "x", "x=1", "y=2"]):
        result = run(*args)
        assert result.exit_code == 0
        assert not ANSI.search(result.stdout) and not ANSI.search(result.stderr)
        assert not BOX & set(result.stdout)
        assert all(line == line.rstrip() for line in result.stdout.splitlines())


def test_force_color_and_no_color() -> None:
    forced = run("grad", "x", "x=1", "y=2", env={"FORCE_COLOR": "1"})
    assert ANSI.search(forced.stdout) and ANSI.search(forced.stderr)
    assert BOX & set(forced.stdout)
    cases: list[tuple[dict[str, str | None], list[str]]] = [
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, []),
        ({"FORCE_COLOR": "1"}, ["--no-color"]),
    ]
    for env, extra in cases:
        result = run("grad", "x", "x=1", "y=2", *extra, env=env)
        assert result.exit_code == 0
        assert not ANSI.search(result.stdout) and not ANSI.search(result.stderr)
        assert not BOX & set(result.stdout)


def test_json_has_no_colour_even_when_forced() -> None:
    result = run("grad", "x", "x=1", "--json", env={"FORCE_COLOR": "1"})
    assert json.loads(result.stdout)["gradient"] == {"x": 1.0}


# --------------------------------------------------------------------------
# functions, --version, help.


def _rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split("\t") == ["name", "written", "arity", "derivative rule", "notes"]
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 5 for r in rows)
    return {r[1]: r[1:] for r in rows} | {r[0]: r[1:] for r in rows}


def test_functions_lists_the_primitive_table() -> None:
    rows = _rows(ok("functions").stdout)
    public = [p for p in PRIMITIVES.values() if p.public]
    assert len(rows) == 2 * len(public) - sum(p.name == ", ".join(p.spelled()) for p in public)
    assert rows["mul"][0] == "a * b"  # the name an operator is called by is listed
    assert rows["sin(x)"][1:3] == ["1", "∂/∂x = cos(x)"]
    assert rows["log(x)"][3].endswith("domain: x > 0")
    assert "relu'(0) = 0" in rows["relu(x)"][3]
    assert rows["clamp(x, lo, hi)"][1] == "3"
    assert any(name.startswith("a ** b") for name in rows)
    assert any("stop_gradient" in name for name in rows)


def test_functions_filter() -> None:
    rows = _rows(ok("functions", "sigmoid", "stop_gradient").stdout)
    assert list(rows) == ["sigmoid(x)", "detach(x) (also stop_gradient)", "sigmoid", "detach"]
    err = user_error("functions", "sigmod")
    assert "unknown function 'sigmod'" in err and "'sigmoid'" in err


def test_functions_rules_are_not_read_as_markup() -> None:
    out = run("functions", "relu", env={"FORCE_COLOR": "1"}).stdout  # a rich table
    assert "[x > 0]" in ANSI.sub("", out)


def test_version() -> None:
    result = ok("--version")
    assert result.stdout == f"gradcli {__version__}\n"


def test_root_help_documents_exit_codes() -> None:
    out = ok("--help").stdout
    assert "Exit codes" in out
    for code in ("0  success", "1  a check failed", "2  bad input"):
        assert code in out
    for name in _command_names():
        assert name in out


def _command_names() -> list[str]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return sorted(group.commands)


@pytest.mark.parametrize("name", _command_names())
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_command_help(name: str, flag: str) -> None:
    out = ok(name, flag).stdout
    assert f"Usage: root {name}" in out or f"Usage: gradcli {name}" in out
    description = out.split("\n\n")[1].strip()
    assert len(description) > 20  # help text
    assert "Example" in out and f"gradcli {name}" in out  # an example
    assert "Exit codes" in out


# --------------------------------------------------------------------------
# The installed command and python -m gradcli.


def _subprocess(
    *args: str, env: dict[str, str] | None = None, encoding: str = "utf-8"
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(
        [sys.executable, "-m", "gradcli", *args],
        capture_output=True,
        text=True,
        env={**full, **(env or {})},
        encoding=encoding,
        errors="replace",
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_stdout_that_is_not_utf8_gets_escapes_not_a_crash(encoding: str) -> None:
    env = {"PYTHONIOENCODING": encoding}
    proc = _subprocess("grad", "x # é", "x=1", "--json", env=env, encoding=encoding)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.isascii() and "\\u00e9" in proc.stdout  # JSON escapes: valid in any encoding
    assert json.loads(proc.stdout)["program"] == "x # é"
    proc = _subprocess("explain", "x*2", "x=1", env=env, encoding=encoding)
    assert proc.returncode == 0, proc.stderr
    assert "\\u2202L/\\u2202x = 2" in proc.stdout  # ∂ is in neither encoding: backslash-escaped
    proc = _subprocess("explain", "x*2", "x=1", "--format", "json", env=env, encoding=encoding)
    assert proc.returncode == 0 and json.loads(proc.stdout)["gradient"] == {"x": 2.0}
    proc = _subprocess("functions", "sin", env=env, encoding=encoding)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].split("\t")[:4] == ["sin", "sin(x)", "1", "\\u2202/\\u2202x = cos(x)"]
    # The error echoes the ∂ (click writes UTF-8 to a stderr it finds set to ASCII).
    proc = _subprocess("grad", "x ∂ 2", "x=1", env=env, encoding=encoding)
    assert proc.returncode == 2 and "syntax error" in proc.stderr and "Traceback" not in proc.stderr


def test_python_dash_m_matches_the_app() -> None:
    proc = _subprocess("grad", "-x**2", "x=3", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == as_json("grad", "-x**2", "x=3")
    proc = _subprocess("--version")
    assert proc.stdout == f"gradcli {__version__}\n"
    proc = _subprocess("grad", "sin(", "x=1")
    assert proc.returncode == 2 and "syntax error" in proc.stderr and "Traceback" not in proc.stderr
    proc = _subprocess("grad", "x", "--bogus")
    assert proc.returncode == 2 and "No such option" in proc.stderr and "Traceback" not in proc.stderr
    proc = _subprocess("grad", "mean(x**2)", "x=[1,2,3]")
    assert proc.returncode == 0 and not ANSI.search(proc.stdout) and not BOX & set(proc.stdout)


def test_readme_command_line_examples() -> None:
    """The console examples of README's 'Command line' section are what the command prints."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```console\n(.*?)```", section, flags=re.S)
    examples = [chunk for block in blocks for chunk in block.split("$ ")[1:]]
    assert len(examples) >= 3
    for example in examples:
        command, _, expected = example.partition("\n")
        args = shlex.split(command)
        stdin = None
        if args[0] == "printf":  # printf '...' | gradcli ...: the text on stdin
            stdin = args[1].encode().decode("unicode_escape")
            args = args[args.index("|") + 1 :]
        assert args[0] == "gradcli"
        result = run(*args[1:], input=stdin)
        assert result.exit_code == 0, command
        assert result.stdout.strip() == expected.strip(), command


def test_wrt_an_intermediate_is_its_retained_gradient_in_every_route() -> None:
    """dL/dz = p - y, the central step of the notebook's derivation, by every route."""
    program = "z = w*x + b; p = sigmoid(z); bce(p, y)"
    point = ["w=1", "x=6.7", "b=0", "y=0"]
    obj = as_json("grad", program, *point, "--wrt", "z,w", "--mode", "both")
    p = 1 / (1 + math.exp(-6.7))
    assert obj["gradient"]["z"] == pytest.approx(p - 0, rel=1e-14)
    assert obj["forward_gradient"]["z"] == pytest.approx(obj["gradient"]["z"], rel=1e-15)
    assert obj["gradient"]["w"] == pytest.approx(6.691763029237442, rel=1e-14)  # inputs as before
    out = ok("check", program, *point, "--wrt", "z", "--manual", "z: p - y")
    assert "result: pass" in out.stdout
    out = ok("explain", program, *point, "--wrt", "z")
    assert "∂L/∂z = ∂L/∂p · ∂p/∂z" in out.stdout
