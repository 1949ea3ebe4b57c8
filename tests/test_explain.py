"""`gradcli explain`: the chain-rule tables.

The tables' numbers are checked against independent routes: the notebook's hand-derived
formulas (computed here with math), and the gradient `gradcli.api.grad` reports in both
modes (itself checked against finite differences elsewhere). The exact-content tests pin
the layout at a fixed width without colour; their numbers are checked independently in
the tests above them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from gradcli.api import grad
from gradcli.check import tolerance
from gradcli.cli.json_output import explanation_object
from gradcli.cli.main import app
from gradcli.explain.model import Explanation, explain
from gradcli.explain.render import DEFAULT_MAX_ROWS, export, markdown, table_text
from gradcli.lang.printer import rule_text
from gradcli.output.jsondata import dumps

TUTORIAL = "z = w*x + b; p = sigmoid(z); bce(p, y)"
DIRECT = "bce(sigmoid(w*x+b), y)"
POINT = {"x": 6.7, "y": 0.0, "w": 1.0, "b": 0.0}
SHARED = "h = w*x; mean(h*h + h)"  # h is used three times; w*x broadcasts a scalar over x
SHARED_POINT = {"x": [1.0, 2.0, 3.0], "w": 0.5}

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOX = set("─│┃━┏┓┗┛╭╮╰╯┼┬┴├┤═║")
CLEAN_ENV: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None}


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _flow(e: Explanation, label: str) -> Any:
    """The backward-pass flow whose local derivative is labelled `label`."""
    found = [f for row in e.backward for f in row.flows if f.local.label == label]
    assert len(found) == 1, [f.local.label for row in e.backward for f in row.flows]
    return found[0]


# --------------------------------------------------------------------------
# The notebook's manual quantities.


@pytest.mark.parametrize("program", [TUTORIAL, DIRECT])
def test_rows_show_the_notebooks_manual_quantities(program: str) -> None:
    e = explain(program, POINT, wrt="w,b")
    x, y = POINT["x"], POINT["y"]
    p = _sigmoid(POINT["w"] * x + POINT["b"])
    p_label = "p" if program == TUTORIAL else "sigmoid(w*x+b)"
    z_label = "z" if program == TUTORIAL else "(w*x+b)"
    # dL/dp = (p - y)/(p(1 - p)): the composite bce is one step with its own local derivative.
    dl_dp = _flow(e, f"∂L/∂{p_label}")
    assert dl_dp.local.formula == f"({p_label} - y) / ({p_label} * (1 - {p_label}))"
    assert dl_dp.local.value == pytest.approx((p - y) / (p * (1 - p)), rel=1e-9)
    assert round(float(dl_dp.local.value), 1) == 813.4
    # dp/dz = p(1 - p)
    dp_dz = _flow(e, f"∂{p_label}/∂{z_label}")
    assert dp_dz.local.formula == f"{p_label} * (1 - {p_label})"
    assert dp_dz.local.value == pytest.approx(p * (1 - p), rel=1e-9)
    assert round(float(dp_dz.local.value), 6) == 0.001228
    # dz/dw = x (through w*x), dz/db = 1
    assert _flow(e, "∂(w*x)/∂w").local.formula == "x"
    assert _flow(e, "∂(w*x)/∂w").local.value == x
    assert _flow(e, f"∂{z_label}/∂b").local.formula == "1"
    # The chain: one path each, the notebook's products.
    chains = {c.input: c for c in e.chains}
    (path_w,) = chains["w"].paths
    (path_b,) = chains["b"].paths
    assert [f.label for f in path_w.factors] == [f"∂L/∂{p_label}", f"∂{p_label}/∂{z_label}", f"∂{z_label}/∂w"]
    assert [f.formula for f in path_w.factors][-1] == "x"
    manual_w = (p - y) / (p * (1 - p)) * (p * (1 - p)) * x
    manual_b = (p - y) / (p * (1 - p)) * (p * (1 - p)) * 1
    assert path_w.value == pytest.approx(manual_w, rel=1e-12)
    assert path_b.value == pytest.approx(manual_b, rel=1e-12)
    assert round(float(path_w.value), 4) == 6.6918
    assert round(float(path_b.value), 4) == 0.9988
    # The displayed factors multiply to the displayed product.
    assert math.prod(float(f.value) for f in path_w.factors) == pytest.approx(float(path_w.value), rel=1e-12)


def test_chain_products_are_the_gradient_grad_reports_bit_for_bit() -> None:
    e = explain(TUTORIAL, POINT, wrt="w,b")
    reported = grad(TUTORIAL, POINT, wrt="w,b").gradient
    for chain in e.chains:
        assert float(chain.path_sum) == reported[chain.input]  # one path: the same products in order
    # The gradient the chain states, against the notebook's hand-derived dL/dw = (p - y)·x and
    # dL/db = p - y, and against forward mode (another route through the same point).
    p = _sigmoid(POINT["w"] * POINT["x"] + POINT["b"])
    by_hand = {"w": (p - POINT["y"]) * POINT["x"], "b": p - POINT["y"]}
    forward = grad(TUTORIAL, POINT, wrt="w,b", mode="forward").gradient
    for chain in e.chains:
        assert float(chain.gradient) == pytest.approx(by_hand[chain.input], rel=1e-12)
        assert tolerance.agree(chain.gradient, forward[chain.input])


# --------------------------------------------------------------------------
# Exact content: plain text at a fixed width.

TUTORIAL_TABLES = """\
Forward pass: the value of every node, in evaluation order
step  node  operation         inputs  value
   1  w     input                     1
   2  x     input (constant)          6.7
   3  w*x   *                 w, x    6.7
   4  b     input                     0
   5  z     +                 w*x, b  6.7
   6  p     sigmoid           z       0.99877
   7  y     input (constant)          0
   8  L     bce               p, y    6.7012
note: L = bce(p, y) is the output

Backward pass: ∂L/∂node from the output back to the inputs (chain rule)
                                                       local      ∂L/∂node
step  node  ∂L/∂node  local derivative                 value      × local
   8  L     1         ∂L/∂p = (p - y) / (p * (1 - p))  813.41     813.41
   6  p     813.41    ∂p/∂z = p * (1 - p)              0.0012279  0.99877
   5  z     0.99877   ∂z/∂(w*x) = 1                    1          0.99877
                      ∂z/∂b = 1                        1          0.99877
   4  b     0.99877   input: the gradient
   3  w*x   0.99877   ∂(w*x)/∂w = x                    6.7        6.6918
   1  w     6.6918    input: the gradient
note: ∂L/∂L = 1 starts the sweep; each node passes ∂L/∂node × local to its inputs, and a node used
several times adds up what it receives

The chain rule per input: ∂L/∂input as products of local derivatives
∂L/∂w = ∂L/∂p · ∂p/∂z · ∂z/∂w
      = ((p - y) / (p * (1 - p))) · p * (1 - p) · x
      = 813.41 × 0.0012279 × 6.7
      = 6.6918

∂L/∂b = ∂L/∂p · ∂p/∂z · ∂z/∂b
      = ((p - y) / (p * (1 - p))) · p * (1 - p) · 1
      = 813.41 × 0.0012279 × 1
      = 0.99877
note: ∂z/∂w here is ∂z/∂(w*x) · ∂(w*x)/∂w = 1 · x (a factor of exactly 1, from + or -, is merged
into the next one)
"""

DIRECT_TABLES_80 = """\
Forward pass: the value of every node, in evaluation order
step  node            operation         inputs             value
   1  w               input                                1
   2  x               input (constant)                     6.7
   3  w*x             *                 w, x               6.7
   4  b               input                                0
   5  w*x+b           +                 w*x, b             6.7
   6  sigmoid(w*x+b)  sigmoid           w*x+b              0.99877
   7  y               input (constant)                     0
   8  L               bce               sigmoid(w*x+b), y  6.7012
note: L = bce(sigmoid(w*x+b), y) is the output

Backward pass: ∂L/∂node from the output back to the inputs (chain rule)
                                                             local      ∂L/∂node
step  node            ∂L/∂node  local derivative             value      × local
   8  L               1         ∂L/∂sigmoid(w*x+b) =         813.41     813.41
                                (sigmoid(w*x+b) - y) /
                                (sigmoid(w*x+b) * (1 -
                                sigmoid(w*x+b)))
   6  sigmoid(w*x+b)  813.41    ∂sigmoid(w*x+b)/∂(w*x+b) =   0.0012279  0.99877
                                sigmoid(w*x+b) * (1 -
                                sigmoid(w*x+b))
   5  w*x+b           0.99877   ∂(w*x+b)/∂(w*x) = 1          1          0.99877
                                ∂(w*x+b)/∂b = 1              1          0.99877
   4  b               0.99877   input: the gradient
   3  w*x             0.99877   ∂(w*x)/∂w = x                6.7        6.6918
   1  w               6.6918    input: the gradient
note: ∂L/∂L = 1 starts the sweep; each node passes ∂L/∂node × local to its
inputs, and a node used several times adds up what it receives

The chain rule per input: ∂L/∂input as products of local derivatives
∂L/∂w = ∂L/∂sigmoid(w*x+b) · ∂sigmoid(w*x+b)/∂(w*x+b) · ∂(w*x+b)/∂w
      = ((sigmoid(w*x+b) - y) / (sigmoid(w*x+b) * (1 - sigmoid(w*x+b)))) ·
      sigmoid(w*x+b) * (1 - sigmoid(w*x+b)) · x
      = 813.41 × 0.0012279 × 6.7
      = 6.6918

∂L/∂b = ∂L/∂sigmoid(w*x+b) · ∂sigmoid(w*x+b)/∂(w*x+b) · ∂(w*x+b)/∂b
      = ((sigmoid(w*x+b) - y) / (sigmoid(w*x+b) * (1 - sigmoid(w*x+b)))) ·
      sigmoid(w*x+b) * (1 - sigmoid(w*x+b)) · 1
      = 813.41 × 0.0012279 × 1
      = 0.99877
note: ∂(w*x+b)/∂w here is ∂(w*x+b)/∂(w*x) · ∂(w*x)/∂w = 1 · x (a factor of
exactly 1, from + or -, is merged into the next one)
"""

SHARED_TABLES = """\
Forward pass: the value of every node, in evaluation order
step  node     operation  inputs   shape  value
   1  w        input                      0.5
   2  x        input               (3,)   [1, 2, 3]
   3  h        *          w, x     (3,)   [0.5, 1, 1.5]
   4  h*h      *          h, h     (3,)   [0.25, 1, 2.25]
   5  h*h + h  +          h*h, h   (3,)   [0.75, 2, 3.75]
   6  L        mean       h*h + h         2.1667
note: L = mean(h*h + h) is the output

Backward pass: ∂L/∂node from the output back to the inputs (chain rule)
                                                              local          ∂L/∂node
step  node     ∂L/∂node                local derivative       value          × local
   6  L        1                       ∂L/∂(h*h + h) = 1 / 3  0.33333        (3,) all 0.33333
   5  h*h + h  (3,) all 0.33333        ∂(h*h + h)/∂(h*h) = 1  1              (3,) all 0.33333
                                       ∂(h*h + h)/∂h = 1      1              (3,) all 0.33333
   4  h*h      (3,) all 0.33333        ∂(h*h)/∂h (as a) = h   [0.5, 1, 1.5]  [0.16667, 0.33333, 0.5]
                                       ∂(h*h)/∂h (as b) = h   [0.5, 1, 1.5]  [0.16667, 0.33333, 0.5]
   3  h        (3,) all 0.33333 from   ∂h/∂w = x              [1, 2, 3]      Σ 6.6667
               h*h + h
               + [0.16667, 0.33333,
               0.5] from h*h
               + [0.16667, 0.33333,
               0.5] from h*h
               = [0.66667, 1, 1.3333]
                                       ∂h/∂x = w              0.5            [0.33333, 0.5, 0.66667]
   2  x        [0.33333, 0.5,          input: the gradient
               0.66667]
   1  w        6.6667                  input: the gradient
note: ∂L/∂L = 1 starts the sweep; each node passes ∂L/∂node × local to its inputs, and a node used
several times adds up what it receives
note: Σ: summed over the axes that broadcasting added, back to the input's shape

The chain rule per input: ∂L/∂input as products of local derivatives
∂L/∂w    = the sum over 3 paths from L down to w
  path 1 = ∂L/∂(h*h + h) · ∂(h*h + h)/∂h · ∂h/∂w
         = (1 / 3) · 1 · x
         = 0.33333 × 1 × [1, 2, 3]
         = Σ 2
  path 2 = ∂L/∂(h*h + h) · ∂(h*h + h)/∂(h*h) · ∂(h*h)/∂h (as a) · ∂h/∂w
         = (1 / 3) · 1 · h · x
         = 0.33333 × 1 × [0.5, 1, 1.5] × [1, 2, 3]
         = Σ 2.3333
  path 3 = ∂L/∂(h*h + h) · ∂(h*h + h)/∂(h*h) · ∂(h*h)/∂h (as b) · ∂h/∂w
         = (1 / 3) · 1 · h · x
         = 0.33333 × 1 × [0.5, 1, 1.5] × [1, 2, 3]
         = Σ 2.3333
∂L/∂w    = 6.6667 (sum of the 3 paths)

∂L/∂x    = the sum over 3 paths from L down to x
  path 1 = ∂L/∂(h*h + h) · ∂(h*h + h)/∂h · ∂h/∂x
         = (1 / 3) · 1 · w
         = 0.33333 × 1 × 0.5
         = (3,) all 0.16667
  path 2 = ∂L/∂(h*h + h) · ∂(h*h + h)/∂(h*h) · ∂(h*h)/∂h (as a) · ∂h/∂x
         = (1 / 3) · 1 · h · w
         = 0.33333 × 1 × [0.5, 1, 1.5] × 0.5
         = [0.083333, 0.16667, 0.25]
  path 3 = ∂L/∂(h*h + h) · ∂(h*h + h)/∂(h*h) · ∂(h*h)/∂h (as b) · ∂h/∂x
         = (1 / 3) · 1 · h · w
         = 0.33333 × 1 × [0.5, 1, 1.5] × 0.5
         = [0.083333, 0.16667, 0.25]
∂L/∂x    = [0.33333, 0.5, 0.66667] (sum of the 3 paths)
note: Σ: summed over the axes that broadcasting added, back to the input's shape
"""

FORWARD_MODE_TANGENTS = """\
Forward mode, seed w: ∂node/∂w = Σ over the node's inputs of local derivative × ∂input/∂w, in
evaluation order
step  node  local derivative                 local × ∂input/∂w   ∂node/∂w
   1  w     seed: ∂w/∂w = 1                                      1
   3  w*x   ∂(w*x)/∂w = x                    6.7 × 1             6.7
   5  z     ∂z/∂(w*x) = 1                    1 × 6.7             6.7
   6  p     ∂p/∂z = p * (1 - p)              0.0012279 × 6.7     0.0082268
   8  L     ∂L/∂p = (p - y) / (p * (1 - p))  813.41 × 0.0082268  6.6918
note: ∂L/∂w = 6.6918 (forward mode)

Forward mode, seed b: ∂node/∂b = Σ over the node's inputs of local derivative × ∂input/∂b, in
evaluation order
step  node  local derivative                 local × ∂input/∂b   ∂node/∂b
   4  b     seed: ∂b/∂b = 1                                      1
   5  z     ∂z/∂b = 1                        1 × 1               1
   6  p     ∂p/∂z = p * (1 - p)              0.0012279 × 1       0.0012279
   8  L     ∂L/∂p = (p - y) / (p * (1 - p))  813.41 × 0.0012279  0.99877
note: ∂L/∂b = 0.99877 (forward mode)
"""


def test_tutorial_tables_exactly() -> None:
    assert table_text(explain(TUTORIAL, POINT, wrt="w,b"), width=100) == TUTORIAL_TABLES


def test_direct_bce_tables_exactly_at_80_columns() -> None:
    text = table_text(explain(DIRECT, POINT, wrt="w,b"), width=80)
    assert text == DIRECT_TABLES_80
    assert max(len(line) for line in text.splitlines()) <= 80


def test_shared_subexpression_and_broadcast_tables_exactly() -> None:
    e = explain(SHARED, SHARED_POINT)
    assert table_text(e, width=100) == SHARED_TABLES
    # The numbers, by hand: L = mean(h² + h), h = w·x, so ∂L/∂h = (2h + 1)/3,
    # ∂L/∂x = w(2h + 1)/3 and ∂L/∂w = Σ x(2h + 1)/3 (the broadcast sum).
    x = np.array(SHARED_POINT["x"])
    h = 0.5 * x
    h_row = next(r for r in e.backward if e.label(r.node) == "h")
    assert len(h_row.contributions) == 3
    assert np.allclose(sum(f.product for f in h_row.contributions), (2 * h + 1) / 3, rtol=1e-14)
    assert np.allclose(h_row.upstream, (2 * h + 1) / 3, rtol=1e-14)
    chains = {c.input: c for c in e.chains}
    assert np.allclose(chains["x"].path_sum, 0.5 * (2 * h + 1) / 3, rtol=1e-14)
    assert chains["w"].path_sum == pytest.approx(float(np.sum(x * (2 * h + 1) / 3)), rel=1e-14)
    assert _flow(e, "∂h/∂w").summed and not _flow(e, "∂h/∂x").summed


def test_forward_mode_tangent_tables_exactly() -> None:
    e = explain(TUTORIAL, POINT, wrt="w,b", mode="forward")
    text = table_text(e, width=100)
    assert FORWARD_MODE_TANGENTS in text
    assert "Backward pass" not in text
    assert text.endswith(TUTORIAL_TABLES[TUTORIAL_TABLES.index("The chain rule") :])
    tangents = {t.seed: t for t in e.tangents}
    reported = grad(TUTORIAL, POINT, wrt="w,b", mode="forward").gradient
    for seed in ("w", "b"):
        last = tangents[seed].rows[-1]
        assert last.node == e.output and float(last.tangent) == reported[seed]


def test_both_modes_show_backward_and_tangents() -> None:
    text = table_text(explain(TUTORIAL, POINT, wrt="w,b", mode="both"), width=100)
    assert "Backward pass" in text and "Forward mode, seed w" in text and "Forward mode, seed b" in text


# --------------------------------------------------------------------------
# The consistency property on random programs.

_UNARY = ("sin({})", "cos({})", "tanh({})", "sigmoid({})", "-({})", "({})**2", "exp(sin({}))")
_BINARY = ("({}) + ({})", "({}) - ({})", "({}) * ({})")


@st.composite
def _programs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A few statements over inputs a, b, c (scalars or length-3 arrays) that reuse earlier names."""
    names = draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True))
    floats = st.floats(-2, 2, allow_nan=False, allow_infinity=False)
    point: dict[str, Any] = {}
    for name in names:
        point[name] = draw(floats) if draw(st.booleans()) else draw(st.lists(floats, min_size=3, max_size=3))
    terms = list(names)
    statements = []
    for i in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            expr = draw(st.sampled_from(_UNARY)).format(draw(st.sampled_from(terms)))
        else:
            expr = draw(st.sampled_from(_BINARY)).format(
                draw(st.sampled_from(terms)), draw(st.sampled_from(terms))
            )
        statements.append(f"v{i} = {expr}")
        terms.append(f"v{i}")
    last = " * ".join(draw(st.lists(st.sampled_from(terms), min_size=1, max_size=3)))
    statements.append(draw(st.sampled_from(("{}", "mean({})", "sum({})", "sum([{0}, {0}])"))).format(last))
    return "; ".join(statements), point


def _close(a: Any, b: Any) -> bool:
    """Two routes agree: the rule `check` and `grad --mode both` use (gradcli/tolerance.py)."""
    return tolerance.agree(a, b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_programs())
def test_path_products_sum_to_the_gradient_in_both_modes(case: tuple[str, dict[str, Any]]) -> None:
    program, point = case
    e = explain(program, point, mode="both", max_paths=10_000)
    reverse = grad(program, point).gradient
    forward = grad(program, point, mode="forward").gradient
    assert {c.input for c in e.chains} == set(reverse)
    for chain in e.chains:
        assert not chain.capped and len(chain.paths) == chain.total_paths
        assert _close(chain.path_sum, reverse[chain.input])
        assert _close(chain.path_sum, forward[chain.input])
        for path in chain.paths:
            values = [np.asarray(f.value) for f in path.factors]
            if all(v.ndim == 0 for v in values) and np.ndim(path.value) == 0 and not path.summed:
                # what the table shows: the factors multiply to the path's product
                assert _close(math.prod(float(v) for v in values), path.value)
    for row in e.backward:
        if row.contributions:  # the listed contributions add up to the node's gradient
            assert _close(sum(f.product for f in row.contributions), row.upstream)
        if e.nodes[row.node].operation == "input":
            name = e.nodes[row.node].label
            assert _close(row.upstream, forward[name])  # the traced backward pass, against forward mode
    for table in e.tangents:
        out = [r for r in table.rows if r.node == e.output]
        if out:  # the output's tangent is the forward-mode gradient (of sum(output))
            t = out[0].tangent
            expected = forward[table.seed]
            summed = t if out[0].diagonal else np.sum(t, axis=tuple(range(np.ndim(e.value))))
            assert _close(summed, expected)
    # every format renders
    table_text(e, width=80)
    markdown(e)
    json.loads(dumps(as_json(e)))


# --------------------------------------------------------------------------
# Markdown and JSON, parsed back.


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if current is None:
                current = []
                tables.append(current)
            current.append(cells)
        else:
            current = None
    return tables


def test_markdown_parses_back_to_the_same_content() -> None:
    e = explain(TUTORIAL, POINT, wrt="w,b")
    text = markdown(e)
    forward, backward = _markdown_tables(text)
    assert forward[0] == ["step", "node", "operation", "inputs", "value"]
    assert set(forward[1]) == {"---", "---:"}
    rows = {r[1]: r for r in forward[2:]}
    assert rows["`L`"] == ["8", "`L`", "bce", "`p, y`", "6.7012"]
    assert rows["`p`"][-1] == "0.99877"
    assert backward[0] == ["step", "node", "∂L/∂node", "local derivative", "local value", "∂L/∂node × local"]
    first = backward[2]
    assert first == ["8", "`L`", "1", "`∂L/∂p = (p - y) / (p * (1 - p))`", "813.41", "813.41"]
    assert all(len(r) == 6 for r in backward)
    assert ["4", "`b`", "0.99877", "input: the gradient", "", ""] in backward
    block = text.split("```text\n", 1)[1].split("```", 1)[0]
    assert "∂L/∂w = ∂L/∂p · ∂p/∂z · ∂z/∂w\n" in block
    assert "      = 813.41 × 0.0012279 × 6.7\n      = 6.6918\n" in block
    assert "> note: " not in text and "> L = bce(p, y) is the output" in text


def test_markdown_escapes_pipes_and_keeps_cells_on_one_line() -> None:
    e = explain(SHARED, SHARED_POINT)
    for table in _markdown_tables(markdown(e)):
        assert len({len(row) for row in table}) == 1


def test_json_has_the_same_content_at_full_precision() -> None:
    e = explain(TUTORIAL, POINT, wrt="w,b", mode="both")
    obj = json.loads(dumps(as_json(e)))
    reported = grad(TUTORIAL, POINT, wrt="w,b").gradient
    assert obj["program"] == TUTORIAL and obj["mode"] == "both" and obj["output"] == "L"
    assert obj["gradient"] == reported
    assert [r["node"] for r in obj["forward"]] == ["w", "x", "w*x", "b", "z", "p", "y", "L"]
    assert obj["forward"][-1]["source"] == "bce(p, y)"
    top = obj["backward"][0]
    assert top["node"] == "L" and top["upstream"] == 1.0
    (flow,) = top["flows"]
    p = _sigmoid(6.7)
    assert flow["to"] == "p" and flow["formula"] == "(p - y) / (p * (1 - p))"
    assert flow["local_value"] == pytest.approx(1 / (1 - p), rel=1e-9)
    chains = {c["input"]: c for c in obj["chains"]}
    assert chains["w"]["sum"] == reported["w"] and chains["w"]["total_paths"] == 1
    assert [f["label"] for f in chains["w"]["paths"][0]["factors"]] == ["∂L/∂p", "∂p/∂z", "∂z/∂w"]
    assert {t["seed"] for t in obj["tangents"]} == {"w", "b"}
    assert obj["elided"] == {} and obj["warnings"] == []


def test_json_arrays_nan_and_elision() -> None:
    obj = json.loads(dumps(as_json(explain("log(x)", {"x": [-1.0, 1.0]}), max_rows=1)))
    assert obj["value"] == [None, 0.0]  # log(-1) is NaN: null, with a warning
    assert "value has NaN or infinite elements; written as null" in obj["warnings"]
    assert obj["forward"] == [
        {
            "step": 1,
            "node": "x",
            "source": "x",
            "operation": "input",
            "inputs": [],
            "shape": [2],
            "value": [-1.0, 1.0],
        }
    ]
    assert obj["elided"] == {"forward": 1, "backward": 1}  # 2 rows each; the chain has 1 input
    assert [r["node"] for r in obj["backward"]] == ["L"]
    assert obj["chains"][0]["sum"] == [-1.0, 1.0]  # d log(x)/dx = 1/x


# --------------------------------------------------------------------------
# --export, --max-rows, the path cap.


def test_exports_are_written_with_the_tables(tmp_path: Path) -> None:
    e = explain(TUTORIAL, POINT, wrt="w,b")
    for suffix in ("svg", "html", "txt"):
        path = tmp_path / f"chain.{suffix}"
        export(e, str(path))
        text = path.read_text(encoding="utf-8")
        assert len(text) > 1000
        if suffix == "txt":
            assert text == TUTORIAL_TABLES
        elif suffix == "svg":
            assert text.lstrip().startswith("<svg") and "813.41" in text and "sigmoid" in text
        else:
            assert "<html" in text.lower() and "∂L/∂p" in text and "6.6918" in text


def test_export_rejects_other_file_types(tmp_path: Path) -> None:
    from gradcli.errors import UsageError

    with pytest.raises(UsageError, match="svg"):
        export(explain("x**2", {"x": 1.0}), str(tmp_path / "out.png"))


def test_max_rows_elides_the_middle_and_says_so() -> None:
    program = "; ".join(["a0 = sin(x)", *(f"a{i} = sin(a{i - 1})" for i in range(1, 30))])
    e = explain(program, {"x": 0.5})
    text = table_text(e, width=100, max_rows=6)
    forward = text.split("\n\n")[0].splitlines()
    assert [line.split()[:2] for line in forward[2:9]] == [
        ["1", "x"],
        ["2", "a0"],
        ["3", "a1"],
        ["…", "…"],
        ["29", "a27"],
        ["30", "a28"],
        ["31", "a29"],
    ]
    assert forward[9] == "note: 25 of 31 nodes not shown (--max-rows 6; --max-rows 0 shows all)"
    backward = text.split("\n\n")[1].splitlines()
    assert [line.split()[:2] for line in backward[3:10]] == [
        ["31", "a29"],
        ["30", "a28"],
        ["29", "a27"],
        ["…", "…"],
        ["3", "a1"],
        ["2", "a0"],
        ["1", "x"],
    ]
    assert backward[-1] == "note: 25 of 31 nodes not shown (--max-rows 6; --max-rows 0 shows all)"
    assert "not shown" not in table_text(e, width=100, max_rows=0)
    # The chain is still complete: one path of 30 factors, shown with its middle elided.
    assert "cos(a28) · cos(a27) · cos(a26) · cos(a25) · cos(a24) · cos(a23) · … (19 more) · cos(a3) ·" in text
    assert text.endswith("        = 0.14292\n")
    assert e.chains[0].path_sum == pytest.approx(math.prod(math.cos(v) for v in _sines(0.5, 30)), rel=1e-12)


def _sines(x: float, n: int) -> list[float]:
    """x, sin(x), sin(sin(x)), ...: the arguments of the cosines in d sin^n(x)/dx."""
    out = [x]
    for _ in range(n - 1):
        out.append(math.sin(out[-1]))
    return out


def test_path_listing_is_capped_and_says_so() -> None:
    # 2**30 paths from the output down to x: counted, not enumerated.
    program = "; ".join(["a0 = x", *(f"a{i} = a{i - 1}*a{i - 1}" for i in range(1, 31))])
    e = explain(program, {"x": 1.0}, max_paths=5)
    (chain,) = e.chains
    assert chain.total_paths == 2**30 and len(chain.paths) == 5 and chain.capped
    assert all(p.value == 1.0 for p in chain.paths)  # each path: a product of ones
    assert chain.gradient == 2.0**30  # d x**(2**30)/dx at x = 1
    text = table_text(e, width=100)
    assert "the sum over 1,073,741,824 paths from a30 down to x" in text
    assert "(1,073,741,819 paths are not listed: at most 5 are, GRADCLI_MAX_EXPLAIN_PATHS)" in text
    assert "= 5 (the 5 listed paths)" in text
    assert "∂a30/∂x  = 1.0737e+09 (all paths: the backward pass)" in text


def test_path_cap_comes_from_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcli.limits import LIMITS

    monkeypatch.setattr(LIMITS, "max_explain_paths", 2)
    (chain,) = explain("x*x*x", {"x": 2.0}).chains
    assert chain.total_paths == 3 and len(chain.paths) == 2


# --------------------------------------------------------------------------
# Local derivative formulas simplified at the point.


def test_simplified_rules() -> None:
    at = {"p": np.float64(0.5), "t": np.float64(1.0), "out": np.float64(0.7), "n": np.float64(1)}
    env = {"p": "p", "t": "y"}
    assert rule_text("bce", 0, env) == "where([p >= 1e-8] * [p <= 1 - 1e-8], (p - y) / (p * (1 - p)), 0) / n"
    assert rule_text("bce", 0, env, literals={"n": 1}, values=at) == "(p - y) / (p * (1 - p))"
    assert rule_text("bce", 0, env, literals={"n": 4}, values=at) == "(p - y) / (p * (1 - p)) / 4"
    clamped = {**at, "p": np.float64(0.0)}  # the clamp is active: no gradient
    assert rule_text("bce", 0, env, literals={"n": 1}, values=clamped) == "0"
    mixed = {**at, "p": np.array([0.0, 0.5])}  # decided per element: the where stays
    assert rule_text("bce", 0, env, literals={"n": 2}, values=mixed).startswith("where(")
    square = {"a": np.float64(3.0), "b": np.float64(2.0), "out": np.float64(9.0), "n": np.float64(1)}
    assert rule_text("pow", 0, {"a": "x", "b": "2"}, literals={"b": 2.0}, values=square) == "2 * x"
    assert rule_text("pow", 0, {"a": "x", "b": "y"}, values=square) == "y * x**(y - 1)"
    assert rule_text("mse", 1, {"a": "u", "b": "v"}, literals={"n": 1}) == "-2 * (u - v)"


def test_explain_shows_simplified_pow_and_named_out() -> None:
    e = explain("q = x**2; tanh(q)", {"x": 3.0})
    assert _flow(e, "∂q/∂x").local.formula == "2 * x"
    assert _flow(e, "∂L/∂q").local.formula == "1 - L**2"  # `out` is the node itself


# --------------------------------------------------------------------------
# The command line.


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={**CLEAN_ENV, **(env or {})})


TUTORIAL_ARGS = (TUTORIAL, "x=6.7", "y=0", "w=1", "b=0", "--wrt", "w,b")


def test_cli_explain_prints_the_tables_plain_when_piped() -> None:
    result = run("explain", *TUTORIAL_ARGS)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == TUTORIAL_TABLES  # piped: width 100, no colour, no boxes
    assert not ANSI.search(result.stdout) and not BOX & set(result.stdout)
    assert result.stderr == ""


def test_cli_explain_with_force_color_has_colour_and_rules() -> None:
    result = run("explain", *TUTORIAL_ARGS, env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0
    assert ANSI.search(result.stdout) and "─" in result.stdout
    assert "813.41" in ANSI.sub("", result.stdout)
    plain = run("explain", *TUTORIAL_ARGS, "--no-color", env={"FORCE_COLOR": "1"})
    assert not ANSI.search(plain.stdout) and not BOX & set(plain.stdout)


def test_cli_explain_formats_and_export(tmp_path: Path) -> None:
    md = run("explain", *TUTORIAL_ARGS, "--format", "markdown")
    assert md.exit_code == 0 and md.stdout == markdown(explain(TUTORIAL, POINT, wrt="w,b"))
    js = run("explain", *TUTORIAL_ARGS, "--format", "json", "--mode", "forward")
    assert js.exit_code == 0 and js.stdout.count("\n") == 1
    obj = json.loads(js.stdout)
    assert obj["mode"] == "forward" and "backward" not in obj and len(obj["tangents"]) == 2
    out = tmp_path / "t.txt"
    exported = run("explain", *TUTORIAL_ARGS, "--export", str(out))
    assert exported.exit_code == 0 and out.read_text(encoding="utf-8") == TUTORIAL_TABLES
    assert f"wrote {out}" in exported.stderr


def test_cli_explain_options() -> None:
    result = run("explain", "sin(sin(sin(sin(x))))", "x=1", "--max-rows", "3", "--precision", "3")
    assert result.exit_code == 0
    assert "note: 2 of 5 nodes not shown (--max-rows 3; --max-rows 0 shows all)" in result.stdout
    assert "0.841" in result.stdout and "0.84147" not in result.stdout
    leading_minus = run("explain", "-x**2", "x=3")
    assert leading_minus.exit_code == 0 and "∂L/∂x = ∂L/∂(x**2) · ∂(x**2)/∂x" in leading_minus.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("sin(", "x=1"), "syntax error"),
        (("x*y", "x=1"), "missing input: y"),
        (("x**2", "x=1", "--wrt", "q"), "cannot differentiate with respect to 'q'"),
        (("x**2", "x=1", "--export", "out.png"), "cannot export"),
        (("x**2", "x=1", "--format", "yaml"), "Invalid value"),
        (("x**2", "x=1", "--max-rows", "-1"), "Invalid value"),
    ],
)
def test_cli_explain_errors_exit_2(args: tuple[str, ...], fragment: str) -> None:
    result = run("explain", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_grad_explain_prints_the_tables_after_the_usual_output() -> None:
    plain = run("grad", *TUTORIAL_ARGS)
    both = run("grad", *TUTORIAL_ARGS, "--explain")
    assert both.exit_code == 0
    assert both.stdout.startswith(plain.stdout)
    assert both.stdout[len(plain.stdout) :] == "\n" + TUTORIAL_TABLES


def test_grad_explain_json_is_one_object() -> None:
    result = run("grad", *TUTORIAL_ARGS, "--explain", "--json")
    assert result.exit_code == 0 and result.stdout.count("\n") == 1
    obj = json.loads(result.stdout)
    assert obj["gradient"]["w"] == obj["explain"]["chains"][0]["sum"]
    assert obj["explain"]["chains"][0]["input"] == "w"


def test_readme_example_is_what_the_command_prints() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Explain: the chain rule, step by step", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```console\n(.*?)```", section, flags=re.S)
    command, printed = block.split("\n", 1)
    assert command == "$ gradcli explain '" + TUTORIAL + "' x=6.7 y=0 w=1 b=0 --wrt w,b"
    assert printed == TUTORIAL_TABLES


def as_json(e: Explanation, *, max_rows: int = DEFAULT_MAX_ROWS) -> dict[str, Any]:
    return explanation_object(e, max_rows=max_rows)


def _sum_to(v: Any, shape: tuple[int, ...]) -> Any:
    """Sum an array down to `shape` (leading axes, then axes of size 1): numpy, by hand."""
    v = np.asarray(v)
    while v.ndim > len(shape):
        v = v.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and v.shape[axis] != 1:
            v = v.sum(axis=axis, keepdims=True)
    return v


@pytest.mark.parametrize(
    ("program", "point", "wrt"),
    [
        ("ez = exp(z); p = ez/sum(ez); -sum(y*log(p))", {"z": [1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.0]}, "z"),
        ("h = w*x; mean(h**2 + h)", {"w": 0.5, "x": [1.0, -2.0, 3.0]}, "w,x"),
        ("v = [a*b[0], sum(b)]; sum(v * v)", {"a": 2.0, "b": [1.0, 3.0]}, "a,b"),
        (
            "h = relu(W @ x + b); sum(h * h)",
            {"W": [[1.0, 2.0], [3.0, -4.0]], "x": [1.0, 2.0], "b": [0.5, 1.0]},
            "W,x,b",
        ),
        ("p = softmax(z); -log(p[1]) + sum(z, axis=0)[0]", {"z": [[1.0, 2.0], [0.5, -1.0]]}, "z"),
    ],
)
def test_printed_path_factors_multiply_back(program: str, point: dict[str, Any], wrt: str) -> None:
    """Every path multiplies out as printed: a Σ (or a matrix step) sits at the factor where it
    happens, so multiplying the factors left to right, summing where a Σ is printed and
    taking the printed value after a matrix step, gives the path's value."""
    e = explain(program, point, wrt=wrt)
    text = table_text(e, width=200)
    for chain in e.chains:
        for path in chain.paths:
            v: Any = np.float64(1.0)
            for f in path.factors:
                if f.step == "vjp":
                    assert (f.after is not None and f"{f.formula} = " in text) or f is path.factors[-1]
                    v = f.after
                    continue
                v = v * np.asarray(f.value)
                if f.step == "sum":
                    assert f.after is not None
                    np.testing.assert_allclose(
                        _sum_to(v, np.shape(f.after)), f.after, rtol=1e-14, atol=1e-300
                    )
                    v = f.after
            np.testing.assert_allclose(np.broadcast_to(v, np.shape(path.value)), path.value, rtol=1e-14)
    if "ez" in program:  # the sum happens at sum(ez): shown there, not on the result
        assert "= Σ 0.03312, × 1 × [2.7183" in " ".join(text.split())
