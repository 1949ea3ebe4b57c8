"""Big programs of single numbers, text -> every gradient, beside PyTorch eager.

Two programs (issue 11):
- products: x0*y0 + x1*y1 + ... + x{N-1}*y{N-1}, N = 100,000 (200,000 inputs, 1.6 MB of
  text, over the old 1 MB limit);
- chain: sin(sin(...sin(x)...)), N = 50,000 levels, at x = 0.7.

gradcli's time is the whole `gradcli.compile(text).grad(bindings)`: parse, graph, values,
backward sweep, the GradResult. PyTorch's (when `torch` imports: it is never a dependency;
run the suite in a virtualenv that has it) is building the same graph from Python, eager,
float64, from the same Python floats: a leaf tensor per input, one op per operation, then
`backward()` and every gradient read back as a float (torch.set_num_threads(2)). The two
run interleaved, run after run, so that both see the same machine; the ratio is of the
medians. Each result is checked: gradcli's against the exact gradient (products: d/dx_i =
y_i) or the chain rule in a loop (chain), PyTorch's against gradcli's.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.measure import median, rel_err, time_calls


def products_case(n: int) -> tuple[str, dict[str, float]]:
    text = " + ".join(f"x{i}*y{i}" for i in range(n))
    bindings: dict[str, float] = {}
    for i in range(n):
        bindings[f"x{i}"] = 1.0 + i / n
        bindings[f"y{i}"] = 2.0 - i / n
    return text, bindings


def chain_case(n: int) -> tuple[str, dict[str, float]]:
    return "sin(" * n + "x" + ")" * n, {"x": 0.7}


def chain_expected(n: int, x: float) -> tuple[float, float]:
    s, d = x, 1.0
    for _ in range(n):
        d *= math.cos(s)
        s = math.sin(s)
    return s, d


def _gradcli(text: str, bindings: dict[str, float]) -> tuple[float, dict[str, float]]:
    import gradcli

    r = gradcli.compile(text).grad(bindings, mode="reverse")
    return float(r.value), {k: float(v) for k, v in r.gradient.items()}


def _torch_products(torch: Any, n: int, bindings: dict[str, float]) -> tuple[float, dict[str, float]]:
    xs = [torch.tensor(bindings[f"x{i}"], dtype=torch.float64, requires_grad=True) for i in range(n)]
    ys = [torch.tensor(bindings[f"y{i}"], dtype=torch.float64, requires_grad=True) for i in range(n)]
    total = xs[0] * ys[0]
    for a, b in zip(xs[1:], ys[1:], strict=True):
        total = total + a * b
    total.backward()
    grads = {f"x{i}": float(t.grad.item()) for i, t in enumerate(xs)}
    grads.update({f"y{i}": float(t.grad.item()) for i, t in enumerate(ys)})
    return float(total.item()), grads


def _torch_chain(torch: Any, n: int, bindings: dict[str, float]) -> tuple[float, dict[str, float]]:
    x = torch.tensor(bindings["x"], dtype=torch.float64, requires_grad=True)
    s = x
    for _ in range(n):
        s = torch.sin(s)
    s.backward()
    return float(s.item()), {"x": float(x.grad.item())}


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


def _checked(name: str, n: int, result: tuple[float, dict[str, float]], bindings: dict[str, float]) -> float:
    value, grads = result
    if name == "products":
        want_v = math.fsum(bindings[f"x{i}"] * bindings[f"y{i}"] for i in range(n))
        errs = [rel_err(value, want_v)]
        errs += [rel_err(grads[f"x{i}"], bindings[f"y{i}"]) for i in range(n)]
        errs += [rel_err(grads[f"y{i}"], bindings[f"x{i}"]) for i in range(n)]
        return max(errs)
    want_v, want_d = chain_expected(n, bindings["x"])
    return max(rel_err(value, want_v), rel_err(grads["x"], want_d))


def run(sizes: dict[str, int], runs: int) -> list[dict[str, Any]]:
    """One row per program: medians of gradcli and PyTorch (None without torch), the ratio."""
    from gradcli.limits import LIMITS

    torch = _torch()
    rows: list[dict[str, Any]] = []
    cases: dict[str, Callable[[int], tuple[str, dict[str, float]]]] = {
        "products": products_case,
        "chain": chain_case,
    }
    torch_runs = {"products": _torch_products, "chain": _torch_chain}
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 10 * sizes["chain"] + 1000))  # torch's backward of a chain
    try:
        for name, make in cases.items():
            n = sizes[name]
            text, bindings = make(n)
            assert len(text) <= LIMITS.max_program_chars, "the benchmark programs fit the default limit"
            mine: list[float] = []
            theirs: list[float] = []
            result = _gradcli(text, bindings)
            torch_err = None
            if torch is not None:
                reference = torch_runs[name](torch, n, bindings)
                torch_err = max(rel_err(reference[1][k], result[1][k]) for k in result[1])
            build = torch_runs[name]
            for _ in range(runs):  # interleaved: each run of one is next to a run of the other
                mine += time_calls(partial(_gradcli, text, bindings), 1, warmup=0)
                if torch is not None:
                    theirs += time_calls(partial(build, torch, n, bindings), 1, warmup=0)
            rows.append(
                {
                    "program": name,
                    "n": n,
                    "chars": len(text),
                    "inputs": len(bindings),
                    "runs": runs,
                    "gradcli_s": median(mine),
                    "torch_s": median(theirs) if theirs else None,
                    "ratio": median(mine) / median(theirs) if theirs else None,
                    "run_ratios": [a / b for a, b in zip(mine, theirs, strict=True)] if theirs else [],
                    "torch": None if torch is None else str(torch.__version__),
                    "max_rel_err": _checked(name, n, result, bindings),
                    "torch_rel_diff": torch_err,
                }
            )
    finally:
        sys.setrecursionlimit(old_limit)
    return rows
