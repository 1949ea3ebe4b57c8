"""`gradcli check --order 2`: second derivatives by every route, and a verdict.

Routes: the exact Hessian (gradcli.higher: the Jacobian of the gradient program), central
finite differences of the exact gradient (two step sizes, whose difference is the error
estimate), and hand-derived `--manual` formulas: `x: FORMULA` for ∂²L/∂x² (element by element
for an array x) and `x,y: FORMULA` for the mixed ∂²L/∂x∂y of single-number inputs. They agree
under the same rules as first-order checks: exact routes within rtol and atol of each other,
finite differences within 10 times their error estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.api import Compiled
from gradcli.errors import GradcliError
from gradcli.higher import hessian

FD_FACTOR = 10.0  # a finite difference agrees within this many times its error estimate
FD_RTOL = 1e-6


class SecondOrderError(GradcliError):
    kind = "usage error"


@dataclass
class Entry:
    """One second derivative: ∂²L/∂a∂b at elements (i, j), by each route."""

    row: str
    column: str
    exact: float
    fd: float
    fd_error: float
    manual: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class SecondResult:
    program: str
    entries: list[Entry]
    symmetric: bool
    asymmetry: float

    @property
    def passed(self) -> bool:
        return all(e.ok for e in self.entries) and self.symmetric


def _manual(text: str) -> tuple[tuple[str, ...], str]:
    head, sep, formula = text.partition(":")
    names = tuple(n.strip() for n in head.split(","))
    if not sep or not all(n.isidentifier() for n in names) or len(names) > 2:
        raise SecondOrderError(
            f"--manual for --order 2 is 'x: FORMULA' (∂²L/∂x²) or 'x,y: FORMULA' (∂²L/∂x∂y), got {text!r}"
        )
    return names, formula.strip()


def check_second(
    program: str,
    bindings: Mapping[str, Any],
    manual: Sequence[str],
    wrt: str | None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> SecondResult:
    h = hessian(program, bindings, wrt=wrt)
    compiled = Compiled(program)
    names = list(dict.fromkeys(r[0] for r in h.rows))
    fd, err = _fd_hessian(compiled, bindings, names)
    labels = [_label(r) for r in h.rows]
    scale = max(1.0, float(np.max(np.abs(h.matrix)))) if h.matrix.size else 1.0
    formulas: dict[tuple[str, str], Any] = {}
    for text in manual:
        pair, formula = _manual(text)
        a, b = pair if len(pair) == 2 else (pair[0], pair[0])
        for n in (a, b):
            if n not in names:
                raise SecondOrderError(
                    f"--manual names '{n}', which is not among the inputs checked ({', '.join(names)})"
                )
        value = np.asarray(_evaluate(formula, program, bindings), dtype=np.float64)
        formulas[(a, b)] = value
        formulas[(b, a)] = value
    offsets, start = {}, 0
    for n in names:
        offsets[n] = start
        start += int(np.size(bindings[n]))
    entries: list[Entry] = []
    for i, r in enumerate(h.rows):
        for j, c in enumerate(h.columns):
            exact, estimate, error = float(h.matrix[i, j]), float(fd[i, j]), float(err[i, j])
            entry = Entry(labels[i], labels[j], exact, estimate, error)
            tolerance = FD_FACTOR * error + FD_RTOL * abs(exact) + atol * scale
            if not abs(estimate - exact) <= tolerance:
                entry.problems.append("finite difference")
            if (r[0], c[0]) in formulas:
                value = formulas[(r[0], c[0])]
                manual_value = _pick(value, r, c, offsets, i, j, bindings)
                if manual_value is not None:
                    entry.manual = manual_value
                    if not abs(manual_value - exact) <= atol * scale + rtol * max(
                        abs(manual_value), abs(exact)
                    ):
                        entry.problems.append("manual")
            if not np.isfinite(exact):
                entry.problems.append("not finite")
            entries.append(entry)
    return SecondResult(program, entries, h.asymmetry <= 1e-10, h.asymmetry)


def _pick(
    value: np.ndarray, r: Any, c: Any, offsets: Mapping[str, int], i: int, j: int, bindings: Mapping[str, Any]
) -> float | None:
    """The manual formula's number for entry (i, j): a scalar formula for a pair of single
    numbers; for one array input, its value is the diagonal of that block."""
    if value.ndim == 0:
        return (
            float(value)
            if (np.ndim(bindings[r[0]]) == 0 and np.ndim(bindings[c[0]]) == 0) or (r == c)
            else None
        )
    if r[0] == c[0] and r[1] == c[1]:
        return float(value[r[1]])
    return None


def _label(entry: tuple[str, tuple[int, ...]]) -> str:
    name, idx = entry
    return f"{name}[{', '.join(str(i) for i in idx)}]" if idx else name


def _evaluate(formula: str, program: str, bindings: Mapping[str, Any]) -> Any:
    """A manual formula may use the inputs and the program's intermediates."""
    source = program.rstrip().rstrip(";")
    statements = source.split("\n") if "\n" in source else source.split(";")
    body = [s for s in statements[:-1] if s.strip()]
    text = "\n".join([*body, formula])
    compiled = Compiled(text)
    return compiled.evaluate({k: v for k, v in bindings.items() if k in compiled.graph.inputs})


def _fd_hessian(
    compiled: Compiled, bindings: Mapping[str, Any], names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of the exact gradient, at steps h and h/2 (the difference of the
    two estimates is the error estimate)."""
    sizes = [int(np.size(bindings[n])) for n in names]
    total = sum(sizes)
    fd = np.zeros((total, total))
    err = np.zeros((total, total))
    base = {k: np.array(v, dtype=np.float64) for k, v in bindings.items()}
    col = 0
    for n, size in zip(names, sizes, strict=True):
        for e in range(size):
            estimates = []
            x0 = float(base[n].flat[e]) if base[n].ndim else float(base[n])
            for h in (1e-4 * max(1.0, abs(x0)), 0.5e-4 * max(1.0, abs(x0))):
                up, down = dict(base), dict(base)
                up[n], down[n] = base[n].copy(), base[n].copy()
                if base[n].ndim:
                    up[n].flat[e] += h
                    down[n].flat[e] -= h
                else:
                    up[n] = np.array(x0 + h)
                    down[n] = np.array(x0 - h)
                gu = compiled.grad(up, wrt=names).gradient
                gd = compiled.grad(down, wrt=names).gradient
                estimates.append(
                    np.concatenate([(np.ravel(gu[m]) - np.ravel(gd[m])) / (2 * h) for m in names])
                )
            fine = (4 * estimates[1] - estimates[0]) / 3  # Richardson: the h² term cancels
            fd[:, col] = fine
            err[:, col] = np.abs(estimates[1] - estimates[0])
            col += 1
    return fd, err
