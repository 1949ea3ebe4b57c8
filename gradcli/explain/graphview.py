"""`gradcli graph`: the computation graph as the engine sees it, drawn three ways.

Each node is an op of gradcli/engine/graph.py (shared subexpressions and assigned names once):
its operation, its source text or name, its value and, for the differentiated inputs,
∂L/∂node (the adjoint the backward sweep computed, observed through its trace hook).
Renderers: a rich tree for the terminal (a node met again is a reference, not a copy),
Mermaid (renders in GitHub issues and markdown) and Graphviz DOT. A graph above `max_nodes`
shows the nodes nearest the output, with a note: the output stays linear in the cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.api import Compiled
from gradcli.engine import reverse
from gradcli.engine.values import bind, forward_values
from gradcli.lang.ast import Num
from gradcli.output.numbers import value_text

Array = Any
TEXT_CHARS = 40  # a node's source text, cut after this many characters
DEFAULT_MAX_NODES = 200


@dataclass
class GraphNode:
    id: int
    text: str  # the name the program gave, or the source text
    operation: str  # "input", "constant", "+", "sin", ...
    args: tuple[int, ...]
    value: Array | None = None
    grad: Array | None = None  # ∂L/∂node, when the node carries a gradient


@dataclass
class GraphView:
    nodes: dict[int, GraphNode]  # the shown ones, in evaluation order
    output: int
    total: int
    objective: str  # "L", or "sum(L)" for an array output
    notes: list[str] = field(default_factory=list)


def build_view(
    program: str,
    bindings: Mapping[str, Any] | None,
    wrt: Iterable[str] | str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> GraphView:
    compiled = Compiled(program)
    graph = compiled.graph
    vals: list[Array] | None = None
    grads: dict[int, Array] = {}
    if bindings is not None:
        inputs, _ = bind(graph, bindings)
        vals, counts = forward_values(graph, inputs)
        names = compiled.check_wrt(wrt)

        def trace(i: int, k: int, g: Array, contrib: Array) -> None:
            grads.setdefault(i, g)

        with np.errstate(all="ignore"):
            result = reverse.backward(graph, vals, counts, names, trace=trace)
        for name, g in result.items():
            grads[graph.inputs[name]] = g
        if graph.output not in grads and names:
            grads[graph.output] = reverse.seed(vals[graph.output]).value
    feeds = graph.feeds()
    order = [i for i in range(len(graph.ops) - 1, -1, -1) if feeds[i]]
    shown = sorted(order[:max_nodes])
    nodes: dict[int, GraphNode] = {}
    for i in shown:
        op = graph.ops[i]
        if op.input is not None:
            operation = "input"
        elif op.prim is None:
            operation = "constant"
        elif op.prim.kind == "vector":
            operation = "[...]"
        else:
            operation = op.prim.symbol or op.prim.name
        text = graph.source_text(i, limit=TEXT_CHARS)
        if op.prim is None and isinstance(op.node, Num):
            text = op.node.text
        nodes[i] = GraphNode(i, text, operation, op.args, None if vals is None else vals[i], grads.get(i))
    out_value = None if vals is None else vals[graph.output]
    objective = "L" if out_value is None or np.ndim(out_value) == 0 else "sum(L)"
    view = GraphView(nodes, graph.output, len(order), objective)
    if len(order) > max_nodes:
        view.notes.append(
            f"{max_nodes:,} of {len(order):,} nodes shown, those nearest the output (--max-nodes)"
        )
    return view


def _lines(node: GraphNode, view: GraphView, precision: int) -> list[str]:
    lines = [node.text]
    if node.operation not in ("input", "constant") or node.text != node.operation:
        lines.append(node.operation)
    if node.value is not None and node.operation != "constant":
        lines.append("value " + value_text(node.value, precision, one_line=True))
    if node.grad is not None:
        wrt = node.text if node.text.isidentifier() else f"({node.text})"
        lines.append(f"∂{view.objective}/∂{wrt} = " + value_text(node.grad, precision, one_line=True))
    return lines


# -- Mermaid ---------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: quotes and angle brackets as entity codes."""
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid(view: GraphView, precision: int = 4) -> str:
    out = ["flowchart BT"]
    for node in view.nodes.values():
        label = "<br/>".join(_mermaid_text(t) for t in _lines(node, view, precision))
        shape = ('(["', '"])') if node.operation == "input" else ('["', '"]')
        out.append(f"  n{node.id}{shape[0]}{label}{shape[1]}")
    for node in view.nodes.values():
        for a in dict.fromkeys(node.args):
            if a in view.nodes:
                out.append(f"  n{a} --> n{node.id}")
    return "\n".join(out) + "\n"


# -- DOT -------------------------------------------------------------------------------------


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot(view: GraphView, precision: int = 4) -> str:
    out = [
        "digraph gradcli {",
        "  rankdir=BT;",
        '  node [shape=box, fontname="monospace"];',
    ]
    for node in view.nodes.values():
        label = "\\n".join(_dot_text(t) for t in _lines(node, view, precision))
        shape = ", shape=ellipse" if node.operation == "input" else ""
        out.append(f'  n{node.id} [label="{label}"{shape}];')
    for node in view.nodes.values():
        for a in dict.fromkeys(node.args):
            if a in view.nodes:
                out.append(f"  n{a} -> n{node.id};")
    out.append("}")
    return "\n".join(out) + "\n"


# -- a tree for the terminal ------------------------------------------------------------------


def tree(view: GraphView, precision: int = 4) -> Any:
    """A rich Tree from the output down to the inputs; a node met again is `(#k above)`."""
    from rich.text import Text
    from rich.tree import Tree

    steps = {i: n + 1 for n, i in enumerate(view.nodes)}

    def label(node: GraphNode) -> Text:
        return Text(f"#{steps[node.id]} " + " · ".join(_lines(node, view, precision)))

    root = Tree(label(view.nodes[view.output]))
    seen = {view.output}
    stack: list[tuple[Any, int]] = [(root, view.output)]
    while stack:
        branch, i = stack.pop()
        for a in dict.fromkeys(view.nodes[i].args):
            if a not in view.nodes:
                branch.add(Text("… (not shown)"))
                continue
            if a in seen:
                branch.add(Text(f"#{steps[a]} {view.nodes[a].text} (above)"))
                continue
            seen.add(a)
            child = branch.add(label(view.nodes[a]))
            stack.append((child, a))
    return root
