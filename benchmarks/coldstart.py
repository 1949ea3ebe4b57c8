"""Cold start: the whole `gradcli grad 'sin(x**2)' x=3` process, against the floor
`python -c "import typer, lark, numpy"` (the libraries any such CLI imports).

All commands use the interpreter running the suite, run interleaved (round by
round, the order rotating), after warm-up runs that fill the parser cache and
the bytecode cache. Wall time and CPU time (user + system, of the child) are
recorded per run; the figures are medians and the ratios are against the floor.
Human output is measured piped (as in a script), i.e. without colour.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import median

PROGRAM, BINDING = "sin(x**2)", "x=3"
EXPECTED_VALUE = math.sin(9.0)
EXPECTED_GRADIENT = 6.0 * math.cos(9.0)


def commands(python: str = sys.executable) -> dict[str, list[str]]:
    """floor, json and human commands; the console script if installed next to the interpreter."""
    script = Path(python).with_name("gradcli")
    gradcli = [python, str(script)] if script.is_file() else [python, "-m", "gradcli"]
    return {
        "floor": [python, "-c", "import typer, lark, numpy"],
        "json": [*gradcli, "grad", PROGRAM, BINDING, "--json"],
        "human": [*gradcli, "grad", PROGRAM, BINDING],
    }


def _env(keep_env: bool, pycache: str) -> tuple[dict[str, str], str]:
    """The children's environment. Installed packages have their bytecode compiled; when
    PYTHONDONTWRITEBYTECODE is set (CI, sandboxes) an editable install would recompile
    gradcli on every start, which no user sees: bytecode then goes to a temporary
    PYTHONPYCACHEPREFIX, written in the warm-up runs."""
    env = dict(os.environ)
    if keep_env or not env.get("PYTHONDONTWRITEBYTECODE"):
        return env, "as given"
    env.pop("PYTHONDONTWRITEBYTECODE")
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env, "bytecode cached in a temporary PYTHONPYCACHEPREFIX (PYTHONDONTWRITEBYTECODE was set)"


def _run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def _check(name: str, proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The command's output is right: exit 0, no stderr, the value and gradient of sin(x**2) at 3."""
    out: dict[str, Any] = {"exit_code": proc.returncode, "stderr": proc.stderr}
    if name == "json":
        obj = json.loads(proc.stdout)
        out["value"], out["gradient"] = obj["value"], obj["gradient"]["x"]
        out["ok"] = (
            proc.returncode == 0
            and not proc.stderr
            and math.isclose(obj["value"], EXPECTED_VALUE, rel_tol=1e-12)
            and math.isclose(obj["gradient"]["x"], EXPECTED_GRADIENT, rel_tol=1e-12)
        )
    elif name == "human":  # printed to 10 significant digits
        numbers = [float(w) for w in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", proc.stdout)]
        out["ok"] = (
            proc.returncode == 0
            and not proc.stderr
            and any(math.isclose(v, EXPECTED_VALUE, rel_tol=1e-9) for v in numbers)
            and any(math.isclose(v, EXPECTED_GRADIENT, rel_tol=1e-9) for v in numbers)
        )
    else:
        out["ok"] = proc.returncode == 0 and not proc.stderr
    return out


def run(repeats: int, warmup: int = 2, keep_env: bool = False) -> dict[str, Any]:
    cmds = commands()
    names = list(cmds)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    checks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gradcli-bench-pyc-") as pycache:
        env, env_note = _env(keep_env, pycache)
        for _ in range(warmup):
            for name in names:
                _run_once(cmds[name], env)
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
                wall, cpu, proc = _run_once(cmds[name], env)
                walls[name].append(wall)
                cpus[name].append(cpu)
                checks[name] = _check(name, proc)
    med = {n: median(walls[n]) for n in names}
    med_cpu = {n: median(cpus[n]) for n in names}
    return {
        "commands": {n: shlex.join(c) for n, c in cmds.items()},
        "environment": env_note,
        "runs": repeats,
        "warmup_runs": warmup,
        "wall_s": walls,
        "cpu_s": cpus,
        "median_wall_s": med,
        "median_cpu_s": med_cpu,
        "ratio": {n: med[n] / med["floor"] for n in names if n != "floor"},
        "cpu_ratio": {n: med_cpu[n] / med_cpu["floor"] for n in names if n != "floor"},
        "checks": checks,
    }
