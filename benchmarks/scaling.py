"""Scaling with program size, and parse throughput.

Two programs of N operations, for each N:
- chain: N/3 nested levels of `sin(...) + 0.5 - 0.5`. The `+ 0.5 - 0.5` keeps the
  iteration on sin's orbit towards 0, where sin' -> 1, so the gradient (the
  product of the cosines) decays only like a power of N: it neither underflows nor
  overflows at 1e5 (alternating `sin(` and `+ 0.5` alone would converge to a fixed
  point near 1.5 where |sin'| = 0.07, and the gradient would underflow within a few
  hundred levels);
- products: x0*y0 + x1*y1 + ... + x{N-1}*y{N-1}: N products (2N - 1 operations,
  2N inputs).
The products program at N = 1e5 is about 1.6 million characters, over the default
program-length limit (gradcli/limits.py), which the suite raises for it while it runs.
Times: parse (text -> AST), compile (`gradcli.compile`: parse, then AST -> graph),
gradient (`.grad(bindings)` in reverse mode: bind, forward values, backward), and the
whole `gradcli.compile(text).grad(bindings)`; the growth from the smallest to the
largest N is the whole run's.

Parse throughput: tokens per second of `gradcli.lang.parser.parse` on a program of
about T tokens mixing calls, numbers, powers and names (tokens counted with a
regular expression, independently of the parser).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.measure import median, rel_err, time_calls


def chain(levels: int) -> str:
    return "sin(" * levels + "x" + ") + 0.5 - 0.5" * levels


def chain_expected(levels: int, x: float) -> tuple[float, float]:
    """Value and d/dx of the chain, by the chain rule written out in a loop."""
    s, d = x, 1.0
    for _ in range(levels):
        d *= math.cos(s)
        s = (math.sin(s) + 0.5) - 0.5
    return s, d


def products(count: int) -> tuple[str, dict[str, float]]:
    text = " + ".join(f"x{i}*y{i}" for i in range(count))
    bindings = {}
    for i in range(count):
        bindings[f"x{i}"] = 1.0 + i / count
        bindings[f"y{i}"] = 2.0 - i / count
    return text, bindings


def _case(name: str, n: int) -> tuple[str, dict[str, float], Callable[[Any], float]]:
    """Program text, bindings, and a function giving the worst relative error of a result."""
    if name == "chain":
        levels = max(1, n // 3)
        x = 0.7
        want_v, want_d = chain_expected(levels, x)
        return (
            chain(levels),
            {"x": x},
            lambda r: max(rel_err(r.value, want_v), rel_err(r.gradient["x"], want_d)),
        )
    text, bindings = products(n)
    xs = [bindings[f"x{i}"] for i in range(n)]
    ys = [bindings[f"y{i}"] for i in range(n)]
    want = math.fsum(a * b for a, b in zip(xs, ys, strict=True))

    def err(r: Any) -> float:  # d/dx_i = y_i and d/dy_i = x_i
        gx = [r.gradient[f"x{i}"] for i in range(n)]
        gy = [r.gradient[f"y{i}"] for i in range(n)]
        return max(rel_err(r.value, want), rel_err(gx, ys), rel_err(gy, xs))

    return text, bindings, err


def _whole(text: str, bindings: dict[str, float]) -> Any:
    import gradcli

    return gradcli.compile(text).grad(bindings, mode="reverse")


def scaling(sizes: list[int], repeats: dict[int, int]) -> list[dict[str, Any]]:
    import gradcli
    from gradcli.lang.parser import parse
    from gradcli.limits import LIMITS

    default_limit = LIMITS.max_program_chars
    rows: list[dict[str, Any]] = []
    for name in ("chain", "products"):
        for n in sizes:
            text, bindings, err = _case(name, n)
            k = repeats[n]
            LIMITS.max_program_chars = max(default_limit, len(text))
            try:
                compiled = gradcli.compile(text)
                graph_ops = len(compiled.graph.ops)
                result = compiled.grad(bindings, mode="reverse")
                t_parse = time_calls(partial(parse, text), k, warmup=0)
                t_compile = time_calls(partial(gradcli.compile, text), k, warmup=0)
                t_grad = time_calls(partial(compiled.grad, bindings, mode="reverse"), k, warmup=0)
                t_total = time_calls(partial(_whole, text, bindings), k, warmup=0)
            finally:
                LIMITS.max_program_chars = default_limit
            rows.append(
                {
                    "program": name,
                    "n": n,
                    "chars": len(text),
                    "over_default_char_limit": len(text) > default_limit,
                    "graph_ops": graph_ops,
                    "runs": k,
                    "parse_s": median(t_parse),
                    "compile_s": median(t_compile),
                    "gradient_s": median(t_grad),
                    "total_s": median(t_total),
                    "max_rel_err": err(result),
                }
            )
    for name in ("chain", "products"):
        mine = [r for r in rows if r["program"] == name]
        first, last = mine[0], mine[-1]
        for r in mine:
            r["growth"] = r["total_s"] / first["total_s"]
        last["growth_from"] = first["n"]
    return rows


_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|\*\*|[-+*/^(),;=\[\]]")
_TERMS = (
    "sin(x{i} * 2.5)",
    "exp(-y{i})",
    "x{i} ** 2",
    "max(a{i}, 0.5) / 3",
    "log1p(b{i} * b{i})",
    "w{i}*x{i} + 1e-3",
)


def token_program(tokens: int) -> str:
    """A program of about `tokens` tokens: a sum of varied terms, 50 names reused."""
    parts: list[str] = []
    count = 0
    i = 0
    while count < tokens:
        term = _TERMS[i % len(_TERMS)].format(i=i % 50)
        parts.append(term)
        count += len(_TOKEN.findall(term)) + 1  # the '+' joining it
        i += 1
    return " + ".join(parts)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def parse_throughput(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    from gradcli.lang.parser import parse

    rows = []
    for tokens in sizes:
        text = token_program(tokens)
        real = count_tokens(text)
        program = parse(text)
        times = time_calls(partial(parse, text), repeats, warmup=0)
        t = median(times)
        rows.append(
            {
                "tokens": real,
                "chars": len(text),
                "runs": repeats,
                "median_s": t,
                "tokens_per_s": real / t,
                "statements": len(program.statements),
            }
        )
    return rows
