"""How a gradient comes about, step by step: a plain data model of the chain rule at a point.

Built from the graph and the engine's own numbers, never recomputed another way:
- the forward pass: every node's value (gradcli.engine.values);
- the backward pass: the sweep of gradcli.engine.reverse.backward, observed through its
  `trace` hook: for every edge (node -> argument) the upstream gradient ∂L/∂node,
  the local derivative, and the product that flows to the argument;
- forward mode: the tangent of every node per seeded input (gradcli.engine.forward.tangents);
- the chain per input: each path from the output down to the input as a product of
  local derivatives, and the sum over paths. Paths are counted for all inputs in
  one linear sweep and at most LIMITS.max_explain_paths are listed, each found
  without dead ends, so the cost is linear in the graph plus (listed paths x depth).

The local derivative formulas are the primitive table's partial rules (gradcli.lang.printer
rule_text), simplified at the point (gradcli.lang.simplify), with each parameter replaced by
its argument's label and `out` by the node's own label. A label is the name the
program assigned, the input's name, the source text when short, else `#step`.

Rendering lives in gradcli.explain.render; this module only computes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.api import Compiled, GradResult
from gradcli.engine import forward, reverse
from gradcli.engine.graph import Graph
from gradcli.engine.rules import partial
from gradcli.engine.values import bind, fit, forward_values
from gradcli.lang.ast import Num
from gradcli.lang.printer import needs_parens, rule_text
from gradcli.limits import LIMITS

Array = Any

LABEL_CHARS = 24  # unnamed nodes with longer source text are called `#step`
SOURCE_CHARS = 200  # source text quoted at most (the output's, in a note)
OUTPUT_NAMES = ("L", "f", "out", "output")  # what to call an unnamed output (first unused)
EXPLAIN_MODES = ("reverse", "forward", "both")
UNIT_VECTOR_ELEMENTS = 10_000  # larger vector literals show their item's local derivative as 1
MAX_PATH_COUNT = 10**18  # path counts saturate here (they can grow like 2**depth)
# Edges of all the listed paths of one input, at most: with GRADCLI_MAX_EXPLAIN_PATHS raised,
# the listing still stops in bounded time and memory (the paths are counted all the same).
LISTED_EDGES = 200_000


@dataclass(frozen=True)
class NodeRow:
    """One node of the graph, as a row of the forward pass."""

    op: int  # index in the graph's op list
    step: int  # row number in the forward pass (1-based)
    label: str  # how the tables refer to it
    source: str  # its full source text (or name)
    operation: str  # "input", "constant", "*", "sigmoid", ...
    args: tuple[int, ...]  # argument op indices
    value: Array
    grad: bool  # carries a gradient (depends on a differentiated input)


@dataclass(frozen=True)
class Local:
    """The local derivative of `node` with respect to its argument in `slot`."""

    node: int
    slot: int
    arg: int
    label: str  # "∂p/∂z"
    formula: str  # "p * (1 - p)"
    value: Array  # at the point (for an item of a vector literal: the unit vector that picks it)
    # A matrix step (a structured primitive): `formula` is its vjp as written by hand, and
    # `value` what it made of the upstream gradient; no element-wise factor exists.
    matrix: bool = False


@dataclass(frozen=True)
class Flow:
    """One product of the backward sweep: upstream × local, flowing to the argument."""

    local: Local
    upstream: Array  # ∂L/∂node
    product: Array  # the engine's contribution to ∂L/∂arg
    summed: bool  # broadcasting: the product was summed down to the argument's shape


@dataclass(frozen=True)
class BackwardRow:
    """A node in the backward sweep: its gradient ∂L/∂node and what it passes on."""

    node: int
    upstream: Array  # ∂L/∂node (for an input: the gradient)
    contributions: tuple[Flow, ...]  # the flows that summed to `upstream`, when more than one
    flows: tuple[Flow, ...]  # to each argument that carries a gradient


@dataclass(frozen=True)
class Factor:
    """A factor of a path: one local derivative, or several when factors of 1 are folded in."""

    label: str
    formula: str
    value: Array
    via: tuple[str, ...] = ()  # the labels of the folded local derivatives, when folded
    # The product so far, right after this factor, where a path does more than multiply
    # element-wise: a sum (a reduction's broadcast undone, Σ) or a matrix step (the vjp of a
    # structured primitive, `step` "vjp"). None: the product just goes on.
    after: Array | None = None
    step: str = "times"  # "times", "sum" (Σ after the product), or "vjp"


@dataclass(frozen=True)
class Path:
    edges: tuple[tuple[int, int], ...]  # (node, slot) from the output down to the input
    factors: tuple[Factor, ...]
    value: Array  # the product along the path (the engine's vector-Jacobian rule per edge)
    summed: bool = False  # broadcasting: summed down to an argument's shape on the way


@dataclass(frozen=True)
class Chain:
    """∂L/∂input as a sum over paths."""

    input: str
    paths: tuple[Path, ...]  # the listed paths (at most LIMITS.max_explain_paths)
    total_paths: int  # saturates at MAX_PATH_COUNT
    path_sum: Array  # sum of the listed paths
    gradient: Array  # the gradient grad reports
    cap: int = 0  # the most paths that could be listed (fewer when LISTED_EDGES stopped the listing)

    @property
    def capped(self) -> bool:
        return len(self.paths) < self.total_paths


@dataclass(frozen=True)
class TangentTerm:
    local: Local
    tangent_in: Array  # the argument's tangent (see TangentRow.tangent)
    diagonal_in: bool


@dataclass(frozen=True)
class TangentRow:
    node: int
    terms: tuple[TangentTerm, ...]  # empty for the seed
    tangent: Array  # ∂node/∂seed: the diagonal when `diagonal`, else shape node.shape + seed.shape
    diagonal: bool


@dataclass(frozen=True)
class TangentTable:
    """Forward mode for one seeded input: the tangent of every node, in evaluation order."""

    seed: str
    rows: tuple[TangentRow, ...]
    gradient: Array
    omitted: str | None = None  # why the rows are missing (too large to hold at once)


@dataclass
class Explanation:
    program: str
    mode: str  # reverse, forward or both
    wrt: list[str]
    inputs: dict[str, Array]
    output: int
    output_label: str
    value: Array
    gradient: dict[str, Array]  # the engine's, as `grad` reports it (reverse unless mode forward)
    nodes: dict[int, NodeRow]  # by op index, in evaluation order (numeric literals have no row)
    literals: dict[int, str] = field(default_factory=dict)  # op index -> text of a numeric literal
    backward: list[BackwardRow] = field(default_factory=list)
    tangents: list[TangentTable] = field(default_factory=list)
    chains: list[Chain] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)  # detach nodes that stop a gradient
    # Rows to mark (op index -> why): where a NaN or an infinity first appears, a kink
    marks: dict[int, str] = field(default_factory=dict)

    def label(self, op: int) -> str:
        return self.nodes[op].label if op in self.nodes else self.literals[op]

    @property
    def objective(self) -> str:
        """What is differentiated: the output, or sum(output) when it is an array."""
        return objective(self.output_label, self.value)

    def step(self, op: int) -> int:
        return self.nodes[op].step


def objective(label: str, value: Array) -> str:
    return f"sum({label})" if np.ndim(value) else label


def explain(
    program: str,
    bindings: Mapping[str, Any],
    *,
    wrt: Iterable[str] | str | None = None,
    mode: str = "reverse",
    max_paths: int | None = None,
) -> Explanation:
    """The explanation of `grad(program, bindings, wrt=, mode=)`."""
    from gradcli.errors import BindingError

    if mode not in EXPLAIN_MODES:
        raise BindingError(f"unknown mode '{mode}'", hint="use 'reverse', 'forward' or 'both'")
    compiled = Compiled(program)
    results: dict[str, GradResult] = {}
    for m in ("reverse", "forward"):
        if mode in (m, "both"):
            results[m] = compiled.grad(bindings, wrt=wrt, mode=m)
    result = results.get("reverse") or results["forward"]
    graph = compiled.graph
    names = list(result.gradient)
    inputs, _ = bind(graph, bindings)
    vals, counts = forward_values(graph, inputs)
    return _Builder(graph, vals, counts, names, max_paths).build(program, mode, result, results)


def derivative_label(top: str, bottom: str) -> str:
    """∂top/∂bottom, with parentheses around compound text: ∂(w*x + b)/∂(w*x)."""
    wrap = [f"({t})" if needs_parens(t, "+-*/ =<>,") else t for t in (top, bottom)]
    return f"∂{wrap[0]}/∂{wrap[1]}"


class _Builder:
    def __init__(
        self,
        graph: Graph,
        vals: Sequence[Array],
        counts: Sequence[int],
        wrt: list[str],
        max_paths: int | None,
    ) -> None:
        self.graph, self.vals, self.counts, self.wrt = graph, vals, counts, wrt
        self.max_paths = LIMITS.max_explain_paths if max_paths is None else max_paths
        self.need = graph.requires_grad(wrt)
        self.labels = self._labels()
        self.locals: dict[tuple[int, int], Local] = {}
        self.uses: dict[int, int] = {}  # recorded edges into each node

    # -- labels and local derivatives ---------------------------------------------------

    def _labels(self) -> dict[int, str]:
        graph = self.graph
        used = set(graph.inputs) | set(graph.names.values())
        out = graph.output
        if out in graph.names or graph.ops[out].input is not None:
            self.output_label = graph.source_text(out)
        else:
            self.output_label = next((n for n in OUTPUT_NAMES if n not in used), "output")
        labels: dict[int, str] = {}
        step = 0
        self.steps: dict[int, int] = {}
        for i, op in enumerate(graph.ops):
            if self._hidden(i):
                continue
            step += 1
            self.steps[i] = step
            text = self.source(i)
            if i == out:
                labels[i] = self.output_label
            elif i in graph.names or op.input is not None or len(text) <= LABEL_CHARS:
                labels[i] = text
            else:
                labels[i] = f"#{step}"
        return labels

    def source(self, i: int) -> str:
        """The source text of op i (its name if it has one), cut at SOURCE_CHARS characters."""
        return self.graph.source_text(i, limit=SOURCE_CHARS)

    def _hidden(self, i: int) -> bool:
        """Numeric literals get no row of their own: their text is their value."""
        op = self.graph.ops[i]
        return op.prim is None and op.input is None and i != self.graph.output and isinstance(op.node, Num)

    def label(self, i: int) -> str:
        if i in self.labels:
            return self.labels[i]
        return self.source(i)  # a numeric literal

    def local(self, i: int, k: int, value: Array | None = None) -> Local:
        """The local derivative ∂node_i/∂arg_k: label, simplified formula, value."""
        key = (i, k)
        matrix_step = value is not None and getattr(self.graph.ops[i].prim, "derivatives", None) is not None
        if key in self.locals and not matrix_step:  # a matrix step's value comes with the sweep
            return self.locals[key]
        op = self.graph.ops[i]
        prim = op.prim
        assert prim is not None
        a = op.args[k]
        top, bottom = self.label(i), self.label(a)
        label = derivative_label(top, bottom)
        if op.args.count(a) > 1:  # x*x: say which slot
            param = prim.params[min(k, len(prim.params) - 1)]
            label += f" (as {param}{k + 1 if prim.variadic else ''})"
        if prim.kind == "vector":  # item k of [a, b, ...]: the unit vector along the first axis
            items = len(op.args)
            if np.size(self.vals[i]) <= UNIT_VECTOR_ELEMENTS:
                value = np.zeros(np.shape(self.vals[i]))
                value[k] = 1.0
            else:  # one per item would cost items x size: say it instead
                value = np.float64(1.0)
            unit = ["0"] * items
            unit[k] = "1"
            formula = f"[{', '.join(unit)}]" if items <= 8 else f"1 at item {k + 1} of {items}, else 0"
        elif prim.derivatives is not None:  # a matrix step: the vjp, as written by hand
            seeded = i == self.graph.output and np.ndim(self.vals[i]) == 0  # g is ∂L/∂L = 1
            upstream = derivative_label(objective(self.output_label, self.vals[self.graph.output]), top)
            rows = np.shape(self.vals[op.args[0]])[0] if np.ndim(self.vals[op.args[0]]) == 2 else 1
            formula = structured_text(
                prim.partials[min(k, len(prim.partials) - 1)],
                prim.params,
                op.args,
                self,
                None if seeded else upstream,
                rows,
            )
            if value is None:
                value = np.float64(np.nan)  # set from the sweep's own product (see _backward)
        else:
            args = [self.vals[b] for b in op.args]
            if value is None:
                with np.errstate(all="ignore"):
                    value = partial(prim, k, args, self.vals[i], self.counts[i])
            env = {p: self.label(b) for p, b in zip(prim.params, op.args, strict=True)}
            env["out"] = top
            literals: dict[str, float] = {"n": float(self.counts[i])}
            point: dict[str, Array] = {"out": self.vals[i], "n": np.float64(self.counts[i])}
            for p, b in zip(prim.params, op.args, strict=True):
                point[p] = self.vals[b]
                if self._hidden(b):
                    literals[p] = float(self.vals[b])
            formula = rule_text(prim.name, k, env, literals=literals, values=point)
        local = Local(i, k, a, label, formula, value, prim.derivatives is not None)
        self.locals[key] = local
        return local

    # -- the passes -------------------------------------------------------------------

    def build(
        self, program: str, mode: str, result: GradResult, results: Mapping[str, GradResult]
    ) -> Explanation:
        graph, vals = self.graph, self.vals
        nodes: dict[int, NodeRow] = {}
        for i, op in enumerate(graph.ops):
            if i not in self.steps:
                continue
            if op.input is not None:
                operation = "input" if op.input in self.wrt else "input (constant)"
            elif op.prim is None:
                operation = "constant"
            elif op.prim.kind == "vector":
                operation = "[...]"
            else:
                infix = op.prim.notation is not None and op.prim.notation.form == "infix"
                operation = op.prim.notation.symbol if infix and op.prim.notation else op.prim.name
            nodes[i] = NodeRow(
                i,
                self.steps[i],
                self.labels[i],
                self.source(i),
                operation,
                tuple(a for a in op.args),
                vals[i],
                self.need[i],
            )
        flows, order, grads = self._backward()
        explanation = Explanation(
            program=program,
            mode=mode,
            wrt=list(self.wrt),
            inputs={name: vals[graph.inputs[name]] for name in graph.inputs},
            output=graph.output,
            output_label=self.output_label,
            value=vals[graph.output],
            gradient=dict(result.gradient),
            nodes=nodes,
            warnings=list(result.warnings),
            literals={i: self.source(i) for i in range(len(graph.ops)) if self._hidden(i)},
        )
        explanation.blocked = [
            i
            for i, op in enumerate(graph.ops)
            if op.prim is not None and op.prim.blocks_gradient and any(self.need[a] for a in op.args)
        ]
        if mode in ("reverse", "both"):
            explanation.backward = self._rows(flows, order, grads)
        if mode in ("forward", "both"):
            fwd = results["forward"].gradient
            explanation.tangents = [self._tangents(name, fwd[name]) for name in self.wrt]
        explanation.chains = self._chains(flows, result.gradient)
        explanation.marks = self._marks(result)
        return explanation

    def _marks(self, result: GradResult) -> dict[int, str]:
        from gradcli.engine import provenance

        marks: dict[int, str] = {}
        origin = provenance.forward_origin(self.graph, self.vals)
        if origin is None and any(not np.all(np.isfinite(g)) for g in result.gradient.values()):
            origin = provenance.backward_origin(self.graph, self.vals, self.counts, self.wrt)
        if origin is not None:
            marks[origin.op] = (
                f"the first {origin.what} number ({origin.where} pass): "
                + origin.describe().split(", ", 1)[1]
            )
        steps = provenance.steps(self.graph)
        for kink in provenance.kinks_at(self.graph, self.vals, self.counts, self.need):
            op = steps.index(kink.step)
            marks.setdefault(op, kink.describe())
        return marks

    def _backward(self) -> tuple[dict[tuple[int, int], Flow], list[int], dict[str, Array]]:
        """The engine's backward sweep, every product recorded."""
        flows: dict[tuple[int, int], Flow] = {}
        order: list[int] = []  # ops in the order the sweep visited them

        def trace(i: int, k: int, g: Array, contrib: Array) -> None:
            if not order or order[-1] != i:
                order.append(i)
            op = self.graph.ops[i]
            if op.prim is not None and op.prim.derivatives is not None:
                # a matrix step: what flows is the vjp of the upstream, not a product
                loc = self.local(i, k, value=contrib)
                flows[(i, k)] = Flow(loc, g, contrib, False)
                return
            loc = self.local(i, k)
            # an item of a vector literal is picked: × the unit vector, summed over the items
            vector = op.prim is not None and op.prim.kind == "vector"
            full = np.shape(contrib) if vector else np.broadcast_shapes(np.shape(g), np.shape(loc.value))
            shape = np.shape(self.vals[op.args[k]])
            summed = vector or np.broadcast_shapes(full, shape) != shape
            flows[(i, k)] = Flow(loc, g, contrib, summed)

        grads = reverse.backward(self.graph, self.vals, self.counts, self.wrt, trace=trace)
        return flows, order, grads

    def _rows(
        self, flows: Mapping[tuple[int, int], Flow], order: list[int], grads: Mapping[str, Array]
    ) -> list[BackwardRow]:
        graph = self.graph
        into: dict[int, list[Flow]] = {}
        out_of: dict[int, list[Flow]] = {}
        for (i, _k), flow in flows.items():
            out_of.setdefault(i, []).append(flow)
            into.setdefault(flow.local.arg, []).append(flow)
        seed = (
            np.float64(1.0)
            if np.ndim(self.vals[graph.output]) == 0
            else np.ones(np.shape(self.vals[graph.output]))
        )
        rows: list[BackwardRow] = []
        visited = set(order)
        # Inputs have no sweep step of their own: they come where the sweep passes their index.
        leaves = sorted((graph.op_of(n) for n in self.wrt), reverse=True)
        sequence = sorted(visited | {i for i in leaves if i in into or i == graph.output}, reverse=True)
        by_input = {graph.op_of(n): n for n in self.wrt}
        for i in sequence:
            incoming = into.get(i, [])
            if i in by_input:
                upstream = grads[by_input[i]] if incoming or i != graph.output else seed
            elif incoming:
                upstream = out_of[i][0].upstream
            else:
                upstream = seed
            rows.append(
                BackwardRow(
                    i, upstream, tuple(incoming) if len(incoming) > 1 else (), tuple(out_of.get(i, []))
                )
            )
        return rows

    def _tangents(self, name: str, gradient: Array) -> TangentTable:
        graph, vals = self.graph, self.vals
        tans = forward.tangents(graph, vals, self.counts, name)
        if tans is None:
            return TangentTable(
                name,
                (),
                gradient,
                omitted="the tangents of this input are too large "
                "to hold at once (forward mode computed them in chunks)",
            )
        seed = graph.op_of(name)
        S = np.shape(vals[seed])
        rows: list[TangentRow] = []
        for i, t in enumerate(tans):
            if t is None:
                continue
            terms: list[TangentTerm] = []
            if i != seed:
                op = graph.ops[i]
                for k, a in enumerate(op.args):
                    ta = tans[a]
                    if ta is not None:
                        terms.append(TangentTerm(self.local(i, k), *_tangent_view(ta, S, np.shape(vals[a]))))
            view, diagonal = _tangent_view(t, S, np.shape(vals[i]))
            rows.append(TangentRow(i, tuple(terms), view, diagonal))
        return TangentTable(name, tuple(rows), gradient)

    # -- the chain ----------------------------------------------------------------------

    def _chains(self, flows: Mapping[tuple[int, int], Flow], gradient: Mapping[str, Array]) -> list[Chain]:
        graph = self.graph
        n = len(graph.ops)
        out = graph.output
        # Number of paths from the output to every node: one sweep over the recorded edges.
        count = [0] * n
        count[out] = 1
        consumers: dict[int, list[tuple[int, int]]] = {}
        edges_of: dict[int, list[tuple[int, int]]] = {}
        for (i, k), flow in flows.items():
            edges_of.setdefault(i, []).append((k, flow.local.arg))
            consumers.setdefault(flow.local.arg, []).append((i, k))
        self.uses = {a: len(c) for a, c in consumers.items()}
        for i in range(n - 1, -1, -1):
            if count[i]:
                for _k, a in edges_of.get(i, []):
                    count[a] = min(count[a] + count[i], MAX_PATH_COUNT)  # no huge integers
        chains: list[Chain] = []
        for name in self.wrt:
            x = graph.op_of(name)
            paths = [self._path(edges, flows) for edges in self._walk(x, consumers, self.max_paths)]
            total = count[x]
            path_sum: Array = np.zeros(np.shape(self.vals[x]))[()]
            for p in paths:
                path_sum = path_sum + p.value
            chains.append(Chain(name, tuple(paths), total, path_sum, gradient[name], self.max_paths))
        return chains

    def _walk(
        self, x: int, consumers: Mapping[int, list[tuple[int, int]]], cap: int
    ) -> list[tuple[tuple[int, int], ...]]:
        """Up to `cap` paths from the output down to `x`, by depth-first search upwards from x.

        Every recorded edge leads up to the output (the sweep only visits nodes it reaches),
        so the search never backtracks out of a dead end: each listed path costs its length.
        """
        out = self.graph.output
        found: list[tuple[tuple[int, int], ...]] = []
        if x == out:
            return [()]
        path: list[tuple[int, int]] = []
        stack = [iter(consumers.get(x, []))]
        listed = 0  # edges of the paths found: the listing's memory, whatever `cap` is raised to
        while stack and len(found) < cap and listed < LISTED_EDGES:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                if path:
                    path.pop()
                continue
            path.append(nxt)
            if nxt[0] == out:
                found.append(tuple(reversed(path)))
                listed += len(path)
                path.pop()
                continue
            stack.append(iter(consumers.get(nxt[0], [])))
        return found

    def _path(self, edges: tuple[tuple[int, int], ...], flows: Mapping[tuple[int, int], Flow]) -> Path:
        """The product along a path, the engine's way: start from ∂L/∂L and apply each edge's rule."""
        vals = self.vals
        out_value = vals[self.graph.output]
        v: Array = np.float64(1.0) if np.ndim(out_value) == 0 else np.ones(np.shape(out_value))
        steps: dict[tuple[int, int], tuple[str, Array]] = {}  # where the product is more than ×
        with np.errstate(all="ignore"):
            for i, k in edges:
                flow = flows[(i, k)]
                op = self.graph.ops[i]
                prim = op.prim
                shape = np.shape(vals[op.args[k]])
                if prim is not None and prim.kind == "vector":
                    v = v[k]  # × the unit vector of item k, summed over the items
                    steps[(i, k)] = ("sum", v)
                elif prim is not None and prim.derivatives is not None:
                    vjp = prim.derivatives.vjp[min(k, len(prim.derivatives.vjp) - 1)]
                    v = np.asarray(vjp(v, [vals[a] for a in op.args], vals[i], **op.params))[()]
                    steps[(i, k)] = ("vjp", v)
                else:
                    product = v * flow.local.value
                    v = fit(product, shape)
                    if np.broadcast_shapes(np.shape(product), shape) != shape:  # the sum happens here
                        steps[(i, k)] = ("sum", v)
        factors = self._factors(edges, flows, steps)
        if np.ndim(out_value):  # the gradient is that of sum(output): its factor is 1 per element
            label = derivative_label(objective(self.output_label, out_value), self.output_label)
            factors = (Factor(label, "1", np.ones(np.shape(out_value))), *factors)
        return Path(edges, factors, v, any(flows[e].summed for e in edges))

    def _factors(
        self,
        edges: tuple[tuple[int, int], ...],
        flows: Mapping[tuple[int, int], Flow],
        steps: Mapping[tuple[int, int], tuple[str, Array]],
    ) -> tuple[Factor, ...]:
        """The path's local derivatives. A factor of exactly 1 into an unnamed node is folded
        into the next one when that is exact: `z = w*x + b` reads ∂z/∂w = x, not
        ∂z/∂(w*x) · ∂(w*x)/∂w = 1 · x (the program wrote z = w*x + b as one step)."""
        factors: list[Factor] = []
        top: int | None = None  # the node a folded factor started from
        via: list[str] = []
        x = self.graph.ops[edges[-1][0]].args[edges[-1][1]] if edges else -1  # the input
        for pos, (i, k) in enumerate(edges):
            loc = flows[(i, k)].local
            if pos + 1 < len(edges) and self._foldable(i, k, x):
                top = i if top is None else top
                via.append(loc.label)
                continue
            step, after = steps.get((i, k), ("times", None))
            if top is None:
                factors.append(Factor(loc.label, loc.formula, loc.value, (), after, step))
            else:
                label = derivative_label(self.label(top), self.label(loc.arg))
                factors.append(Factor(label, loc.formula, loc.value, (*via, loc.label), after, step))
            top, via = None, []
        return tuple(factors)

    def _foldable(self, i: int, k: int, x: int) -> bool:
        """∂A/∂M = 1 folds into ∂M/∂B as ∂A/∂B when every path from A down to the input goes
        through M: M is unnamed and used once, A's other arguments are leaves other than x."""
        graph = self.graph
        op = graph.ops[i]
        m = op.args[k]
        if self.locals[(i, k)].formula != "1" or np.shape(self.vals[i]) != np.shape(self.vals[m]):
            return False
        if m in graph.names or graph.ops[m].prim is None or self.uses.get(m, 0) != 1:
            return False
        return all(graph.ops[a].prim is None and a != x for s, a in enumerate(op.args) if s != k)


def structured_text(
    text: str, params: Sequence[str], args: Sequence[int], b: _Builder, upstream: str | None, batch: int
) -> str:
    """A structured primitive's vjp as written in the table (`g · bᵀ`), with each parameter
    replaced by its argument's label (parenthesized when compound), g by the upstream gradient
    ∂L/∂node (`(∂L/∂h) · xᵀ`; dropped where it is ∂L/∂L = 1) and `batch` by the rows averaged."""
    import re

    if upstream is None:
        text = re.sub(r"^(-?)g ?[*·] ?", r"\1", text)
    if batch == 1:
        text = text.replace("/batch", "")
    labels = {"g": f"({upstream})", "batch": str(batch)}
    for p, a in zip(params, args, strict=False):
        label = b.label(a)
        labels[p] = f"({label})" if needs_parens(label, "+-*/@ =<>,") else label
    name = r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_(])"  # ASCII: xᵀ is x, then ᵀ
    return re.sub(name, lambda m: labels.get(m.group(0), m.group(0)), text)


def _tangent_view(t: forward.Tangent, S: tuple[int, ...], shape: tuple[int, ...]) -> tuple[Array, bool]:
    """A tangent as a reader sees it: the diagonal (element-wise dependence), or the Jacobian
    ∂node/∂seed with the node's axes first (the engine keeps the seed's axes first)."""
    if t.diagonal:
        return np.broadcast_to(t.plain(), S if S else np.shape(t.plain()))[()], bool(S)
    dense = np.broadcast_to(t.plain(), S + shape)
    if S and shape:
        dense = np.moveaxis(dense, tuple(range(len(S))), tuple(range(len(shape), len(shape) + len(S))))
    return np.asarray(dense)[()], False
