"""Array throughput: the gradient of mean(sin(x**2)) for x of n float64 elements.

gradcli goes through its Python API (`gradcli.compile(...).grad({"x": x}, mode=...)`),
both modes, against hand-written numpy in the same process: the forward value plus
2*x*cos(x**2)/n computed in place (the baseline), and the naive version that
allocates a temporary per operation (for reference).

Peak memory is measured per computation in a fresh process (`python run.py
--memory-child KIND N`), after one warm-up call: tracemalloc's peak (numpy reports
its buffers to tracemalloc) and the growth of the resident set's high-water mark.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import median, rel_err, time_calls

PROGRAM = "mean(sin(x**2))"
EVALUATORS = ("reverse", "forward")
KINDS = (*EVALUATORS, "numpy_inplace", "numpy_naive")


def make_x(n: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(-3.0, 3.0, n)


def numpy_inplace(x: np.ndarray) -> tuple[float, np.ndarray]:
    """The hand-written baseline: one temporary, reused for the gradient."""
    n = x.size
    y = np.square(x)
    v = float(np.sin(y).mean())
    g = np.cos(y, out=y)
    g *= x
    g *= 2.0 / n
    return v, g


def numpy_naive(x: np.ndarray) -> tuple[float, np.ndarray]:
    """The same, written the obvious way: a new array per operation."""
    n = x.size
    v = float(np.mean(np.sin(x**2)))
    return v, 2 * x * np.cos(x**2) / n


def _gradcli(mode: str) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    import gradcli

    compiled = gradcli.compile(PROGRAM)

    def run(x: np.ndarray) -> tuple[float, np.ndarray]:
        r = compiled.grad({"x": x}, mode=mode)
        return float(r.value), np.asarray(r.gradient["x"])

    return run


def function(kind: str) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    if kind == "numpy_inplace":
        return numpy_inplace
    if kind == "numpy_naive":
        return numpy_naive
    return _gradcli(kind)


def throughput(sizes: list[int], repeats: dict[int, int]) -> list[dict[str, Any]]:
    """One row per (n, kind): median seconds, ratio to the in-place baseline, error vs it."""
    rows = []
    for n in sizes:
        x = make_x(n)
        want_v, want_g = numpy_inplace(x)
        k = repeats[n]
        fns = {kind: function(kind) for kind in KINDS}
        results = {kind: fn(x) for kind, fn in fns.items()}  # also the warm-up
        times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for _ in range(k):  # interleaved, so that load from elsewhere hits every kind alike
            for kind, fn in fns.items():
                times[kind] += time_calls(partial(fn, x), 1, warmup=0)
        base = median(times["numpy_inplace"])
        for kind in KINDS:
            v, g = results[kind]
            rows.append(
                {
                    "n": n,
                    "kind": kind,
                    "runs": k,
                    "median_s": median(times[kind]),
                    "times_s": times[kind],
                    "baseline_s": base,
                    "ratio": median(times[kind]) / base,
                    "value_rel_err": rel_err(v, want_v),
                    "gradient_rel_err": rel_err(g, want_g),
                }
            )
    return rows


def _rss_reset() -> bool:
    """Reset the resident set's high-water mark (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def memory_child(kind: str, n: int) -> dict[str, Any]:
    """Run in a fresh process: peak memory of one call of `kind` on n elements."""
    fn = function(kind)
    x = make_x(n)
    fn(x)  # warm-up: lazy imports, caches, thread pools
    gc.collect()
    rss_growth = None
    if _rss_reset():
        before = _status_kib("VmRSS")
        result = fn(x)
        rss_growth = (_status_kib("VmHWM") - before) * 1024
        del result
        gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn(x)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    want_v, want_g = numpy_inplace(x)
    return {
        "kind": kind,
        "n": n,
        "tracemalloc_peak_bytes": peak,
        "rss_peak_growth_bytes": rss_growth,
        "gradient_rel_err": rel_err(result[1], want_g),
        "value_rel_err": rel_err(result[0], want_v),
    }


def memory(sizes: list[int]) -> list[dict[str, Any]]:
    """Peak memory per (n, kind), each in a fresh process; ratio to the naive version's peak."""
    rows = []
    run_py = Path(__file__).with_name("run.py")
    for n in sizes:
        found = {}
        for kind in KINDS:
            proc = subprocess.run(
                [sys.executable, str(run_py), "--memory-child", kind, str(n)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"memory child {kind} {n} failed:\n{proc.stderr}")
            found[kind] = json.loads(proc.stdout)
        naive = found["numpy_naive"]["tracemalloc_peak_bytes"]
        for kind in KINDS:
            row = found[kind]
            row["array_bytes"] = 8 * n
            row["ratio_to_naive"] = row["tracemalloc_peak_bytes"] / naive if naive else None
            rows.append(row)
    return rows
