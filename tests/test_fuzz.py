"""Property-based fuzzing of the CLI (issue 7), through main() in-process (tests/badinput.py).

Inputs: (a) random text and random bytes, (b) byte-level mutations of valid programs and
bindings, (c) random well-formed programs from the grammar and the primitive table, with
random bindings and options, for every command. Properties: the exit code is 0, 1 or 2;
nothing escapes main() (no traceback, no "internal error"); no file appears; --json output
is valid JSON (one object; JSON Lines for `check`); exit 1 only where a check can fail.

Example counts are modest by default. The long run before a release:

    GRADCLI_FUZZ=1 pytest tests/test_fuzz.py tests/test_corpus.py     # 2,000 examples each
    GRADCLI_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py             # any count
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from badinput import PYTHON_WARNING, TRACEBACK, Outcome, run_inprocess
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcli.primitives import PRIMITIVES

LONG_RUN = os.environ.get("GRADCLI_FUZZ") == "1"
EXAMPLES = int(os.environ.get("GRADCLI_FUZZ_EXAMPLES", "0")) or (2000 if LONG_RUN else 60)

fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)

pytestmark: Any = pytest.mark.fuzz if LONG_RUN else []

PUBLIC = [p for p in PRIMITIVES.values() if p.public and p.symbol is None]
NAMES = ["x", "y", "w", "b", "t"]
JSON_FLAGS = {"eval": ["--json"], "grad": ["--json"], "check": ["--json"], "explain": ["--format", "json"]}
SEEDS = [
    "sin(x**2)",
    "z = w*x + b; p = sigmoid(z); bce(p, y)",
    "-x**2 + 2**-1 * y / (1 + abs(x))",
    "mean((x - [1, 2, 3])**2)",
    "a = [[1, 2], [3, 4]] * x\nsum(a) # comment",
    "logsumexp(x) + norm(x) + dot(x, x)",
    "clamp(x, 0, 1) + min(x, y) * max(x, y)",
    "sum(linspace(0, 1, 5) * x) + prod(arange(1, 4, 1))",
    "detach(x) * stop_gradient(y) + relu(x - y)",
    "bce_with_logits(x, 0.5) + mse(x, y) + softplus(-x)",
]
VALUES = [
    "0",
    "1",
    "-1.5",
    "3",
    "1e308",
    "-1e-320",
    "0/0",
    "exp(1000)",
    "pi/4",
    "[1, 2, 3]",
    "[0.5, -2, 4]",
    "[[1, 2], [3, 4]]",
    "[[1], [2]]",
    "linspace(0, 1, 3)",
    "arange(1, 4, 1)",
    "linspace(0, 1, 0)",
    "[linspace(0, 1, 0)]",
    "[[0.5, 1e-8, 1]]",
]


# --------------------------------------------------------------------------
# Running one command and checking the properties.


def _not_json(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def _assert_json(out: Outcome, command: str) -> None:
    text = out.stdout.strip()
    if not text:
        assert out.code != 0, "--json printed nothing on success"
        return
    docs = text.splitlines() if command == "check" else [text]  # check writes JSON Lines
    for doc in docs:
        json.loads(doc, parse_constant=_not_json)


def run_and_check(argv: list[str], stdin: bytes = b"", tmp: Path | None = None) -> Outcome:
    out = run_inprocess(argv, stdin, cwd=tmp, timeout=60)
    check_properties(argv, out, stdin, tmp)
    return out


def check_properties(argv: list[str], out: Outcome, stdin: bytes = b"", tmp: Path | None = None) -> None:
    shown = f"argv={argv!r} stdin={stdin[:200]!r}\n{out.describe()}"
    assert out.code in (0, 1, 2), shown
    assert TRACEBACK not in out.stdout + out.stderr, shown
    assert "internal error:" not in out.stderr, shown
    assert not PYTHON_WARNING.search(out.stderr), shown
    command = argv[0] if argv else ""
    flags = JSON_FLAGS.get(command, [])
    if flags and all(f in argv for f in flags):
        _assert_json(out, command)
    if out.code == 1:  # only a check can fail: --strict, --mode both, the check command
        assert command == "check" or "--strict" in argv or "both" in argv, shown
    if tmp is not None:
        assert not (tmp / "PWNED").exists(), shown


def _program_word(data: bytes) -> tuple[str, bytes]:
    """How to pass a program of raw bytes: argv (as the OS decodes it), or stdin if it has NUL."""
    if b"\0" in data:
        return "-", data
    return os.fsdecode(data), b""


def _bindings_for(text: str, values: st.DataObject) -> list[str]:
    names = sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)) - {p.name for p in PRIMITIVES.values()})
    return [f"{n}={values.draw(st.sampled_from(VALUES))}" for n in names[:6] if n not in ("pi", "e")]


# --------------------------------------------------------------------------
# (a) random text and bytes.

ALPHABET = st.sampled_from(
    [
        *"0123456789.eE+-*/^()[],;=#_ \t\n\rxyzwbpinsaclogtqrdm",
        "**",
        "sin(",
        "exp(",
        "log(",
        "sum(",
        "linspace(",
        "1e308",
        "1e999",
        "×",
        "−",
        "²",
        "\0",
        "\x1b",
        "'",
        '"',
        "@",
        "%",
        "!",
        "{",
        "}",
        ":",
        "\\",
        "\u00a0",
        "\u200b",
        "\ufeff",
        "٣",
        "３",
        "🙂",
    ]
)


@fuzz_settings
@given(
    text=st.lists(ALPHABET, max_size=40).map("".join) | st.text(max_size=40),
    command=st.sampled_from(["eval", "grad", "explain", "check"]),
    json_out=st.booleans(),
    data=st.data(),
)
def test_random_text(text: str, command: str, json_out: bool, data: st.DataObject) -> None:
    word, stdin = _program_word(text.encode("utf-8", "surrogatepass"))
    argv = [command, word, *_bindings_for(text, data)]
    if json_out:
        argv += JSON_FLAGS[command]
    run_and_check(argv, stdin)


@fuzz_settings
@given(raw=st.binary(max_size=60), command=st.sampled_from(["eval", "grad"]))
def test_random_bytes_on_stdin(raw: bytes, command: str) -> None:
    run_and_check([command, "-", "x=1", "y=2", "--json"], raw)


@fuzz_settings
@given(
    value=st.lists(ALPHABET, max_size=30).map("".join) | st.text(max_size=30),
    name=st.sampled_from(["x", "x y", "1x", "", "_", "x=x"]),
)
def test_random_binding_values(value: str, name: str) -> None:
    assume("\0" not in value)
    run_and_check(["grad", "x*2", f"{name}={value}", "--json"])


# --------------------------------------------------------------------------
# (b) byte-level mutations of valid programs.


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "flip"]))
        if op == "insert":
            data[pos:pos] = draw(
                st.binary(min_size=1, max_size=4)
                | st.sampled_from(
                    [
                        b"(",
                        b")",
                        b"[",
                        b"]",
                        b",",
                        b"**",
                        b"-",
                        b"\n",
                        b";",
                        b"=",
                        b"1e999",
                        b"\xff",
                        b"\xc3",
                        b"\0",
                    ]
                )
            )
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 5))]
        elif op == "replace" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "duplicate":
            end = draw(st.integers(pos, min(len(data), pos + 12)))
            data[pos:pos] = data[pos:end]
        elif op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@fuzz_settings
@given(
    data=st.data(),
    seed=st.sampled_from(SEEDS),
    command=st.sampled_from(["eval", "grad", "grad", "explain", "check"]),
    via=st.sampled_from(["arg", "stdin", "file"]),
)
def test_mutated_programs(data: st.DataObject, seed: str, command: str, via: str, tmp_path: Path) -> None:
    program = data.draw(mutated(seed.encode()))
    bindings = _bindings_for(program.decode("utf-8", "replace"), data)
    if data.draw(st.booleans()):  # mutate a binding too
        bindings = [os.fsdecode(data.draw(mutated(b.encode()))).replace("\0", "") for b in bindings]
    word, stdin = _program_word(program)
    if via == "stdin":
        word, stdin = "-", program
    elif via == "file":
        (tmp_path / "prog.gc").write_bytes(program)
        word, stdin = "@prog.gc", b""
    run_and_check([command, word, *bindings, *JSON_FLAGS[command]], stdin, tmp_path)


# --------------------------------------------------------------------------
# (c) well-formed programs from the grammar and the primitive table.

NUMBERS = st.sampled_from(
    [
        "0",
        "1",
        "2",
        "0.5",
        ".5",
        "3.",
        "1e-3",
        "2.5E+2",
        "1e308",
        "1.7976931348623157e308",
        "5e-324",
        "1e-400",
        "123456789012345678901234567890",
        "1e999",
    ]
) | st.integers(0, 10**6).map(str)


def _spaced(draw: st.DrawFn, text: str) -> str:
    return draw(st.sampled_from(["", " ", "  ", "\t"])) + text + draw(st.sampled_from(["", " "]))


@st.composite
def expression(draw: st.DrawFn, depth: int = 0) -> str:
    leaf = depth >= 4 or draw(st.integers(0, 3)) == 0
    if leaf:
        return draw(NUMBERS | st.sampled_from(NAMES) | st.sampled_from(["pi", "e"]))
    kind = draw(st.sampled_from(["binary", "binary", "unary", "call", "call", "paren", "vector"]))
    if kind == "binary":
        op = draw(st.sampled_from(["+", "-", "*", "/", "**", "^"]))
        return draw(expression(depth + 1)) + _spaced(draw, op) + draw(expression(depth + 1))
    if kind == "unary":
        return draw(st.sampled_from(["-", "+", "--"])) + draw(expression(depth + 1))
    if kind == "paren":
        return "(" + draw(expression(depth + 1)) + ")"
    if kind == "vector":
        items = draw(st.lists(expression(depth + 1), min_size=1, max_size=3))
        return "[" + ", ".join(items) + "]"
    prim = draw(st.sampled_from(PUBLIC))
    nargs = len(prim.params) if draw(st.integers(0, 9)) else draw(st.integers(0, 4))  # mostly right
    args = [draw(expression(depth + 1)) for _ in range(nargs)]
    return prim.name + "(" + ", ".join(args) + draw(st.sampled_from(["", ","])) * bool(args) + ")"


@st.composite
def program(draw: st.DrawFn) -> str:
    statements = []
    for i in range(draw(st.integers(0, 3))):
        statements.append(f"a{i} = " + draw(expression()))
    statements.append(draw(expression()))
    separator = draw(st.sampled_from(["; ", "\n", " ;\n", "\r\n"]))
    text = separator.join(statements)
    if draw(st.booleans()):
        text = "# generated\n" + text + "  # end"
    return text


@fuzz_settings
@given(text=program(), command=st.sampled_from(["eval", "grad", "grad", "explain", "check"]), data=st.data())
def test_grammar_programs(text: str, command: str, data: st.DataObject) -> None:
    argv = [command, text, *_bindings_for(text, data)]
    wrt = ["--wrt", data.draw(st.sampled_from(["x", "a0", "x,y", "pi"]))]
    if command == "grad":
        argv += data.draw(
            st.sampled_from(
                [
                    [],
                    ["--mode", "forward"],
                    ["--mode", "both"],
                    ["--strict"],
                    wrt,
                    ["--precision", "3"],
                    ["--mode", "both", "--strict"],
                ]
            )
        )
    if command == "explain":
        argv += data.draw(
            st.sampled_from([[], ["--mode", "forward"], ["--max-rows", "3"], wrt, ["--format", "markdown"]])
        )
    if command == "check":
        argv += data.draw(st.sampled_from([[], wrt, ["--manual", "x:" + data.draw(expression(2))]]))
    if data.draw(st.booleans()):
        argv += JSON_FLAGS[command]
    run_and_check(argv)


def test_the_properties_can_fail() -> None:
    """The checker is not vacuous: bad JSON, a crash or an unexplained exit 1 are caught."""
    with pytest.raises(AssertionError):
        _assert_json(Outcome(0, '{"value": NaN}', ""), "eval")
    with pytest.raises(AssertionError):
        _assert_json(Outcome(0, "", ""), "grad")
    with pytest.raises(json.JSONDecodeError):
        _assert_json(Outcome(0, '{"a": 1}{"b": 2}', ""), "eval")
    with pytest.raises(AssertionError):
        check_properties(["eval", "x"], Outcome(3, "", "internal error: boom"))
    with pytest.raises(AssertionError):
        check_properties(["eval", "x"], Outcome(2, "", TRACEBACK))
    with pytest.raises(AssertionError):
        check_properties(["eval", "x"], Outcome(0, "1", "f.py:3: RuntimeWarning: overflow encountered"))
    with pytest.raises(AssertionError):
        check_properties(["eval", "log(x)", "x=-1"], Outcome(1, "", ""))
    ok = run_and_check(["grad", "x**2", "x=3", "--json"])
    assert json.loads(ok.stdout)["gradient"]["x"] == 6.0
    assert run_and_check(["eval", "log(x)", "x=-1", "--strict"]).code == 1


def test_example_count() -> None:
    assert fuzz_settings.max_examples == EXAMPLES >= 60
