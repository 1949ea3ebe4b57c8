"""The Python API: `evaluate` and `grad`, plus `compile` to reuse a parsed program."""

from __future__ import annotations

import functools
import gc
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

from gradcli.engine.graph import Graph, build
from gradcli.engine.values import bind, forward_values
from gradcli.errors import BindingError, GradcliError, did_you_mean
from gradcli.lang.ast import Program
from gradcli.lang.parser import parse

Array = Any
Mode = Literal["reverse", "forward"]
EVALUATORS: tuple[str, ...] = ("reverse", "forward")  # the modes of Compiled.grad


@dataclass
class GradResult:
    """Value and gradient of a program at a point."""

    value: float | np.ndarray
    gradient: dict[str, float | np.ndarray]
    mode: str
    inputs: dict[str, float | np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    route: str = ""  # which evaluator computed it, and why (`gradcli grad --debug` prints it)
    nan_origin: dict[str, Any] | None = None  # where a NaN/inf was born (gradcli/engine/provenance.py)
    intermediates: dict[str, float | np.ndarray] = field(default_factory=dict)  # --wrt z: z's value

    def __getitem__(self, name: str) -> float | np.ndarray:
        return self.gradient[name]


def _plain(value: Array) -> float | np.ndarray:
    if isinstance(value, float):  # also np.float64: the common case, without np.ndim's overhead
        return float(value)
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


F = TypeVar("F", bound=Callable[..., Any])


def _gc_paused(fn: F) -> F:
    """Run with the cyclic garbage collector paused (as the parser does): a big program is
    millions of small objects without cycles, which every full collection would scan again
    (at 1e5 operations, collections took a third of the time)."""

    @functools.wraps(fn)
    def paused(*args: Any, **kwargs: Any) -> Any:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused  # type: ignore[return-value]


class Compiled:
    """A parsed program, ready to evaluate or differentiate many times."""

    @_gc_paused
    def __init__(self, program: str | Program) -> None:
        """From source text, or from a `Program` the caller has already parsed."""
        parsed = parse(program) if isinstance(program, str) else program
        self.source = parsed.source
        self.graph: Graph = build(parsed)

    def _on_floats(
        self, inputs: dict[str, Array], names: list[str], mode: str, warnings: list[str]
    ) -> GradResult | None:
        """The result by the float path (gradcli/engine/scalar.py), when it applies."""
        fast = _on_floats(self.graph, inputs, names, mode)
        if fast is None:
            return None
        if self.kinky:
            floats = fast[2]
            warnings += _kink_warnings(self.graph, floats, [1] * len(floats), names)
        route = "on Python floats (every value is a single number: gradcli/engine/scalar.py)"
        gradient: dict[str, float | np.ndarray] = dict(fast[1])
        return GradResult(fast[0], gradient, mode, {k: float(v) for k, v in inputs.items()}, warnings, route)

    @functools.cached_property
    def kinky(self) -> bool:
        """Whether any function of the program has a kink (relu, abs, max, ...)."""
        return any(
            op.prim is not None
            and (
                op.prim.kink is not None
                or (op.prim.derivatives is not None and op.prim.derivatives.kink is not None)
            )
            for op in self.graph.ops
        )

    @property
    def inputs(self) -> list[str]:
        return list(self.graph.inputs)

    def check_wrt(self, wrt: Iterable[str] | str | None) -> list[str]:
        if wrt is None:
            return list(self.graph.inputs)
        names = [w.strip() for w in wrt.split(",")] if isinstance(wrt, str) else list(wrt)
        for name in names:
            if name not in self.graph.inputs and name not in self.graph.names.values():
                why = "not an input or an assigned name of the program"
                hint = did_you_mean(name, self.graph.inputs) or "inputs: " + (
                    ", ".join(self.graph.inputs) or "none"
                )
                raise BindingError(f"cannot differentiate with respect to '{name}': it is {why}", hint=hint)
        return list(dict.fromkeys(names))

    def evaluate(self, bindings: Mapping[str, Any]) -> float | np.ndarray:
        return self.evaluate_full(bindings)[0]

    @_gc_paused
    def evaluate_full(self, bindings: Mapping[str, Any]) -> tuple[float | np.ndarray, list[str]]:
        """Value only, no gradient tracking (torch.no_grad()); with warnings."""
        inputs, warnings = bind(self.graph, bindings)
        from gradcli.engine import scalar

        floats = scalar.inputs_of(inputs)
        fast = None if floats is None else scalar.values(self.graph, floats)
        if fast is not None:
            return fast[self.graph.output], warnings
        p = _blocked_plan(self.graph, inputs)
        if p is not None:
            from gradcli.engine import blocked

            value = blocked.evaluate(p, inputs)
            if all_finite(value):
                return _plain(value), warnings
        vals = forward_values(self.graph, inputs)[0]
        warnings += domain_warnings(self.graph, vals, {})
        return _plain(vals[self.graph.output]), warnings

    @_gc_paused
    def grad(
        self, bindings: Mapping[str, Any], *, wrt: Iterable[str] | str | None = None, mode: str = "reverse"
    ) -> GradResult:
        if mode not in EVALUATORS:
            raise BindingError(f"unknown mode '{mode}'", hint="use 'reverse' or 'forward'")
        names = self.check_wrt(wrt)
        inputs, warnings = bind(self.graph, bindings)
        intermediates = any(n not in self.graph.inputs for n in names)
        fast = None if intermediates else self._on_floats(inputs, names, mode, warnings)
        if fast is not None:
            return fast
        p = None if intermediates else _blocked_plan(self.graph, inputs)
        if p is not None:
            from gradcli.engine import blocked

            run = blocked.gradient if mode == "reverse" else blocked.forward_gradient
            done = run(p, inputs, names)
            if done is not None and all_finite(done[0]) and all(all_finite(g) for g in done[1].values()):
                return GradResult(
                    _plain(done[0]),
                    {k: _plain(v) for k, v in done[1].items()},
                    mode,
                    {k: _plain(v) for k, v in inputs.items()},
                    warnings,
                    f"in blocks of {blocked.BLOCK:,} elements on up to {os.cpu_count() or 1} threads "
                    "(element-wise, then reduced: gradcli/engine/blocked.py)",
                )
            # NaN/inf (evaluate again whole, to name the operation that produced it), or
            # forward mode's dense tangents past the budget (the whole-array path chunks them)
        vals, counts = forward_values(self.graph, inputs)
        # Each evaluator is imported when its mode is used: start-up pays only for one.
        if mode == "reverse":
            from gradcli.engine import reverse

            grads = reverse.backward(self.graph, vals, counts, names)
        else:
            from gradcli.engine import forward

            grads = forward.gradients(self.graph, vals, counts, names)
        if np.ndim(vals[self.graph.output]) != 0:
            warnings.append(
                f"the output has shape {np.shape(vals[self.graph.output])}: "
                "the gradient is that of sum(output)"
            )
        origin: list[Any] = []
        warnings += domain_warnings(self.graph, vals, grads, counts, origin)
        warnings += _kink_warnings(self.graph, vals, counts, names)
        return GradResult(
            value=_plain(vals[self.graph.output]),
            gradient={k: _plain(v) for k, v in grads.items()},
            mode=mode,
            inputs={k: _plain(v) for k, v in inputs.items()},
            warnings=warnings,
            route=f"on whole arrays, {mode} mode ({_why_whole(self.graph, inputs, p is not None)})",
            nan_origin=origin[0].as_json() if origin else None,
            intermediates={n: _plain(vals[self.graph.op_of(n)]) for n in names if n not in self.graph.inputs},
        )


def _on_floats(
    graph: Graph, inputs: dict[str, Array], names: list[str], mode: str
) -> tuple[float, dict[str, float], list[float]] | None:
    """Value, gradient and every op's value by the float path (gradcli/engine/scalar.py) when it applies."""
    from gradcli.engine import scalar

    floats = scalar.inputs_of(inputs)
    if floats is None:
        return None
    vals = scalar.values(graph, floats)
    if vals is None:
        return None
    grads = scalar.backward(graph, vals, names) if mode == "reverse" else scalar.forward(graph, vals, names)
    return None if grads is None else (vals[graph.output], grads, vals)


def _kink_warnings(graph: Graph, vals: list[Array], counts: Sequence[int], names: list[str]) -> list[str]:
    """A point exactly on a kink (relu at 0): which convention the gradient used there."""
    from gradcli.engine import provenance

    need = graph.requires_grad(names)
    return [k.describe() for k in provenance.kinks_at(graph, vals, counts, need)]


def _why_whole(graph: Graph, inputs: dict[str, Array], planned: bool) -> str:
    """Why the blocked evaluator did not serve a program (for --debug)."""
    from gradcli.engine.blocked import MIN_ELEMENTS

    if planned:
        return "the blocked evaluation gave NaN or inf, or forward mode's tangents outgrew its budget"
    matrix = next(
        (op.prim.name for op in graph.ops if op.prim is not None and op.prim.derivatives is not None), None
    )
    if matrix is not None:
        return f"{matrix} is a matrix operation: the blocked evaluator takes element-wise programs only"
    largest = max((int(np.size(v)) for v in inputs.values()), default=0)
    if largest < MIN_ELEMENTS:
        return f"arrays below {MIN_ELEMENTS:,} elements"
    return "not element-wise then reduced to a single number"


def _blocked_plan(graph: Graph, inputs: dict[str, Array]) -> Any:
    """gradcli/blocked.py's plan for big arrays, or None; with scalar inputs only, that
    module (and its thread pool) is not even imported."""
    if all(isinstance(v, float) or np.ndim(v) == 0 for v in inputs.values()):
        return None
    from gradcli.engine import blocked

    return blocked.plan(graph, inputs)


def all_finite(value: Array) -> bool:
    """No NaN or infinity in a number or an array (the one such test: api, check, --strict)."""
    if isinstance(value, float):  # also np.float64
        return math.isfinite(value)
    return bool(np.all(np.isfinite(value)))


def domain_warnings(
    graph: Graph,
    vals: list[Array],
    grads: Mapping[str, Array],
    counts: Sequence[int] | None = None,
    origin: list[Any] | None = None,
) -> list[str]:
    """Name the first op that turned finite arguments into NaN/inf, with its arguments' values;
    for a gradient that is NaN or infinite while the values are finite, the first product of
    the backward sweep that made it (with `counts`). `origin`, when given, receives the
    origin found (gradcli/engine/provenance.py), for the JSON's `nan_origin`."""
    from gradcli.engine import provenance

    out: list[str] = []
    first = None
    if not all_finite(vals[graph.output]) or any(not all_finite(g) for g in grads.values()):
        first = provenance.forward_origin(graph, vals)
    if not all_finite(vals[graph.output]):
        if first is not None:
            where = f" (line {first.line}, column {first.column})" if first.line else ""
            domain = f"; defined for {first.domain}" if first.domain else ""
            text = graph.source_text(first.op, limit=60)  # a whole long program can be the culprit
            out.append(
                f"{text}{where} is {first.what}{domain} (step {first.step}, with {first.arguments_text()})"
            )
        elif any(not all_finite(vals[graph.inputs[n]]) for n in graph.inputs):
            out.append("an input is NaN or infinite")
        else:
            out.append("the value is NaN or infinite")
    bad = [name for name, g in grads.items() if not all_finite(g)]
    found = first
    if bad and found is None and counts is not None:
        found = provenance.backward_origin(graph, vals, counts, bad)
    for name in bad:
        kind = "NaN" if np.any(np.isnan(grads[name])) else "infinite"
        because = f": {found.describe()}" if found is not None else ""
        out.append(f"the gradient with respect to '{name}' is NaN or infinite ({kind}){because}")
    if origin is not None and found is not None:
        origin.append(found)
    return out


def compile(program: str) -> Compiled:
    """Parse once; then call `.evaluate(bindings)` / `.grad(bindings, ...)` many times."""
    return Compiled(program)


def _merge(inputs: Mapping[str, Any] | None, bindings: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(inputs or {})
    merged.update(bindings)
    return merged


def evaluate(program: str, inputs: Mapping[str, Any] | None = None, /, **bindings: Any) -> float | np.ndarray:
    """Value of `program` with inputs bound by keyword (or a mapping), e.g. evaluate("x**2", x=3.0)."""
    return Compiled(program).evaluate(_merge(inputs, bindings))


def grad(
    program: str,
    inputs: Mapping[str, Any] | None = None,
    /,
    *,
    wrt: Iterable[str] | str | None = None,
    mode: str = "reverse",
    **bindings: Any,
) -> GradResult:
    """Value and gradient, e.g. grad("sin(x**2)", x=3.0).gradient["x"].

    Inputs named `wrt` or `mode` can be passed in the `inputs` mapping.
    """
    return Compiled(program).grad(_merge(inputs, bindings), wrt=wrt, mode=mode)


__all__ = ["Compiled", "GradResult", "GradcliError", "compile", "evaluate", "grad"]
