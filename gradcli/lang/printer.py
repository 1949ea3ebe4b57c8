"""AST -> text, with the fewest parentheses that keep the meaning.

Used for derivative rules in the docs and the explain table, where parameter
names are replaced by the text of the actual arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcli.lang.ast import Call, Name, Node, Num, Vector
from gradcli.lang.parser import parse_rule
from gradcli.primitives import PRIMITIVES, Notation

_ATOM = 5  # precedence of an atom: a name, a number, a call, brackets
_PREFIX = 3  # unary minus


def to_text(node: Node, env: Mapping[str, str] | None = None, *, program: bool = False) -> str:
    """Render `node`; names found in `env` are replaced by (already rendered) text. With
    `program`, the text is a program that parses back to the same meaning: comparisons as
    operators (`(x > 0)`, not the rules' indicator `[x > 0]`), the functions under their
    public names (`max(x)`, `sum(x, axis=0)`), indices and keyword arguments written out."""
    return _render(node, env or {}, program)[0]


def needs_parens(text: str, operators: str = "+-*/ ") -> bool:
    """Whether `text` has one of `operators` outside brackets, so that it needs parentheses
    to be an operand (`w*x + b`, not `sin(a + b)`). explain's labels also count ` =<>,`."""
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in operators:
            return True
    return False


_PUBLIC = {"amax": "max", "amin": "min", "sum_axis": "sum", "mean_axis": "mean", "prod_axis": "prod"}
_PUBLIC |= {"logsumexp_axis": "logsumexp", "norm_axis": "norm"}
_COMPARE = 0  # comparisons bind looser than + and -


def _key_text(key: tuple[Any, ...]) -> str:
    parts = []
    for k in key:
        if isinstance(k, tuple):
            start, stop, step = ("" if v is None else str(v) for v in k)
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        else:
            parts.append(str(k))
    return ", ".join(parts)


def _render(node: Node, env: Mapping[str, str], program: bool = False) -> tuple[str, int]:
    """Text and precedence level of `node` (recursive: rules and formulas are short; a long
    derivative is written as statements, see gradcli/symbolic)."""
    if isinstance(node, Num):
        return node.text, _ATOM
    if isinstance(node, Name):
        if node.id in env:
            text = env[node.id]
            return text, (1 if needs_parens(text) else _ATOM)
        return node.id, _ATOM
    if isinstance(node, Vector):
        return "[" + ", ".join(_render(i, env, program)[0] for i in node.items) + "]", _ATOM
    assert isinstance(node, Call)
    if node.func == "index":
        base, level = _render(node.args[0], env, program)
        base = base if level >= _ATOM else f"({base})"
        return f"{base}[{_key_text(dict(node.params)['key'])}]", _ATOM
    notation = PRIMITIVES[node.func].notation
    if notation is not None:
        return _operator(node, notation, env, program)
    params = PRIMITIVES[node.func].params
    shown = [
        a
        for k, a in enumerate(node.args)
        # an upstream parameter at 1 (a linear-form rule shown as its partial) is left out
        if not (k < len(params) and params[k] == "g" and isinstance(a, Num) and a.value == 1)
    ]
    texts = [_render(a, env, program)[0] for a in shown]
    texts += [f"{k}={v}" for k, v in node.params]
    name = _PUBLIC.get(node.func, node.func) if program else node.func
    return f"{name}({', '.join(texts)})", _ATOM


def _operator(node: Call, notation: Notation, env: Mapping[str, str], program: bool) -> tuple[str, int]:
    """An operator call, with parentheses only where precedence and grouping need them."""
    level = notation.precedence
    rendered = [_render(a, env, program) for a in node.args]
    if notation.form == "indicator" and program:
        symbol = "==" if notation.symbol == "=" else notation.symbol
        (left, lp), (right, rp) = rendered
        left = left if lp > _COMPARE else f"({left})"
        right = right if rp > _COMPARE else f"({right})"
        return f"{left} {symbol} {right}", _COMPARE
    if notation.form == "indicator":
        return f"[{rendered[0][0]} {notation.symbol} {rendered[1][0]}]", _ATOM
    if notation.form == "prefix":
        inner, ip = rendered[0]
        return notation.symbol + (inner if ip >= level else f"({inner})"), level
    (left, lp), (right, rp) = rendered
    if notation.right_assoc:  # `**`: binds tighter than a unary minus on its left, not on its right
        left = left if lp > level else f"({left})"
        right = right if rp >= _PREFIX else f"({right})"
        return f"{left}{notation.symbol}{right}", level
    left = left if lp >= level else f"({left})"
    right = right if rp > level else f"({right})"
    return f"{left} {notation.symbol} {right}", level


def rule_text(
    name: str,
    k: int,
    env: Mapping[str, str] | None = None,
    *,
    literals: Mapping[str, float] | None = None,
    values: Mapping[str, Any] | None = None,
) -> str:
    """The k-th partial of primitive `name` as text, with parameters substituted.

    A rule in linear form (written with `g`, what it is applied to) shows as the partial
    itself: g = 1. With `literals` (names that are numbers) or `values` (every name's value at
    a point), the rule is first simplified at that point (see gradcli.lang.simplify).
    """
    prim = PRIMITIVES[name]
    node = parse_rule(prim.display[k] if prim.display else prim.partials[k])
    literals = dict(literals or {})
    if _mentions_upstream(node):
        literals["g"] = 1.0
    if literals or values:
        from gradcli.lang.simplify import simplify

        node = simplify(node, literals, values)
    return to_text(node, env)


def _mentions_upstream(node: Node) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Name) and item.id == "g":
            return True
        if isinstance(item, Call):
            stack.extend(item.args)
    return False
