"""Matrices: the gradient of mean(relu(W @ X + b)) with respect to W, X and b.

W and X are n x n (n = 512 in the full run), b is one bias per row of W @ X: it is bound
as an array of shape (n, 1), which broadcasts along the columns, so that the program
means what PyTorch's `relu(W @ X + b[:, None])` means for b of shape (n,). (A b of shape
(n,) would broadcast along the last axis, one bias per column.) Its gradient has shape
(n, 1): the row sums of d mean / d A.

Reverse mode, through the Python API, timed two ways: the whole
`gradcli.compile(text).grad(bindings)` and `.grad(bindings)` of a program compiled once.
The baseline is numpy by hand: the forward pass and the vector-Jacobian product written
out (`A = W @ X + b; L = relu(A).mean(); dA = (A > 0) / A.size; dW = dA @ X.T;
dX = W.T @ dA; db = dA.sum(axis=1, keepdims=True)`). PyTorch eager (float64, 2 threads)
runs beside them when `torch` imports (it is never a dependency). All run interleaved,
run after run; the ratios are of the medians, to numpy's. Every result is checked against
numpy's (relative error of the value and of each gradient).

Forward mode (dense tangents: one direction per input element) on the same program at
small sizes where the default limits allow it, timed against numpy by hand at that size;
and at the full size, where it must refuse with a LimitError that suggests reverse mode
(its message is recorded).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np

from benchmarks.measure import median, rel_err, time_calls

PROGRAM = "mean(relu(W @ X + b))"
NAMES = ("W", "X", "b")
Result = tuple[float, dict[str, np.ndarray]]


def make_inputs(n: int) -> dict[str, np.ndarray]:
    """W, X standard normal (scaled so that W @ X is too), b of shape (n, 1)."""
    rng = np.random.default_rng(0)
    return {
        "W": rng.standard_normal((n, n)) / np.sqrt(n),
        "X": rng.standard_normal((n, n)),
        "b": rng.standard_normal((n, 1)),
    }


def numpy_by_hand(W: np.ndarray, X: np.ndarray, b: np.ndarray) -> Result:
    """The baseline: forward pass, then the vjp of mean(relu(.)) and of W @ X + b."""
    A = W @ X + b
    H = np.maximum(A, 0.0)
    L = float(H.mean())
    dA = (A > 0) / A.size
    return L, {"W": dA @ X.T, "X": W.T @ dA, "b": dA.sum(axis=1, keepdims=True)}


def _from_text(inputs: dict[str, np.ndarray], mode: str = "reverse") -> Result:
    import gradcli

    return _plain(gradcli.compile(PROGRAM).grad(inputs, mode=mode))


def _compiled(compiled: Any, inputs: dict[str, np.ndarray], mode: str = "reverse") -> Result:
    return _plain(compiled.grad(inputs, mode=mode))


def _plain(r: Any) -> Result:
    return float(r.value), {k: np.asarray(v) for k, v in r.gradient.items()}


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


def torch_eager(torch: Any, W: np.ndarray, X: np.ndarray, b: np.ndarray) -> Result:
    """relu(W @ X + b[:, None]).mean().backward() on float64 leaves (b of shape (n,))."""
    w = torch.from_numpy(W).requires_grad_()
    x = torch.from_numpy(X).requires_grad_()
    bias = torch.from_numpy(b[:, 0].copy()).requires_grad_()
    loss = torch.relu(w @ x + bias[:, None]).mean()
    loss.backward()
    grads = {"W": w.grad.numpy(), "X": x.grad.numpy(), "b": bias.grad.numpy()[:, None]}
    return float(loss.item()), grads


def _errors(got: Result, want: Result) -> dict[str, float]:
    out = {"value": rel_err(got[0], want[0])}
    for name in NAMES:
        assert np.shape(got[1][name]) == np.shape(want[1][name]), (name, np.shape(got[1][name]))
        out[name] = rel_err(got[1][name], want[1][name])
    return out


def _row(
    kind: str, mode: str, n: int, times: list[float], base: float, errs: dict[str, float]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "mode": mode,
        "n": n,
        "runs": len(times),
        "median_s": median(times),
        "times_s": times,
        "baseline_s": base,
        "ratio": median(times) / base,
        "value_rel_err": errs["value"],
        "gradient_rel_err": max(errs[name] for name in NAMES),
        "rel_errs": errs,
    }


def reverse(n: int, runs: int, torch: Any) -> list[dict[str, Any]]:
    """Rows at n x n: gradcli from text, gradcli compiled, numpy by hand, PyTorch (if any)."""
    import gradcli

    inputs = make_inputs(n)
    compiled = gradcli.compile(PROGRAM)
    fns = {
        "gradcli_text": partial(_from_text, inputs),
        "gradcli_compiled": partial(_compiled, compiled, inputs),
        "numpy_by_hand": partial(numpy_by_hand, inputs["W"], inputs["X"], inputs["b"]),
    }
    if torch is not None:
        fns["torch_eager"] = partial(torch_eager, torch, inputs["W"], inputs["X"], inputs["b"])
    results = {kind: fn() for kind, fn in fns.items()}  # also the warm-up
    times: dict[str, list[float]] = {kind: [] for kind in fns}
    for _ in range(runs):  # interleaved, so that load from elsewhere hits every kind alike
        for kind, fn in fns.items():
            times[kind] += time_calls(fn, 1, warmup=0)
    base = median(times["numpy_by_hand"])
    want = results["numpy_by_hand"]
    return [_row(kind, "reverse", n, times[kind], base, _errors(results[kind], want)) for kind in fns]


def forward(n: int, runs: int) -> list[dict[str, Any]]:
    """Forward mode (compiled once) and numpy by hand at n x n, interleaved."""
    import gradcli

    inputs = make_inputs(n)
    compiled = gradcli.compile(PROGRAM)
    fns = {
        "gradcli_forward": partial(_compiled, compiled, inputs, "forward"),
        "numpy_by_hand": partial(numpy_by_hand, inputs["W"], inputs["X"], inputs["b"]),
    }
    results = {kind: fn() for kind, fn in fns.items()}
    times: dict[str, list[float]] = {kind: [] for kind in fns}
    for _ in range(runs):
        for kind, fn in fns.items():
            times[kind] += time_calls(fn, 1, warmup=0)
    base = median(times["numpy_by_hand"])
    want = results["numpy_by_hand"]
    return [_row(kind, "forward", n, times[kind], base, _errors(results[kind], want)) for kind in fns]


def refusal(n: int) -> dict[str, Any]:
    """Forward mode at n x n under the default limits: a LimitError that points to reverse mode."""
    import gradcli
    from gradcli.errors import LimitError
    from gradcli.limits import LIMITS

    compiled = gradcli.compile(PROGRAM)
    start = time.perf_counter()
    try:
        compiled.grad(make_inputs(n), mode="forward")
    except LimitError as e:
        seconds = time.perf_counter() - start
        return {
            "n": n,
            "refused": True,
            "seconds": seconds,
            "message": str(e),
            "hints_reverse": "use reverse mode" in str(e),
            "max_forward_work": LIMITS.max_forward_work,
        }
    return {
        "n": n,
        "refused": False,
        "seconds": time.perf_counter() - start,
        "message": "",
        "hints_reverse": False,
        "max_forward_work": LIMITS.max_forward_work,
    }


def run(n: int, runs: int, forward_sizes: list[int], forward_runs: int, refused_n: int) -> dict[str, Any]:
    torch = _torch()
    rows = reverse(n, runs, torch)
    for m in forward_sizes:
        rows += forward(m, forward_runs)
    return {
        "program": PROGRAM,
        "n": n,
        "b_shape": [n, 1],
        "torch": None if torch is None else str(torch.__version__),
        "rows": rows,
        "forward_refusal": refusal(refused_n),
    }
