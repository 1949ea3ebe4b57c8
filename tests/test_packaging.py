"""The built wheel works on its own: grammar inside the wheel, `gradcli` and `python -m gradcli`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("gradcli-*.whl")
    from gradcli import __version__

    assert wheel.name.startswith(f"gradcli-{__version__}-")  # the version is gradcli/__init__.py's

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # The runtime dependencies come from this environment's site-packages, added as a plain path:
    # .pth files in it (such as the editable install of gradcli) are not processed.
    purelib = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (purelib / "_gradcli_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [
            py,
            "-c",
            "import gradcli, gradcli.lang.parser as p; print(gradcli.__file__); print(p.grammar_path())",
        ],
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert where[0].startswith(str(env_dir)), where  # the wheel's copy, not the source tree
    assert where[1].startswith(str(env_dir)) and where[1].endswith("gradcli/lang/gradcli.lark"), where

    out = subprocess.run(
        [bindir / "gradcli", "grad", "sin(x**2)", "x=3", "--json"],
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["value"] == pytest.approx(0.41211848524, abs=1e-11)
    assert data["gradient"]["x"] == pytest.approx(-5.466781571308061, rel=1e-15)

    out = subprocess.run(
        [py, "-m", "gradcli", "grad", "x**2", "x=3", "--json"],
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["gradient"] == {"x": 6.0}


def test_grammar_found_from_the_source_tree() -> None:
    from gradcli.lang.parser import grammar_path

    path = grammar_path()
    assert path.name == "gradcli.lark" and path.is_file()
    assert "NUMBER" in path.read_text(encoding="utf-8")


def test_python_dash_m_gradcli_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gradcli", "--version"], capture_output=True, text=True, check=True
    )
    from gradcli import __version__

    assert out.stdout.strip() == f"gradcli {__version__}"


@pytest.mark.slow
def test_sdist_holds_every_tracked_file_the_tests_use(tmp_path: Path) -> None:
    pytest.importorskip("build")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to know the tracked files")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (sdist,) = tmp_path.glob("gradcli-*.tar.gz")
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode()  # type: ignore[union-attr]
    tracked = subprocess.run(
        ["git", "ls-files", "gradcli", "grammar", "tests", "examples", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {"examples/checks.toml", "benchmarks/run.py"} <= set(tracked)
    missing = sorted(set(tracked) - names)
    assert not missing, missing
    from gradcli import __version__

    assert f"\nVersion: {__version__}\n" in pkg_info


def test_top_level_grammar_is_the_package_grammar() -> None:
    """grammar/gradcli.lark (the design's place for the grammar) is a link to the one copy in
    the package, which every kind of install reads."""
    from gradcli.lang.parser import grammar_path

    top = ROOT / "grammar" / "gradcli.lark"
    assert top.is_symlink() and top.resolve() == grammar_path().resolve()
    assert top.read_text(encoding="utf-8") == grammar_path().read_text(encoding="utf-8")


def test_make_check_runs_what_ci_runs() -> None:
    """The Makefile's check target and .ci/run run the same commands (CI also installs first)."""
    import re

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets: dict[str, list[str]] = {}
    current = ""
    for line in makefile.splitlines():
        if m := re.match(r"^([a-z-]+):(.*)$", line):
            current = m.group(1)
            targets[current] = [f"@{t}" for t in m.group(2).split()]
        elif line.startswith("\t") and current:
            targets[current].append(line.strip())

    def expand(name: str) -> list[str]:
        return [c for item in targets[name] for c in (expand(item[1:]) if item.startswith("@") else [item])]

    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    ci_checks = [c.split("&& ", 1)[1] if c.startswith("pip install -e") else c for c in ci]
    start = ci_checks.index("pytest")
    assert expand("check") == ci_checks[start:]
