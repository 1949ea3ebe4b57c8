"""Random programs over the whole primitive table, judged three ways (issue 11's differential test).

The generator draws programs with 2-D broadcasting, points on kinks, extreme magnitudes
(1e300, subnormals), empty arrays, detach and vector literals, over every public primitive.
Each program is judged by:

1. forward mode against reverse mode: they must agree (gradcli/check/tolerance.py's rule;
   NaN agrees with NaN and an infinity with itself), and neither may raise anything but a
   GradcliError (an internal error is a bug);
2. every op's value against the exact value at the same float64 arguments (tests/mpref.py);
3. reverse mode's gradient against the chain rule run exactly at the float64 intermediates
   (tests/mpref.py), where the reference can judge: no kink at the point, every local
   partial defined.

Run it as a script to count, e.g. before and after a change:

    python tests/differential.py --programs 2000 --seed 1
"""

from __future__ import annotations

import math
import random
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from gradcheck import on_kink
from mpref import Unavailable, reference_gradient, value_errors

from gradcli.api import Compiled
from gradcli.check import tolerance
from gradcli.check.both import rounding_slack
from gradcli.engine.values import bind, forward_values
from gradcli.errors import GradcliError
from gradcli.primitives import PRIMITIVES

UNARY = sorted(
    p.name
    for p in PRIMITIVES.values()
    if p.public and p.kind == "elementwise" and len(p.params) == 1 and p.notation is None
)
BINARY_FUNCS = ["min", "max", "atan2", "hypot", "logaddexp"]
REDUCE1 = sorted(
    p.name for p in PRIMITIVES.values() if p.public and p.kind == "reduce" and len(p.params) == 1
)
REDUCE2 = sorted(
    p.name for p in PRIMITIVES.values() if p.public and p.kind == "reduce" and len(p.params) == 2
)
OPERATORS = ["+", "-", "*", "/", "**"]

NORMAL = [0.3, -0.7, 1.25, -2.0, 0.5, 1.7, -0.1, 2.5]
KINKS = [0.0, -0.0, 1.0, -1.0, 1e-8, 1 - 1e-8, 0.5]
EXTREMES = [
    1e300,
    -1e300,
    1e-300,
    -1e-300,
    5e-324,
    1e-310,
    1e-200,
    1e200,
    700.0,
    -745.0,
    1e154,
    1e-170,
    3e-170,
]
CONSTANTS = ["2", "0.5", "3", "-1", "0", "1", "pi", "1e-300", "1e300", "1e-200"]
SHAPES = [(), (3,), (2, 3), (0,), (2, 0)]


def _sub_shape(rng: random.Random, base: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to `base`: drop leading axes, set some axes to 1."""
    drop = rng.randint(0, len(base))
    kept = list(base[drop:])
    return tuple(1 if rng.random() < 0.3 else d for d in kept)


def _value(rng: random.Random) -> float:
    pool = rng.choice([NORMAL, NORMAL, KINKS, EXTREMES])
    return float(rng.choice(pool))


@dataclass
class Case:
    program: str
    point: dict[str, Any]

    def __str__(self) -> str:
        shown = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.point.items()}
        return f"{self.program!r} at {shown}"


def generate(rng: random.Random) -> Case:
    base = rng.choice(SHAPES)
    names = ["x", "y", "z"][: rng.randint(1, 3)]
    point: dict[str, Any] = {}
    for name in names:
        shape = _sub_shape(rng, base)
        size = math.prod(shape)
        point[name] = (
            np.array([_value(rng) for _ in range(size)], dtype=np.float64).reshape(shape)
            if shape
            else _value(rng)
        )
    return Case(_expression(rng, names, rng.randint(1, 4)), point)


def _expression(rng: random.Random, names: list[str], depth: int) -> str:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(names) if rng.random() < 0.75 else rng.choice(CONSTANTS)
    kind = rng.random()

    def sub() -> str:
        return _expression(rng, names, depth - 1)

    if kind < 0.3:
        return f"{rng.choice(UNARY)}({sub()})"
    if kind < 0.55:
        op = rng.choice(OPERATORS)
        right = rng.choice(["2", "3", "0.5", "-1", "0", sub()]) if op == "**" else sub()
        return f"({sub()}) {op} ({right})"
    if kind < 0.65:
        return f"{rng.choice(BINARY_FUNCS)}({sub()}, {sub()})"
    if kind < 0.72:
        return f"clamp({sub()}, {rng.choice(['0', '-1', sub()])}, {rng.choice(['1', '2', sub()])})"
    if kind < 0.84:
        return f"{rng.choice(REDUCE1)}({sub()})"
    if kind < 0.9:
        a = sub()
        return f"{rng.choice(REDUCE2)}({a}, {rng.choice([a, sub(), '0.5', '1'])})"
    if kind < 0.93:
        return f"detach({sub()})"
    if kind < 0.96:
        op = rng.choice(["<", "<=", ">", ">=", "==", "!="])
        return f"where(({sub()}) {op} ({sub()}), {sub()}, {sub()})"
    a = sub()
    return f"[{a}, {rng.choice([a, '1', '0'])}]"


@dataclass
class Verdict:
    """What one program showed."""

    rejected: str = ""  # a user error (shapes, a limit): not a program to judge
    internal: str = ""  # an exception other than a GradcliError: a bug
    disagree: str = ""  # forward and reverse mode differ
    values: list[str] = field(default_factory=list)  # ops whose value is not the exact one
    reference: str = ""  # reverse mode differs from the exact chain rule
    judged_by_reference: bool = False

    @property
    def bad(self) -> bool:
        return bool(self.internal or self.disagree or self.values or self.reference)


def judge(case: Case, *, reference: bool = True) -> Verdict:
    verdict = Verdict()
    try:
        compiled = Compiled(case.program)
        result = compiled.grad(case.point, mode="reverse")
        rev = result.gradient
        fwd = compiled.grad(case.point, mode="forward").gradient
        slack = rounding_slack(compiled, case.point)
        graph = compiled.graph
        inputs, _ = bind(graph, case.point)
        vals, _counts = forward_values(graph, inputs)
    except GradcliError as err:
        verdict.rejected = f"{err.kind}: {err.message}"
        return verdict
    except Exception as exc:  # a bug, by gradcli's own definition
        verdict.internal = f"{type(exc).__name__}: {exc}"
        return verdict
    # A gradient is compared where the function has a value: at an inf or NaN output, both
    # modes' numbers are artefacts of the arithmetic on it (both are reported, as such).
    finite_value = bool(np.all(np.isfinite(result.value)))
    for name, g in rev.items():
        if finite_value and not tolerance.agree(fwd[name], g, slack=slack[name]):
            verdict.disagree = (
                f"d/d{name}: reverse {np.asarray(g).tolist()}, forward {np.asarray(fwd[name]).tolist()}"
            )
            break
    if not reference:
        return verdict
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the reference's own inf and NaN
        _judge_by_reference(case, graph, vals, rev, verdict)
    return verdict


def _judge_by_reference(case: Case, graph: Any, vals: Any, rev: dict[str, Any], verdict: Verdict) -> None:
    verdict.values = value_errors(graph, vals)
    if on_kink(case.program, case.point):
        return
    try:
        exact, allowance = reference_gradient(graph, vals, list(rev))
    except Unavailable:
        return
    verdict.judged_by_reference = True
    for name, g in rev.items():
        if not _matches(np.asarray(g, dtype=np.float64), exact[name], allowance[name]):
            verdict.reference = f"d/d{name}: gradcli {np.asarray(g).tolist()}, exact {exact[name].tolist()}"
            break


def _matches(got: np.ndarray, exact: np.ndarray, allowance: np.ndarray) -> bool:
    """Within the reference's allowance for the local partials, plus rounding of the sums
    (relative 1e-9 of the largest element); or the same infinity where the exact value is
    beyond float64."""
    if got.shape != exact.shape:
        return False
    scale = float(np.max(np.abs(exact[np.isfinite(exact)]), initial=0.0))
    for g, e, a in zip(got.ravel(), exact.ravel(), allowance.ravel(), strict=True):
        if math.isinf(e) or math.isinf(g):
            if g != e:
                return False
        elif math.isnan(g) or abs(g - e) > 1e-9 * max(abs(e), scale) + a + 1e-300:
            return False
    return True


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=5, help="examples shown per kind of problem")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    counts = {
        "programs": 0,
        "rejected": 0,
        "judged by reference": 0,
        "internal": 0,
        "disagree": 0,
        "values": 0,
        "reference": 0,
    }
    shown: dict[str, int] = {}
    for _ in range(args.programs):
        case = generate(rng)
        v = judge(case)
        counts["programs"] += 1
        counts["rejected"] += bool(v.rejected)
        counts["judged by reference"] += v.judged_by_reference
        for kind, detail in (
            ("internal", v.internal),
            ("disagree", v.disagree),
            ("values", "; ".join(v.values)),
            ("reference", v.reference),
        ):
            if detail:
                counts[kind] += 1
                if shown.get(kind, 0) < args.show:
                    shown[kind] = shown.get(kind, 0) + 1
                    print(f"{kind}: {case}\n    {detail}")
    print(counts)


if __name__ == "__main__":
    main(sys.argv[1:])
