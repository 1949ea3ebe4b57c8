"""The benchmark suite (benchmarks/run.py) runs, in its tiny --smoke size, so it cannot rot.

Asserts on the results' structure and correctness (every gradient the suite computes
matches its independent check), never on times.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(out.read_text(encoding="utf-8"), parse_constant=_no_constants), proc.stdout


def _no_constants(name: str) -> Any:
    raise AssertionError(f"{name} in the JSON")


def positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_machine_is_described(smoke: tuple[dict[str, Any], str]) -> None:
    results, _ = smoke
    m = results["machine"]
    assert m["cpus"] >= 1 and m["cpus_usable"] >= 1
    assert m["python"] == sys.version.split()[0]
    for key in ("cpu_model", "numpy", "lark", "memory_gib"):
        assert m[key]
    assert results["profile"] == "smoke"


def test_cold_start(smoke: tuple[dict[str, Any], str]) -> None:
    cold = smoke[0]["coldstart"]
    assert set(cold["commands"]) == {"floor", "json", "human"}
    assert "import typer, lark, numpy" in cold["commands"]["floor"]
    assert cold["commands"]["json"].endswith("grad 'sin(x**2)' x=3 --json")
    for name in ("floor", "json", "human"):
        assert len(cold["wall_s"][name]) == cold["runs"] >= 1
        assert positive(cold["median_wall_s"][name]) and positive(cold["median_cpu_s"][name])
        assert cold["checks"][name]["ok"], cold["checks"][name]  # right output, exit 0, no stderr
    for name in ("json", "human"):
        assert math.isclose(cold["ratio"][name], cold["median_wall_s"][name] / cold["median_wall_s"]["floor"])
    assert math.isclose(cold["checks"]["json"]["gradient"], 6 * math.cos(9.0), rel_tol=1e-12)


def test_array_throughput(smoke: tuple[dict[str, Any], str]) -> None:
    rows = smoke[0]["arrays"]
    sizes = sorted({r["n"] for r in rows})
    assert len(sizes) == 2 and sizes[-1] >= 2**18  # big enough for the blocked evaluator
    for n in sizes:
        kinds = {r["kind"]: r for r in rows if r["n"] == n}
        assert set(kinds) == {"reverse", "forward", "numpy_inplace", "numpy_naive"}
        assert kinds["numpy_inplace"]["ratio"] == 1.0
        for r in kinds.values():
            assert positive(r["median_s"]) and positive(r["ratio"])
            assert math.isclose(r["ratio"], r["median_s"] / kinds["numpy_inplace"]["median_s"])
            # the gradient matches the hand-written numpy one
            assert r["gradient_rel_err"] <= 1e-12 and r["value_rel_err"] <= 1e-12


def test_peak_memory(smoke: tuple[dict[str, Any], str]) -> None:
    rows = smoke[0]["memory"]
    kinds = {r["kind"]: r for r in rows}
    assert set(kinds) == {"reverse", "forward", "numpy_inplace", "numpy_naive"}
    n = kinds["reverse"]["n"]
    for r in rows:
        assert r["gradient_rel_err"] <= 1e-12
        # every computation returns an n-element gradient, so its peak is at least that
        assert r["tracemalloc_peak_bytes"] >= 8 * n
        assert positive(r["ratio_to_naive"])
    # naive numpy holds x**2, cos(x**2) and 2*x at once: about three arrays
    assert 2.5 * 8 * n <= kinds["numpy_naive"]["tracemalloc_peak_bytes"] <= 4 * 8 * n


def test_scaling(smoke: tuple[dict[str, Any], str]) -> None:
    rows = smoke[0]["scaling"]
    assert {r["program"] for r in rows} == {"chain", "products"}
    for r in rows:
        for key in ("parse_s", "compile_s", "gradient_s", "total_s", "growth"):
            assert positive(r[key]), (r, key)
        assert r["max_rel_err"] <= 1e-9  # against the chain rule in a loop / the known gradient
    chain = [r for r in rows if r["program"] == "chain"]
    assert chain[0]["growth"] == 1.0 and chain[-1]["growth_from"] == chain[0]["n"]
    products = {r["n"]: r for r in rows if r["program"] == "products"}
    for n, r in products.items():  # n inputs x, n inputs y, n products, n - 1 sums
        assert r["graph_ops"] >= 4 * n - 1


def test_parse_throughput(smoke: tuple[dict[str, Any], str]) -> None:
    rows = smoke[0]["parse"]
    assert len(rows) == 2
    for r in rows:
        assert positive(r["tokens_per_s"])
        assert math.isclose(r["tokens_per_s"], r["tokens"] / r["median_s"])


def test_big_scalar_programs(smoke: tuple[dict[str, Any], str]) -> None:
    rows = {r["program"]: r for r in smoke[0]["bigscalar"]}
    assert set(rows) == {"products", "chain"}
    assert rows["products"]["inputs"] == 2 * rows["products"]["n"] and rows["chain"]["inputs"] == 1
    for r in rows.values():
        assert positive(r["gradcli_s"])
        assert r["max_rel_err"] <= 1e-9  # the exact gradient / the chain rule in a loop
        if r["torch"] is None:  # no PyTorch here (it is never a dependency): no ratio
            assert r["torch_s"] is None and r["ratio"] is None and r["run_ratios"] == []
        else:
            assert positive(r["torch_s"]) and math.isclose(r["ratio"], r["gradcli_s"] / r["torch_s"])
            assert r["torch_rel_diff"] <= 1e-12


def test_matrices(smoke: tuple[dict[str, Any], str]) -> None:
    mat = smoke[0]["matrix"]
    assert mat["program"] == "mean(relu(W @ X + b))" and mat["b_shape"] == [mat["n"], 1]
    reverse = {r["kind"]: r for r in mat["rows"] if r["mode"] == "reverse"}
    kinds = {"gradcli_text", "gradcli_compiled", "numpy_by_hand"}
    assert set(reverse) == (kinds if mat["torch"] is None else kinds | {"torch_eager"})
    assert reverse["numpy_by_hand"]["ratio"] == 1.0
    forward = [r for r in mat["rows"] if r["mode"] == "forward"]
    assert {r["kind"] for r in forward} == {"gradcli_forward", "numpy_by_hand"}
    for r in mat["rows"]:
        assert positive(r["median_s"]) and math.isclose(r["ratio"], r["median_s"] / r["baseline_s"])
        # value and every gradient (W, X and b) match numpy by hand
        assert r["value_rel_err"] <= 1e-12 and r["gradient_rel_err"] <= 1e-12, r
        assert set(r["rel_errs"]) == {"value", "W", "X", "b"}
    refusal = mat["forward_refusal"]
    assert refusal["refused"] and refusal["hints_reverse"], refusal
    assert "use reverse mode" in refusal["message"]


def test_symbolic(smoke: tuple[dict[str, Any], str]) -> None:
    sym = smoke[0]["symbolic"]
    rows = sym["rows"]
    assert len(rows) == 30 and len({r["formula"] for r in rows}) == 30
    for r in rows:
        assert r["gradcli_text"] and r["gradcli_chars"] == len(r["gradcli_text"]) and r["gradcli_ops"] >= 1
        # gradcli's derivative, evaluated, matches gradcli.grad at every point
        assert r["engine_rel_err"] <= 1e-12, r
        if sym["sympy"] is None:  # no SymPy here (never a dependency): no SymPy columns
            assert r["sympy_text"] is None and r["sympy_ops"] is None and r["ops_ratio"] is None
        else:
            assert r["sympy_rel_err"] <= 1e-12, r  # and SymPy's simplify(diff(...)), lambdified
            assert math.isclose(r["ops_ratio"], r["gradcli_ops"] / max(r["sympy_ops"], 1))
            assert math.isclose(r["chars_ratio"], r["gradcli_chars"] / r["sympy_chars"])
    by = {r["formula"]: r for r in rows}
    assert by["sin(x**2)"]["gradcli_text"] == "2 * x * cos(x**2)"  # the notebook's 2*x*cos(x**2)
    assert by["sigmoid(x)"]["sympy_formula"] == "1/(1 + exp(-x))"
    assert (sym["median_ops_ratio"] is None) == (sym["sympy"] is None)
    speed = smoke[0]["symbolic_speed"]
    assert {r["program"] for r in speed} == {"chain", "formula"}
    for r in speed:
        assert r["ops"] == r["n"]  # the programs have exactly the operations asked for
        assert positive(r["median_s"]) and r["out_ops"] >= 1
        assert r["rel_err"] <= 1e-9  # the derivative's value against gradcli.grad


def test_hessian(smoke: tuple[dict[str, Any], str]) -> None:
    hess = smoke[0]["hessian"]
    assert hess["program"] == "sum(log(1 + exp(A @ w)))" and hess["wrt"] == "w"
    rows = {r["n"]: r for r in hess["rows"]}
    for n, r in rows.items():
        assert r["a_shape"] == [2 * n, n]
        if r["refusal"] is None:
            assert positive(r["gradcli_s"])
            assert r["gradcli_rel_err"] <= 1e-12, r  # against A.T @ diag(s(1-s)) @ A
            if hess["torch"] is None:
                assert r["torch_s"] is None and r["ratio"] is None
            else:
                assert r["torch_rel_err"] <= 1e-12
                assert math.isclose(r["ratio"], r["gradcli_s"] / r["torch_s"])
    # --smoke never raises the limit: at n = 1000 forward mode is refused, before any tangent
    big = rows[1000]
    if big["max_forward_work"] < 4 * 10**9:  # the default limit (not raised in the environment)
        assert big["refusal"] is not None and big["gradcli_s"] is None
        assert "GRADCLI_MAX_FORWARD_WORK" in big["refusal"]["message"]


def test_points(smoke: tuple[dict[str, Any], str]) -> None:
    pts = smoke[0]["points"]
    assert pts["program"] == "z = w*x + b; y_pred = sigmoid(z); bce(y_pred, y)"
    assert "--at" in pts["batch_command"] and pts["batch_command"].endswith("--format csv > /dev/null")
    assert pts["separate_command"].endswith("--wrt w,b --json") and "--at" not in pts["separate_command"]
    assert pts["vectorized"] is True  # the rows went through one array pass
    assert len(pts["separate_times_s"]) == pts["separate_calls"] >= 1
    assert len(pts["batch_times_s"]) == len(pts["inprocess_times_s"]) == pts["runs"]
    for key in ("batch_s", "inprocess_s", "separate_per_call_s", "read_rows_s"):
        assert positive(pts[key]), key
    assert math.isclose(pts["separate_extrapolated_s"], pts["separate_per_call_s"] * pts["rows"])
    assert math.isclose(pts["ratio_separate_to_batch"], pts["separate_extrapolated_s"] / pts["batch_s"])
    # the --at output, each separate call and the in-process rows match the closed form per row
    for key in ("batch_rel_err", "separate_rel_err", "inprocess_rel_err"):
        assert pts[key] <= 1e-12, (key, pts[key])
    if pts["torch"] is None:  # no PyTorch here (never a dependency): no PyTorch figures
        assert (
            pts["torch_s"] is None and pts["ratio_inprocess_to_torch"] is None and pts["torch_times_s"] == []
        )
    else:
        assert pts["torch_rel_err"] <= 1e-12
        assert math.isclose(pts["ratio_inprocess_to_torch"], pts["inprocess_s"] / pts["torch_s"])


def test_targets_and_table(smoke: tuple[dict[str, Any], str]) -> None:
    results, table = smoke
    targets = {t["target"]: t for t in results["targets"]}
    assert any(t.startswith("cold start --json") for t in targets)
    assert any(t.startswith("reverse mode peak memory") for t in targets)
    correctness = next(t for name, t in targets.items() if name.startswith("every result matches"))
    assert correctness["met"] is True
    for t in results["targets"]:
        assert t["kind"] in ("at most", "at least")
        # met is None only for a comparison with PyTorch where it is not installed
        # (or SymPy's, or a Hessian that --smoke leaves refused)
        assert t["met"] in (True, False) or (
            ("PyTorch" in t["target"] or "SymPy" in t["target"]) and t["value"] is None
        )
    for title in (
        "1. cold start",
        "2. gradient of mean(sin(x**2))",
        "2. peak memory",
        "3. scaling",
        "4. parse throughput",
        "5. big programs of single numbers",
        "6. matrices",
        "7. the derivative as a formula",
        "7. diff's speed",
        "8. Hessian of",
        "9. many points in one call",
        "targets",
    ):
        assert title in table


def test_the_smoke_profile_only_shrinks_sizes() -> None:
    """--quick and the full run use the sizes the issue names."""
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.run import PROFILES
    finally:
        sys.path.remove(str(ROOT))
    for name in ("full", "quick"):
        p = PROFILES[name]
        assert p.array_sizes == (10**5, 10**6, 10**7)
        assert p.scaling_sizes == (10**3, 10**4, 10**5)
        assert p.parse_sizes == (10**4, 10**5)
        assert 10**7 in p.memory_sizes
        assert p.bigscalar_sizes == (100_000, 50_000)
        assert p.matrix_size == p.matrix_refused_size == 512
        assert p.symbolic_sizes == (250, 500, 1000)
        assert p.hessian_sizes == (10, 100, 1000)
        assert p.points_rows == 10_000 and p.points_separate == 100
