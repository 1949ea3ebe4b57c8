"""The bad-input corpus (tests/corpus/bad/*.toml) through the real CLI.

Every case must end with its documented exit code and message fragment on stderr, with no
traceback, valid JSON where --json is given, and no file created by an injection attempt.
Small cases run in-process (main() under CliRunner isolation, with a time limit); the huge
ones (`big = true`) in a subprocess with a time limit and an address-space limit, and
their peak memory is checked against `memory_mb`. Cases marked `long = true` (the worst
cases just under the limits) run only with GRADCLI_FUZZ=1.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from badinput import (
    CORPUS,
    GENERATORS,
    build_case,
    check_outcome,
    load_corpus,
    run_inprocess,
    run_subprocess,
)

RAW = load_corpus()
LONG_RUN = os.environ.get("GRADCLI_FUZZ") == "1"


def _params(big: bool) -> list[Any]:
    out = []
    for raw in RAW:
        if bool(raw.get("big")) != big:
            continue
        marks = [pytest.mark.fuzz] if raw.get("long") else []
        out.append(pytest.param(raw, id=f"{raw['category']}/{raw['name']}", marks=marks))
    return out


def _long_only(raw: dict[str, Any]) -> None:
    if raw.get("long") and not LONG_RUN:
        pytest.skip("a worst case under the limits: runs with GRADCLI_FUZZ=1")


@pytest.mark.parametrize("raw", _params(big=False))
def test_small_case(raw: dict[str, Any], tmp_path: Path) -> None:
    _long_only(raw)
    case = build_case(raw)
    got = run_inprocess(
        case.argv, case.stdin, cwd=tmp_path, files=case.files, env=case.env, timeout=case.timeout
    )
    check_outcome(case, got)
    assert not (tmp_path / "PWNED").exists(), case.id


@pytest.mark.slow
@pytest.mark.parametrize("raw", _params(big=True))
def test_big_case(raw: dict[str, Any], tmp_path: Path) -> None:
    _long_only(raw)
    case = build_case(raw)
    got = run_subprocess(
        case.argv,
        case.stdin,
        cwd=tmp_path,
        files=case.files,
        env=case.env,
        timeout=case.timeout,
        address_space_mb=2 * case.memory_mb + 4096,
    )
    check_outcome(case, got)
    assert got.peak_rss_mb is not None and got.peak_rss_mb <= case.memory_mb, (
        f"{case.id}: peak memory {got.peak_rss_mb:.0f} MB, bound {case.memory_mb} MB"
    )
    assert not (tmp_path / "PWNED").exists(), case.id


def test_small_cases_in_one_memory_bounded_process() -> None:
    """All the small cases again, in one real process under a 4 GiB address-space limit:
    their memory is bounded too (peak RSS of the whole batch)."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import badinput; badinput.batch_main()"
    limit = 4096 * 2**20
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["count"] > 300
    assert report["failures"] == []
    assert report["peak_rss_mb"] < 500


def _first_of_each_category() -> list[Any]:
    seen: set[str] = set()
    out = []
    for raw in RAW:
        if raw["category"] in seen or raw.get("big"):
            continue
        seen.add(raw["category"])
        out.append(pytest.param(raw, id=raw["category"]))
    return out


@pytest.mark.parametrize("raw", _first_of_each_category())
def test_inprocess_runner_matches_a_real_process(raw: dict[str, Any], tmp_path: Path) -> None:
    """The in-process runner is a faithful stand-in for `python -m gradcli`."""
    case = build_case(raw)
    real = run_subprocess(case.argv, case.stdin, cwd=tmp_path, files=case.files, env=case.env)
    check_outcome(case, real)
    here = run_inprocess(case.argv, case.stdin, cwd=tmp_path, files=case.files, env=case.env)
    # (help text is wrapped to the terminal width, which differs: compare words)
    assert (here.code, here.stdout, here.stderr.split()) == (real.code, real.stdout, real.stderr.split())


def test_corpus_size_and_categories() -> None:
    """At least 200 cases, unique names, every category of issue 7 present."""
    ids = Counter(f"{raw['category']}/{raw['name']}" for raw in RAW)
    assert sum(ids.values()) >= 200
    assert [i for i, n in ids.items() if n > 1] == []
    categories = {path.stem for path in CORPUS.glob("*.toml")}
    assert {
        "syntax",
        "names",
        "arity",
        "shapes",
        "bindings",
        "injection",
        "nesting",
        "size",
        "numbers",
        "arrays",
        "domain",
    } <= categories
    for raw in RAW:
        assert isinstance(raw["exit"], int) and raw["exit"] in (0, 1, 2), raw["name"]


def test_generated_inputs_are_as_big_as_documented() -> None:
    """The generators really produce 1e5/1e6-deep nesting and 10 MB programs."""
    sizes = {(raw["gen"], raw["n"]) for raw in RAW if "gen" in raw}
    assert ("parens", 1_000_000) in sizes and ("parens", 100_000) in sizes
    assert GENERATORS["parens"](1_000_000).count("(") == 1_000_000
    assert GENERATORS["calls"](100_000).count("sin(") == 100_000
    ten_mb = [len(GENERATORS[g](n)) for g, n in sizes if g in ("sum", "comment", "blank", "long_name")]
    assert max(ten_mb) >= 10_000_000
