"""Start-up: what a one-line `gradcli` imports, and the shortcuts that keep it small
(gradcli/coercion.py for Typer's option conversion, one command built per run, lazy
evaluators) behave exactly like the long way round. No timings here: see benchmarks/."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from gradcli.cli import coercion
from gradcli.cli.main import app, app_for

PROBE = """
import sys
sys.argv = ["gradcli", *sys.argv[1:]]
from gradcli.cli.main import main
try:
    main()
except SystemExit as e:
    code = e.code
else:
    code = 0
sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""


def imported(*args: str) -> tuple[set[str], str]:
    """Run the CLI in a fresh process; the modules it imported, and its stdout."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = proc.stderr.rsplit("MODULES ", 1)[1]
    return set(line.split()), proc.stdout


def top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_json_one_liner_imports_no_pydantic_rich_or_unused_evaluators() -> None:
    mods, out = imported("grad", "sin(x**2)", "x=3", "--json")
    assert math.isclose(json.loads(out)["gradient"]["x"], 6 * math.cos(9.0), rel_tol=1e-15)
    assert not {"pydantic", "pydantic_core", "rich"} & top(mods)
    assert (
        not {
            "gradcli.engine.forward",
            "gradcli.engine.reverse",
            "gradcli.engine.blocked",
            "gradcli.cli.human",
            "concurrent.futures",
        }
        & mods
    )
    assert "gradcli.engine.scalar" in mods  # the evaluator that ran: single numbers, on floats


def test_human_one_liner_imports_no_pydantic() -> None:
    mods, out = imported("grad", "sin(x**2)", "x=3")
    assert "-5.466781571" in out
    assert not {"pydantic", "pydantic_core"} & top(mods)
    assert "gradcli.engine.forward" not in mods


def test_forward_mode_imports_forward_only() -> None:
    mods, out = imported("grad", "sum(sin(x**2))", "x=[3]", "--mode", "forward", "--json")
    assert math.isclose(json.loads(out)["gradient"]["x"][0], 6 * math.cos(9.0), rel_tol=1e-15)
    assert "gradcli.engine.forward" in mods  # arrays: the general evaluator of the mode
    assert not {"pydantic", "rich"} & top(mods)


def test_functions_piped_writes_tsv_without_rich() -> None:
    mods, out = imported("functions", "sin")
    header, row = out.splitlines()
    assert header.split("\t") == ["name", "written", "arity", "derivative rule", "notes"]
    assert row.split("\t")[:4] == ["sin", "sin(x)", "1", "∂/∂x = cos(x)"]
    assert "rich" not in top(mods)


def test_errors_module_imports_difflib_only_for_a_suggestion() -> None:
    # (Typer itself may import difflib; gradcli's errors module, imported by every start, does not.)
    probe = "import sys, gradcli.errors as e; print('difflib' in sys.modules, e.did_you_mean('sn', ['sin']))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split(None, 1) == ["False", "did you mean 'sin'?\n"], proc.stderr


# --------------------------------------------------------------------------
# gradcli/coercion.py converts exactly as Typer's own (pydantic) converters do.

SAMPLES: dict[str, list[Any]] = {
    "str": ["sin(x**2)", "-x**2", "", "x=3", "@file.txt", " spaced "],
    "int": ["10", "1", "17", "0", "18", "-3", "+5", "007", "abc", "1.5", " 5", "1_0", "", 10, 0],
    "float": [
        "1e-9",
        "0",
        "0.5",
        ".5",
        "5.",
        "-1",
        "-0",
        "+2E+3",
        "1e400",
        "1e-400",
        "abc",
        "inf",
        "nan",
        "1_0",
        "",
        0.5,
        0.0,
        1,
    ],
    "list": [("a", "b"), ("x=3",), (), ["a"]],
    "literal": [
        "reverse",
        "forward",
        "both",
        "table",
        "markdown",
        "json",
        "github",
        "REVERSE",
        "bad",
        "",
        "tree",
        "text",
        "auto",
        "bash",
    ],
    "bool": [True, False],
}


def _kind(annotation: Any) -> str:
    if annotation in (str, int, float, bool):
        return {str: "str", int: "int", float: "float", bool: "bool"}[annotation]
    return "list" if getattr(annotation, "__origin__", None) is list else "literal"


def _typer_internals() -> tuple[Any, Any]:
    """Typer's private conversion machinery (typer._click, typer._coercion: Typer >= 0.29, the
    range the test extra pins), which gradcli/cli/coercion.py replaces. When a Typer release
    moves it, these tests fail, loudly: the fast path would be silently off (slower start-up)."""
    import importlib

    try:
        exceptions = importlib.import_module("typer._click.exceptions")
        coercion_module = importlib.import_module("typer._coercion")
    except ImportError as exc:  # pragma: no cover - only with a Typer that moved its internals
        pytest.fail(f"Typer {typer.__version__} has no {exc.name}: update gradcli/cli/coercion.py")
    assert coercion.FAST, "gradcli/cli/coercion.py did not find Typer's converter"
    return exceptions.BadParameter, coercion_module.build_runtime_param


def _typer_way(param: Any, ctx: Any, value: Any) -> Any:
    bad_parameter, build_runtime_param = _typer_internals()
    try:
        return ("ok", build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx))
    except bad_parameter as exc:
        return ("error", str(exc))


def _params() -> list[tuple[str, Any, Any]]:
    group: Any = typer.main.get_command(app)
    out = []
    for name, command in [("(root)", group), *group.commands.items()]:
        ctx = command.context_class(command, info_name=name)
        for param in command.get_params(ctx):
            if hasattr(param, "type_descriptor"):
                out.append((f"{name} {param.name}", param, ctx))
    return out


@pytest.mark.parametrize(("label", "param", "ctx"), _params(), ids=lambda v: v if isinstance(v, str) else "")
def test_fast_conversion_matches_typer(label: str, param: Any, ctx: Any) -> None:
    bad_parameter, _ = _typer_internals()
    descriptor = param.type_descriptor
    convert = coercion._fast(descriptor.annotation, descriptor.parameter_info)
    assert convert is not None, f"{label}: a parameter type the fast path does not know"
    fast = coercion._Simple(descriptor.parameter_info, descriptor.annotation, convert, descriptor)
    tried = 0
    for value in SAMPLES[_kind(descriptor.annotation)]:
        want = _typer_way(param, ctx, value)
        try:
            got = ("ok", fast._coerce_value(value, param=param, ctx=ctx))
        except bad_parameter as exc:
            got = ("error", str(exc))
        same_nan = all(isinstance(v[1], float) and v[1] != v[1] for v in (got, want)) and got[0] == want[0]
        assert got == want or same_nan, (label, value)
        assert type(got[1]) is type(want[1]), (label, value)
        tried += convert(value) is not coercion._DECLINE  # the fast path answered itself
    assert tried > 0, f"{label}: the fast path never answered"


def test_install_covers_every_parameter_of_every_command() -> None:
    _typer_internals()
    group: Any = typer.main.get_command(app)
    for name, command in [("(root)", group), *group.commands.items()]:
        ctx = command.context_class(command, info_name=name)
        params = [p for p in command.get_params(ctx) if hasattr(p, "type_descriptor")]
        for param in params:
            param._runtime_param = None
        coercion.install(command, ctx)
        for param in params:
            assert isinstance(param._runtime_param, coercion._Simple), (name, param.name)


def test_option_errors_are_typers() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["grad", "sin(x)", "x=1", "--precision", "0"])
    assert result.exit_code == 2 and "Invalid value for '--precision'" in result.output
    result = runner.invoke(app, ["grad", "sin(x)", "x=1", "--mode", "sideways"])
    assert result.exit_code == 2 and "'sideways' is not one of 'reverse', 'forward', 'both'" in result.output
    result = runner.invoke(app, ["grad", "sin(x)", "x=1", "--precision", "3", "--mode", "forward", "--json"])
    assert result.exit_code == 0
    assert math.isclose(json.loads(result.stdout)["gradient"]["x"], math.cos(1.0), rel_tol=1e-15)


# --------------------------------------------------------------------------
# One command built per run.


def test_app_for_a_command_has_only_that_command() -> None:
    for name in (
        "grad",
        "eval",
        "explain",
        "check",
        "functions",
        "graph",
        "diff",
        "hessian",
        "jacobian",
        "plot",
    ):
        group = typer.main.get_command(app_for([name, "x"]))
        assert list(group.commands) == [name]  # type: ignore[attr-defined]
    assert app_for(["--help"]) is app and app_for([]) is app and app_for(["grda"]) is app
    assert len(app.registered_commands) == 12  # the original is untouched


@pytest.mark.parametrize(
    "args",
    [
        ["grad", "-h"],
        ["eval", "--help"],
        ["functions", "sin"],
        ["grad", "sin(x)", "--bogus"],
        ["grad"],
        ["check", "-h"],
    ],
)
def test_single_command_app_behaves_like_the_full_one(args: list[str]) -> None:
    runner = CliRunner()
    full = runner.invoke(app, args, prog_name="gradcli")
    single = runner.invoke(app_for(args), args, prog_name="gradcli")
    assert (single.exit_code, single.stdout, single.stderr) == (full.exit_code, full.stdout, full.stderr)


def test_shell_completion_completes_commands_functions_and_inputs() -> None:
    """The script `gradcli completion bash` loads, and the answers it gets (no completion
    code runs on an ordinary start: the other start-up tests count the modules)."""

    def complete(*words: str) -> list[str]:
        env = {
            **os.environ,
            "_GRADCLI_COMPLETE": "complete_bash",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "gradcli"], env=env, capture_output=True, text=True, timeout=60
        )
        return proc.stdout.split()

    assert {"grad", "graph"} <= set(complete("gradcli", "gr"))
    assert "sigmoid(" in complete("gradcli", "grad", "sig")
    assert complete("gradcli", "grad", "'sin(w*x)'", "") == ["w=", "x="]
    script = subprocess.run(
        [sys.executable, "-m", "gradcli", "completion", "bash"], capture_output=True, text=True, check=True
    )
    assert "_GRADCLI_COMPLETE" in script.stdout and "complete" in script.stdout
