"""The reverse sweep written out as source: the derivative of a program as a program.

For each op of the graph, from the output back to the inputs, the adjoint ∂L/∂op is a formula
(an AST): the table's rule of each argument (its textbook form, `display`, where the engine's
rule is written for floating point) with the arguments' formulas, `out` and the upstream
adjoint `g` put in, as Google's Tangent does for Python. Names the program assigned stay named,
and the adjoint of each becomes its own statement (`dz = dp*p*(1 - p)`); an adjoint that would
be written twice, and a formula nested too deep, get a statement of their own too, so the
output grows linearly with the program, never exponentially.

Shapes: with the inputs' values (bindings) the formulas are written for their shapes: sums
where broadcasting has to be undone, the matrix forms of `@` (g @ transpose(b), outer(g, b),
...), `n` as a number. Without bindings every input is taken as a single number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.engine.graph import Graph, Op
from gradcli.engine.rules import mentions
from gradcli.errors import GradcliError
from gradcli.lang.ast import Call, Name, Node, Num, Vector
from gradcli.lang.parser import parse_rule
from gradcli.lang.printer import to_text
from gradcli.primitives import PRIMITIVES
from gradcli.symbolic.algebra import Coef, is_zero, number, simplify

MAX_DEPTH = 12  # a formula nested deeper becomes a statement of its own
SHARED_SIZE = 6  # an adjoint of more nodes used by two arguments or more gets a statement


class DiffError(GradcliError):
    """A program diff cannot write as a formula (exit code 2)."""

    kind = "diff error"


@dataclass
class Formula:
    """A derivative as a program: statements (name = formula), then the result."""

    statements: list[tuple[str, Node]]
    result: Node

    def text(self, sep: str = "\n") -> str:
        lines = [f"{name} = {to_text(expr, program=True)}" for name, expr in self.statements]
        return sep.join([*lines, to_text(self.result, program=True)])

    @property
    def operations(self) -> int:
        """Operations (calls and operators) in the whole program: a measure of its size."""
        return sum(_count(e) for _, e in self.statements) + _count(self.result)


def _count(node: Node) -> int:
    total, stack = 0, [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Call):
            total += 1
            stack.extend(item.args)
        elif isinstance(item, Vector):
            total += 1
            stack.extend(item.items)
    return total


def _depth(node: Node) -> int:
    if isinstance(node, Call):
        return 1 + max((_depth(a) for a in node.args), default=0)
    if isinstance(node, Vector):
        return 1 + max((_depth(a) for a in node.items), default=0)
    return 0


def _substitute(node: Node, env: Mapping[str, Node]) -> Node:
    if isinstance(node, Name):
        return env.get(node.id, node)
    if isinstance(node, Call):
        return Call(node.func, tuple(_substitute(a, env) for a in node.args), params=node.params)
    return node


def _names_in(node: Node) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Name):
            out.add(item.id)
        elif isinstance(item, Call):
            stack.extend(item.args)
        elif isinstance(item, Vector):
            stack.extend(item.items)
    return out


def _num(value: float) -> Node:
    return number(Coef(value)) if float(value).is_integer() else Num(float(value), repr(float(value)))


def _call(func: str, *args: Node, **params: object) -> Node:
    return Call(func, tuple(args), params=tuple(params.items()))


@dataclass
class _Sweep:
    graph: Graph
    shapes: Mapping[int, tuple[int, ...]] | None  # op index -> shape of its value, when known
    statements: list[tuple[str, Node]] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)
    expr: dict[int, Node] = field(default_factory=dict)

    def fresh(self, stem: str) -> str:
        name = stem
        n = 1
        while name in self.taken:
            n += 1
            name = f"{stem}_{n}"
        self.taken.add(name)
        return name

    def state(self, stem: str, formula: Node) -> Node:
        name = self.fresh(stem)
        self.statements.append((name, formula))
        return Name(name)

    def shape(self, i: int) -> tuple[int, ...] | None:
        return None if self.shapes is None else self.shapes[i]

    # -- the primal: a formula per op ---------------------------------------------------

    def primal(self, needed: list[bool]) -> None:
        graph = self.graph
        for i, op in enumerate(graph.ops):
            if not needed[i]:
                continue
            if op.prim is None:
                node = op.node
                self.expr[i] = (
                    Name(op.input)
                    if op.input is not None
                    else node
                    if node is not None
                    else _num(op.const or 0)
                )
                continue
            if op.prim.kind == "vector":
                formula: Node = Vector(tuple(self.expr[a] for a in op.args))
            else:
                formula = Call(
                    op.prim.name, tuple(self.expr[a] for a in op.args), params=tuple(op.params.items())
                )
            if i in graph.names:
                self.statements.append((graph.names[i], formula))
                self.expr[i] = Name(graph.names[i])
            elif _depth(formula) > MAX_DEPTH:
                self.expr[i] = self.state(f"v{i}", formula)
            else:
                self.expr[i] = formula

    # -- the adjoints -------------------------------------------------------------------

    def sweep(self, wrt: Iterable[str]) -> dict[str, Node]:
        graph = self.graph
        names = list(wrt)
        need = graph.requires_grad(names)
        adj: dict[int, Node] = {graph.output: number(Coef(1))}
        for i in range(len(graph.ops) - 1, -1, -1):
            op = graph.ops[i]
            if i not in adj or op.prim is None or not need[i]:
                continue
            g = simplify(adj.pop(i))
            if is_zero(g):
                continue
            takers = [k for k, a in enumerate(op.args) if need[a]]
            if i in graph.names and not isinstance(g, (Num, Name)):
                g = self.state("d" + graph.names[i], g)
            elif (len(takers) > 1 and _count(g) > SHARED_SIZE) or _depth(g) > MAX_DEPTH:
                g = self.state(f"d{i}", g)
            for k in takers:
                a = op.args[k]
                c = self.contribution(i, op, k, g)
                if c is None or is_zero(c):
                    continue
                adj[a] = c if a not in adj else Call("add", (adj[a], c))
        out: dict[str, Node] = {}
        for name in names:
            i = graph.inputs[name]
            out[name] = simplify(adj[i]) if i in adj else number(Coef(0))
        return out

    def contribution(self, i: int, op: Op, k: int, g: Node) -> Node | None:
        prim = op.prim
        assert prim is not None
        if prim.blocks_gradient or prim.kind == "constant":
            return None
        if prim.kind == "vector":
            return _call("index", g, key=(k,))
        if prim.kind == "structured":
            return self.structured(i, op, k, g)
        text = prim.display[k] if prim.display else prim.partials[k]
        rule = parse_rule(text)
        env: dict[str, Node] = {p: self.expr[a] for p, a in zip(prim.params, op.args, strict=False)}
        env["out"] = self.expr[i]
        env["n"] = self.count(op)
        env["g"] = g
        term = _substitute(rule, env)
        if not mentions(rule, "g"):
            term = Call("mul", (g, term))
        return self.fit(term, i, op, k)

    def count(self, op: Op) -> Node:
        """`n` of a reduction: the number of elements reduced."""
        if self.shapes is None:
            return _call("size", self.expr[op.args[0]])
        full = np.broadcast_shapes(*(self.shapes[a] for a in op.args))
        return _num(float(np.prod(full, dtype=np.float64)))

    def fit(self, term: Node, i: int, op: Op, k: int) -> Node:
        """Undo broadcasting: sum the contribution down to the argument's shape."""
        if self.shapes is None:
            return term
        assert op.prim is not None
        full = np.broadcast_shapes(*(self.shapes[a] for a in op.args))
        if op.prim.kind == "elementwise":
            full = self.shapes[i]
        shape = self.shapes[op.args[k]]
        if full == shape:
            return term
        if shape == ():
            return _call("sum", term)
        lead = len(full) - len(shape)
        for _ in range(lead):
            term = _call("sum_axis", term, axis=0)
        for axis, size in enumerate(shape):
            if size == 1 and full[lead + axis] != 1:
                term = _call("sum_axis", term, axis=axis, keepdims=True)
        return term

    def structured(self, i: int, op: Op, k: int, g: Node) -> Node:
        prim = op.prim
        assert prim is not None
        if self.shapes is None:
            raise DiffError(
                f"the derivative of {prim.name} as a formula depends on the shapes of its arguments",
                hint="give the inputs' values (NAME=VALUE): diff then writes it for those shapes",
            )
        args = [self.expr[a] for a in op.args]
        shapes = [self.shapes[a] for a in op.args]
        rule = _STRUCTURED.get(prim.name)
        if rule is None:
            return self.unsupported(prim)
        formula: Node = rule(self, k, g, args, shapes, self.expr[i], op.params)
        return formula

    def expand(self, g: Node, shape: tuple[int, ...], axis: object) -> Node:
        """A reduction's adjoint back in the reduced axis (as keepdims), to broadcast."""
        if axis is None:
            return g
        assert isinstance(axis, int)
        kept = list(shape)
        kept[axis] = 1
        return _call("reshape", g, *(_num(d) for d in kept))

    def classes(self, name: str, k: int, g: Node, args: list[Node], shapes: list[tuple[int, ...]]) -> Node:
        z, t = args
        sz, st = shapes
        batch = 1 if len(sz) == 1 else sz[0]
        if k == 1:
            if st == sz and name == "cross_entropy":
                return Call("div", (Call("neg", (Call("mul", (g, _call("log_softmax", z))),)), _num(batch)))
            return Call("mul", (_num(0), t))
        classes = _call("arange", _num(0), _num(sz[-1]), _num(1))
        onehot = (
            t
            if st == sz
            else _call("eq", t if len(sz) == 1 else _call("reshape", t, _num(batch), _num(1)), classes)
        )
        if name == "nll":
            return Call("div", (Call("neg", (Call("mul", (g, onehot)),)), _num(batch)))
        weight = _call("sum_axis", t, axis=-1, keepdims=True) if st == sz else _num(1)
        inner = Call("sub", (Call("mul", (_call("softmax", z), weight)), onehot))
        return Call("div", (Call("mul", (g, inner)), _num(batch)))

    def index(self, g: Node, shape: tuple[int, ...], key: tuple[object, ...]) -> Node:
        if len(key) != len(shape) or not all(isinstance(k, int) for k in key):
            raise DiffError(
                "diff writes the derivative of an index as a formula for single elements only (x[1], W[0, 2])",
                hint="slices are differentiated by grad; diff has no formula for them yet",
            )
        picks = [
            _call("onehot", _num(int(str(k)) % size), _num(size)) for k, size in zip(key, shape, strict=True)
        ]
        mask = (
            picks[0] if len(picks) == 1 else _call("outer", picks[0], picks[1]) if len(picks) == 2 else None
        )
        if mask is None:
            raise DiffError("diff writes the derivative of an index for vectors and matrices only")
        return Call("mul", (g, mask))

    def unsupported(self, prim: object) -> Node:
        name = getattr(prim, "name", "?")
        raise DiffError(
            f"diff has no formula for the derivative of {name} here yet",
            hint="grad, hessian and jacobian give its numbers",
        )


Shapes = list[tuple[int, ...]]
Params = dict[str, object]


def _matmul(sw: _Sweep, k: int, g: Node, args: list[Node], shapes: Shapes, out: Node, p: Params) -> Node:
    (a, b), (sa, sb) = args, shapes
    if k == 0:
        if len(sb) == 1:
            return _call("outer", g, b) if len(sa) == 2 else Call("mul", (g, b))
        return Call("matmul", (g, _call("transpose", b))) if len(sa) == 2 else Call("matmul", (b, g))
    if len(sa) == 1:
        return _call("outer", a, g) if len(sb) == 2 else Call("mul", (g, a))
    return Call("matmul", (_call("transpose", a), g))


def _reduce_axis(
    sw: _Sweep, k: int, g: Node, args: list[Node], shapes: Shapes, out: Node, p: Params, mean: bool
) -> Node:
    axis = p.get("axis")
    back = g if p.get("keepdims") else sw.expand(g, shapes[0], axis)
    if mean:
        size = shapes[0][axis] if isinstance(axis, int) else int(np.prod(shapes[0]))
        back = Call("div", (back, _num(size)))
    return Call("add", (back, _call("zeros", *(_num(d) for d in shapes[0]))))


def _extreme(sw: _Sweep, k: int, g: Node, args: list[Node], shapes: Shapes, out: Node, p: Params) -> Node:
    if p.get("axis") is not None:
        return sw.unsupported(PRIMITIVES["amax"])
    hit = _call("eq", args[0], out)
    return Call("div", (Call("mul", (g, hit)), _call("sum", hit)))


def _softmax(sw: _Sweep, k: int, g: Node, args: list[Node], shapes: Shapes, out: Node, p: Params) -> Node:
    axis = p.get("axis", -1)
    inner = _call("sum_axis", Call("mul", (g, out)), axis=axis, keepdims=True)
    return Call("mul", (out, Call("sub", (g, inner))))


def _log_softmax(sw: _Sweep, k: int, g: Node, args: list[Node], shapes: Shapes, out: Node, p: Params) -> Node:
    summed = _call("sum_axis", g, axis=p.get("axis", -1), keepdims=True)
    return Call("sub", (g, Call("mul", (_call("exp", out), summed))))


def _inverse(sw: _Sweep, k: int, g: Node, args: list[Node], shapes: Shapes, out: Node, p: Params) -> Node:
    t = _call("transpose", out)
    return Call("neg", (Call("matmul", (Call("matmul", (t, g)), t)),))


_STRUCTURED: dict[str, Any] = {
    "matmul": _matmul,
    "transpose": lambda sw, k, g, args, shapes, out, p: _call("transpose", g),
    "outer": lambda sw, k, g, args, shapes, out, p: (
        Call("matmul", (g, args[1])) if k == 0 else Call("matmul", (_call("transpose", g), args[0]))
    ),
    "trace": lambda sw, k, g, args, shapes, out, p: Call("mul", (g, _call("eye", _num(shapes[0][0])))),
    "reshape": lambda sw, k, g, args, shapes, out, p: _call("reshape", g, *(_num(d) for d in shapes[0])),
    "diag": lambda sw, k, g, args, shapes, out, p: (
        _call("diag", g)
        if len(shapes[0]) == 1 or shapes[0][0] == shapes[0][1]
        else sw.unsupported(PRIMITIVES["diag"])
    ),
    "sum_axis": lambda sw, k, g, args, shapes, out, p: _reduce_axis(sw, k, g, args, shapes, out, p, False),
    "mean_axis": lambda sw, k, g, args, shapes, out, p: _reduce_axis(sw, k, g, args, shapes, out, p, True),
    "amax": _extreme,
    "amin": _extreme,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "cross_entropy": lambda sw, k, g, args, shapes, out, p: sw.classes("cross_entropy", k, g, args, shapes),
    "nll": lambda sw, k, g, args, shapes, out, p: sw.classes("nll", k, g, args, shapes),
    "det": lambda sw, k, g, args, shapes, out, p: Call(
        "mul", (Call("mul", (g, out)), _call("transpose", _call("inv", args[0])))
    ),
    "logdet": lambda sw, k, g, args, shapes, out, p: Call(
        "mul", (g, _call("transpose", _call("inv", args[0])))
    ),
    "inv": _inverse,
    "index": lambda sw, k, g, args, shapes, out, p: sw.index(g, shapes[0], p["key"]),
}


def derivative(
    graph: Graph, wrt: Iterable[str], shapes: Mapping[int, tuple[int, ...]] | None = None
) -> dict[str, Formula]:
    """The derivative of the program's output (of its sum, for an array) with respect to each
    input of `wrt`, as a program: the statements it needs, then the result."""
    sweep = _Sweep(graph, shapes)
    sweep.taken = set(graph.inputs) | set(graph.names.values())
    sweep.primal(graph.feeds())  # the ops the output is computed from
    primal = len(sweep.statements)
    results = sweep.sweep(wrt)
    formulas: dict[str, Formula] = {}
    for name, result in results.items():
        formulas[name] = Formula(_used(sweep.statements, result, primal), result)
    return formulas


def _used(statements: list[tuple[str, Node]], result: Node, primal: int) -> list[tuple[str, Node]]:
    """The statements the result needs (transitively), in their order."""
    wanted = _names_in(result)
    keep = [False] * len(statements)
    for j in range(len(statements) - 1, -1, -1):
        name, expr = statements[j]
        if name in wanted:
            keep[j] = True
            wanted |= _names_in(expr)
    return [s for s, k in zip(statements, keep, strict=True) if k]
