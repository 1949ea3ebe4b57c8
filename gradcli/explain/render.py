"""The explanation (gradcli.explain.model) as rich tables, GitHub markdown, JSON, or an export file.

One content model, several outputs: `sections()` turns an Explanation into titled
tables of text cells (plus the chain as lines of text); the table, markdown and
export renderers only lay those out (the same content as data: gradcli/cli/json_output.py).

Numbers show `precision` significant digits (default 5) and arrays their shape and
summarised values. Each table lists at most `max_rows` nodes (0: all); what is left
out is said in a note under the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gradcli.explain.model import (
    LISTED_EDGES,
    MAX_PATH_COUNT,
    Chain,
    Explanation,
    Flow,
    TangentTable,
    derivative_label,
)
from gradcli.explain.model import Path as ChainPath
from gradcli.limits import variable
from gradcli.output import numbers

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

Array = Any
Kind = Literal["text", "code", "num"]

PRECISION = 5
DEFAULT_MAX_ROWS = 60  # nodes per table unless --max-rows says otherwise
MAX_FACTORS = 12  # longer paths show their first and last factors
MAX_CONTRIBUTIONS = 6  # lines of a sum of contributions before "… more"
EXPORT_WIDTH = 100
EXPORTS = (".svg", ".html", ".txt")


# -- numbers ------------------------------------------------------------------------------


def count_text(n: int) -> str:
    return f"more than {MAX_PATH_COUNT:.0e}".replace("e+", "e") if n >= MAX_PATH_COUNT else f"{n:,}"


def value_text(value: Array, precision: int, *, shape: bool = True) -> str:
    """An explain cell: numbers as everywhere (gradcli/output/numbers.py), arrays on one line."""
    return numbers.value_text(value, precision, shape=shape, one_line=True)


def _factor_number(value: Array, precision: int) -> str:
    text = value_text(value, precision)
    return f"({text})" if text.startswith("-") else text


# -- the content model ----------------------------------------------------------------------


class Plain(str):
    """A cell of words in a column of formulas: markdown does not set it as code."""

    __slots__ = ()


@dataclass
class Section:
    """A titled table (groups of rows: one group per node) or, with `lines`, a block of text."""

    title: str
    columns: list[tuple[str, Kind]] = field(default_factory=list)
    groups: list[list[list[str]]] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (left, right): the chain
    notes: list[str] = field(default_factory=list)
    elided: int = 0  # groups left out by max_rows


def _elide(section: Section, max_rows: int, what: str) -> Section:
    """Keep the first and last nodes; say how many were left out in between."""
    n = len(section.groups)
    if max_rows <= 0 or n <= max_rows:
        return section
    head = (max_rows + 1) // 2
    tail = max_rows - head
    hidden = n - head - tail
    gap = [["…", "…"] + [""] * (len(section.columns) - 2)]  # the note below says how many
    section.groups = [*section.groups[:head], [gap[0]], *(section.groups[n - tail :] if tail else [])]
    section.elided = hidden
    section.notes.append(
        f"{hidden:,} of {n:,} {what} not shown (--max-rows {max_rows}; --max-rows 0 shows all)"
    )
    return section


def _forward_section(e: Explanation, p: int) -> Section:
    arrays = any(np.ndim(row.value) for row in e.nodes.values())
    columns: list[tuple[str, Kind]] = [
        ("step", "num"),
        ("node", "code"),
        ("operation", "text"),
        ("inputs", "code"),
    ]
    if arrays:
        columns.append(("shape", "text"))
    columns.append(("value", "num"))
    section = Section("Forward pass: the value of every node, in evaluation order", columns)
    for row in e.nodes.values():
        ins = ", ".join(e.label(a) for a in row.args)
        # a marked row (where a NaN was born, a kink): its step with a '!' and a note below
        cells = [f"{row.step}!" if row.op in e.marks else str(row.step), row.label, row.operation, ins]
        if arrays:
            cells.append(str(np.shape(row.value)) if np.ndim(row.value) else "")
        cells.append(value_text(row.value, p, shape=False))  # the shape has a column
        section.groups.append([cells])
    out = e.nodes[e.output]
    if out.label != out.source:
        section.notes.append(f"{out.label} = {out.source} is the output")
    for op, mark in e.marks.items():
        if op in e.nodes:
            section.notes.append(f"step {e.nodes[op].step}!: {mark}")
    if np.ndim(e.value):
        section.notes.append(
            f"the output has shape {np.shape(e.value)}: the gradient is that of {e.objective}"
        )
    return section


def _contribution_lines(e: Explanation, flows: Sequence[Flow], total: Array, p: int) -> str:
    lines = []
    for n, flow in enumerate(flows):
        if n == MAX_CONTRIBUTIONS:
            lines.append(f"+ … {len(flows) - n} more")
            break
        sign = "" if n == 0 else "+ "
        lines.append(f"{sign}{value_text(flow.product, p)} from {e.label(flow.local.node)}")
    lines.append(f"= {value_text(total, p)}")
    return "\n".join(lines)


def _backward_section(e: Explanation, p: int) -> Section:
    L, top = e.output_label, e.objective
    columns: list[tuple[str, Kind]] = [
        ("step", "num"),
        ("node", "code"),
        (f"∂{top}/∂node", "num"),
        ("local derivative", "code"),
        ("local\nvalue", "num"),
        (f"∂{top}/∂node\n× local", "num"),
    ]
    section = Section(f"Backward pass: ∂{top}/∂node from the output back to the inputs (chain rule)", columns)
    summed = False
    for row in e.backward:
        node = e.nodes[row.node]
        upstream = (
            _contribution_lines(e, row.contributions, row.upstream, p)
            if row.contributions
            else value_text(row.upstream, p)
        )
        if not row.flows:
            section.groups.append(
                [[str(node.step), node.label, upstream, Plain("input: the gradient"), "", ""]]
            )
            continue
        group = []
        for n, flow in enumerate(row.flows):
            product = value_text(flow.product, p)
            if flow.summed:
                product = "Σ " + product
                summed = True
            first = n == 0
            group.append(
                [
                    str(node.step) if first else "",
                    node.label if first else "",
                    upstream if first else "",
                    f"{flow.local.label} = {flow.local.formula}",
                    value_text(flow.local.value, p),
                    product,
                ]
            )
        section.groups.append(group)
    for i in e.blocked:
        section.notes.append(
            f"{e.label(i)} (step {e.step(i)}) blocks the gradient: nothing flows back through it"
        )
    if not e.backward:
        section.columns, section.groups = [], []
        section.notes.insert(0, f"no path from {L} down to a differentiated input: nothing flows back")
    else:
        section.notes.append(
            f"{derivative_label(top, L)} = 1 starts the sweep; each node passes ∂{top}/∂node × local to "
            "its inputs, and a node used several times adds up what it receives"
        )
    if summed:
        section.notes.append("Σ: summed over the axes that broadcasting added, back to the input's shape")
    return section


def _tangent_section(e: Explanation, table: TangentTable, p: int) -> Section:
    s = table.seed
    columns: list[tuple[str, Kind]] = [
        ("step", "num"),
        ("node", "code"),
        ("local derivative", "code"),
        (f"local × ∂input/∂{s}", "num"),
        (f"∂node/∂{s}", "num"),
    ]
    section = Section(
        f"Forward mode, seed {s}: ∂node/∂{s} = Σ over the node's inputs of "
        f"local derivative × ∂input/∂{s}, in evaluation order",
        columns,
    )
    if table.omitted:
        section.notes.append(table.omitted)
    diagonal = False
    for row in table.rows:
        node = e.nodes[row.node]
        tangent = value_text(row.tangent, p)
        if row.diagonal:
            tangent = "diag " + tangent
            diagonal = True
        if not row.terms:
            section.groups.append([[str(node.step), node.label, Plain(f"seed: ∂{s}/∂{s} = 1"), "", tangent]])
            continue
        locals_ = "\n".join(
            f"{t.local.label}: {node.operation} applied to ∂{e.label(t.local.arg)}/∂{s} (matrix step)"
            if t.local.matrix
            else f"{t.local.label} = {t.local.formula}"
            for t in row.terms
        )
        nums = "\n+ ".join(
            (f"{node.operation}(… {'diag ' if t.diagonal_in else ''}{_factor_number(t.tangent_in, p)} …)")
            if t.local.matrix
            else f"{_factor_number(t.local.value, p)} × {'diag ' if t.diagonal_in else ''}"
            f"{_factor_number(t.tangent_in, p)}"
            for t in row.terms
        )
        section.groups.append([[str(node.step), node.label, locals_, nums, tangent]])
    if diagonal:
        section.notes.append(
            f"diag: the node depends on {s} element by element, so ∂node/∂{s} is a "
            "diagonal matrix; its diagonal is shown"
        )
    section.notes.append(
        f"{derivative_label(e.objective, s)} = {value_text(table.gradient, p)} (forward mode)"
    )
    return section


def _path_lines(path: ChainPath, p: int) -> list[str]:
    """The product along a path: labels, formulas, numbers, value (each line starting with '=').

    The numbers multiply out as printed: where the path sums (a reduction's broadcast undone)
    the sum so far is shown right there (`= Σ v,`), and a matrix step shows what it makes of
    the product so far (`⟶ g · xᵀ = v`), instead of one Σ on the result."""
    factors = list(path.factors)
    if not factors:
        return [f"= {value_text(path.value, p)}"]
    keep = len(factors)
    if keep > MAX_FACTORS:
        head = MAX_FACTORS // 2
        tail = MAX_FACTORS - 1 - head
        factors = [*factors[:head], *factors[keep - tail :]]

    def join(parts: list[str], seps: list[str]) -> str:
        if keep > MAX_FACTORS:
            half = MAX_FACTORS // 2
            parts = [*parts[:half], f"… ({keep - len(factors)} more)", *parts[half:]]
            seps = [*seps[:half], seps[half], *seps[half:]]
        text = parts[0]
        for sep, part in zip(seps[1:], parts[1:], strict=True):
            text += sep + part
        return text

    many = len(factors) > 1
    times = [" ⟶ " if f.step == "vjp" else " · " for f in factors]
    labels = join([f.label for f in factors], times)
    formulas = join([f"({f.formula})" if many and _loose(f.formula) else f.formula for f in factors], times)
    numbers: list[str] = []
    seps: list[str] = []
    last = len(factors) - 1
    for n, f in enumerate(factors):
        if f.step == "vjp":
            seps.append(" ⟶ ")
            numbers.append(f"{f.formula} = {value_text(f.after, p)}" if n < last else f.formula)
            continue
        seps.append(" × " if n == 0 or factors[n - 1].step == "times" else ", × ")
        number = _factor_number(f.value, p) if many else value_text(f.value, p)
        if f.step == "sum" and n < last:
            number += f" = Σ {value_text(f.after, p)}"
        numbers.append(number)
    value = value_text(path.value, p)
    if factors[-1].step == "sum":
        value = "Σ " + value
    lines: list[str] = []
    for text in (labels, formulas, join(numbers, seps), value):
        if f"= {text}" not in lines:
            lines.append(f"= {text}")
    return lines


def _loose(formula: str) -> bool:
    """A formula that needs parentheses as a factor: a top-level sum, difference, quotient, or minus."""
    depth = 0
    for n, ch in enumerate(formula):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in "+-/" and (n == 0 or formula[n - 1] == " "):
            return True
    return False


def _chain_section(e: Explanation, p: int, max_rows: int) -> Section:
    top = e.objective
    section = Section(f"The chain rule per input: ∂{top}/∂input as products of local derivatives")
    chains = e.chains
    if 0 < max_rows < len(chains):
        section.notes.append(f"{len(chains) - max_rows:,} more inputs not shown (--max-rows {max_rows})")
        chains = chains[:max_rows]
    for chain in chains:
        if section.lines:
            section.lines.append(("", ""))
        section.lines += _chain_lines(chain, derivative_label(top, chain.input), e.output_label, p)
    if not e.wrt:
        section.notes.append("the program has no inputs: there is nothing to differentiate")
    if any(path.summed for chain in chains for path in chain.paths):
        section.notes.append("Σ: summed over the axes that broadcasting added, back to the input's shape")
    for text in _folds(chains).values():
        section.notes.append(f"{text} (a factor of exactly 1, from + or -, is merged into the next one)")
    return section


def _chain_lines(chain: Chain, head: str, L: str, p: int) -> list[tuple[str, str]]:
    """One input's chain: its one path, or the sum over its paths (listed up to the cap)."""
    if chain.total_paths == 0:
        return [(head, f"= 0: no path leads from {L} down to {chain.input}")]
    if chain.total_paths == 1:
        body = _path_lines(chain.paths[0], p)
        if body[0] == f"= {head}" and len(body) > 1:
            body = body[1:]
        return [(head if n == 0 else "", line) for n, line in enumerate(body)]
    lines = [(head, f"= the sum over {count_text(chain.total_paths)} paths from {L} down to {chain.input}")]
    for n, path in enumerate(chain.paths):
        lines += [(f"  path {n + 1}" if m == 0 else "", line) for m, line in enumerate(_path_lines(path, p))]
    listed = len(chain.paths)
    if not chain.capped:
        return [*lines, (head, f"= {value_text(chain.path_sum, p)} (sum of the {listed} paths)")]
    more = count_text(chain.total_paths - listed) if chain.total_paths < MAX_PATH_COUNT else "the other"
    return [
        *lines,
        ("", f"({more} paths are not listed: {_listing_cap(listed, chain.cap)})"),
        ("  sum", f"= {value_text(chain.path_sum, p)} (the {listed} listed paths)"),
        (head, f"= {value_text(chain.gradient, p)} (all paths: the backward pass)"),
    ]


def _listing_cap(listed: int, cap: int) -> str:
    """Why the listing stopped: the path limit, or the edges all listed paths may have."""
    if listed >= cap:
        return f"at most {listed} are, {variable('max_explain_paths')}"
    return f"the listing stops at {LISTED_EDGES:,} edges in all"


def _folds(chains: Sequence[Chain]) -> dict[str, str]:
    """The folded factors of the listed paths (`∂z/∂w here is ∂z/∂(w*x) · ∂(w*x)/∂w = 1 · x`)."""
    folds: dict[str, str] = {}
    for chain in chains:
        for path in chain.paths:
            for f in path.factors:
                if f.via and f.label not in folds:
                    ones = " · ".join(["1"] * (len(f.via) - 1) + [f.formula])
                    folds[f.label] = f"{f.label} here is {' · '.join(f.via)} = {ones}"
    return folds


def sections(
    e: Explanation, *, precision: int = PRECISION, max_rows: int = DEFAULT_MAX_ROWS
) -> list[Section]:
    out = [_elide(_forward_section(e, precision), max_rows, "nodes")]
    if e.mode in ("reverse", "both"):
        out.append(_elide(_backward_section(e, precision), max_rows, "nodes"))
    if e.mode in ("forward", "both"):
        out += [_elide(_tangent_section(e, t, precision), max_rows, "nodes") for t in e.tangents]
    out.append(_chain_section(e, precision, max_rows))
    return out


# -- tables (rich) ---------------------------------------------------------------------------


def renderables(
    e: Explanation, console: Console, *, precision: int = PRECISION, max_rows: int = DEFAULT_MAX_ROWS
) -> list[RenderableType]:
    from rich.table import Table
    from rich.text import Text

    from gradcli.output.console import make_table, plain_boxes

    plain = plain_boxes(console)
    items: list[RenderableType] = []
    for section in sections(e, precision=precision, max_rows=max_rows):
        if items:
            items.append(Text(""))
        items.append(Text(section.title, style="" if plain else "bold"))
        if section.columns:
            table = make_table(
                console,
                [name for name, _ in section.columns],
                right=[name == "step" for name, _ in section.columns],
                styles=[
                    "" if plain else {"code": "cyan", "num": "", "text": "dim"}[kind]
                    for _, kind in section.columns
                ],
            )
            for group in section.groups:
                for n, row in enumerate(group):  # Text cells: '[x, y]' is not markup
                    table.add_row(
                        *(Text(c) for c in row),
                        end_section=n == len(group) - 1 and len(group) > 1 and not plain,
                    )
            items.append(table)
        if section.lines:
            grid = Table.grid(padding=(0, 1, 0, 0))
            grid.add_column(no_wrap=True, style="" if plain else "bold")
            grid.add_column(overflow="fold")
            for left, right in section.lines:
                grid.add_row(Text(left), Text(right))
            items.append(grid)
        for note in section.notes:
            items.append(Text(f"note: {note}", style="" if plain else "dim"))
    return items


def print_tables(
    e: Explanation, console: Console, *, precision: int = PRECISION, max_rows: int = DEFAULT_MAX_ROWS
) -> None:
    """Print the tables; without trailing spaces when not on a terminal."""
    from rich.console import Group

    from gradcli.output.console import emit

    emit(console, Group(*renderables(e, console, precision=precision, max_rows=max_rows)))


def table_text(
    e: Explanation, *, width: int = 100, precision: int = PRECISION, max_rows: int = DEFAULT_MAX_ROWS
) -> str:
    """The tables as plain text (no colour, no boxes) at a fixed width: for tests and --export .txt."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        no_color=True,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
        soft_wrap=False,
        legacy_windows=False,
    )
    print_tables(e, console, precision=precision, max_rows=max_rows)
    return buffer.getvalue()


# -- markdown ---------------------------------------------------------------------------------


def _md_cell(text: str, kind: Kind) -> str:
    if not text:
        return ""
    parts = text.split("\n")
    if kind == "code" and not isinstance(text, Plain):
        parts = [f"`{part}`" if part else "" for part in parts]
    return "<br>".join(part.replace("|", "\\|") for part in parts)


def markdown(e: Explanation, *, precision: int = PRECISION, max_rows: int = DEFAULT_MAX_ROWS) -> str:
    """GitHub-flavoured markdown: a heading and a table per section, the chain in a text block."""
    out: list[str] = [f"## gradcli explain: `{' '.join(e.program.split())}`", ""]
    for section in sections(e, precision=precision, max_rows=max_rows):
        out += [f"### {section.title}", ""]
        if section.columns:
            out.append("| " + " | ".join(name.replace("\n", " ") for name, _ in section.columns) + " |")
            out.append(
                "| " + " | ".join("---:" if kind == "num" else "---" for _, kind in section.columns) + " |"
            )
            for group in section.groups:
                for row in group:
                    cells = [_md_cell(c, kind) for c, (_, kind) in zip(row, section.columns, strict=True)]
                    out.append("| " + " | ".join(cells) + " |")
            out.append("")
        if section.lines:
            width = max(len(left) for left, _ in section.lines)
            text = [f"{left:<{width}} {right}".rstrip() for left, right in section.lines]
            out += ["```text", *text, "```", ""]
        for note in section.notes:
            out.append(f"> {note}  ")
        if section.notes:
            out.append("")
    return "\n".join(out).rstrip() + "\n"


# -- export -------------------------------------------------------------------------------------


def export_kind(path: str) -> str:
    """The export format of `path` (.svg, .html, .txt), or a UsageError."""
    from gradcli.errors import UsageError

    suffix = Path(path).suffix.lower()
    if suffix not in EXPORTS:
        raise UsageError(f"cannot export to '{path}'", hint="use a file name ending in .svg, .html or .txt")
    return suffix


def export(
    e: Explanation, path: str, *, precision: int = PRECISION, max_rows: int = DEFAULT_MAX_ROWS
) -> None:
    """Write the tables to .svg / .html (coloured, as on a terminal) or .txt (plain), via rich's recording."""
    import io

    from rich.console import Console, Group

    suffix = export_kind(path)
    if suffix == ".txt":
        text = table_text(e, width=EXPORT_WIDTH, precision=precision, max_rows=max_rows)
        _write(path, lambda: Path(path).write_text(text, encoding="utf-8"))
        return
    console = Console(
        file=io.StringIO(),
        record=True,
        width=EXPORT_WIDTH,
        force_terminal=True,
        color_system="truecolor",
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    console.print(Group(*renderables(e, console, precision=precision, max_rows=max_rows)))
    title = f"gradcli explain {' '.join(e.program.split())}"
    if suffix == ".svg":
        _write(path, lambda: console.save_svg(path, title=title))
    else:
        _write(path, lambda: console.save_html(path))


def _write(path: str, save: Callable[[], object]) -> None:
    from gradcli.errors import OutputError

    try:
        save()
    except OSError as exc:
        raise OutputError(f"cannot write the export file {path}: {exc.strerror or exc}") from None
