"""The pipeline's layering (gradcli/__init__.py): no module imports from a later stage, and the
two stages of the same rank (check, explain) do not import each other. Imports inside
functions count too: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradcli"

# Rank of each part of the package: a module may import from its own part and lower ranks.
RANKS = {
    "spans": 0,
    "errors": 0,
    "limits": 0,
    "arrays": 0,
    "numerics": 0,
    "matrix": 0,
    "primitives": 0,
    "lang": 1,
    "engine": 2,
    "symbolic": 3,
    "api": 3,
    "higher": 4,
    "curve": 4,
    "batch": 4,
    "session": 5,
    "bindings": 3,
    "output": 3,
    "check": 4,
    "explain": 4,
    "cli": 5,
    "__main__": 5,
}
# Parts that may not import each other although their ranks allow it.
APART = {
    ("output", "api"),
    ("output", "bindings"),
    ("output", "lang"),
    ("output", "engine"),
    ("check", "explain"),
    ("explain", "check"),
}


def part(module: str) -> str:
    """gradcli.engine.graph -> engine; gradcli.errors -> errors; gradcli -> the package itself."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "gradcli"


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gradcli":
                out += [(node.lineno, f"gradcli.{a.name}") for a in node.names]
            elif node.module.startswith("gradcli."):
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("gradcli.")]
    return out


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def violations(mine: str, found: list[tuple[int, str]]) -> list[str]:
    """The imports of a module of part `mine` that break the layering."""
    out = []
    for line, module in found:
        theirs = part(module)
        if theirs in ("__version__", mine):
            continue  # the package's own version string; the module's own part
        if theirs not in RANKS:
            out.append(f"{line}: {module} is in a part without a rank")
        elif RANKS[theirs] > RANKS[mine]:
            out.append(f"{line}: {module} is a later stage")
        elif (mine, theirs) in APART:
            out.append(f"{line}: {module} must not be imported from {mine}")
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_from_a_later_stage(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    mine = rel.parts[0].removesuffix(".py")
    assert mine in RANKS, f"{rel}: a new part of the package needs a rank in this test"
    assert violations(mine, imports(path)) == [], rel


def test_the_checker_finds_a_violation_and_lazy_imports(tmp_path: Path) -> None:
    fake = tmp_path / "graph.py"
    fake.write_text("from gradcli.lang.ast import Num\n\ndef f():\n    from gradcli.cli.app import app\n")
    assert violations("engine", imports(fake)) == ["4: gradcli.cli.app is a later stage"]
    assert violations("check", [(1, "gradcli.explain.model")]) == [
        "1: gradcli.explain.model must not be imported from check"
    ]


def test_every_subpackage_says_what_it_takes_gives_and_never_imports() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        for word in ("Takes:", "Gives:"):
            assert word in doc, f"{init.parent.name}/__init__.py: its docstring needs '{word}'"
        assert "Never imports" in doc or "Nothing in gradcli imports it" in doc, init.parent.name
