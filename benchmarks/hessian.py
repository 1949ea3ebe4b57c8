"""Hessians: the logistic loss sum(log(1 + exp(A @ w))) with respect to w, beside PyTorch.

A is (2n, n), standard normal / sqrt(n), w standard normal (seed 0), n = 10, 100, 1000.
gradcli: `gradcli.higher.hessian(PROGRAM, {"A": A, "w": w}, wrt="w").matrix`, exact (the
gradient written out as a program, then its Jacobian by forward mode). Checked against the
closed form Aᵀ diag(s (1 - s)) A, s = sigmoid(A @ w) (relative error). PyTorch, when `torch`
imports (never a dependency): `torch.autograd.functional.hessian` of the same loss (its
defaults: a reverse-over-reverse pass per row), float64, 2 threads, checked the same way. The
two run interleaved, run after run; the ratio is of the medians.

Where gradcli refuses under its default limits (forward mode over n directions above
GRADCLI_MAX_FORWARD_WORK), the refusal is recorded (its message and how long it took); then,
outside --smoke, the limit is raised in this process and the Hessian is timed anyway, and one
more run under cProfile gives the hotspots (functions by own time).
"""

from __future__ import annotations

import cProfile
import pstats
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import median, rel_err, time_calls

PROGRAM = "sum(log(1 + exp(A @ w)))"
RAISED_LIMIT = 10**13  # GRADCLI_MAX_FORWARD_WORK for the runs past a refusal


def make_inputs(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"A": rng.standard_normal((2 * n, n)) / np.sqrt(n), "w": rng.standard_normal(n)}


def closed_form(A: np.ndarray, w: np.ndarray) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-(A @ w)))
    h: np.ndarray = A.T @ (A * (s * (1.0 - s))[:, None])
    return h


def gradcli_hessian(inputs: dict[str, np.ndarray]) -> np.ndarray:
    from gradcli.higher import hessian

    matrix: np.ndarray = np.asarray(hessian(PROGRAM, inputs, wrt="w").matrix)
    return matrix


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


def torch_hessian(torch: Any, A: np.ndarray, w: np.ndarray) -> np.ndarray:
    a = torch.from_numpy(A)

    def loss(v: Any) -> Any:
        return torch.log(1 + torch.exp(a @ v)).sum()

    return np.asarray(torch.autograd.functional.hessian(loss, torch.from_numpy(w)).numpy())


def hotspots(fn: Any, top: int = 8) -> list[dict[str, Any]]:
    """One call of fn under cProfile: the functions with the most own time."""
    profile = cProfile.Profile()
    profile.enable()
    fn()
    profile.disable()
    stats = pstats.Stats(profile)
    rows = []
    for (path, line, name), (_, calls, own, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = "/".join(Path(path).parts[-3:]) if path.startswith("/") else path
        rows.append({"function": f"{short}:{line}({name})", "calls": calls, "own_s": own, "cum_s": cum})
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:top]


def case(n: int, runs: int, over_limit: bool, torch: Any) -> dict[str, Any]:
    from gradcli.errors import LimitError
    from gradcli.limits import LIMITS

    inputs = make_inputs(n)
    want = closed_form(inputs["A"], inputs["w"])
    row: dict[str, Any] = {
        "n": n,
        "a_shape": list(inputs["A"].shape),
        "runs": runs,
        "limit": "default",
        "refusal": None,
        "gradcli_s": None,
        "gradcli_times_s": [],
        "gradcli_rel_err": None,
        "torch_s": None,
        "torch_times_s": [],
        "torch_rel_err": None,
        "ratio": None,
        "hotspots": [],
        "max_forward_work": LIMITS.max_forward_work,
    }
    mine = partial(gradcli_hessian, inputs)
    start = time.perf_counter()
    old = LIMITS.max_forward_work
    try:
        try:
            got = mine()  # also the warm-up
        except LimitError as e:
            row["refusal"] = {"message": str(e), "seconds": time.perf_counter() - start}
            if not over_limit:
                return row
            LIMITS.max_forward_work = RAISED_LIMIT
            row["limit"] = f"GRADCLI_MAX_FORWARD_WORK={RAISED_LIMIT:.0e}"
            got = mine()
        row["gradcli_rel_err"] = rel_err(got, want)
        theirs = None if torch is None else partial(torch_hessian, torch, inputs["A"], inputs["w"])
        if theirs is not None:
            row["torch_rel_err"] = rel_err(theirs(), want)
        for _ in range(runs):  # interleaved
            row["gradcli_times_s"] += time_calls(mine, 1, warmup=0)
            if theirs is not None:
                row["torch_times_s"] += time_calls(theirs, 1, warmup=0)
        if row["refusal"] is not None:
            row["hotspots"] = hotspots(mine)
    finally:
        LIMITS.max_forward_work = old
    row["gradcli_s"] = median(row["gradcli_times_s"])
    if row["torch_times_s"]:
        row["torch_s"] = median(row["torch_times_s"])
        row["ratio"] = row["gradcli_s"] / row["torch_s"]
    return row


def run(sizes: list[int], runs: dict[int, int], over_limit: bool) -> dict[str, Any]:
    torch = _torch()
    return {
        "program": PROGRAM,
        "wrt": "w",
        "torch": None if torch is None else str(torch.__version__),
        "rows": [case(n, runs[n], over_limit, torch) for n in sizes],
    }
