"""`gradcli plot`: the sampled curve against the engine at each point, gaps where the
function is not finite, kinks found from the table, the terminal picture without colour, JSON,
the figure export and its missing extra, and no plotting import for the other commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gradcli import grad
from gradcli.cli.main import app
from gradcli.curve import sample


def test_the_curve_is_the_engine_at_every_point() -> None:
    c = sample("sin(x**2)", {}, "x", -3.0, 3.0, points=101, at=1.0)
    assert c.vectorized
    for k in (0, 17, 50, 100):
        r = grad("sin(x**2)", x=float(c.x[k]))
        assert c.f[k] == pytest.approx(r.value, rel=1e-15, abs=1e-15)
        assert c.df[k] == pytest.approx(r.gradient["x"], rel=1e-13, abs=1e-13)
    assert c.slope == pytest.approx(2 * np.cos(1.0), rel=1e-15) and c.value_at == pytest.approx(np.sin(1.0))


def test_other_bindings_are_fixed_and_a_reduction_is_sampled_point_by_point() -> None:
    c = sample("w*x**2 + b", {"w": 2.0, "b": 1.0}, "x", 0.0, 1.0, points=11)
    np.testing.assert_allclose(c.df, 4 * c.x, rtol=1e-15)
    c = sample("mean([x, x**2])", {}, "x", 0.0, 1.0, points=11)
    assert not c.vectorized
    np.testing.assert_allclose(c.df, (1 + 2 * c.x) / 2, rtol=1e-15)


def test_gaps_and_kinks() -> None:
    c = sample("log(x)", {}, "x", -1.0, 2.0, points=301)
    assert np.isnan(c.f[c.x < 0]).all() and np.isfinite(c.f[c.x > 0]).all()
    c = sample("relu(x - 0.5)*x + abs(x + 0.25)", {}, "x", -1.0, 2.0, points=200)
    assert [fn for _, fn in c.kinks] == ["abs", "relu"]
    np.testing.assert_allclose([x for x, _ in c.kinks], [-0.25, 0.5], atol=1e-12)


def _run(*args: str) -> object:
    return CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "80", "LINES": "30"})


def test_cli_plot_in_the_terminal() -> None:
    out = _run("plot", "sin(x**2)", "x=-3..3", "--at", "1")
    assert out.exit_code == 0, out.output  # type: ignore[attr-defined]
    text = out.stdout  # type: ignore[attr-defined]
    assert "\x1b[" not in text  # readable without colour
    assert "(f)" in text and "(df/dx)" in text and "(x)" in text
    assert "tangent at x = 1: f = 0.8414709848, slope df/dx = 1.080604612" in text
    assert "Label" not in text
    out = _run("plot", "log(x)", "x=-1..2")
    assert "NaN or infinite values are left as gaps" in out.stderr  # type: ignore[attr-defined]
    assert "nan" not in out.stdout.lower()  # type: ignore[attr-defined]
    out = _run("plot", "relu(x - 0.5)", "x=-1..2")
    assert "kinks (marked x): x = 0.5 (relu)" in out.stdout  # type: ignore[attr-defined]


def test_cli_plot_json_and_errors() -> None:
    out = _run("plot", "x**2", "x=0..1", "--points", "5", "--json")
    data = json.loads(out.stdout)  # type: ignore[attr-defined]
    assert data["x"] == [0.0, 0.25, 0.5, 0.75, 1.0] and data["df"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert data["slope"] == 1.0 and data["at"] == 0.5
    out = _run("plot", "log(x)", "x=-1..1", "--points", "3", "--json")
    data = json.loads(out.stdout)  # type: ignore[attr-defined]
    assert data["f"][0] is None and data["warnings"]
    out = _run("plot", "x*y", "x=0..1", "y=0..1")
    assert out.exit_code == 2 and "exactly one" in out.stderr  # type: ignore[attr-defined]
    out = _run("plot", "x", "x=1..0")
    assert out.exit_code == 2 and "a < b" in out.stderr  # type: ignore[attr-defined]


def test_export_needs_the_extra_or_writes_the_figure(tmp_path: Path) -> None:
    target = tmp_path / "plot.svg"
    out = _run("plot", "sin(x)", "x=0..3", "--export", str(target))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert out.exit_code == 2  # type: ignore[attr-defined]
        assert "pip install 'gradcli[plot]'" in out.stderr  # type: ignore[attr-defined]
        return
    assert out.exit_code == 0 and target.read_text().startswith("<?xml")  # type: ignore[attr-defined]


def test_other_commands_do_not_import_plotting_code() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gradcli", "grad", "sin(x)", "x=1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "plotille" not in result.stderr and "matplotlib" not in result.stderr
    assert "gradcli.output.plotting" not in result.stderr
