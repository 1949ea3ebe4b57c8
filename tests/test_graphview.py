"""`gradcli graph`: Mermaid and DOT checked structurally (every node and edge, valid
identifiers, escaping), DOT parsed back by a small parser, the tree, and the cap."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from typer.testing import CliRunner

from gradcli import grad
from gradcli.api import Compiled
from gradcli.cli.main import app
from gradcli.explain.graphview import _dot_text, _mermaid_text, build_view, dot, mermaid

TUTORIAL = "z = w*x + b; y_pred = sigmoid(z); bce(y_pred, y)"
POINT: dict[str, Any] = {"w": 1.0, "x": 6.7, "b": 0.0, "y": 0.0}


def _edges(program: str) -> set[tuple[int, int]]:
    graph = Compiled(program).graph
    feeds = graph.feeds()
    return {(a, i) for i, op in enumerate(graph.ops) if feeds[i] for a in op.args}


def parse_dot(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """A small DOT reader for what `dot()` writes: node statements with attributes, edges;
    every line must be one of those (or the header and footer)."""
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str]] = []
    lines = text.strip().split("\n")
    assert lines[0] == "digraph gradcli {" and lines[-1] == "}"
    attr = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|(\w+))')
    for line in lines[1:-1]:
        line = line.strip()
        if line in ("rankdir=BT;",) or line.startswith("node ["):
            continue
        m = re.fullmatch(r"(n\d+) -> (n\d+);", line)
        if m:
            edges.append((m.group(1), m.group(2)))
            continue
        m = re.fullmatch(r"(n\d+) \[(.*)\];", line)
        assert m, f"not a DOT statement: {line!r}"
        attrs = {}
        for a in attr.finditer(m.group(2)):
            value = a.group(2) if a.group(2) is not None else a.group(3)
            attrs[a.group(1)] = re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), value)
        nodes[m.group(1)] = attrs
    return nodes, edges


def test_dot_has_every_node_and_edge_and_parses_back() -> None:
    text = dot(build_view(TUTORIAL, POINT, "w,b"))
    nodes, edges = parse_dot(text)
    graph = Compiled(TUTORIAL).graph
    assert set(nodes) == {f"n{i}" for i in range(len(graph.ops))}
    assert {(int(a[1:]), int(b[1:])) for a, b in edges} == _edges(TUTORIAL)
    label = nodes[f"n{graph.inputs['w']}"]["label"].split("\n")
    assert label[0] == "w" and label[1] == "input" and label[-1] == "∂L/∂w = 6.692"
    r = grad(TUTORIAL, POINT, wrt="w,b")
    assert label[-1].endswith(f"{float(r.gradient['w']):.4g}")


def test_mermaid_has_every_node_and_edge_with_valid_identifiers() -> None:
    text = mermaid(build_view(TUTORIAL, POINT, "w,b"))
    lines = text.strip().split("\n")
    assert lines[0] == "flowchart BT"
    ids = set()
    edges = set()
    for line in lines[1:]:
        m = re.fullmatch(r"  (n\d+)(\[\"|\(\[\")(.*)(\"\]|\"\]\))", line)
        if m:
            ids.add(m.group(1))
            assert '"' not in m.group(3)  # quotes inside a label are entity codes
            continue
        m = re.fullmatch(r"  (n\d+) --> (n\d+)", line)
        assert m, f"not a Mermaid statement: {line!r}"
        edges.add((int(m.group(1)[1:]), int(m.group(2)[1:])))
    graph = Compiled(TUTORIAL).graph
    assert ids == {f"n{i}" for i in range(len(graph.ops))}
    assert edges == _edges(TUTORIAL)


def test_labels_are_escaped() -> None:
    assert _mermaid_text('a "b" <c> & d[0]') == "a #quot;b#quot; #lt;c#gt; #amp; d[0]"
    assert _dot_text('a "b" \\ c') == 'a \\"b\\" \\\\ c'
    text = mermaid(build_view("where(x > 0, x[0] + x[1], -1)", {"x": np.array([1.0, 2.0])}))
    assert "x #gt; 0" in text and "x[0] + x[1]" in text
    nodes, _ = parse_dot(dot(build_view("where(x > 0, x[0], -1)", {"x": np.array([1.0, 2.0])})))
    assert any(n["label"].startswith("where(x > 0, x[0], -1)") for n in nodes.values())


def test_shared_subexpressions_are_drawn_once_and_the_cap_holds() -> None:
    view = build_view("a = x*x; a + a", {"x": 2.0})
    assert len(view.nodes) == 3  # x, a, a + a
    assert view.nodes[max(view.nodes)].grad == 1.0
    long = " + ".join(f"sin(x*{i})" for i in range(400))
    capped = build_view(long, {"x": 0.5}, max_nodes=50)
    assert len(capped.nodes) == 50 and capped.total > 1000 and "50 of" in capped.notes[0]
    assert len(mermaid(capped).split("\n")) < 200


def test_cli_graph() -> None:
    runner = CliRunner()
    out = runner.invoke(
        app, ["graph", TUTORIAL, "w=1", "x=6.7", "b=0", "y=0", "--wrt", "w,b"], env={"NO_COLOR": "1"}
    )
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[0].startswith("#8 bce(y_pred, y)")
    assert "└── #7 y · input · value 0" in out.stdout
    out = runner.invoke(app, ["graph", "sin(x)", "--format", "mermaid"])
    assert out.exit_code == 0 and out.stdout.startswith("flowchart BT")
    out = runner.invoke(app, ["graph", "sin(x)", "x=1", "--format", "dot"])
    assert parse_dot(out.stdout)[1] == [("n0", "n1")]
