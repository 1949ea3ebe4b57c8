"""`gradcli graph`: the computation graph, as a tree, Mermaid or Graphviz DOT."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from gradcli.cli.app import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_OUTPUT, command, usual_exits
from gradcli.cli.grad import load
from gradcli.cli.options import Bindings, Debug, NoColor, Precision, Program, Wrt

Format = Annotated[
    Literal["tree", "mermaid", "dot"],
    typer.Option("--format", help="tree (the terminal), mermaid (GitHub, markdown) or dot (Graphviz)."),
]
MaxNodes = Annotated[
    int,
    typer.Option("--max-nodes", min=1, metavar="N", help="Show at most N nodes, those nearest the output."),
]


@command(exits=usual_exits(EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OUTPUT))
def graph(
    program: Program,
    bindings: Bindings = None,
    wrt: Wrt = None,
    fmt: Format = "tree",
    max_nodes: MaxNodes = 200,
    precision: Precision = 4,
    no_color: NoColor = False,
    debug: Debug = False,
) -> None:
    """The computation graph, with values and gradients.

    Each node as the engine sees it, with its operation, its source text or name and, given
    the inputs' values, its value and ∂L/∂node.

    Shared subexpressions and assigned names appear once. Mermaid pastes into a GitHub
    issue or a markdown file; DOT goes to Graphviz (dot -Tsvg).

    \b
    Examples:
      gradcli graph 'z = w*x + b; p = sigmoid(z); bce(p, y)' w=1 x=6.7 b=0 y=0 --wrt w,b
      gradcli graph 'sin(x)*sin(x)' x=1 --format mermaid
      gradcli graph 'sum(relu(W @ x + b))' 'W=[[1,2],[3,4]]' 'x=[1,1]' 'b=[0,-5]' --format dot | dot -Tsvg > g.svg
    """
    from gradcli.explain.graphview import build_view, dot, mermaid, tree

    source, values = load(program, bindings)
    view = build_view(source, values or None, ",".join(wrt) if wrt else None, max_nodes)
    if fmt == "mermaid":
        typer.echo(mermaid(view, precision), nl=False)
    elif fmt == "dot":
        typer.echo(dot(view, precision), nl=False)
    else:
        from gradcli.output.console import emit, make_console

        emit(make_console(no_color=no_color), tree(view, precision))
    for note in view.notes:
        typer.echo(f"note: {note}", err=True)
