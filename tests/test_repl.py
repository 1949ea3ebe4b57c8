"""`gradcli repl`: the notebook's accumulating gradients replayed through the session's input,
errors that never end it, and detach; the Session API under it."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from gradcli.cli.main import app
from gradcli.errors import GradcliError
from gradcli.session import Session

NOTEBOOK = """\
# the notebook: gradients accumulate over backward() calls until zero_()
x = 3
grad x**2
grad x**2
grad x**2
grads
zero_grad
grads
"""


def _repl(script: str) -> Result:
    return CliRunner().invoke(app, ["repl"], input=script)


def test_the_notebooks_accumulation_6_12_18_0() -> None:
    out = _repl(NOTEBOOK)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    grads = [line.split("x.grad = ")[1] for line in lines if "x.grad = " in line]
    assert grads == ["6", "12", "18", "18", "0", "0"]
    assert "gradcli>" not in out.stdout  # piped: no prompts


def test_the_notebooks_vector_gradient_and_no_grad() -> None:
    out = _repl("x = [1.0, 2.0, 3.0]\ngrad mean(x**2)\nx**2\n")
    text = out.stdout
    assert "value  4.666666667" in text and "d/dx = [0.6666666667, 1.333333333, 2]" in text
    assert "[1, 4, 9]" in text  # a bare formula: its value, no gradient
    assert text.count(".grad") == 1


def test_errors_are_reported_and_the_session_goes_on() -> None:
    out = _repl("x = 2\ny = log(-1\nz + 1\ngrad x**3\nexit\ngrad x\n")
    assert out.exit_code == 0
    assert "syntax error: unexpected end of input" in out.stderr
    assert "not bound in this session: z" in out.stderr
    assert "Traceback" not in out.output
    assert "x.grad = 12" in out.stdout and "x.grad = 14" not in out.stdout  # exit stopped it


def test_detach_is_requires_grad_false() -> None:
    s = Session()
    s.run("x = 2")
    s.run("w = 3")
    s.run("detach x")
    out = s.run("grad w*x")
    assert "d/dw = 2" in out and "d/dx" not in out
    s.run("attach x")
    s.run("grad w*x")
    assert float(s.grads["x"]) == 3.0 and float(s.grads["w"]) == 4.0
    with pytest.raises(GradcliError, match="every input of the formula is detached"):
        s.run("detach x w")
        s.run("grad x*w")


def test_bindings_from_formulas() -> None:
    s = Session()
    s.run("a = linspace(0, 1, 3)")
    s.run("b = 2*a + 1")
    np.testing.assert_array_equal(s.values["b"], [1.0, 2.0, 3.0])
    assert s.run("") == "" and s.run("# a comment") == ""
    assert "grad EXPR" in s.run("help")
