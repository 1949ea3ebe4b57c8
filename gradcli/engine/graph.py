"""AST -> graph: a flat, topologically ordered list of operations.

Both evaluators walk this list with plain loops (no recursion), so depth and
length of a program cost only linear time. Names resolve here: an assigned name
is an intermediate, any other free name is an input, `pi` and `e` are constants.

The graph also answers the questions every later stage asks of it, each in one place:
which ops a set of ops reaches (`reaches`, with the detach policy stated once), which ops
an op is computed from (`feeds`), where each value is used last (`last_uses`), and the
source text of an op (`source_text`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import NoReturn

from gradcli.errors import GradcliError, ProgramError, UnknownNameError
from gradcli.lang.ast import NO_SPAN, Call, Name, Node, Num, Program, Span, Statement, Vector
from gradcli.limits import LIMITS, exceeded
from gradcli.primitives import CONSTANTS, PRIMITIVES, Primitive, lookup

VECTOR = PRIMITIVES["vector"]


class Through(Enum):
    """What a dependency walk follows.

    GRADIENT: the paths a gradient flows along: not through `detach` (it blocks the gradient
    on purpose) nor through constant-only ops (linspace, arange). VALUE: every path a value
    flows along, detach included (what finite differences see)."""

    GRADIENT = "gradient"
    VALUE = "value"


@dataclass(slots=True)
class Op:
    """One node of the graph: a leaf (input or constant) or a primitive applied to earlier ops."""

    prim: Primitive | None
    args: tuple[int, ...]
    node: Node | None  # the AST node (span and source text); None for shared leaves
    input: str | None = None  # input name for input leaves
    const: float | None = None  # value for constant leaves
    depends_on_input: bool = False

    @property
    def params(self) -> dict[str, object]:
        """The static parameters of the call (axis=, keepdims=, an index's key)."""
        node = self.node
        return dict(node.params) if isinstance(node, Call) and node.params else {}

    def passes(self, through: Through) -> bool:
        """Whether a dependency on an argument passes through this op."""
        if self.prim is None:
            return False
        return through is Through.VALUE or not (self.prim.blocks_gradient or self.prim.kind == "constant")


@dataclass
class Graph:
    program: Program
    ops: list[Op]
    output: int
    inputs: dict[str, int]  # input name -> op index, in order of first use
    names: dict[int, str] = field(default_factory=dict)  # op index -> assigned name
    input_spans: dict[str, Span] = field(default_factory=dict)

    def source_text(self, index: int, *, limit: int | None = None, named: bool = True) -> str:
        """The source text of op `index`, white space folded: its assigned name (unless
        `named` is False) or input name, else its slice of the source, cut after `limit`
        characters with '…' (reading no more than that: long programs stay linear)."""
        op = self.ops[index]
        if named and index in self.names:
            return self.names[index]
        if op.input is not None:
            return op.input
        if op.node is None or op.node.span is NO_SPAN or op.node.span.end <= op.node.span.start:
            return self.names.get(index) or repr(op.const)
        start, end = op.node.span.start, op.node.span.end
        cut = end if limit is None else min(end, start + limit)
        text = " ".join(self.program.source[start:cut].split())
        return text + "…" if cut < end else text

    def reaches(self, seeds: Iterable[int], through: Through) -> list[bool]:
        """Per op: whether its value depends on one of the `seeds` ops (a seed reaches itself)."""
        reached = [False] * len(self.ops)
        for s in seeds:
            reached[s] = True
        value = through is Through.VALUE
        for i, op in enumerate(self.ops):
            prim = op.prim
            # op.passes(through), written out: this loop runs once per op of every gradient
            if (
                reached[i]
                or prim is None
                or not (value or not (prim.blocks_gradient or prim.kind == "constant"))
            ):
                continue
            for a in op.args:
                if reached[a]:
                    reached[i] = True
                    break
        return reached

    def requires_grad(self, wrt: Iterable[str]) -> list[bool]:
        """Per op: whether it carries a gradient with respect to the `wrt` inputs (or
        intermediates: an assigned name, whose gradient is ∂L/∂name, PyTorch's retain_grad)."""
        return self.reaches((self.op_of(name) for name in wrt), Through.GRADIENT)

    def op_of(self, name: str) -> int:
        """The op of an input, or of an assigned intermediate."""
        if name in self.inputs:
            return self.inputs[name]
        return self.assigned[name]

    @property
    def assigned(self) -> dict[str, int]:
        """Assigned name -> its op (the inverse of `names`)."""
        return {n: i for i, n in self.names.items()}

    def feeds(self, target: int | None = None) -> list[bool]:
        """Per op: whether op `target` (default: the output) is computed from it."""
        fed = [False] * len(self.ops)
        fed[self.output if target is None else target] = True
        for i in range(len(self.ops) - 1, -1, -1):
            if fed[i]:
                for a in self.ops[i].args:
                    fed[a] = True
        return fed

    def last_uses(self) -> list[int]:
        """Per op: the index of the last op that reads its value (itself when none does)."""
        last = list(range(len(self.ops)))
        for i, op in enumerate(self.ops):
            for a in op.args:
                last[a] = i
        return last


def build(program: Program) -> Graph:
    """The graph of a parsed program (ProgramError, UnknownNameError, LimitError when it is not one)."""
    builder = _Builder(program)
    last = len(program.statements) - 1
    for number, stmt in enumerate(program.statements):
        builder.statement(stmt, is_last=number == last)
    return Graph(program, builder.ops, builder.result, builder.inputs, builder.names, builder.input_spans)


class _Builder:
    """The ops so far and the names they go by, while the statements are read in order."""

    def __init__(self, program: Program) -> None:
        self.source = program.source
        self.ops: list[Op] = []
        self.inputs: dict[str, int] = {}
        self.input_spans: dict[str, Span] = {}
        self.assigned: dict[str, int] = {}
        self.assigned_at: dict[str, Span] = {}
        self.names: dict[int, str] = {}
        self.constants: dict[str, int] = {}
        self.result = -1

    def fail(self, error: GradcliError) -> NoReturn:
        raise error.with_source(self.source)

    def statement(self, stmt: Statement, *, is_last: bool) -> None:
        if stmt.target is None and not is_last:
            # Only the last statement is the output: an unassigned expression before it would
            # be silently lost (often a formula continued on the next line).
            self.fail(
                ProgramError(
                    "the value of this expression is not used: only the last statement is the output",
                    span=stmt.span,
                    hint="assign it (name = ...) or, to continue a formula on the next line, wrap it in parentheses",
                )
            )
        self.result = self.expression(stmt)
        if stmt.target is not None:
            self.assign(stmt)

    def expression(self, stmt: Statement) -> int:
        """The ops of one statement's expression, children before parents (left to right)."""
        # Pre-order with the children pushed left to right visits the right-most subtree
        # first; read backwards, that is a post-order, left to right. No recursion.
        order: list[Node] = []
        stack: list[Node] = [stmt.expr]
        while stack:
            node = stack.pop()
            order.append(node)
            if isinstance(node, Call):
                stack.extend(node.args)
            elif isinstance(node, Vector):
                stack.extend(node.items)
        done: list[int] = []  # op indices of finished nodes whose parent is still to come
        ops, limit = self.ops, LIMITS.max_nodes
        for node in reversed(order):
            if isinstance(node, Name):
                done.append(self.leaf(node))
            elif isinstance(node, Num):
                ops.append(Op(None, (), node, None, node.value))
                done.append(len(ops) - 1)
            else:
                count = len(node.args) if isinstance(node, Call) else len(node.items)
                args = tuple(done[len(done) - count :])
                del done[len(done) - count :]
                done.append(self.apply(node, args))
                if len(ops) > limit:
                    self.fail(
                        exceeded(
                            "max_nodes",
                            f"the program has more than {LIMITS.max_nodes:,} operations",
                            span=stmt.span,
                        )
                    )
        (result,) = done
        return result

    def add(self, op: Op) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def apply(self, node: Node, args: tuple[int, ...]) -> int:
        prim = PRIMITIVES[node.func] if isinstance(node, Call) else VECTOR
        ops = self.ops
        dep = False
        for a in args:
            if ops[a].depends_on_input:
                dep = True
                break
        if prim.constant_from is not None and any(
            ops[a].depends_on_input for a in args[prim.constant_from :]
        ):
            self.fail(
                ProgramError(
                    f"{prim.name}()'s sizes are numbers written in the program, not inputs",
                    span=node.span,
                    hint=f"usage: {prim.signature}",
                )
            )
        if dep and prim.kind == "constant":
            self.fail(
                ProgramError(
                    f"{prim.name}() takes constant arguments only, not inputs",
                    span=node.span,
                    hint="build the array in a binding: x=linspace(0, 1, 5)",
                )
            )
        ops.append(Op(prim, args, node, None, None, dep))
        return len(ops) - 1

    def leaf(self, node: Name) -> int:
        name = node.id
        known = self.assigned.get(name)
        if known is None:
            known = self.inputs.get(name)
        if known is not None:
            return known
        if name in CONSTANTS:
            if name not in self.constants:
                self.constants[name] = self.add(Op(None, (), node, const=CONSTANTS[name]))
            return self.constants[name]
        prim = lookup(name)
        if prim is not None and prim.public:
            self.fail(
                UnknownNameError(
                    f"'{name}' is a function, not a value", span=node.span, hint=f"call it: {name}(...)"
                )
            )
        if name not in self.inputs:
            self.inputs[name] = self.add(Op(None, (), node, input=name, depends_on_input=True))
            self.input_spans[name] = node.span
        return self.inputs[name]

    def assign(self, stmt: Statement) -> None:
        target = stmt.target
        assert target is not None
        span = stmt.target_span
        if target in self.assigned:
            first = self.assigned_at[target].line
            self.fail(
                ProgramError(
                    f"'{target}' is assigned twice (first on line {first})",
                    span=span,
                    hint="each name is assigned once; pick a new name",
                )
            )
        if target in self.inputs:
            used = self.input_spans[target].line
            self.fail(
                ProgramError(
                    f"'{target}' is an input (used on line {used}) and cannot be assigned",
                    span=span,
                    hint="assign before use, or pick another name",
                )
            )
        if target in CONSTANTS or lookup(target) is not None:
            what = "constant" if target in CONSTANTS else "function"
            self.fail(ProgramError(f"'{target}' is a built-in {what} and cannot be assigned", span=span))
        self.assigned[target] = self.result
        self.assigned_at[target] = span
        if self.result not in self.names and self.ops[self.result].input is None:
            self.names[self.result] = target
