"""Spec files for `gradcli check --spec`: the shipped example (also in the README), the summary,
JUnit XML parsed back, GitHub annotations, JSON Lines, and every kind of invalid file, whose
message must name the file, the line and the key."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from gradcheck import scalar
from typer.testing import CliRunner, Result

from gradcli.check.spec import KeyLocator, SpecError, load
from gradcli.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "checks.toml"
CLEAN_ENV: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None}


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["check", *args], env=CLEAN_ENV)


def header_lines(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.strip() == "[[check]]"]


# --------------------------------------------------------------------------
# The shipped example.


def test_example_is_in_the_readme_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.DOTALL)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks


def test_example_passes(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    result = cli("--spec", str(EXAMPLE), "--junit", str(report))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "5 checks: 5 passed, 0 failed" in result.stdout
    assert "ok (kink)" in result.stdout  # the relu check
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "5" and suite.get("failures") == "0" and suite.get("errors") == "0"
    cases = suite.findall("testcase")
    text = EXAMPLE.read_text(encoding="utf-8")
    names = re.findall(r'^name = "([^"]+)"', text, re.MULTILINE)
    assert [c.get("name") for c in cases] == names
    assert [int(c.get("line", "0")) for c in cases] == header_lines(text)
    assert all(c.get("file") == str(EXAMPLE) for c in cases)
    assert all(c.find("failure") is None for c in cases)
    assert all(float(c.get("time", "-1")) >= 0 for c in cases)


def test_example_values_are_the_hand_derived_ones() -> None:
    _, prepared = load(str(EXAMPLE))
    by_name = {p.spec.name: p for p in prepared}
    assert scalar(by_name["sine of a square"].expect_value) == pytest.approx(math.sin(9), rel=1e-15)
    assert float(by_name["sine of a square"].expect_gradient["x"]) == pytest.approx(
        6 * math.cos(9), rel=1e-15
    )
    p = 1 / (1 + math.exp(-6.7))
    assert scalar(by_name["logistic regression by hand"].expect_value) == pytest.approx(
        -math.log(1 - p), rel=1e-12
    )
    assert list(by_name["mean of squares"].expect_gradient["x"]) == pytest.approx(
        [2 / 3, 4 / 3, 2.0], rel=1e-15
    )
    assert by_name["logistic regression by hand"].wrt == ["w", "b"]
    assert float(by_name["angle in radians"].inputs["t"]) == pytest.approx(math.pi / 3, rel=1e-15)


def test_example_as_json_lines() -> None:
    result = cli("--spec", str(EXAMPLE), "--format", "json")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    objs = [json.loads(line) for line in lines]
    assert all(o["passed"] for o in objs)
    assert [o["line"] for o in objs] == header_lines(EXAMPLE.read_text(encoding="utf-8"))
    logistic = objs[1]["gradients"]
    p = 1 / (1 + math.exp(-6.7))
    assert logistic["w"]["manual"] == pytest.approx(p * 6.7, rel=1e-12)
    assert logistic["b"]["reverse"] == pytest.approx(p, rel=1e-12)
    assert set(logistic) == {"w", "b"}


# --------------------------------------------------------------------------
# A file with failures.

FAILING = """\
[[check]]
name = "wrong by hand"
program = "sin(x**2)"
at = { x = 3 }
manual = { x = "2*x*sin(x**2)" }

[[check]]
name = "right"
program = "x*y"
at = { x = 2, y = "[1, 2, 3]" }
expect = { gradient = { x = 6, y = [2, 2, 2] } }

[[check]]
name = "wrong expectation"
program = "x**2"
at = { x = 3 }
expect = { value = 9, gradient = { x = 6.5 } }

[[check]]
name = "undefined"
program = "log(x)"
at = { x = -1 }
"""


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    path = tmp_path / "ci checks.toml"
    path.write_text(FAILING, encoding="utf-8")
    return path


def test_failing_file_summary_and_exit_code(failing: Path) -> None:
    result = cli("--spec", str(failing))
    assert result.exit_code == 1
    assert "4 checks: 1 passed, 3 failed" in result.stdout
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert "FAIL" in rows["wrong by hand"] and "NaN" in rows["undefined"]
    assert re.search(r"^right\s+7\s+ok\s", result.stdout, re.MULTILINE)
    assert "check failed: wrong by hand: x: the manual formula" in result.stderr


def test_failing_file_junit_parsed_back(failing: Path, tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.xml"
    report.parent.mkdir()
    assert cli("--spec", str(failing), "--junit", str(report)).exit_code == 1
    root = ET.parse(report).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "3", "0")
    assert (root.get("tests"), root.get("failures")) == ("4", "3")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["wrong by hand", "right", "wrong expectation", "undefined"]
    assert cases["right"].find("failure") is None
    assert {c.get("classname") for c in cases.values()} == {"gradcli.check.ci checks"}
    wrong = cases["wrong by hand"].find("failure")
    assert wrong is not None
    message = wrong.get("message", "")
    assert f"{6 * math.sin(9):.10g}" in message and f"{6 * math.cos(9):.10g}" in message
    assert "program: sin(x**2)" in (wrong.text or "")
    expectation = cases["wrong expectation"].find("failure")
    assert expectation is not None and "the expected gradient is 6.5" in expectation.get("message", "")
    assert "reverse mode gives 6 " in expectation.get("message", "")
    undefined = cases["undefined"].find("failure")
    assert undefined is not None and "NaN" in undefined.get("message", "")
    assert [int(c.get("line", "0")) for c in cases.values()] == header_lines(FAILING)


def test_failing_file_github_annotations(failing: Path) -> None:
    result = cli("--spec", str(failing), "--format", "github")
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 3  # one problem in each failed check
    pattern = re.compile(
        r"::error file=(?P<file>[^,]+),line=(?P<line>\d+),title=(?P<title>[^:]+)::(?P<msg>.+)"
    )
    parsed = [pattern.fullmatch(a) for a in annotations]
    assert all(parsed)
    assert {m.group("file") for m in parsed if m} == {str(failing)}
    assert [int(m.group("line")) for m in parsed if m] == [1, 13, 19]
    assert parsed[0] and parsed[0].group("title") == "gradcli check wrong by hand"
    assert "4 checks" in result.stdout  # the summary table is printed too


def test_github_escaping(tmp_path: Path) -> None:
    path = tmp_path / "a,b:c.toml"
    path.write_text(
        '[[check]]\nname = "50% off, really: yes"\nprogram = "x"\nat = { x = 1 }\nmanual = { x = "2" }\n',
        encoding="utf-8",
    )
    out = cli("--spec", str(path), "--format", "github").stdout
    (line,) = [x for x in out.splitlines() if x.startswith("::error")]
    assert "a%2Cb%3Ac.toml" in line and "title=gradcli check 50%25 off%2C really%3A yes::" in line


def test_failing_file_json_lines(failing: Path) -> None:
    result = cli("--spec", str(failing), "--json")
    assert result.exit_code == 1
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["passed"] for o in objs] == [False, True, False, False]
    assert [o["verdict"] for o in objs] == ["fail", "ok", "fail", "nan"]
    assert objs[0]["gradients"]["x"]["manual_formula"] == "2*x*sin(x**2)"
    assert objs[3]["value"] is None


def test_cli_tolerances_apply_to_checks_without_their_own(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        '[[check]]\nname = "a"\nprogram = "x**2"\nat = { x = 3 }\nmanual = { x = "6.0000001" }\n'
        '[[check]]\nname = "b"\nprogram = "x**2"\nat = { x = 3 }\nmanual = { x = "6.0000001" }\n'
        "rtol = 1e-12\n",
        encoding="utf-8",
    )
    assert cli("--spec", str(path)).exit_code == 1
    result = cli("--spec", str(path), "--rtol", "1e-6", "--json")
    assert [json.loads(line)["passed"] for line in result.stdout.splitlines()] == [True, False]


def test_at_files_are_relative_to_the_spec_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("1 2 3\n", encoding="utf-8")
    (tmp_path / "sub" / "prog.txt").write_text("mean(x**2)\n", encoding="utf-8")
    (tmp_path / "sub" / "c.toml").write_text(
        '[[check]]\nprogram = "@prog.txt"\nat = { x = "@x.txt" }\nmanual = { x = "2*x/3" }\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = cli("--spec", "sub/c.toml", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    obj = json.loads(result.stdout)
    assert obj["inputs"]["x"] == [1.0, 2.0, 3.0] and obj["name"] is None
    assert obj["gradients"]["x"]["manual"] == pytest.approx([2 / 3, 4 / 3, 2.0])


# --------------------------------------------------------------------------
# Invalid files: exit 2, nothing on stdout, and file:line plus the key in the message.

INVALID = [
    # (text, line, key or None, words)
    ('[[check]\nprogram = "x"\n', 1, None, "invalid TOML"),
    ('[[check]]\nprogram = "x\nat = {}\n', 2, None, "invalid TOML"),
    ("x = 1\n", 1, "x", "unknown top-level key"),
    ("", 1, "check", "no [[check]] tables"),
    ("# only a comment\n[tool]\n", 2, "tool", "unknown top-level key"),
    ('[[check]]\nname = "a"\nprogramm = "sin(x)"\n', 3, "programm", "did you mean 'program'"),
    ('[[check]]\nname = "a"\nat = { x = 1 }\n', 1, None, "'program' is missing"),
    ('[[check]]\nname = 3\nprogram = "x"\n', 2, "name", "must be a string"),
    ('[[check]]\nname = "a"\nprogram = 3\n', 3, "program", "non-empty string"),
    ('[[check]]\nname = "a"\nprogram = "sin(x"\nat = { x = 1 }\n', 3, "program", "end of input"),
    ('[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { y = 1 }\n', 4, "at", "missing input: x"),
    ('[[check]]\nname = "a"\nprogram = "sin(x)"\nat = 3\n', 4, "at", "table of input values"),
    ('[[check]]\nname = "a"\nprogram = "sin(x)"\n\n[check.at]\nx = true\n', 6, "at.x", "true/false"),
    ('[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = [[1, 2], [3]] }\n', 4, "at.x", "equal length"),
    ('[[check]]\nname = "a"\nprogram = "sin(x)"\nat.x = "[1, 2"\n', 4, "at.x", "end of input"),
    ('[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\nwrt = 3\n', 5, "wrt", "list of input names"),
    ('[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\nwrt = ["q"]\n', 5, "wrt", "'q'"),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\nmanual = "cos(x)"\n',
        5,
        "manual",
        "table of input -> formula",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\n[check.manual]\nx = 2\n',
        6,
        "manual.x",
        "formula in a string",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\n[check.manual]\n\nx = "cos(q)"\n',
        7,
        "manual.x",
        "uses 'q'",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\nmanual.y = "cos(x)"\n',
        5,
        "manual.y",
        "not an input",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "x*y"\nat = { x = 1, y = 2 }\nwrt = "x"\nmanual = { y = "x" }\n',
        6,
        "manual.y",
        "not in --wrt",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\nexpect = 3\n',
        5,
        "expect",
        "value and/or gradient",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\n[check.expect]\nvalu = 3\n',
        6,
        "expect.valu",
        "did you mean 'value'",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\nexpect.value = "big"\n',
        5,
        "expect.value",
        "number or an array",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\n[check.expect.gradient]\nx = [1, 2]\n',
        6,
        "expect.gradient.x",
        "shape",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\nexpect = { gradient = { z = 1 } }\n',
        5,
        "expect.gradient.z",
        "not checked",
    ),
    ('[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\nrtol = -1\n', 5, "rtol", "non-negative"),
    (
        '[[check]]\nname = "a"\nprogram = "sin(x)"\nat = { x = 1 }\natol = "small"\n',
        5,
        "atol",
        "non-negative",
    ),
    (
        '[[check]]\nname = "a"\nprogram = "x"\nat = { x = 1 }\n\n[[check]]\nname = "a"\nprogram = "x"\n'
        "at = { x = 2 }\n",
        7,
        "name",
        "also used by the check on line 1",
    ),
    # A name titles the table and the JUnit case: no escape sequences for the terminal.
    (
        '[[check]]\nname = "a\\u001b[2Jb"\nprogram = "x"\nat = { x = 1 }\n',
        2,
        "name",
        "must not contain control characters",
    ),
    # The second check is the bad one: the line is found in its own block.
    (
        '[[check]]\nname = "a"\nprogram = "x"\nat = { x = 1 }\n\n[[check]]\nname = "b"\nprogram = "x"\n'
        'at = { x = 1 }\nmanual = { x = "1 +" }\n',
        10,
        "manual.x",
        "end of input",
    ),
    # A multi-line program whose text looks like TOML does not confuse the line finder.
    (
        '[[check]]\nname = "a"\nprogram = """\nmanual = 1\n[[check]]\n"""\nat = { check = 1 }\n'
        'manual = { check = "q" }\n',
        8,
        "manual.check",
        "uses 'q'",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), INVALID)
def test_invalid_file(tmp_path: Path, text: str, line: int, key: str | None, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = cli("--spec", str(path))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"spec error: {path}:{line}: "), first
    if key is not None:
        assert f"key '{key}'" in first
    assert words in result.stderr
    # The same through the API.
    with pytest.raises(SpecError) as info:
        load(str(path))
    assert str(info.value).startswith(f"spec error: {path}:{line}:")


def test_invalid_file_writes_a_junit_report_of_its_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[check]]\nprogram = "sin("\n', encoding="utf-8")
    report = tmp_path / "r.xml"
    assert cli("--spec", str(path), "--junit", str(report)).exit_code == 2
    suite = ET.parse(report).getroot()
    assert suite.get("errors") == "1" and suite.find("testcase/error") is not None


def test_toml_syntax_error_shows_the_line_with_a_caret(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[check]]\nprogram = "x"\nat = { x = }\n', encoding="utf-8")
    err = cli("--spec", str(path)).stderr
    assert f"{path}:3: invalid TOML" in err
    lines = err.splitlines()
    i = next(k for k, text in enumerate(lines) if text.strip().startswith("3 | "))
    assert lines[i + 1].index("^") == lines[i].index("}")


def test_program_error_keeps_its_caret(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[check]]\nname = "n"\nprogram = "sin(x) + cs(x)"\nat = { x = 1 }\n', encoding="utf-8")
    err = cli("--spec", str(path)).stderr
    assert f"{path}:3: check 'n', key 'program': unknown function 'cs'" in err
    assert "1 | sin(x) + cs(x)" in err and "did you mean 'cos'" in err


def test_missing_binding_hint_speaks_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[check]]\nprogram = "x*y*z"\nat = { x = 1 }\n', encoding="utf-8")
    err = cli("--spec", str(path)).stderr
    assert "check #1, key 'at': missing inputs: y, z" in err
    assert "hint: give each a value: at = { y = ..., z = ... }" in err


def test_unreadable_files(tmp_path: Path) -> None:
    result = cli("--spec", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2 and "cannot read the spec file" in result.stderr
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b'[[check]]\nprogram = "x"\n\xff\xfe\n')
    result = cli("--spec", str(binary))
    assert result.exit_code == 2 and f"{binary}:3: the file is not UTF-8 text" in result.stderr


# --------------------------------------------------------------------------
# The key locator on its own.


def test_key_locator() -> None:
    text = """\
# checks
[[check]]
name = "one"
'program' = "x"
at.x = 1
"manual" . x = "1"

[check.expect]
value = 1
gradient.x = 1

[check.expect.gradient]
y = 2

[[check]]  # second
program = '''
[[check]]
at = 1
'''
at = { x = 1 }
"""
    where = KeyLocator(text)
    assert [where.check_line(i) for i in range(2)] == [2, 15]
    assert where.line_of(0, ["name"]) == 3
    assert where.line_of(0, ["program"]) == 4
    assert where.line_of(0, ["at", "x"]) == 5
    assert where.line_of(0, ["manual", "x"]) == 6
    assert where.line_of(0, ["expect", "value"]) == 9
    assert where.line_of(0, ["expect", "gradient", "x"]) == 10
    assert where.line_of(0, ["expect", "gradient", "y"]) == 13
    assert where.line_of(0, ["expect"]) == 8  # the sub-table header
    assert where.line_of(0, ["rtol"]) == 2  # not written: the check's header
    assert where.line_of(1, ["at"]) == 20  # not the 'at = 1' inside the multi-line string
    assert where.line_of(1, ["program"]) == 16
    assert where.line_of(5, ["at"]) == 1


BAD_SPEC = """\
[defaults]
at = { x = 1 }

[[check]]
name = "ok"
program = "sin(x)"

[[check]]
name = "typo"
programm = "sin(x)"

[[check]]
name = "bad formula"
program = "x**2"
manual = { x = "2*q" }
"""


def test_an_invalid_spec_is_visible_to_ci_with_every_problem(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(BAD_SPEC)
    result = CliRunner().invoke(app, ["check", "--spec", str(spec), "--format", "github", "--junit", "-"])
    assert result.exit_code == 2
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 2
    assert f"file={spec},line=10," in annotations[0] and "unknown key" in annotations[0]
    assert f"file={spec},line=15," in annotations[1] and "uses 'q'" in annotations[1]
    assert '<testsuite name="gradcli check" tests="2" failures="0" errors="2">' in result.stdout
    assert result.stderr.count("spec error:") == 2


def test_defaults_only_summary_and_one_line_titles(tmp_path: Path) -> None:
    spec = tmp_path / "good.toml"
    spec.write_text(
        '[defaults]\nat = { x = 1 }\nrtol = 1e-9\n\n[[check]]\nname = "sine"\nprogram = "sin(x)"\n\n'
        '[[check]]\nname = "cube"\nprogram = "x**3"\nat = { x = 2 }\nmanual = { x = "3*x**2" }\n\n'
        '[[check]]\nprogram = """\ny = x**3\ny"""\n'
    )
    out = CliRunner().invoke(app, ["check", "--spec", str(spec), "--summary", "-"])
    assert out.exit_code == 0, out.output
    assert "| y = x**3; y | 15 | ✅ pass |  |" in out.stdout
    assert "### gradcli check: 3 of 3 passed" in out.stdout
    only = CliRunner().invoke(app, ["check", "--spec", str(spec), "--only", "c*", "--json"])
    assert [json.loads(line)["name"] for line in only.stdout.splitlines()] == ["cube"]
    none = CliRunner().invoke(app, ["check", "--spec", str(spec), "--only", "zzz"])
    assert none.exit_code == 2 and "matches no check" in none.stderr
