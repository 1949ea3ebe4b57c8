"""Many points in one call: `gradcli grad PROGRAM w=1 b=0 --wrt w,b --at FILE --format csv`.

The program is the tutorial's logistic regression, `z = w*x + b; y_pred = sigmoid(z);
bce(y_pred, y)`, over rows (x, y) of a CSV file (header x,y; seed 0: x standard normal, y 0 or
1 with probability 1/2), 10,000 rows in the full run. Measured:

1. the whole `gradcli grad ... --at FILE --format csv > /dev/null` process (wall time, median);
2. separate processes, one per row, `gradcli grad PROGRAM x=.. y=.. w=1 b=0 --wrt w,b --json`
   (a shell loop's worth: the first 100 rows, one after the other), extrapolated to every row;
   the ratio separate / one --at call;
3. in-process, `gradcli.batch.run(Compiled(text), {"w": 1.0, "b": 0.0}, rows, gradient=True,
   wrt="w,b")` with rows from `gradcli.batch.read_rows(csv_text)` (compile included, reading
   the text not), beside a Python loop of PyTorch eager over the rows (float64 scalars, 2
   threads, the same loss as `binary_cross_entropy(sigmoid(w*x + b), y)`, `loss.backward()`,
   the loss and both gradients read out as floats), when `torch` imports (it is never a
   dependency). The loop alone is timed (the row tensors are made before it); the whole --at
   process is also put beside `python -c "import torch"` plus the loop.

The runs are interleaved (batch CLI, in-process, PyTorch, round after round), after one warm-up
each. Every result (the --at output, each separate call, the in-process rows, PyTorch's) is
checked against the closed form dL/dw = (s - y) x, dL/db = s - y, L = -(y log s + (1 - y)
log(1 - s)), s = sigmoid(w x + b): the largest relative error of any row (each row against its
own value).
"""

from __future__ import annotations

import csv
import io
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.coldstart import _env
from benchmarks.measure import median, time_calls

PROGRAM = "z = w*x + b; y_pred = sigmoid(z); bce(y_pred, y)"
W, B = 1.0, 0.0
Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # value, dL/dw, dL/db, one element a row


def make_rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal(n), rng.integers(0, 2, n).astype(np.float64)


def csv_text(x: np.ndarray, y: np.ndarray) -> str:
    return "x,y\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(x.tolist(), y.tolist(), strict=True))


def closed_form(x: np.ndarray, y: np.ndarray) -> Rows:
    s = 1.0 / (1.0 + np.exp(-(W * x + B)))
    loss = -(y * np.log(s) + (1.0 - y) * np.log1p(-s))
    return loss, (s - y) * x, s - y


def row_rel_err(got: Rows, want: Rows) -> float:
    """The largest |got - want| / |want| over every row and column (each row against itself)."""
    errs = [
        float(np.max(np.abs(g - w) / np.maximum(np.abs(w), 1e-300))) if len(w) else 0.0
        for g, w in zip(got, want, strict=True)
    ]
    return max(errs)


def gradcli_command(python: str = sys.executable) -> list[str]:
    """The console script next to the interpreter (run by it), else `python -m gradcli`."""
    script = Path(python).with_name("gradcli")
    return [python, str(script)] if script.is_file() else [python, "-m", "gradcli"]


def _from_csv(stdout: str) -> Rows:
    table = list(csv.DictReader(io.StringIO(stdout)))
    if any(r["error"] for r in table):
        raise AssertionError(f"rows with errors: {[r['error'] for r in table if r['error']][:3]}")
    return tuple(np.array([float(r[k]) for r in table]) for k in ("value", "d/dw", "d/db"))  # type: ignore[return-value]


def _in_process(rows: list[Any]) -> tuple[list[Any], bool]:
    from gradcli.api import Compiled
    from gradcli.batch import run

    results, vectorized = run(Compiled(PROGRAM), {"w": W, "b": B}, rows, gradient=True, wrt="w,b")
    return results, vectorized


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


def torch_loop(torch: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """The loop over the rows, as a function of nothing (the row tensors made here, once)."""
    import torch.nn.functional as F

    f64 = torch.float64
    w = torch.tensor(W, dtype=f64, requires_grad=True)
    b = torch.tensor(B, dtype=f64, requires_grad=True)
    xs = [torch.tensor(v, dtype=f64) for v in x.tolist()]
    ys = [torch.tensor(v, dtype=f64) for v in y.tolist()]

    def loop() -> list[tuple[float, float, float]]:
        out = []
        for xi, yi in zip(xs, ys, strict=True):
            loss = F.binary_cross_entropy(torch.sigmoid(w * xi + b), yi)
            loss.backward()
            out.append((loss.item(), w.grad.item(), b.grad.item()))
            w.grad = None
            b.grad = None
        return out

    return loop


def _process(
    cmd: list[str], env: dict[str, str], capture: bool
) -> tuple[float, subprocess.CompletedProcess[str]]:
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.PIPE, text=True, check=False)
    return time.perf_counter() - start, proc


def _check_proc(proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode != 0 or proc.stderr:
        raise AssertionError(f"{shlex.join(proc.args)} exited {proc.returncode}: {proc.stderr[-2000:]}")


def _separate(
    gradcli: list[str], env: dict[str, str], x: np.ndarray, y: np.ndarray, count: int
) -> dict[str, Any]:
    """One process a row, for the first `count` rows (after a warm-up), each output checked."""

    def one(i: int) -> list[str]:
        bindings = [f"x={float(x[i])!r}", f"y={float(y[i]):g}", f"w={W:g}", f"b={B:g}"]
        return [*gradcli, "grad", PROGRAM, *bindings, "--wrt", "w,b", "--json"]

    _check_proc(_process(one(0), env, capture=True)[1])
    times, got = [], []
    for i in range(count):
        t, proc = _process(one(i), env, capture=True)
        _check_proc(proc)
        times.append(t)
        obj = json.loads(proc.stdout)
        got.append((obj["value"], obj["gradient"]["w"], obj["gradient"]["b"]))
    value, dw, db = (np.array(c) for c in zip(*got, strict=True))
    return {
        "separate_command": shlex.join(one(0)),
        "separate_times_s": times,
        "separate_total_s": sum(times),
        "separate_per_call_s": sum(times) / count,
        "separate_median_call_s": median(times),
        "separate_rel_err": row_rel_err((value, dw, db), closed_form(x[:count], y[:count])),
    }


def run(n_rows: int, n_separate: int, runs: int, keep_env: bool = False) -> dict[str, Any]:
    from gradcli.batch import read_rows

    x, y = make_rows(n_rows)
    text = csv_text(x, y)
    want = closed_form(x, y)
    gradcli = gradcli_command()
    torch = _torch()
    out: dict[str, Any] = {
        "program": PROGRAM,
        "rows": n_rows,
        "runs": runs,
        "separate_calls": n_separate,
        "torch": None if torch is None else str(torch.__version__),
        "torch_rel_err": None,
    }
    times: dict[str, list[float]] = {"batch": [], "inprocess": [], "torch": [], "torch_import": []}
    with tempfile.TemporaryDirectory(prefix="gradcli-bench-points-") as tmp:
        env, out["environment"] = _env(keep_env, str(Path(tmp) / "pycache"))
        path = Path(tmp) / "points.csv"
        path.write_text(text, encoding="utf-8")
        batch_cmd = [*gradcli, "grad", PROGRAM, f"w={W:g}", f"b={B:g}", "--wrt", "w,b"]
        batch_cmd += ["--at", str(path), "--format", "csv"]
        out["batch_command"] = shlex.join(batch_cmd) + " > /dev/null"

        # 1. the whole --at process; the warm-up run's output is checked
        _, proc = _process(batch_cmd, env, capture=True)
        _check_proc(proc)
        out["batch_rel_err"] = row_rel_err(_from_csv(proc.stdout), want)

        # 2. separate processes, one a row
        out |= _separate(gradcli, env, x, y, n_separate)

        # 3. in-process gradcli and PyTorch's loop, interleaved with the whole --at process
        _, rows = read_rows(text)
        out["read_rows_s"] = median(time_calls(lambda: read_rows(text), max(runs, 3)))
        results, out["vectorized"] = _in_process(rows)  # also the warm-up
        value = np.array([r.value for r in results])
        dw, db = (np.array([r.gradient[k] for r in results]) for k in ("w", "b"))
        out["inprocess_rel_err"] = row_rel_err((value, dw, db), want)
        loop = None if torch is None else torch_loop(torch, x, y)
        import_cmd = [sys.executable, "-c", "import torch; torch.set_num_threads(2)"]
        if loop is not None:
            theirs = tuple(np.array(c) for c in zip(*loop(), strict=True))  # also the warm-up
            out["torch_rel_err"] = row_rel_err(theirs, want)  # type: ignore[arg-type]
            out["torch_import_command"] = shlex.join(import_cmd)
            _check_proc(_process(import_cmd, env, capture=True)[1])
        for _ in range(runs):
            times["batch"].append(_process(batch_cmd, env, capture=False)[0])
            times["inprocess"] += time_calls(lambda: _in_process(rows), 1, warmup=0)
            if loop is not None:
                times["torch"] += time_calls(loop, 1, warmup=0)
                times["torch_import"].append(_process(import_cmd, env, capture=False)[0])
    return _summary(out, times)


def _summary(out: dict[str, Any], times: dict[str, list[float]]) -> dict[str, Any]:
    for name, values in times.items():
        out[f"{name}_times_s"] = values
        out[f"{name}_s"] = median(values) if values else None
    out["separate_extrapolated_s"] = out["separate_per_call_s"] * out["rows"]
    out["ratio_separate_to_batch"] = out["separate_extrapolated_s"] / out["batch_s"]
    torch_s = out["torch_s"]
    out["ratio_inprocess_to_torch"] = None if torch_s is None else out["inprocess_s"] / torch_s
    out["ratio_batch_to_torch_process"] = (
        None if torch_s is None else out["batch_s"] / (torch_s + out["torch_import_s"])
    )
    errs = ("batch_rel_err", "separate_rel_err", "inprocess_rel_err", "torch_rel_err")
    out["max_rel_err"] = max(out[e] for e in errs if out[e] is not None)
    return out
