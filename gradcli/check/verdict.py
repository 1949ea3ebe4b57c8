"""`gradcli check`: the gradient by every route, and a verdict.

Routes, per input and element: reverse mode (the reference), forward mode, central finite
differences (gradcli.check.finite_diff), each `--manual` formula, and, from a spec file, the
expected numbers. Manual formulas are gradcli programs evaluated in the program's
environment: they may use its inputs and its intermediates (`p` in `p = sigmoid(z)`).

Verdict of one element (the first that applies):
- "nan": an exact route (reverse, forward, manual, expected) is NaN, or the value is.
- "fail": an exact route disagrees with reverse mode beyond the exact tolerance
  |a - b| <= atol·s + rtol·max(|a|, |b|), where s = max(1, largest |reverse| element of
  that input) (rounding in a gradient scales with its largest terms, not with a small
  element that cancels); equal infinities agree. The rule is gradcli/tolerance.py's,
  the same as `grad --mode both`'s.
- "fail": the finite difference d (error estimate e) disagrees beyond
  |d - g| <= FD_FACTOR·e + max(rtol, FD_RTOL)·|g| + atol·s, unless the finite difference
  cannot judge the point: at a kink ("kink"), through detach() ("detach"), or where it
  found the function not smooth within its step ("rough"); then the check passes with the
  reason named. A finite difference that is undefined (NaN around the point), too uncertain
  (error estimate above FD_VAGUE·max(|d|, |g|, s), e.g. a clamp's edge inside the step) or
  left out (sampling of a big input) does not vote; a note says so.
- "kink": the point is on a kink (from the primitive table's `kink` expressions), even
  when the finite difference happens to agree.
- "ok".

The check fails when any element fails or is NaN, or the value differs from an expected value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.api import Compiled, domain_warnings
from gradcli.check import finite_diff, tolerance
from gradcli.engine.graph import Graph, Through
from gradcli.engine.rules import kinks
from gradcli.engine.values import bind, fit, forward_values
from gradcli.errors import BindingError, GradcliError, LimitError, ShapeError, UsageError, did_you_mean
from gradcli.lang.ast import Name
from gradcli.output.numbers import number_text, value_text
from gradcli.primitives import CONSTANTS

Array = Any

DEFAULT_RTOL = tolerance.RTOL  # the exact-route rule is gradcli/tolerance.py's, shared with --mode both
DEFAULT_ATOL = tolerance.ATOL
FD_FACTOR = 10.0  # a finite difference may be off by this many times its error estimate
FD_RTOL = 1e-7  # ... and by this relative amount at least (rounding of the estimate itself)
FD_VAGUE = 1e-3  # an error estimate above this, relative to max(|d|, |g|, s), cannot judge

# Element verdicts, worst first.
NAN, FAIL, KINK, DETACH, ROUGH, OK = "nan", "fail", "kink", "detach", "rough", "ok"
CODES = (NAN, FAIL, KINK, DETACH, ROUGH, OK)  # an element's verdict is stored as its index here
SEVERITY = {name: code for code, name in enumerate(CODES)}

_PREFIX = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)\Z", re.DOTALL)


class CheckUsageError(UsageError):
    """The command was called wrongly (no program, or a program together with --spec)."""


class CheckInputError(GradcliError):
    """A user error in one part of a check; `field` names it ("program", "manual.x", ...)."""

    def __init__(self, err: GradcliError, field: str) -> None:
        super().__init__(err.message, span=err.span, source=err.source, hint=err.hint)
        self.kind = err.kind
        self.field = field


@contextmanager
def _field(name: str) -> Iterator[None]:
    try:
        yield
    except CheckInputError:
        raise
    except GradcliError as err:
        raise CheckInputError(err, name) from None


@dataclass
class CheckSpec:
    """What to check: a program at a point, and the routes to compare."""

    program: str
    bindings: Mapping[str, Any]
    wrt: Sequence[str] | str | None = None
    manual: Sequence[tuple[str | None, str]] = ()  # (input or None for the only one, formula)
    expect_value: Any = None
    expect_gradient: Mapping[str, Any] = field(default_factory=dict)
    rtol: float | None = None
    atol: float | None = None
    name: str = ""
    sample: finite_diff.Sample = field(default_factory=finite_diff.Sample)  # big inputs' elements


def parse_manual(text: str) -> tuple[str | None, str]:
    """`x:2*x` -> ("x", "2*x"); `2*x` -> (None, "2*x"). The language's own ':' is inside
    brackets (slices: x[1:3])."""
    match = _PREFIX.match(text)
    if match:
        return match.group(1), match.group(2)
    if ":" in text and "[" not in text.split(":", 1)[0]:
        head = text.split(":", 1)[0].strip()
        raise BindingError(
            f"'{head}' before ':' in --manual is not an input name",
            hint="write --manual 'INPUT:FORMULA', e.g. --manual 'x:2*x*cos(x**2)'",
        )
    return None, text


@dataclass
class Excuse:
    """Why finite differences cannot judge some elements: a kink or a detach() on the path."""

    kind: str  # KINK or DETACH
    where: str  # source text of the op
    detail: str  # the convention there
    count: int  # elements of the op at the kink
    size: int
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # input -> affected elements

    def describe(self) -> str:
        if self.kind == DETACH:
            return (
                f"{self.where} blocks the gradient on purpose; finite differences see through it, "
                "so they cannot judge"
            )
        at = "" if self.size == 1 else f" at {self.count} of its {self.size} elements"
        conv = f" (convention: {self.detail})" if self.detail else ""
        return f"{self.where} is at a kink{at}{conv}: finite differences cannot judge there"


@dataclass
class Row:
    """Every route for one input (elements in the input's shape)."""

    name: str
    shape: tuple[int, ...]
    reverse: np.ndarray
    forward: np.ndarray | None
    fd: finite_diff.FDResult
    manual: np.ndarray | None
    manual_text: str | None
    expected: np.ndarray | None
    status: np.ndarray  # verdict per element, as an index into CODES (int8)
    reasons: dict[int, list[str]]  # flat element -> the routes that disagree
    rel: np.ndarray  # largest relative discrepancy per element (NaN where undefined)
    abs: np.ndarray  # largest absolute discrepancy per element
    scale: float
    vague: np.ndarray  # bool: finite difference too uncertain to vote (error estimate above FD_VAGUE)
    # bool: the finite difference does not vote there (a kink, detach(), rough ground)
    silent: np.ndarray | None = None

    @property
    def verdict(self) -> str:
        return CODES[int(self.status.min())] if self.status.size else OK

    def verdict_at(self, j: int) -> str:
        return CODES[int(self.status.ravel()[j])]

    def counts(self, among: np.ndarray | None = None) -> dict[str, int]:
        """Number of elements per verdict (of the flat indices `among`, or all), worst first."""
        flat = self.status.ravel() if among is None else self.status.ravel()[among]
        tally = np.bincount(flat, minlength=len(CODES))
        return {CODES[c]: int(tally[c]) for c in range(len(CODES)) if tally[c]}

    def failing(self) -> np.ndarray:
        """Flat indices of the elements that fail or are NaN."""
        return np.flatnonzero(self.status.ravel() <= SEVERITY[FAIL])

    @property
    def max_rel(self) -> float:
        return _nanmax(self.rel)

    @property
    def max_abs(self) -> float:
        return _nanmax(self.abs)


def _nanmax(a: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    if np.any(np.isnan(a)):
        return float("nan")
    return float(np.max(a))


@dataclass
class CheckResult:
    name: str
    program: str
    inputs: dict[str, Array]
    value: Array
    expected_value: Array | None
    value_status: str  # OK, FAIL, NAN
    rows: list[Row]
    excuses: list[Excuse]
    notes: list[str]
    warnings: list[str]
    rtol: float
    atol: float
    value_note: str = ""  # where a NaN value comes from
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def verdict(self) -> str:
        verdicts = [r.verdict for r in self.rows] + [self.value_status]
        worst = min(verdicts, key=lambda v: SEVERITY[v])
        return worst if worst in (NAN, FAIL) or not self.failures else FAIL

    @property
    def max_rel(self) -> float:
        return max([*(r.max_rel for r in self.rows), self._value_delta()[0]], key=_nan_high)

    @property
    def max_abs(self) -> float:
        return max([*(r.max_abs for r in self.rows), self._value_delta()[1]], key=_nan_high)

    def _value_delta(self) -> tuple[float, float]:
        """An expected value's discrepancy (0 without one): the Δ columns show a failed
        `expect = { value = ... }` too."""
        if self.expected_value is None:
            return 0.0, 0.0
        with np.errstate(all="ignore"):
            r, a = tolerance.discrepancy(
                np.asarray(self.value, dtype=float), np.asarray(self.expected_value, dtype=float)
            )
        return _nanmax(np.asarray(r)), _nanmax(np.asarray(a))


def _nan_high(v: float) -> float:
    return float("inf") if np.isnan(v) else v


# --------------------------------------------------------------------------
# Preparation: everything that can be a user error (exit 2), before any verdict.


@dataclass
class Prepared:
    spec: CheckSpec
    compiled: Compiled
    inputs: dict[str, Array]
    vals: list[Array]
    counts: list[int]
    wrt: list[str]
    manual: dict[str, tuple[str, np.ndarray]]  # input -> (formula, value in the input's shape)
    expect_gradient: dict[str, np.ndarray]
    expect_value: Array | None
    warnings: list[str]


def prepare(spec: CheckSpec) -> Prepared:
    """Parse, bind, evaluate; resolve --wrt and the manual formulas. Raises CheckInputError."""
    with _field("program"):
        compiled = Compiled(spec.program)
    graph = compiled.graph
    with _field("at"):
        inputs, warnings = bind(graph, spec.bindings)
        vals, counts = forward_values(graph, inputs)
    with _field("wrt"):
        wrt = compiled.check_wrt(spec.wrt)
    env = environment(graph, vals)
    manual: dict[str, tuple[str, np.ndarray]] = {}
    for target, formula in spec.manual:
        key = f"manual.{target}" if target else "manual"
        with _field(key):
            name = _manual_target(target, wrt, graph, spec.wrt is not None)
            if name in manual:
                raise BindingError(f"two manual formulas for '{name}'", hint="give one formula per input")
            manual[name] = (formula, manual_value(formula, name, env, np.shape(vals[graph.op_of(name)])))
    expect_gradient: dict[str, np.ndarray] = {}
    for name, raw in spec.expect_gradient.items():
        with _field(f"expect.gradient.{name}"):
            if name not in wrt:
                hint = did_you_mean(name, wrt) or "inputs checked: " + (", ".join(wrt) or "none")
                raise BindingError(f"an expected gradient for '{name}', which is not checked", hint=hint)
            expect_gradient[name] = _as_shape(
                raw, np.shape(vals[graph.op_of(name)]), f"the expected gradient for '{name}'"
            )
    expect_value = None
    if spec.expect_value is not None:
        with _field("expect.value"):
            expect_value = _as_shape(spec.expect_value, np.shape(vals[graph.output]), "the expected value")
    return Prepared(
        spec, compiled, inputs, vals, counts, wrt, manual, expect_gradient, expect_value, warnings
    )


def _manual_target(target: str | None, wrt: list[str], graph: Graph, explicit_wrt: bool) -> str:
    if target is None:
        if len(wrt) == 1:
            return wrt[0]
        which = ", ".join(wrt) or "none"
        raise BindingError(
            f"a manual formula without 'INPUT:' is ambiguous: the check differentiates with respect to {which}",
            hint="prefix the input: --manual 'x:FORMULA'",
        )
    if target in wrt:
        return target
    if target in graph.inputs and explicit_wrt:
        raise BindingError(
            f"a manual formula for '{target}', which is not in --wrt",
            hint=f"add it: --wrt {','.join([*wrt, target])}",
        )
    hint = did_you_mean(target, graph.inputs) or "inputs: " + (", ".join(graph.inputs) or "none")
    raise BindingError(f"a manual formula for '{target}', which is not an input of the program", hint=hint)


def environment(graph: Graph, vals: Sequence[Array]) -> dict[str, Array]:
    """The program's names and their values at the point: inputs and intermediates."""
    env: dict[str, Array] = {name: vals[i] for name, i in graph.inputs.items()}
    named = {name: i for i, name in graph.names.items()}
    for stmt in graph.program.statements:
        target = stmt.target
        if target is None or target in env:
            continue
        if target in named:
            env[target] = vals[named[target]]
        elif isinstance(stmt.expr, Name):  # an alias: `q = p`, `a = x`, `c = pi`
            ref = stmt.expr.id
            env[target] = env[ref] if ref in env else np.float64(CONSTANTS[ref])
    return env


def manual_value(formula: str, name: str, env: Mapping[str, Array], shape: tuple[int, ...]) -> np.ndarray:
    """The manual formula for d/d`name`, evaluated with the program's names, in `name`'s shape."""
    what = f"the manual formula for '{name}'"
    try:
        compiled = Compiled(formula)
        graph = compiled.graph
        unknown = [n for n in graph.inputs if n not in env]
        if unknown:
            known = ", ".join(env) or "none"
            raise BindingError(
                f"{what} uses {', '.join(repr(u) for u in unknown)}, which the program does not define",
                span=graph.input_spans[unknown[0]],
                source=formula,
                hint=" ".join(
                    filter(
                        None, [did_you_mean(unknown[0], env), f"(it may use the program's names: {known})"]
                    )
                ),
            )
        vals, _ = forward_values(graph, {n: env[n] for n in graph.inputs})
    except GradcliError as err:
        if not err.message.startswith(what):
            err.message = f"in {what}: {err.message}"
        raise
    value = np.asarray(vals[graph.output], dtype=np.float64)
    try:
        ok = np.broadcast_shapes(value.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(
            f"{what} has shape {value.shape}, but '{name}' has shape {shape}",
            hint="the formula gives d(sum of the output)/d" + name + ", one number per element",
        )
    return np.array(np.broadcast_to(value, shape), dtype=np.float64)


def _as_shape(raw: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        value = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise BindingError(f"{what} is not a number or an array of numbers") from None
    try:
        ok = np.broadcast_shapes(value.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"{what} has shape {value.shape}, but it should have shape {shape}")
    return np.array(np.broadcast_to(value, shape))


# --------------------------------------------------------------------------
# The routes and the verdicts.


def run(spec: CheckSpec) -> CheckResult:
    return verdict(prepare(spec))


def verdict(prep: Prepared) -> CheckResult:
    spec = prep.spec
    graph, vals = prep.compiled.graph, prep.vals
    rtol = DEFAULT_RTOL if spec.rtol is None else float(spec.rtol)
    atol = DEFAULT_ATOL if spec.atol is None else float(spec.atol)
    notes: list[str] = []
    rev, fwd = _exact_routes(prep, notes)
    slack = tolerance.slack_of(graph, vals, prep.counts, prep.wrt)
    excuses = find_excuses(graph, vals, prep.counts, prep.wrt)
    rows = [_input_row(prep, name, (rev, fwd, slack), excuses, (rtol, atol), notes) for name in prep.wrt]
    value = vals[graph.output]
    value_status = OK
    if np.any(np.isnan(value)):
        value_status = NAN
    elif prep.expect_value is not None and not np.all(
        tolerance.close(value, prep.expect_value, rtol=rtol, atol=atol)
    ):
        value_status = FAIL
    if np.ndim(value) != 0:
        notes.append(f"the output has shape {np.shape(value)}: the gradient is that of sum(output)")
    if not prep.wrt:
        notes.append("the program has no inputs to differentiate")
    for row in rows:  # the note the README promises: where finite differences could not vote
        undefined = row.fd.computed & ~np.isfinite(row.fd.estimate)
        if undefined.any():
            where = (
                f"{int(undefined.sum()):,} of {undefined.size:,} elements"
                if undefined.size > 1
                else "the point"
            )
            notes.append(
                f"finite differences for '{row.name}' are undefined at {where} (the program is not "
                "defined on both sides): they do not vote there"
            )
    result = CheckResult(
        name=spec.name,
        program=spec.program,
        inputs=prep.inputs,
        value=value,
        expected_value=prep.expect_value,
        value_status=value_status,
        rows=rows,
        excuses=excuses,
        notes=notes,
        warnings=list(prep.warnings) + domain_warnings(graph, vals, rev, prep.counts),
        rtol=rtol,
        atol=atol,
        value_note=next(iter(domain_warnings(graph, vals, {})), "") if value_status == NAN else "",
    )
    result.failures = failure_messages(result)
    return result


def _exact_routes(prep: Prepared, notes: list[str]) -> tuple[dict[str, Array], dict[str, Array] | None]:
    """Reverse and forward mode, through Compiled.grad, so that what is checked is what `grad`
    reports (for big arrays: the blocked evaluator). Forward mode may be over its work limit."""
    rev = prep.compiled.grad(prep.inputs, wrt=prep.wrt, mode="reverse").gradient
    try:
        return rev, prep.compiled.grad(prep.inputs, wrt=prep.wrt, mode="forward").gradient
    except LimitError as err:
        notes.append(f"forward mode skipped: {err.message}")
        return rev, None


def _input_row(
    prep: Prepared,
    name: str,
    exact: tuple[Mapping[str, Array], Mapping[str, Array] | None, Mapping[str, Array]],
    excuses: Sequence[Excuse],
    tolerances: tuple[float, float],
    notes: list[str],
) -> Row:
    """Every route for one input, judged; notes on finite differences go to `notes`."""
    fd = finite_diff.gradient(prep.compiled.graph, prep.vals, name, sample=prep.spec.sample)
    if fd.note:
        notes.append(fd.note)
    rev, fwd, slack = exact
    formula, manual = prep.manual.get(name, (None, None))
    reference = np.asarray(rev[name], dtype=np.float64)
    routes = Routes(
        reference,
        None if fwd is None else np.asarray(fwd[name], dtype=np.float64),
        fd,
        manual,
        formula,
        prep.expect_gradient.get(name),
        np.asarray(slack[name], dtype=np.float64),
    )
    row = _row(name, routes, excuses, *tolerances)
    if row.vague.any():
        count = int(row.vague.sum())
        where = "" if not row.shape else f" at {count} of {row.vague.size} elements"
        worst = float(np.max(fd.error[row.vague]))
        notes.append(
            f"the finite difference for '{name}' is too uncertain to judge{where} "
            f"(error estimate up to {worst:.1e}); the exact routes judge there"
        )
    return row


@dataclass
class Routes:
    """The routes to one input's gradient: reverse mode (the reference) and the others."""

    reverse: np.ndarray
    forward: np.ndarray | None
    fd: finite_diff.FDResult
    manual: np.ndarray | None
    formula: str | None
    expected: np.ndarray | None
    slack: np.ndarray  # the rounding allowance of the chain rule's terms (gradcli.check.tolerance)

    def exact(self) -> list[tuple[str, np.ndarray]]:
        """The exact routes besides reverse mode, by label."""
        pairs = (("forward", self.forward), ("manual", self.manual), ("expected", self.expected))
        return [(label, arr) for label, arr in pairs if arr is not None]


class _Tally:
    """Per element: NaN, failure, the largest discrepancies, and which routes disagree."""

    def __init__(self, reference: np.ndarray) -> None:
        shape = reference.shape
        self.nan = np.isnan(reference).copy()
        self.fail = np.zeros(shape, dtype=bool)
        self.rel = np.zeros(shape)
        self.abs = np.zeros(shape)
        self.reasons: dict[int, list[str]] = {}
        self.reference = reference

    def note(self, mask: np.ndarray, label: str) -> None:
        for j in np.flatnonzero(mask.ravel()):
            self.reasons.setdefault(int(j), []).append(label)

    def discrepancy(self, route: np.ndarray) -> None:
        r, a = tolerance.discrepancy(route, self.reference)
        self.rel, self.abs = np.fmax(self.rel, r), np.fmax(self.abs, a)


def _row(name: str, routes: Routes, excuses: Sequence[Excuse], rtol: float, atol: float) -> Row:
    rev, fd = routes.reverse, routes.fd
    scale = tolerance.scale(rev)
    tally = _Tally(rev)
    for label, arr in routes.exact():
        tally.nan |= np.isnan(arr)
        bad = ~tolerance.close(arr, rev, rtol=rtol, atol=atol, s=scale, slack=routes.slack)
        tally.fail |= bad
        tally.note(bad & ~np.isnan(arr) & ~np.isnan(rev), label)
        tally.discrepancy(arr)
    usable, vague, fd_bad = _fd_vote(rev, fd, scale, rtol, atol)
    kink, detach = _excused(name, excuses, rev.shape)
    excused = kink | detach | fd.rough
    # the Δ columns count the routes that vote: not a finite difference at a kink, through
    # detach() or on rough ground (its cell says so), so they never contradict the verdict
    tally.discrepancy(np.where(usable & ~excused, fd.estimate, rev))
    tally.note(fd_bad & ~excused, "finite difference")
    status = np.full(rev.shape, SEVERITY[OK], dtype=np.int8)
    status[fd_bad & fd.rough] = SEVERITY[ROUGH]
    status[fd_bad & detach] = SEVERITY[DETACH]
    status[kink] = SEVERITY[KINK]
    status[tally.fail | (fd_bad & ~excused)] = SEVERITY[FAIL]
    status[tally.nan] = SEVERITY[NAN]
    nan_any = np.isnan(tally.rel) | tally.nan
    row_excused = excused
    rel = np.where(nan_any, np.nan, tally.rel)
    absd = np.where(nan_any, np.nan, tally.abs)
    return Row(
        name,
        tuple(rev.shape),
        rev,
        routes.forward,
        fd,
        routes.manual,
        routes.formula,
        routes.expected,
        status,
        tally.reasons,
        rel,
        absd,
        scale,
        vague,
        row_excused & fd.computed,
    )


def _fd_vote(
    rev: np.ndarray, fd: finite_diff.FDResult, scale: float, rtol: float, atol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the finite difference votes (usable), is too uncertain to (vague), and disagrees."""
    usable = fd.computed & np.isfinite(fd.estimate)
    with np.errstate(all="ignore"):
        vague = usable & ~(fd.error <= FD_VAGUE * np.fmax(np.fmax(np.abs(fd.estimate), np.abs(rev)), scale))
        usable &= ~vague
        fd_tol = FD_FACTOR * fd.error + max(rtol, FD_RTOL) * np.abs(rev) + atol * scale
        fd_bad = usable & np.isfinite(rev) & ~(np.abs(fd.estimate - rev) <= fd_tol)
    fd_bad |= usable & np.isinf(rev)  # an infinite gradient next to a finite difference
    return usable, vague, fd_bad


def _excused(name: str, excuses: Sequence[Excuse], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The elements of input `name` at a kink, and those behind a detach()."""
    kink = np.zeros(shape, dtype=bool)
    detach = np.zeros(shape, dtype=bool)
    for ex in excuses:
        if name in ex.masks:
            if ex.kind == KINK:
                kink |= ex.masks[name]
            else:
                detach |= ex.masks[name]
    return kink, detach


def find_excuses(
    graph: Graph, vals: Sequence[Array], counts: Sequence[int], wrt: Iterable[str]
) -> list[Excuse]:
    """Kinks (the primitive table's `kink` expressions) and detach() on a path input -> output."""
    feeds = graph.feeds()
    per_input = {name: graph.reaches([graph.op_of(name)], Through.VALUE) for name in wrt}
    ew = {name: finite_diff.elementwise_from(graph, dep) for name, dep in per_input.items()}
    excuses: list[Excuse] = []
    for i, op in enumerate(graph.ops):
        prim = op.prim
        if prim is None or not feeds[i] or not any(dep[i] for dep in per_input.values()):
            continue
        if prim.blocks_gradient:
            mask = np.ones(np.shape(vals[i]), dtype=bool)
            kind, detail = DETACH, ""
        elif prim.kink is not None or (prim.derivatives is not None and prim.derivatives.kink is not None):
            with np.errstate(all="ignore"):
                raw = kinks(prim, [vals[a] for a in op.args], vals[i], counts[i], op.params)
            mask = np.asarray(raw != 0)
            if not mask.any():
                continue
            kind, detail = KINK, prim.convention
        else:
            continue
        ex = Excuse(kind, graph.source_text(i, named=False), detail, int(mask.sum()), int(mask.size))
        for name, dep in per_input.items():
            if dep[i]:
                ex.masks[name] = _project(
                    mask,
                    np.shape(vals[i]),
                    np.shape(vals[graph.op_of(name)]),
                    ew[name][i] and all(ew[name][a] for a in op.args if dep[a]),
                )
        excuses.append(ex)
    return excuses


def _project(
    mask: np.ndarray, op_shape: tuple[int, ...], shape: tuple[int, ...], elementwise: bool
) -> np.ndarray:
    """The input elements behind an op's masked elements (all of them past a reduction)."""
    if not elementwise or mask.ndim == 0:
        return np.full(shape, bool(mask.any()))
    full = np.broadcast_to(mask, np.broadcast_shapes(mask.shape, op_shape)).astype(float)
    return np.asarray(fit(full, shape), dtype=float).reshape(shape) > 0


# --------------------------------------------------------------------------
# Messages with the numbers (JUnit, github annotations, JSON).

MAX_MESSAGES = 5
DIGITS = 10  # significant digits of the numbers in messages


def element_label(name: str, shape: tuple[int, ...], j: int) -> str:
    if not shape:
        return name
    idx = np.unravel_index(j, shape)
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]"


def failure_messages(result: CheckResult) -> list[str]:
    out: list[str] = []
    if result.value_status == NAN:
        out.append("the value is NaN" + (f": {result.value_note}" if result.value_note else ""))
    elif result.value_status == FAIL:
        value, expected = (
            value_text(v, DIGITS, one_line=True) for v in (result.value, result.expected_value)
        )
        out.append(f"value {value} but expected {expected}")
    for row in result.rows:
        bad = row.failing()
        for j in bad[:MAX_MESSAGES]:
            out.append(_element_message(row, int(j)))
        if len(bad) > MAX_MESSAGES:
            out.append(f"{row.name}: {len(bad) - MAX_MESSAGES} more elements fail")
    return out


def _element_message(row: Row, j: int) -> str:
    where = element_label(row.name, row.shape, j)
    ref = float(row.reverse.ravel()[j])
    if row.verdict_at(j) == NAN:
        routes = [
            ("reverse", row.reverse),
            ("forward", row.forward),
            ("manual", row.manual),
            ("expected", row.expected),
        ]
        nans = [label for label, arr in routes if arr is not None and np.isnan(arr.ravel()[j])]
        verb = "are" if len(nans) > 1 else "is"
        return f"{where}: {' and '.join(nans) or 'the value'} {verb} NaN"
    parts = []
    for label in row.reasons.get(j, []):
        if label == "finite difference":
            est = float(row.fd.estimate.ravel()[j])
            err = float(row.fd.error.ravel()[j])
            parts.append(f"the finite difference gives {number_text(est, DIGITS)} (± {err:.1e})")
        else:
            arr = {"forward": row.forward, "manual": row.manual, "expected": row.expected}[label]
            assert arr is not None
            number = number_text(float(arr.ravel()[j]), DIGITS)
            if label == "manual":
                parts.append(f"the manual formula '{(row.manual_text or '').strip()}' gives {number}")
            elif label == "expected":
                parts.append(f"the expected gradient is {number}")
            else:
                parts.append(f"forward mode gives {number}")
    rel, absd = float(row.rel.ravel()[j]), float(row.abs.ravel()[j])
    return (
        f"{where}: {' and '.join(parts)}, but reverse mode gives {number_text(ref, DIGITS)} "
        f"(relative difference {rel:.2g}, absolute {absd:.2g})"
    )
