"""AST -> graph: a flat, topologically ordered list of operations.

Both evaluators walk this list with plain loops (no recursion), so depth and
length of a program cost only linear time. Names resolve here: an assigned name
is an intermediate, any other free name is an input, `pi` and `e` are constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gradcli.errors import LimitError, ProgramError, UnknownNameError
from gradcli.lang.ast import NO_SPAN, Call, Name, Node, Num, Program, Span
from gradcli.limits import LIMITS, exceeded
from gradcli.primitives import CONSTANTS, PRIMITIVES, Primitive, lookup

VECTOR = PRIMITIVES["vector"]


@dataclass(slots=True)
class Op:
    """One node of the graph: a leaf (input or constant) or a primitive applied to earlier ops."""

    prim: Primitive | None
    args: tuple[int, ...]
    node: Node | None  # the AST node (span and source text); None for shared leaves
    input: str | None = None  # input name for input leaves
    const: float | None = None  # value for constant leaves
    depends_on_input: bool = False


@dataclass
class Graph:
    program: Program
    ops: list[Op]
    output: int
    inputs: dict[str, int]  # input name -> op index, in order of first use
    names: dict[int, str] = field(default_factory=dict)  # op index -> assigned name
    input_spans: dict[str, Span] = field(default_factory=dict)

    def source_text(self, index: int) -> str:
        """The source text of an op: its assigned name, input name, or the slice of the source."""
        op = self.ops[index]
        if index in self.names:
            return self.names[index]
        if op.input is not None:
            return op.input
        if op.node is None or op.node.span is NO_SPAN:
            return repr(op.const)
        return " ".join(self.program.source[op.node.span.start : op.node.span.end].split())


def build(program: Program) -> Graph:
    ops: list[Op] = []
    inputs: dict[str, int] = {}
    input_spans: dict[str, Span] = {}
    assigned: dict[str, int] = {}
    assigned_at: dict[str, Span] = {}
    names: dict[int, str] = {}
    constants: dict[str, int] = {}
    source = program.source

    def fail(error: ProgramError | UnknownNameError | LimitError) -> None:
        raise error.with_source(source)

    def leaf_for(node: Name) -> int:
        name = node.id
        if name in assigned:
            return assigned[name]
        if name in CONSTANTS:
            if name not in constants:
                constants[name] = len(ops)
                ops.append(Op(None, (), node, const=CONSTANTS[name]))
            return constants[name]
        if lookup(name) is not None and lookup(name).public:  # type: ignore[union-attr]
            fail(
                UnknownNameError(
                    f"'{name}' is a function, not a value", span=node.span, hint=f"call it: {name}(...)"
                )
            )
        if name not in inputs:
            inputs[name] = len(ops)
            input_spans[name] = node.span
            ops.append(Op(None, (), node, input=name, depends_on_input=True))
        return inputs[name]

    result = -1
    last = len(program.statements) - 1
    for number, stmt in enumerate(program.statements):
        if stmt.target is None and number != last:
            # Only the last statement is the output: an unassigned expression before it would
            # be silently lost (often a formula continued on the next line).
            fail(
                ProgramError(
                    "the value of this expression is not used: only the last statement is the output",
                    span=stmt.span,
                    hint="assign it (name = ...) or, to continue a formula on the next line, "
                    "wrap it in parentheses",
                )
            )
        # Post-order walk with an explicit stack: (node, visited-children?)
        stack: list[tuple[Node, bool]] = [(stmt.expr, False)]
        done: list[int] = []  # op indices of finished children, in order
        while stack:
            node, expanded = stack.pop()
            if isinstance(node, Num):
                done.append(len(ops))
                ops.append(Op(None, (), node, const=node.value))
            elif isinstance(node, Name):
                done.append(leaf_for(node))
            elif not expanded:
                children = node.args if isinstance(node, Call) else node.items
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(children))
            else:
                count = len(node.args) if isinstance(node, Call) else len(node.items)
                args = tuple(done[len(done) - count :])
                del done[len(done) - count :]
                prim = PRIMITIVES[node.func] if isinstance(node, Call) else VECTOR
                dep = any(ops[a].depends_on_input for a in args)
                if prim.kind == "constant" and dep:
                    fail(
                        ProgramError(
                            f"{prim.name}() takes constant arguments only, not inputs",
                            span=node.span,
                            hint="build the array in a binding: x=linspace(0, 1, 5)",
                        )
                    )
                done.append(len(ops))
                ops.append(Op(prim, args, node, depends_on_input=dep))
            if len(ops) > LIMITS.max_nodes:
                fail(
                    exceeded(
                        "max_nodes",
                        f"the program has more than {LIMITS.max_nodes:,} operations",
                        span=stmt.span,
                    )
                )
        (result,) = done
        if stmt.target is not None:
            target = stmt.target
            if target in assigned:
                fail(
                    ProgramError(
                        f"'{target}' is assigned twice (first on line {assigned_at[target].line})",
                        span=stmt.target_span,
                        hint="each name is assigned once; pick a new name",
                    )
                )
            if target in inputs:
                fail(
                    ProgramError(
                        f"'{target}' is an input (used on line {input_spans[target].line}) and cannot be assigned",
                        span=stmt.target_span,
                        hint="assign before use, or pick another name",
                    )
                )
            if target in CONSTANTS or lookup(target) is not None:
                what = "constant" if target in CONSTANTS else "function"
                fail(
                    ProgramError(
                        f"'{target}' is a built-in {what} and cannot be assigned", span=stmt.target_span
                    )
                )
            assigned[target] = result
            assigned_at[target] = stmt.target_span
            if result not in names and ops[result].input is None:
                names[result] = target
    return Graph(program, ops, result, inputs, names, input_spans)
