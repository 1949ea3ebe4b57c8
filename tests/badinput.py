"""Running the real CLI on hostile input (issue 7): the bad-input corpus, its generators,
and two runners with the behaviour of `python -m gradcli` (that is, of `gradcli.cli.main()`):

- `run_inprocess`: main() under Typer's CliRunner isolation (stdout strict UTF-8, stderr
  with backslash escapes, stdin from bytes), with a time limit. Fast: for the small cases
  and the fuzzers. An exception escaping main() is raised to the test (it would be a
  traceback in a real process).
- `run_subprocess`: `sys.executable -m gradcli` with a time limit and an address-space
  limit (RLIMIT_AS), reporting the child's peak RSS. For the huge cases.

Corpus files are tests/corpus/bad/*.toml, one per category, each a list of `[[case]]`:

    name      unique within the file
    program   the program text            | program_hex: its bytes (not UTF-8), as argv would
    gen, n    a generator of GENERATORS and its size, instead of `program` (huge inputs)
    via       "arg" (default), "stdin" ('-') or "file" ('@prog.gc'): how the program is passed
    command   "eval" (default), "grad", ...; args: more words (bindings, options)
    args_hex  more words given as bytes (not UTF-8), appended after args
    argv      the whole argument list instead of command/program/args (usage errors)
    stdin_hex raw bytes on stdin
    files     {name = "text"} written into the case's working directory first
    binfiles  {name = "generator"}: binary files (e.g. .npy) made by FILE_GENERATORS
    env       {VAR = "value"} extra environment (e.g. a lowered GRADCLI_ limit)
    exit      the expected exit code
    stderr    a fragment the message on stderr must contain ("" for none)
    stdout    optional fragment of stdout
    big       true: run in a subprocess with the time and memory bounds below
    long      true: only in the long pre-release run (GRADCLI_FUZZ=1): worst cases under the limits
    memory_mb peak RSS bound for big cases (default 1024); timeout seconds (default 60)
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import tomllib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus" / "bad"
TRACEBACK = "Traceback (most recent call last)"
PYTHON_WARNING = re.compile(r"\b[A-Z]\w*Warning: ")  # e.g. numpy's "RuntimeWarning: overflow ..."


# --------------------------------------------------------------------------
# Generators for the huge inputs (never committed as files).


def _sum_terms(n: int) -> str:
    return "+".join(["x"] * n)


GENERATORS: dict[str, Callable[[int], str]] = {
    "parens": lambda n: "(" * n + "x" + ")" * n,
    "calls": lambda n: "sin(" * n + "x" + ")" * n,
    "unary_minus": lambda n: "-" * n + "x",
    "unary_mixed": lambda n: "-+" * (n // 2) + "x",
    "power_chain": lambda n: "**".join(["1"] * n) + "**x",
    "vectors": lambda n: "[" * n + "x" + "]" * n,
    "unclosed_parens": lambda n: "(" * n + "x",
    "unclosed_calls": lambda n: "exp(" * n + "x",
    "extra_close": lambda n: "(" * n + "x" + ")" * (n + 1),
    "sum": _sum_terms,
    "sum_then_error": lambda n: _sum_terms(n) + "+*",
    "matmul_chain": lambda n: "sum(" + " @ ".join(["W"] * n) + ")",
    "transpose_chain": lambda n: "sum(x" + ".T" * n + " * x)",
    "slice_chain": lambda n: "sum(x" + "[::-1]" * n + " * x)",
    "index_chain": lambda n: "x" + "[0]" * n,
    "statements": lambda n: "\n".join(f"a{i} = x + {i}" for i in range(n)) + "\nx",
    "semicolons": lambda n: "x" + ";" * n,
    "inputs": lambda n: "+".join(f"v{i}" for i in range(n)),
    "long_name": lambda n: "x" * n,
    "long_number": lambda n: "9" * n,
    "long_fraction": lambda n: "0." + "0" * n + "1",
    "comment": lambda n: "# " + "a" * n + "\nx",
    "blank": lambda n: " " * n,
    "newlines": lambda n: "\n" * n + "x",
    "vector_items": lambda n: "[" + ",".join(["1"] * n) + "]",
    "linspace_sums": lambda n: "+".join(["sum(linspace(0, 1, 9e6))"] * n),
    # forward mode: n dense tangents of ~240 MB alive at once (x has 1000 elements)
    "dense_fanout": lambda n: (
        "c = x + ["
        + ",".join(["[0]"] * 30)
        + "]\n"
        + "\n".join(f"d{i} = c*{i + 1}" for i in range(n))
        + "\nsum("
        + "+".join(f"d{i}" for i in range(n))
        + ")"
    ),
}


def _npy(header: str, data: bytes) -> bytes:
    """A .npy file with a hand-written header (version 1.0)."""
    head = header.encode("latin1")
    pad = 64 - (10 + len(head) + 1) % 64
    head = head + b" " * (pad % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head + data


def _saved(make: Callable[[Any], Any], **kwargs: Any) -> Callable[[], bytes]:
    def build() -> bytes:
        import io

        import numpy as np

        buf = io.BytesIO()
        np.save(buf, make(np), **kwargs)
        return buf.getvalue()

    return build


class _Payload:
    """Pickled, this would create the directory PWNED when unpickled (it must never be)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, ("PWNED",))


def _pickle_bomb() -> bytes:
    import pickle

    body = pickle.dumps([_Payload()], protocol=2)
    return _npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", body)


FILE_GENERATORS: dict[str, Callable[[], bytes]] = {
    "npy_pickle_payload": _pickle_bomb,
    "npy_object": _saved(lambda np: np.array([1, "a", None], dtype=object), allow_pickle=True),
    "npy_complex": _saved(lambda np: np.array([1 + 2j, 3])),
    "npy_strings": _saved(lambda np: np.array(["1.5", "abc"])),
    "npy_records": _saved(lambda np: np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])),
    "npy_dates": _saved(lambda np: np.array(["2020-01-01"], dtype="datetime64[D]")),
    "npy_40_dims": _saved(lambda np: np.zeros((1,) * 40)),
    "npy_ints": _saved(lambda np: np.array([1, 2, 3])),
    "npy_bools": _saved(lambda np: np.array([True, False])),
    "npy_empty": _saved(lambda np: np.zeros(0)),
    "npy_column_10k": _saved(lambda np: np.zeros((10_000, 1))),
    "npy_truncated": lambda: _npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000,), }", b"\0" * 80),
    "npy_huge_shape": lambda: _npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (10**12,), }", b"\0" * 8
    ),
    "npy_huge_shape_literal": lambda: _npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", b"\0" * 8
    ),
    "npy_negative_shape": lambda: _npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-5,), }", b""),
    "npy_code_in_header": lambda: _npy(
        "{'descr': __import__('os').mkdir('PWNED'), 'fortran_order': False, 'shape': (1,), }", b"\0" * 8
    ),
    "npy_header_only_magic": lambda: b"\x93NUMPY\x01\x00",
    "npy_garbage": lambda: bytes(range(256)) * 4,
    "empty": lambda: b"",
    "not_utf8": lambda: b"1 2 \xff\xfe 3",
    "nul_bytes": lambda: b"1 2\x00 3",
}


# --------------------------------------------------------------------------
# The corpus.


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    stdin: bytes
    files: Mapping[str, bytes]
    env: Mapping[str, str]
    exit: int
    stderr: str
    stdout: str | None
    big: bool
    long: bool
    memory_mb: int
    timeout: float
    json: bool = field(default=False)


_KEYS = {
    "name",
    "program",
    "program_hex",
    "gen",
    "n",
    "via",
    "command",
    "args",
    "args_hex",
    "argv",
    "stdin_hex",
    "files",
    "binfiles",
    "env",
    "exit",
    "stderr",
    "stdout",
    "big",
    "long",
    "memory_mb",
    "timeout",
}


def _case(category: str, raw: dict[str, Any]) -> Case:
    unknown = set(raw) - _KEYS
    assert not unknown, f"{category}: unknown keys {unknown} in {raw.get('name')}"
    ident = f"{category}/{raw['name']}"
    files = {k: v.encode("utf-8") for k, v in raw.get("files", {}).items()}
    files.update({k: FILE_GENERATORS[v]() for k, v in raw.get("binfiles", {}).items()})
    stdin = bytes.fromhex(raw["stdin_hex"]) if "stdin_hex" in raw else b""
    if "argv" in raw:
        argv = tuple(raw["argv"])
    else:
        if "program_hex" in raw:
            data = bytes.fromhex(raw["program_hex"])
        elif "gen" in raw:
            data = GENERATORS[raw["gen"]](int(raw["n"])).encode("utf-8")
        else:
            data = raw["program"].encode("utf-8")
        via = raw.get("via", "arg")
        if via == "arg":
            assert b"\0" not in data, f"{ident}: a NUL byte cannot be in argv; use via = 'stdin'"
            word = os.fsdecode(data)  # as the OS hands argv to Python (surrogate escapes)
        elif via == "stdin":
            word, stdin = "-", data
        else:
            assert via == "file", ident
            word = "@prog.gc"
            files["prog.gc"] = data
        extra = [os.fsdecode(bytes.fromhex(h)) for h in raw.get("args_hex", ())]
        argv = (raw.get("command", "eval"), word, *raw.get("args", ()), *extra)
    return Case(
        id=ident,
        argv=argv,
        stdin=stdin,
        files=files,
        env=dict(raw.get("env", {})),
        exit=int(raw["exit"]),
        stderr=raw["stderr"],
        stdout=raw.get("stdout"),
        big=bool(raw.get("big", False)),
        long=bool(raw.get("long", False)),
        memory_mb=int(raw.get("memory_mb", 1024)),
        timeout=float(raw.get("timeout", 60)),
        json="--json" in argv,
    )


def load_corpus() -> list[dict[str, Any]]:
    """The raw case tables (cheap: generators run only when a case is built)."""
    out = []
    for path in sorted(CORPUS.glob("*.toml")):
        with path.open("rb") as f:
            for raw in tomllib.load(f)["case"]:
                out.append({"category": path.stem, **raw})
    return out


def build_case(raw: Mapping[str, Any]) -> Case:
    body = dict(raw)
    return _case(body.pop("category"), body)


# --------------------------------------------------------------------------
# Runners.


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    peak_rss_mb: float | None = None

    def describe(self) -> str:
        return f"exit {self.code}\n--- stdout ---\n{self.stdout[:2000]}\n--- stderr ---\n{self.stderr[:2000]}"


class Hang(BaseException):
    """The in-process run exceeded its time limit (BaseException: main() cannot swallow it)."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def _workdir(files: Mapping[str, bytes], where: Path | None) -> Iterator[None]:
    if where is None:
        yield
        return
    for name, data in files.items():
        (where / name).write_bytes(data)
    old = os.getcwd()
    os.chdir(where)
    try:
        yield
    finally:
        os.chdir(old)


def run_inprocess(
    argv: Sequence[str],
    stdin: bytes = b"",
    *,
    cwd: Path | None = None,
    files: Mapping[str, bytes] | None = None,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 30.0,
) -> Outcome:
    """`gradcli ARGV...` as main() runs it, in this process."""
    from typer.testing import CliRunner

    from gradcli.cli.main import main

    env = {"NO_COLOR": "1", "FORCE_COLOR": None, "COLUMNS": "100", **(env or {})}
    limits_env = {k: v for k, v in env.items() if k.startswith("GRADCLI_") and v is not None}
    code: int = 0
    with (
        _reloaded_limits(limits_env),
        _workdir(files or {}, cwd),
        CliRunner().isolation(input=stdin, env=env) as (out, err, _),
    ):
        old_argv = sys.argv
        sys.argv = ["gradcli", *argv]
        # Python warnings would reach a real process's stderr (pytest would swallow them).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with _time_limit(timeout):
                    main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.argv = old_argv
                sys.stdout.flush()
                sys.stderr.flush()
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
        stderr += "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    return Outcome(code, stdout, stderr)


@contextmanager
def _reloaded_limits(env: Mapping[str, str]) -> Iterator[None]:
    """GRADCLI_* variables are read once at import: apply them to the shared LIMITS object."""
    if not env:
        yield
        return
    from dataclasses import fields

    from gradcli import limits

    saved = {f.name: getattr(limits.LIMITS, f.name) for f in fields(limits.LIMITS)}
    old_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        fresh = limits.load()
        for name in saved:
            setattr(limits.LIMITS, name, getattr(fresh, name))
        yield
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for name, value in saved.items():
            setattr(limits.LIMITS, name, value)


def _child_limits(memory_bytes: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_subprocess(
    argv: Sequence[str],
    stdin: bytes = b"",
    *,
    cwd: Path | None = None,
    files: Mapping[str, bytes] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    address_space_mb: int = 6144,
) -> Outcome:
    """`python -m gradcli ARGV...` in a child process with a time limit and RLIMIT_AS;
    the outcome carries the child's peak resident memory."""
    if cwd is not None:
        for name, data in (files or {}).items():
            (cwd / name).write_bytes(data)
    child_env = {
        **os.environ,
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONUTF8": "0",
        **(env or {}),
    }
    child_env.pop("FORCE_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=child_env,
        preexec_fn=_child_limits(address_space_mb * 2**20),
    )
    chunks: dict[str, bytes] = {}

    def pump_in() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin)
        except BrokenPipeError:  # the child stopped reading (e.g. at the size limit)
            pass
        finally:
            with suppress(BrokenPipeError):
                proc.stdin.close()

    def pump_out(name: str, stream: Any) -> None:
        with stream:
            chunks[name] = stream.read()

    threads = [
        threading.Thread(target=pump_in),
        threading.Thread(target=pump_out, args=("out", proc.stdout)),
        threading.Thread(target=pump_out, args=("err", proc.stderr)),
    ]
    for t in threads:
        t.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join()
    stderr = chunks.get("err", b"").decode("utf-8", "replace")
    if proc.returncode == -signal.SIGKILL:
        stderr += f"\n[killed after the {timeout} s time limit]"
    return Outcome(
        proc.returncode, chunks.get("out", b"").decode("utf-8", "replace"), stderr, usage.ru_maxrss / 1024
    )


def check_outcome(case: Case, got: Outcome) -> None:
    """The documented exit code, the message on stderr, no traceback, valid --json output."""
    where = f"{case.id}: {got.describe()}"
    assert TRACEBACK not in got.stdout + got.stderr, where
    assert "internal error:" not in got.stderr, where
    assert not PYTHON_WARNING.search(got.stderr), where
    assert got.code == case.exit, where
    assert case.stderr in got.stderr, where
    if case.stdout is not None:
        assert case.stdout in got.stdout, where
    if case.exit == 2:
        assert got.stderr.strip(), where  # an error always says something
    if case.json:
        assert_json_stdout(got, where)


def assert_json_stdout(got: Outcome, where: str = "") -> None:
    """--json: stdout is empty (an error before any result) or exactly one JSON object."""
    import json

    text = got.stdout.strip()
    if not text:
        assert got.code != 0, f"--json printed nothing on success; {where}"
        return
    obj = json.loads(text, parse_constant=_reject_constant)
    assert isinstance(obj, dict), where


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def batch_main() -> None:
    """Run every small corpus case in this one process and print a JSON report (failures,
    peak memory): test_corpus runs it under an address-space limit, to bound their memory."""
    import json
    import tempfile

    failures: list[str] = []
    count = 0
    for raw in load_corpus():
        if raw.get("big") or raw.get("long"):
            continue
        case = build_case(raw)
        count += 1
        with tempfile.TemporaryDirectory() as tmp:
            got = run_inprocess(
                case.argv, case.stdin, cwd=Path(tmp), files=case.files, env=case.env, timeout=case.timeout
            )
            try:
                check_outcome(case, got)
                assert not (Path(tmp) / "PWNED").exists(), case.id
            except AssertionError as exc:
                failures.append(str(exc)[:1000])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"count": count, "failures": failures, "peak_rss_mb": peak}))
