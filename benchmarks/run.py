"""gradcli's benchmark suite: `python benchmarks/run.py [--quick | --smoke] [--json PATH]`.

Prints a table per section and writes every figure to JSON. Each figure is a
median over repeated runs and is compared, as a ratio, with a baseline measured
in the same run:

1. cold start of `gradcli grad 'sin(x**2)' x=3 [--json]`, against the process
   `python -c "import typer, lark, numpy"`                  (benchmarks/coldstart.py)
2. the gradient of mean(sin(x**2)) on 1e5, 1e6, 1e7 elements, both modes, against
   hand-written in-place numpy; peak memory against naive numpy (benchmarks/arrays.py)
3. scaling with program size: a chain of N nested operations and a sum of N
   products, N = 1e3, 1e4, 1e5                                (benchmarks/scaling.py)
4. parse throughput in tokens per second, 1e4 and 1e5 tokens (benchmarks/scaling.py)
5. big programs of single numbers, text -> every gradient: a 100,000-term sum of products
   and a 50,000-deep chain of sin, beside PyTorch eager building the same graph when
   `torch` imports (never a dependency: run the suite in a virtualenv that has it)
                                                              (benchmarks/bigscalar.py)
6. matrices: the gradient of mean(relu(W @ X + b)), W and X 512 x 512, reverse mode
   against numpy by hand (and PyTorch eager when it imports); forward mode at small sizes,
   and its refusal (pointing to reverse mode) at 512 x 512          (benchmarks/matrix.py)
7. the derivative as a formula (`gradcli.higher.diff`): its size on 30 textbook formulas
   against SymPy's simplify(diff(...)) when `sympy` imports, checked at 3 points each; diff's
   time on programs of 250, 500 and 1,000 operations               (benchmarks/symbolic.py)
8. Hessians: sum(log(1 + exp(A @ w))) with respect to w, n = 10, 100, 1000, against the closed
   form and torch.autograd.functional.hessian when `torch` imports  (benchmarks/hessian.py)
9. many points in one call: `gradcli grad BCE --at FILE --format csv` over 10,000 rows against
   one process a row, and in-process against a PyTorch loop over the rows when `torch`
   imports; checked against the closed form per row                  (benchmarks/points.py)

`--quick` runs the same sizes with fewer repetitions; `--smoke` runs tiny sizes
once (what the test suite does, to keep this script working; it checks results,
never times). Every section also checks its results against an independent
computation (hand-written numpy, the chain rule in a loop, the known gradient of
a sum of products): an `*_err` above 1e-9 is a wrong answer, not noise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # `benchmarks` as a package; an installed gradcli still comes first

from benchmarks import (  # noqa: E402
    arrays,
    bigscalar,
    coldstart,
    hessian,
    matrix,
    measure,
    points,
    scaling,
    symbolic,
)

SECTIONS = (
    "coldstart",
    "arrays",
    "memory",
    "scaling",
    "parse",
    "bigscalar",
    "matrix",
    "symbolic",
    "hessian",
    "points",
)
MAX_ERR = 1e-9  # results must match their independent computation this closely


@dataclass(frozen=True)
class Profile:
    cold_runs: int
    cold_warmup: int
    array_sizes: tuple[int, ...]
    array_runs: tuple[int, ...]  # per size
    memory_sizes: tuple[int, ...]
    scaling_sizes: tuple[int, ...]
    scaling_runs: tuple[int, ...]  # per size
    parse_sizes: tuple[int, ...]
    parse_runs: int
    bigscalar_sizes: tuple[int, int]  # products, chain
    bigscalar_runs: int
    matrix_size: int  # W and X are n x n
    matrix_runs: int
    matrix_forward_sizes: tuple[int, ...]  # forward mode, where the default limits allow it
    matrix_forward_runs: int
    matrix_refused_size: int  # forward mode must refuse here
    symbolic_sizes: tuple[int, ...]  # operations of the programs diff is timed on
    symbolic_runs: int
    hessian_sizes: tuple[int, ...]  # n: A is (2n, n), w has n elements
    hessian_runs: tuple[int, ...]  # per size
    hessian_over_limit: bool  # time a Hessian that the default limits refuse, with the limit raised
    points_rows: int  # rows of the --at file
    points_separate: int  # separate processes, one a row (extrapolated to points_rows)
    points_runs: int  # of the --at process, the in-process batch and the PyTorch loop


PROFILES = {
    "full": Profile(
        20,
        2,
        (10**5, 10**6, 10**7),
        (21, 11, 7),
        (10**5, 10**6, 10**7),
        (10**3, 10**4, 10**5),
        (7, 5, 3),
        (10**4, 10**5),
        7,
        (100_000, 50_000),
        9,
        matrix_size=512,
        matrix_runs=15,
        matrix_forward_sizes=(16, 64),
        matrix_forward_runs=5,
        matrix_refused_size=512,
        symbolic_sizes=(250, 500, 1000),
        symbolic_runs=5,
        hessian_sizes=(10, 100, 1000),
        hessian_runs=(21, 11, 3),
        hessian_over_limit=True,
        points_rows=10_000,
        points_separate=100,
        points_runs=7,
    ),
    "quick": Profile(
        8,
        1,
        (10**5, 10**6, 10**7),
        (5, 5, 3),
        (10**7,),
        (10**3, 10**4, 10**5),
        (3, 3, 1),
        (10**4, 10**5),
        3,
        (100_000, 50_000),
        3,
        matrix_size=512,
        matrix_runs=5,
        matrix_forward_sizes=(16, 64),
        matrix_forward_runs=1,
        matrix_refused_size=512,
        symbolic_sizes=(250, 500, 1000),
        symbolic_runs=1,
        hessian_sizes=(10, 100, 1000),
        hessian_runs=(5, 3, 1),
        hessian_over_limit=True,
        points_rows=10_000,
        points_separate=100,
        points_runs=3,
    ),
    "smoke": Profile(
        1,
        1,
        (1000, 300_000),
        (1, 1),
        (300_000,),
        (30, 300),
        (1, 1),
        (300, 3000),
        1,
        (300, 200),
        1,
        matrix_size=8,
        matrix_runs=1,
        matrix_forward_sizes=(4,),
        matrix_forward_runs=1,
        matrix_refused_size=512,  # refused before any tangent is computed: cheap
        symbolic_sizes=(20, 40),
        symbolic_runs=1,
        hessian_sizes=(4, 16, 1000),  # 1000: refused before any tangent is computed
        hessian_runs=(1, 1, 1),
        hessian_over_limit=False,
        points_rows=200,
        points_separate=2,
        points_runs=1,
    ),
}


# --------------------------------------------------------------------------
# Targets (issue 6): ratios from one run of the suite.


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, higher_is_better: bool = False) -> None:
        met = None if value is None else (value >= limit if higher_is_better else value <= limit)
        out.append(
            {
                "target": name,
                "value": value,
                "limit": limit,
                "kind": "at least" if higher_is_better else "at most",
                "met": met,
            }
        )

    cold = results.get("coldstart")
    if cold:
        add("cold start --json / import floor", cold["ratio"]["json"], 1.25)
        add("cold start human / import floor", cold["ratio"]["human"], 1.5)
    rows = results.get("arrays")
    if rows:
        n = max(r["n"] for r in rows)
        by = {r["kind"]: r for r in rows if r["n"] == n}
        add(f"reverse mode time / in-place numpy, n={n:.0e}", by["reverse"]["ratio"], 1.2)
        add(f"reverse mode time / in-place numpy, n={n:.0e} (stretch)", by["reverse"]["ratio"], 0.7)
        add(f"forward mode time / in-place numpy, n={n:.0e}", by["forward"]["ratio"], 1.5)
    mem = results.get("memory")
    if mem:
        n = max(r["n"] for r in mem)
        by = {r["kind"]: r for r in mem if r["n"] == n}
        add(f"reverse mode peak memory / naive numpy, n={n:.0e}", by["reverse"]["ratio_to_naive"], 1.0)
    sc = results.get("scaling")
    if sc:
        for name in ("chain", "products"):
            mine = [r for r in sc if r["program"] == name]
            span = mine[-1]["n"] / mine[0]["n"]
            add(
                f"{name}: total time growth N={mine[0]['n']:.0e} -> {mine[-1]['n']:.0e} (linear: {span:g}x)",
                mine[-1]["growth"],
                1.2 * span,
            )
    parse = results.get("parse")
    if parse:
        for r in parse:
            add(f"parse throughput, {r['tokens']:,} tokens (tokens/s)", r["tokens_per_s"], 200_000, True)
    for r in results.get("bigscalar", []):
        add(f"{r['program']} (N={r['n']:,}): gradcli time / PyTorch eager", r["ratio"], 1.0)
    mat = results.get("matrix")
    if mat:
        by = {r["kind"]: r for r in mat["rows"] if r["mode"] == "reverse"}
        n = mat["n"]
        add(f"matrix {n}x{n}: compile(text).grad time / numpy by hand", by["gradcli_text"]["ratio"], 1.3)
    pts = results.get("points")
    if pts:
        n = pts["rows"]
        add(
            f"points: separate processes / one --at call, {n:,} rows",
            pts["ratio_separate_to_batch"],
            500,
            True,
        )
        add(f"points: in-process batch.run / PyTorch loop, {n:,} rows", pts["ratio_inprocess_to_torch"], 1.0)
    _higher_targets(results, add)
    errors = [e for e in _errors(results) if not (e <= MAX_ERR)]
    out.append(
        {
            "target": f"every result matches its independent check (rel. error <= {MAX_ERR:g})",
            "value": max(_errors(results), default=0.0),
            "limit": MAX_ERR,
            "kind": "at most",
            "met": not errors and _cold_ok(results) and _matrix_ok(results),
        }
    )
    return out


def _higher_targets(results: dict[str, Any], add: Callable[[str, float | None, float], None]) -> None:
    """diff's size against SymPy and its speed; Hessians against PyTorch."""
    sym = results.get("symbolic")
    if sym:
        add("diff: median size gradcli / SymPy simplify, operations", sym["median_ops_ratio"], 1.0)
        add("diff: median size gradcli / SymPy simplify, characters", sym["median_chars_ratio"], 1.0)
        add(
            "diff: median size gradcli / SymPy simplify, characters without spaces",
            sym["median_chars_nospace_ratio"],
            1.0,
        )
    speed = results.get("symbolic_speed")
    if speed:
        for name in sorted({r["program"] for r in speed}):
            mine = [r for r in speed if r["program"] == name]
            add(f"diff time, {name} of {mine[-1]['ops']:,} operations (s)", mine[-1]["median_s"], 1.0)
            span = mine[-1]["n"] / mine[0]["n"]
            add(
                f"diff output growth, {name} {mine[0]['n']:,} -> {mine[-1]['n']:,} operations (linear: {span:g}x)",
                mine[-1]["out_growth"],
                1.2 * span,
            )
    hess = results.get("hessian")
    if hess:
        for r in hess["rows"]:
            if r["n"] >= 100:
                raised = "" if r["limit"] == "default" else f" ({r['limit']})"
                add(f"hessian n={r['n']}{raised}: gradcli time / PyTorch", r["ratio"], 1.0)


def _errors(results: dict[str, Any]) -> list[float]:
    errs: list[float] = []
    for r in results.get("arrays", []) + results.get("memory", []):
        errs += [r["value_rel_err"], r["gradient_rel_err"]]
    errs += [r["max_rel_err"] for r in results.get("scaling", [])]
    for r in results.get("bigscalar", []):
        errs.append(r["max_rel_err"])
        if r["torch_rel_diff"] is not None:
            errs.append(r["torch_rel_diff"])
    mat = results.get("matrix")
    if mat:
        errs += [e for r in mat["rows"] for e in (r["value_rel_err"], r["gradient_rel_err"])]
    sym = results.get("symbolic")
    if sym:
        errs += [r["engine_rel_err"] for r in sym["rows"]]
        errs += [r["sympy_rel_err"] for r in sym["rows"] if r["sympy_rel_err"] is not None]
    errs += [r["rel_err"] for r in results.get("symbolic_speed", [])]
    hess = results.get("hessian")
    if hess:
        for r in hess["rows"]:
            errs += [e for e in (r["gradcli_rel_err"], r["torch_rel_err"]) if e is not None]
    pts = results.get("points")
    if pts:
        errs += [pts["batch_rel_err"], pts["separate_rel_err"], pts["inprocess_rel_err"]]
        errs += [pts["torch_rel_err"]] if pts["torch_rel_err"] is not None else []
    return errs


def _cold_ok(results: dict[str, Any]) -> bool:
    cold = results.get("coldstart")
    return cold is None or all(c["ok"] for c in cold["checks"].values())


def _matrix_ok(results: dict[str, Any]) -> bool:
    """Forward mode refused the full-size matrices, and its message points to reverse mode."""
    mat = results.get("matrix")
    return mat is None or (mat["forward_refusal"]["refused"] and mat["forward_refusal"]["hints_reverse"])


# --------------------------------------------------------------------------
# Printing.


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _mib(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


COLD_LABELS = {
    "floor": "python -c 'import typer, lark, numpy'",
    "json": "gradcli grad 'sin(x**2)' x=3 --json",
    "human": "gradcli grad 'sin(x**2)' x=3",
}


# A printed table: title, column headers, rows of cells, and a note under it ('' for none).
TableSpec = tuple[str, Sequence[str], Sequence[Sequence[str]], str]


def _cold_table(cold: dict[str, Any]) -> TableSpec:
    rows = [
        (
            COLD_LABELS[name],
            _ms(cold["median_wall_s"][name]),
            _x(cold["ratio"].get(name, 1.0)),
            _ms(cold["median_cpu_s"][name]),
            _x(cold["cpu_ratio"].get(name, 1.0)),
            str(cold["checks"][name]["ok"]),
        )
        for name in ("floor", "json", "human")
    ]
    note = (
        f"{cold['runs']} interleaved runs each after {cold['warmup_runs']} warm-up; "
        f"environment: {cold['environment']}; human output piped (no colour)\n"
    )
    columns = ("command", "wall", "ratio", "CPU (user+sys)", "CPU ratio", "output ok")
    return "1. cold start of the whole process (medians)", columns, rows, note


def _arrays_table(rows: list[dict[str, Any]]) -> TableSpec:
    cells = [
        (
            f"{r['n']:.0e}",
            r["kind"],
            str(r["runs"]),
            _ms(r["median_s"]),
            _x(r["ratio"]),
            f"{r['gradient_rel_err']:.1e}",
        )
        for r in rows
    ]
    columns = ("n", "kind", "runs", "median", "ratio", "gradient rel. error")
    return "2. gradient of mean(sin(x**2)), ratio to in-place numpy", columns, cells, ""


def _memory_table(mem: list[dict[str, Any]]) -> TableSpec:
    cells = [
        (
            f"{r['n']:.0e}",
            r["kind"],
            _mib(r["tracemalloc_peak_bytes"]),
            f"{r['tracemalloc_peak_bytes'] / r['array_bytes']:.2f}",
            _x(r["ratio_to_naive"]),
            _mib(r["rss_peak_growth_bytes"]),
        )
        for r in mem
    ]
    columns = ("n", "kind", "tracemalloc peak", "x array size", "ratio", "RSS peak growth")
    note = "each in a fresh process after a warm-up call; tracemalloc counts numpy's buffers\n"
    return "2. peak memory of one gradient, ratio to naive numpy", columns, cells, note


def _scaling_table(sc: list[dict[str, Any]]) -> TableSpec:
    cells = [
        (
            r["program"],
            f"{r['n']:.0e}",
            f"{r['graph_ops']:,}",
            _ms(r["parse_s"]),
            _ms(r["compile_s"]),
            _ms(r["gradient_s"]),
            _ms(r["total_s"]),
            _x(r["growth"]),
            f"{r['max_rel_err']:.1e}",
        )
        for r in sc
    ]
    columns = ("program", "N", "graph ops", "parse", "compile", "gradient", "total", "growth", "rel. error")
    return "3. scaling with program size (reverse mode; medians)", columns, cells, ""


def _parse_table(parse: list[dict[str, Any]]) -> TableSpec:
    cells = [
        (f"{r['tokens']:,}", f"{r['chars']:,}", _ms(r["median_s"]), f"{r['tokens_per_s']:,.0f}")
        for r in parse
    ]
    return "4. parse throughput (text -> AST)", ("tokens", "characters", "median", "tokens/s"), cells, ""


def _bigscalar_table(rows: list[dict[str, Any]]) -> TableSpec:
    cells = [
        (
            r["program"],
            f"{r['n']:,}",
            f"{r['inputs']:,}",
            f"{r['chars']:,}",
            str(r["runs"]),
            _ms(r["gradcli_s"]),
            "-" if r["torch_s"] is None else _ms(r["torch_s"]),
            _x(r["ratio"]),
            f"{r['max_rel_err']:.1e}",
        )
        for r in rows
    ]
    columns = (
        "program",
        "N",
        "inputs",
        "characters",
        "runs",
        "gradcli",
        "PyTorch eager",
        "ratio",
        "rel. error",
    )
    torch = next((r["torch"] for r in rows if r["torch"]), None)
    note = (
        f"text -> every gradient, interleaved runs, medians; PyTorch {torch} (CPU, 2 threads)\n"
        if torch
        else "PyTorch is not installed here: no baseline (see benchmarks/bigscalar.py)\n"
    )
    return "5. big programs of single numbers, beside PyTorch eager", columns, cells, note


MATRIX_LABELS = {
    "gradcli_text": "gradcli: compile(text).grad",
    "gradcli_compiled": "gradcli: compiled once, .grad",
    "numpy_by_hand": "numpy by hand (baseline)",
    "torch_eager": "PyTorch eager",
    "gradcli_forward": "gradcli: forward mode, compiled once",
}


def _matrix_table(mat: dict[str, Any]) -> TableSpec:
    cells = [
        (
            MATRIX_LABELS[r["kind"]],
            r["mode"] if r["kind"].startswith("gradcli") else "-",
            f"{r['n']}x{r['n']}",
            str(r["runs"]),
            _ms(r["median_s"]),
            _x(r["ratio"]),
            f"{r['value_rel_err']:.1e}",
            f"{r['gradient_rel_err']:.1e}",
        )
        for r in mat["rows"]
    ]
    columns = (
        "computation",
        "mode",
        "W, X",
        "runs",
        "median",
        "ratio",
        "value rel. err",
        "gradient rel. err",
    )
    refusal = mat["forward_refusal"]
    n = refusal["n"]
    refused = (
        f"forward mode at {n}x{n}: refused in {_ms(refusal['seconds'])}: "
        + refusal["message"].replace("\n", " ")
        if refusal["refused"]
        else f"forward mode at {n}x{n} was NOT refused"
    )
    torch = (
        f"PyTorch {mat['torch']} (CPU, float64, 2 threads)"
        if mat["torch"]
        else "PyTorch is not installed here: no PyTorch row (see benchmarks/matrix.py)"
    )
    note = (
        f"b of shape ({mat['n']}, 1) (PyTorch: b[:, None]); interleaved runs, medians; ratio to numpy by hand "
        f"at the same size; errors against numpy by hand; {torch}\n{refused}\n"
    )
    return f"6. matrices: gradient of {mat['program']}", columns, cells, note


def _symbolic_table(sym: dict[str, Any]) -> TableSpec:
    cells: list[tuple[str, ...]] = []
    for r in sym["rows"]:
        mine = (
            r["formula"],
            r["gradcli_text"].replace("\n", "; "),
            str(r["gradcli_chars"]),
            str(r["gradcli_ops"]),
        )
        theirs = (r["sympy_text"], str(r["sympy_chars"]), str(r["sympy_ops"])) if sym["sympy"] else ()
        cells.append((*mine, *theirs, f"{max(r['engine_rel_err'], r['sympy_rel_err'] or 0.0):.1e}"))
    columns = (
        "f(x)",
        "gradcli diff",
        "chars",
        "ops",
        *(("SymPy simplify(diff)", "chars", "ops") if sym["sympy"] else ()),
        "rel. err",
    )
    if sym["sympy"]:
        note = (
            f"SymPy {sym['sympy']}; medians of gradcli / SymPy: operations {_x(sym['median_ops_ratio'])}, "
            f"characters {_x(sym['median_chars_ratio'])}, without spaces "
            f"{_x(sym['median_chars_nospace_ratio'])}; gradcli's derivative at x = "
            f"{', '.join(map(str, sym['points']))}: max rel. error {sym['max_sympy_rel_err']:.1e} against "
            f"SymPy's (mpmath, 30 digits), {sym['max_engine_rel_err']:.1e} against gradcli.grad\n"
        )
    else:
        note = (
            "SymPy is not installed here: no SymPy columns (see benchmarks/symbolic.py); gradcli's "
            f"derivative against gradcli.grad: max rel. error {sym['max_engine_rel_err']:.1e}\n"
        )
    return "7. the derivative as a formula: size against SymPy", columns, cells, note


def _symbolic_speed_table(rows: list[dict[str, Any]]) -> TableSpec:
    cells = [
        (
            r["program"],
            f"{r['ops']:,}",
            f"{r['chars']:,}",
            str(r["runs"]),
            _ms(r["median_s"]),
            _x(r["growth"]),
            f"{r['out_ops']:,}",
            f"{r['out_chars']:,}",
            str(r["out_lines"]),
            _x(r["out_growth"]),
            f"{r['rel_err']:.1e}",
        )
        for r in rows
    ]
    columns = (
        "program",
        "operations",
        "characters",
        "runs",
        "diff time",
        "growth",
        "output ops",
        "output chars",
        "lines",
        "growth",
        "rel. err",
    )
    note = "diff(text, wrt='x'), medians; growth from the smallest size; value checked against gradcli.grad\n"
    return "7. diff's speed on big programs", columns, cells, note


def _hessian_table(hess: dict[str, Any]) -> TableSpec:
    cells = []
    notes = []
    for r in hess["rows"]:
        n, shape = r["n"], "x".join(map(str, r["a_shape"]))
        time_cell = "refused" if r["gradcli_s"] is None else _ms(r["gradcli_s"])
        err = "-" if r["gradcli_rel_err"] is None else f"{r['gradcli_rel_err']:.1e}"
        limit = "default" if r["limit"] == "default" else "raised"
        cells.append(
            (
                f"{n:,}",
                shape,
                "gradcli hessian",
                limit,
                str(len(r["gradcli_times_s"])) if r["gradcli_times_s"] else "-",
                time_cell,
                _x(r["ratio"]),
                err,
            )
        )
        if r["torch_s"] is not None:
            cells.append(
                (
                    f"{n:,}",
                    shape,
                    "PyTorch",
                    "-",
                    str(len(r["torch_times_s"])),
                    _ms(r["torch_s"]),
                    "1.00x",
                    f"{r['torch_rel_err']:.1e}",
                )
            )
        if r["refusal"]:
            msg = r["refusal"]["message"].replace("\n", " ")
            notes.append(f"n={n:,}, default limits: refused in {_ms(r['refusal']['seconds'])}: {msg}")
        if r["hotspots"]:
            spots = "; ".join(
                f"{h['function']} {h['own_s']:.2f} s ({h['calls']} calls)" for h in r["hotspots"][:4]
            )
            notes.append(f"n={n:,}, {r['limit']}: hotspots by own time: {spots}")
    torch = (
        f"PyTorch {hess['torch']} torch.autograd.functional.hessian (CPU, float64, 2 threads)"
        if hess["torch"]
        else "PyTorch is not installed here: no PyTorch rows (see benchmarks/hessian.py)"
    )
    note = "interleaved runs, medians; ratio to PyTorch; errors against A.T @ diag(s(1-s)) @ A; " + torch
    columns = ("n", "A", "computation", "limits", "runs", "median", "ratio", "rel. err")
    return f"8. Hessian of {hess['program']} w.r.t. w", columns, cells, "\n".join([note, *notes]) + "\n"


def _points_table(pts: dict[str, Any]) -> TableSpec:
    n, k = pts["rows"], pts["separate_calls"]
    batch, torch_s = pts["batch_s"], pts["torch_s"]

    def line(
        what: str, rows: int, runs: int, seconds: float, err: float | None, ratios: bool = True
    ) -> tuple[str, ...]:
        return (
            what,
            f"{rows:,}",
            str(runs),
            _ms(seconds),
            f"{seconds / rows * 1e6:,.1f} µs",
            _x(seconds / batch) if ratios else "-",
            _x(seconds / torch_s) if ratios and torch_s else "-",
            "-" if err is None else f"{err:.1e}",
        )

    cells = [
        line("grad --at FILE --format csv (process)", n, pts["runs"], batch, pts["batch_rel_err"]),
        line(f"{k} separate grad --json processes", k, 1, pts["separate_total_s"], pts["separate_rel_err"], False),
        line(f"  x {n / k:g}: {n:,} rows (extrapolated)", n, 1, pts["separate_extrapolated_s"], None),
        line("batch.run in-process (compile incl.)", n, pts["runs"], pts["inprocess_s"], pts["inprocess_rel_err"]),
    ]  # fmt: skip
    if torch_s is not None:
        runs = len(pts["torch_times_s"])
        cells.append(line("PyTorch loop over the rows (in-process)", n, runs, torch_s, pts["torch_rel_err"]))
        total = torch_s + pts["torch_import_s"]
        cells.append(line("PyTorch: import process + the loop", n, runs, total, None))
    columns = ("computation", "rows", "runs", "median", "per row", "/ --at", "/ PyTorch loop", "rel. err")
    torch = (
        f"PyTorch {pts['torch']} (CPU, float64 scalars, 2 threads; import: `python -c 'import torch'`, "
        f"{_ms(pts['torch_import_s'])})"
        if pts["torch"]
        else "PyTorch is not installed here: no PyTorch rows (see benchmarks/points.py)"
    )
    note = (
        f"separate calls: {_ms(pts['separate_per_call_s'])} a call (median {_ms(pts['separate_median_call_s'])}); "
        f"one array pass: {pts['vectorized']}; read_rows {_ms(pts['read_rows_s'])} (not in the in-process time); "
        f"interleaved runs, medians; errors: the largest per-row relative error against the closed form; {torch}\n"
    )
    return f"9. many points in one call (--at): {pts['program']}", columns, cells, note


def _targets_table(targets: list[dict[str, Any]]) -> TableSpec:
    cells = []
    for g in targets:
        value = g["value"]
        shown = "-" if value is None else (f"{value:,.0f}" if value >= 1000 else f"{value:.3g}")
        cells.append(
            (
                g["target"],
                shown,
                f"{g['kind']} {g['limit']:,g}",
                {True: "yes", False: "NO", None: "-"}[g["met"]],
            )
        )
    return "targets", ("target", "value", "limit", "met"), cells, ""


SECTION_TABLES: dict[str, Callable[[Any], TableSpec]] = {
    "coldstart": _cold_table,
    "arrays": _arrays_table,
    "memory": _memory_table,
    "scaling": _scaling_table,
    "parse": _parse_table,
    "bigscalar": _bigscalar_table,
    "matrix": _matrix_table,
    "symbolic": _symbolic_table,
    "symbolic_speed": _symbolic_speed_table,
    "hessian": _hessian_table,
    "points": _points_table,
}


def print_tables(results: dict[str, Any]) -> None:
    from rich import box as boxes
    from rich.table import Table

    from gradcli.output.console import make_console, plain_boxes

    console = make_console(width=120)
    box = None if plain_boxes(console) else boxes.SIMPLE
    m = results["machine"]
    load = m.get("load_average")
    loads = (
        f"; load average {load[0]:.2f} at start, {results['load_average_end'][0]:.2f} at end" if load else ""
    )
    console.print(
        f"gradcli benchmarks ({results['profile']}): {m['cpus_usable']} cores, {m['cpu_model']}, "
        f"{m['memory_gib']} GiB, Python {m['python']}, numpy {m['numpy']}{loads}"
    )
    specs = [make(results[name]) for name, make in SECTION_TABLES.items() if results.get(name)]
    for title, columns, rows, note in [*specs, _targets_table(results["targets"])]:
        table = Table(title=title, title_justify="left", box=box, pad_edge=False)
        for i, c in enumerate(columns):
            table.add_column(c, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        if note:
            console.print(note)


# --------------------------------------------------------------------------


def run(profile_name: str, only: list[str], keep_env: bool) -> dict[str, Any]:
    p = PROFILES[profile_name]
    results: dict[str, Any] = {
        "profile": profile_name,
        "machine": measure.machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    import gradcli

    results["gradcli"] = {"version": gradcli.__version__, "path": str(Path(gradcli.__file__).parent)}
    if "coldstart" in only:
        results["coldstart"] = coldstart.run(p.cold_runs, p.cold_warmup, keep_env)
    if "arrays" in only:
        results["arrays"] = arrays.throughput(
            list(p.array_sizes), dict(zip(p.array_sizes, p.array_runs, strict=True))
        )
    if "memory" in only:
        results["memory"] = arrays.memory(list(p.memory_sizes))
    if "scaling" in only:
        results["scaling"] = scaling.scaling(
            list(p.scaling_sizes), dict(zip(p.scaling_sizes, p.scaling_runs, strict=True))
        )
    if "parse" in only:
        results["parse"] = scaling.parse_throughput(list(p.parse_sizes), p.parse_runs)
    if "bigscalar" in only:
        products, chain = p.bigscalar_sizes
        results["bigscalar"] = bigscalar.run({"products": products, "chain": chain}, p.bigscalar_runs)
    if "matrix" in only:
        results["matrix"] = matrix.run(
            p.matrix_size,
            p.matrix_runs,
            list(p.matrix_forward_sizes),
            p.matrix_forward_runs,
            p.matrix_refused_size,
        )
    if "symbolic" in only:
        results["symbolic"] = symbolic.run(list(p.symbolic_sizes), p.symbolic_runs)
        results["symbolic_speed"] = results["symbolic"].pop("speed")
    if "hessian" in only:
        results["hessian"] = hessian.run(
            list(p.hessian_sizes),
            dict(zip(p.hessian_sizes, p.hessian_runs, strict=True)),
            p.hessian_over_limit,
        )
    if "points" in only:
        results["points"] = points.run(p.points_rows, p.points_separate, p.points_runs, keep_env)
    results["load_average_end"] = measure.machine()["load_average"]
    results["targets"] = targets(results)
    return results


def _finite_json(obj: Any) -> Any:
    """NaN/inf would make invalid JSON: write them as null."""
    if isinstance(obj, dict):
        return {k: _finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="same sizes, fewer repetitions")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, one run each (for the tests)")
    ap.add_argument(
        "--json",
        metavar="PATH",
        default=str(ROOT / "benchmarks" / "results.json"),
        help="write the results here (default: benchmarks/results.json)",
    )
    ap.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections (repeatable): {', '.join(SECTIONS)}",
    )
    ap.add_argument(
        "--keep-env",
        action="store_true",
        help="cold start: run the commands in this environment exactly "
        "(by default bytecode caching is turned back on if PYTHONDONTWRITEBYTECODE is set)",
    )
    ap.add_argument("--memory-child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        kind, n = args.memory_child
        print(json.dumps(arrays.memory_child(kind, int(n))))
        return 0
    profile = "smoke" if args.smoke else "quick" if args.quick else "full"
    results = run(profile, args.only or list(SECTIONS), args.keep_env)
    print_tables(results)
    Path(args.json).write_text(
        json.dumps(_finite_json(results), indent=1, allow_nan=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
