"""The parser cache (gradcli/parser_cache.py): used when good, rebuilt when not, written
atomically, and never an error or a warning: empty, corrupt, read-only or blocked cache
directories, and many processes starting at once with an empty one."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lark import Lark

from gradcli.errors import GradcliError
from gradcli.lang import parser, parser_cache

OPTIONS = parser._LARK_OPTIONS
GRAMMAR = parser.grammar_path().read_text(encoding="utf-8")
SAMPLE = "z = w*x + b\np = sigmoid(z)\nbce(p, y) + sin(x**2) * (1 +\n 2) - -x**-2; mean([1, 2, e])"


class CountingLark(Lark):
    """Lark, counting how many parsers were built from the grammar (loads do not count)."""

    builds = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).builds += 1
        super().__init__(*args, **kwargs)


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty XDG cache home; a fresh per-process memo; builds counted."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setattr(parser_cache, "_loaded", {})
    monkeypatch.setattr(parser_cache, "Lark", CountingLark)
    monkeypatch.setattr(CountingLark, "builds", 0)
    return home


def make() -> parser.Parser:
    """gradcli's parser over Lark's tables, loaded (or built) the way a run does."""
    return parser.Parser(parser_cache.load_or_build(GRAMMAR, OPTIONS, **parser.lark_runtime()))


def fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if a new process started: nothing loaded yet."""
    monkeypatch.setattr(parser_cache, "_loaded", {})


def reference_ast() -> str:
    built = Lark(GRAMMAR, **OPTIONS, **parser.lark_runtime())
    return repr(parser.Parser(built).statements(SAMPLE))


def cache_files(home: Path) -> list[Path]:
    d = home / "gradcli"
    return sorted(d.iterdir()) if d.is_dir() else []


def test_first_start_builds_and_writes_one_file_then_loads(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make()
    assert CountingLark.builds == 1
    files = cache_files(cache_home)
    assert [f.name for f in files] == [f"parser-{parser_cache.cache_key(GRAMMAR, OPTIONS)}.lark"]
    fresh_memo(monkeypatch)
    second = make()
    assert CountingLark.builds == 1  # loaded, not built
    assert repr(second.statements(SAMPLE)) == repr(first.statements(SAMPLE)) == reference_ast()
    # The derivative rules (internal functions allowed) share the same tables.
    assert "softmax_all" in repr(second.statements("softmax_all(x)", allow_internal=True))
    with pytest.raises(GradcliError, match="unknown function 'softmax_all'"):
        second.statements("softmax_all(x)")


def test_spans_and_errors_from_a_loaded_parser(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make()
    fresh_memo(monkeypatch)
    loaded = make()
    program: Any = loaded.statements("(x +\n  sin(y))")
    call = program[0].expr
    assert (call.args[1].span.line, call.args[1].span.column) == (2, 3)
    with pytest.raises(GradcliError, match="unexpected end of input"):
        loaded.statements("1 +")  # Lark's own parser, loaded from the file, reports it


def test_key_follows_grammar_lark_and_python(cache_home: Path) -> None:
    key = parser_cache.cache_key(GRAMMAR, OPTIONS)
    assert parser_cache.cache_key(GRAMMAR + "\n", OPTIONS) != key
    assert parser_cache.cache_key(GRAMMAR, {**OPTIONS, "keep_all_tokens": False}) != key
    assert parser_cache.cache_key(GRAMMAR, dict(reversed(list(OPTIONS.items())))) == key
    assert parser_cache.cache_dir() == cache_home / "gradcli"


def test_default_directory_without_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parser_cache.cache_dir() == tmp_path / ".cache" / "gradcli"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    assert parser_cache.cache_dir() == tmp_path / ".cache" / "gradcli"


@pytest.mark.parametrize(
    "damage", ["garbage", "empty", "truncated", "flipped byte", "other key", "not a dict"]
)
def test_corrupt_file_is_rebuilt_and_replaced(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], damage: str
) -> None:
    import hashlib
    import pickle

    make()
    (path,) = cache_files(cache_home)
    good = path.read_bytes()
    header, _, payload = good.partition(b"\n")
    if damage == "garbage":
        bad = b"\x00\xffnot a cache file" * 10
    elif damage == "empty":
        bad = b""
    elif damage == "truncated":
        bad = good[: len(good) // 2]
    elif damage == "flipped byte":
        bad = good[:-10] + bytes([good[-10] ^ 1]) + good[-9:]
    elif damage == "other key":
        bad = header.replace(parser_cache.cache_key(GRAMMAR, OPTIONS).encode(), b"0" * 40) + b"\n" + payload
    else:  # a valid header and digest over a pickle that is not parser data
        junk = pickle.dumps([1, 2, 3])
        key = parser_cache.cache_key(GRAMMAR, OPTIONS).encode()
        bad = (
            parser_cache.FORMAT + b" " + key + b" " + hashlib.sha256(junk).hexdigest().encode() + b"\n" + junk
        )
    path.write_bytes(bad)
    fresh_memo(monkeypatch)
    builds = CountingLark.builds
    assert repr(make().statements(SAMPLE)) == reference_ast()
    assert CountingLark.builds == builds + 1
    assert path.read_bytes() != bad  # replaced by a good file...
    fresh_memo(monkeypatch)
    make()
    assert CountingLark.builds == builds + 1  # ...which the next start loads
    assert [p.name for p in cache_files(cache_home)] == [path.name]  # no temporary files left
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_blocked_cache_directory(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A file where the directory should be: the parser is built in memory, silently, every time."""
    cache_home.mkdir()
    (cache_home / "gradcli").write_text("not a directory")
    for _ in range(2):
        fresh_memo(monkeypatch)
        assert repr(make().statements(SAMPLE)) == reference_ast()
    assert CountingLark.builds == 2
    assert (cache_home / "gradcli").read_text() == "not a directory"
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_read_only_cache_directory(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    directory = cache_home / "gradcli"
    directory.mkdir(parents=True)
    directory.chmod(0o555)
    try:
        for _ in range(2):
            fresh_memo(monkeypatch)
            assert repr(make().statements(SAMPLE)) == reference_ast()
        assert CountingLark.builds == 2
        assert list(directory.iterdir()) == []
    finally:
        directory.chmod(0o755)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_permission_denied_when_writing(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """EACCES on creating the file (what a read-only directory gives a non-root user)."""
    import tempfile

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    for _ in range(2):
        fresh_memo(monkeypatch)
        assert repr(make().statements(SAMPLE)) == reference_ast()
    assert CountingLark.builds == 2
    assert cache_files(cache_home) == []
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_read_only_directory_with_a_good_file_is_used(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make()
    directory = cache_home / "gradcli"
    directory.chmod(0o555)
    try:
        fresh_memo(monkeypatch)
        make()
        assert CountingLark.builds == 1
    finally:
        directory.chmod(0o755)


def test_no_home_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda p: p)  # '~' cannot be expanded
    assert parser_cache.cache_dir() is None
    monkeypatch.setattr(parser_cache, "_loaded", {})
    assert repr(make().statements(SAMPLE)) == reference_ast()


# Several processes start at once with an empty cache: each waits for a shared signal
# file, then builds or loads the parser and computes a gradient.
RACER = """
import json, os, sys, time
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.001)
import gradcli
r = gradcli.grad("sin(x**2)", x=3.0)
print(json.dumps([r.value, r.gradient["x"]]))
"""


def test_concurrent_starts_with_an_empty_cache(tmp_path: Path) -> None:
    home = tmp_path / "xdg"
    go = tmp_path / "go"
    env = {**os.environ, "XDG_CACHE_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    time.sleep(0.5)  # let them all import and wait
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and err == "", err
        value, gradient = json.loads(out)
        assert math.isclose(value, math.sin(9.0), rel_tol=1e-15)
        assert math.isclose(gradient, 6 * math.cos(9.0), rel_tol=1e-15)
    files = sorted(p.name for p in (home / "gradcli").iterdir())
    assert files == [f"parser-{parser_cache.cache_key(GRAMMAR, OPTIONS)}.lark"]  # no temporary files left
    # The file that won is complete: a new process loads it without building.
    check = (
        "import gradcli.lang.parser_cache as pc, gradcli.lang.parser as p\n"
        "class L(pc.Lark):\n"
        "    def __init__(self, *a, **k): raise SystemExit('built instead of loading')\n"
        "pc.Lark = L\n"
        "print(p.parse('sin(x)').statements[0].expr.func)"
    )
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "sin", "")


def test_cli_parser_comes_from_the_cache(tmp_path: Path) -> None:
    """The real entry point: the first run writes the file, later runs load it."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-m", "gradcli", "grad", "sin(x**2)", "x=3", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0 and proc.stderr == ""
        assert math.isclose(json.loads(proc.stdout)["gradient"]["x"], 6 * math.cos(9.0), rel_tol=1e-15)
        assert len(list((tmp_path / "gradcli").glob("parser-*.lark"))) == 1
