"""The derivative as a formula (`gradcli.higher.diff`): its size against SymPy's, and diff's speed.

Size: 30 textbook derivatives of one variable x (polynomials, products, quotients, chains,
exp/log, trig, inverse trig, hyperbolic, sigmoid, softplus, x**x, compositions, the notebook's
sin(x**2) and its logistic loss). For each, gradcli's derivative (`diff(text)["x"].text`, its
characters and `.formula.operations`) beside SymPy's `simplify(diff(expr, x))` (`str()`, its
characters and `count_ops()`). The formulas are spelled alike for both where SymPy can parse
gradcli's spelling; sigmoid and softplus, which SymPy does not have, are written out for it
(1/(1 + exp(-x)), log(1 + exp(x))), and decimals are read by SymPy as exact fractions, as gradcli
reads them. Characters are counted as printed and without spaces (gradcli prints `2 * x`, SymPy
`2*x`). The median of each ratio (gradcli / SymPy) over the 30 formulas is the figure.

Correctness: gradcli's derivative, evaluated by `gradcli.evaluate(text, x=...)` at 3 points,
against SymPy's lambdified with mpmath at 30 digits, and against `gradcli.grad` (reverse mode,
the engine's own rules: the check that runs where SymPy is not installed).

SymPy is never a dependency: without it the SymPy columns are empty (None) and only the
check against `gradcli.grad` runs.

Speed: `diff` of one program of 250, 500 and 1,000 operations, two kinds: a chain of
statements `a{i} = sin(a{i-1}) * x + a{i-1}**2` (each statement uses the one before twice and
x), and one long random-but-fixed formula in x (seed 0: sin, cos, tanh, sigmoid, + - *).
Time (median), the derivative's size, growth from the smallest size, and its value at a
point against `gradcli.grad`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.measure import median, rel_err, time_calls

# (gradcli's spelling, SymPy's where it differs)
FORMULAS: list[tuple[str, str | None]] = [
    ("x**3 + 2*x**2 - 5*x + 1", None),
    ("(x**2 + 1)**3", None),
    ("x**4*(x - 1)**2", None),
    ("sqrt(x)", None),
    ("x*sin(x)", None),
    ("x**2*exp(x)", None),
    ("exp(x)*cos(x)", None),
    ("(x + 1)/(x - 2)", None),
    ("sin(x)/x", None),
    ("x/(x**2 + 1)", None),
    ("sin(x**2)", None),  # the notebook's
    ("exp(-x**2)", None),
    ("log(x**2 + 1)", None),
    ("sqrt(x**2 + 1)", None),
    ("cos(3*x + 1)", None),
    ("x*log(x)", None),
    ("tan(x)", None),
    ("sin(x)*cos(x)", None),
    ("asin(x)", None),
    ("acos(x)", None),
    ("atan(x**2)", None),
    ("tanh(x)", None),
    ("sinh(x)*cosh(x)", None),
    ("sigmoid(x)", "1/(1 + exp(-x))"),
    ("softplus(x)", "log(1 + exp(x))"),
    ("x**x", None),
    ("exp(sin(x))*log(cos(x) + 2)", None),
    ("sqrt(1 + exp(sin(x**2)))", None),
    ("-log(sigmoid(3*x + 1))", "-log(1/(1 + exp(-(3*x + 1))))"),  # logistic loss, label 1
    # the notebook's logistic regression: bce(sigmoid(w*6.7), 0) as a function of w (here x)
    ("-log(1 - sigmoid(6.7*x))", "-log(1 - 1/(1 + exp(-6.7*x)))"),
]
POINTS = (0.3, 0.6, 0.9)  # inside every formula's domain (asin, acos, log, sqrt, x**x)
SCALE_POINT = 0.3  # the chain's values stay small there (a -> sin(a)*x + a**2 has 0 attracting)


def _sympy() -> Any:
    try:
        import sympy
    except ImportError:
        return None
    return sympy


def _nospace(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def _sympy_side(sympy: Any, text: str) -> dict[str, Any]:
    import mpmath

    x = sympy.Symbol("x")
    start = time.perf_counter()
    expr = sympy.simplify(sympy.diff(sympy.sympify(text, rational=True), x))
    seconds = time.perf_counter() - start
    fn = sympy.lambdify(x, expr, "mpmath")
    with mpmath.workdps(30):
        values = [float(fn(mpmath.mpf(p))) for p in POINTS]
    shown = str(expr)
    return {
        "text": shown,
        "chars": len(shown),
        "chars_nospace": _nospace(shown),
        "ops": int(sympy.count_ops(expr)),
        "seconds": seconds,
        "values": values,
    }


def size_row(program: str, sympy_text: str | None, sympy: Any) -> dict[str, Any]:
    import gradcli
    from gradcli.higher import diff

    start = time.perf_counter()
    d = diff(program)["x"]
    seconds = time.perf_counter() - start
    text = d.text
    values = [float(gradcli.evaluate(text, x=p)) for p in POINTS]
    engine = [float(gradcli.grad(program, x=p).gradient["x"]) for p in POINTS]
    row: dict[str, Any] = {
        "formula": program,
        "sympy_formula": sympy_text or program,
        "points": list(POINTS),
        "gradcli_text": text,
        "gradcli_chars": len(text),
        "gradcli_chars_nospace": _nospace(text),
        "gradcli_ops": d.formula.operations,
        "gradcli_s": seconds,
        "engine_rel_err": max(rel_err(a, b) for a, b in zip(values, engine, strict=True)),
        "sympy_text": None,
        "sympy_chars": None,
        "sympy_chars_nospace": None,
        "sympy_ops": None,
        "sympy_s": None,
        "sympy_rel_err": None,
        "chars_ratio": None,
        "chars_nospace_ratio": None,
        "ops_ratio": None,
    }
    if sympy is not None:
        s = _sympy_side(sympy, sympy_text or program)
        row.update(
            sympy_text=s["text"],
            sympy_chars=s["chars"],
            sympy_chars_nospace=s["chars_nospace"],
            sympy_ops=s["ops"],
            sympy_s=s["seconds"],
            sympy_rel_err=max(rel_err(a, b) for a, b in zip(values, s["values"], strict=True)),
            chars_ratio=len(text) / s["chars"],
            chars_nospace_ratio=_nospace(text) / s["chars_nospace"],
            ops_ratio=d.formula.operations / max(s["ops"], 1),
        )
    return row


# -- speed ------------------------------------------------------------------------------


def chain_program(ops: int) -> str:
    """a0 = x; a{i} = sin(a{i-1}) * x + a{i-1}**2 (4 operations a statement); the last one,
    in sin(...) once for each operation left over: `ops` operations in all."""
    statements, extra = divmod(ops, 4)
    lines = ["a0 = x"]
    lines += [f"a{i} = sin(a{i - 1}) * x + a{i - 1}**2" for i in range(1, statements + 1)]
    return "\n".join([*lines, "sin(" * extra + f"a{statements}" + ")" * extra])


def random_formula(ops: int, seed: int = 0) -> str:
    """One formula in x of exactly `ops` operations, random but fixed by the seed."""
    rng = random.Random(seed)

    def build(n: int) -> str:
        if n == 0:
            return rng.choice(("x", "x", "x", "2", "3", "0.5"))
        if n == 1 or rng.random() < 0.35:
            return f"{rng.choice(('sin', 'cos', 'tanh', 'sigmoid'))}({build(n - 1)})"
        left = rng.randint(0, n - 1)
        op = rng.choice(("+", "-", "*"))
        return f"({build(left)} {op} {build(n - 1 - left)})"

    return build(ops)


def program_ops(text: str) -> int:
    """Operations of a program as gradcli's graph counts them (calls and operators)."""
    from gradcli.api import Compiled

    return sum(1 for op in Compiled(text).graph.ops if op.prim is not None)


def _diff_x(text: str) -> Any:
    from gradcli.higher import diff

    return diff(text, wrt="x")["x"]


def speed(sizes: list[int], runs: int) -> list[dict[str, Any]]:
    import gradcli

    programs: dict[str, Callable[[int], str]] = {
        "chain": chain_program,
        "formula": random_formula,
    }
    rows: list[dict[str, Any]] = []
    for name, make in programs.items():
        first: float | None = None
        first_ops: int | None = None
        for n in sizes:
            text = make(n)
            d = _diff_x(text)  # also the warm-up
            times = time_calls(partial(_diff_x, text), runs, warmup=0)
            got = float(gradcli.evaluate(d.text, x=SCALE_POINT))
            want = float(gradcli.grad(text, x=SCALE_POINT).gradient["x"])
            t = median(times)
            first = first if first is not None else t
            first_ops = first_ops if first_ops is not None else d.formula.operations
            rows.append(
                {
                    "program": name,
                    "n": n,
                    "ops": program_ops(text),
                    "chars": len(text),
                    "runs": runs,
                    "median_s": t,
                    "times_s": times,
                    "out_chars": len(d.text),
                    "out_ops": d.formula.operations,
                    "out_lines": d.text.count("\n") + 1,
                    "growth": t / first,
                    "out_growth": d.formula.operations / first_ops,
                    "growth_from": sizes[0],
                    "rel_err": rel_err(got, want),
                }
            )
    return rows


def run(sizes: list[int], runs: int) -> dict[str, Any]:
    sympy = _sympy()
    rows = [size_row(program, spelled, sympy) for program, spelled in FORMULAS]

    def med(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return median(values) if values else None

    return {
        "sympy": None if sympy is None else str(sympy.__version__),
        "points": list(POINTS),
        "rows": rows,
        "median_chars_ratio": med("chars_ratio"),
        "median_chars_nospace_ratio": med("chars_nospace_ratio"),
        "median_ops_ratio": med("ops_ratio"),
        "max_engine_rel_err": max(r["engine_rel_err"] for r in rows),
        "max_sympy_rel_err": None if sympy is None else max(r["sympy_rel_err"] for r in rows),
        "speed": speed(sizes, runs),
    }
