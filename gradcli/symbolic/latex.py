"""Formulas as LaTeX: `\\frac`, `\\cos`, `\\sigma`, `\\cdot`, `^{}`, `^\\top`."""

from __future__ import annotations

from gradcli.lang.ast import Call, Name, Node, Num, Vector
from gradcli.symbolic.derive import Formula

_FUNCTIONS = {
    "sin": r"\sin",
    "cos": r"\cos",
    "tan": r"\tan",
    "asin": r"\arcsin",
    "acos": r"\arccos",
    "atan": r"\arctan",
    "sinh": r"\sinh",
    "cosh": r"\cosh",
    "tanh": r"\tanh",
    "exp": r"\exp",
    "log": r"\log",
    "sigmoid": r"\sigma",
    "det": r"\det",
}
_COMPARE = {"lt": "<", "le": r"\le", "gt": ">", "ge": r"\ge", "eq": "=", "ne": r"\ne"}
_SUM, _PRODUCT, _UNARY, _POWER, _ATOM = 1, 2, 3, 4, 5


def _name(text: str) -> str:
    if len(text) == 1:
        return text
    if text in ("pi",):
        return r"\pi"
    head, _, tail = text.partition("_")
    return rf"\mathrm{{{head}}}" + (f"_{{{tail}}}" if tail else "") if len(head) > 1 else f"{head}_{{{tail}}}"


def latex(node: Node) -> str:
    return _tex(node)[0]


def formula_latex(formula: Formula) -> str:
    lines = [f"{_name(name)} &= {latex(expr)}" for name, expr in formula.statements]
    if not lines:
        return latex(formula.result)
    return r"\begin{aligned}" + r" \\ ".join([*lines, f"&{latex(formula.result)}"]) + r"\end{aligned}"


def _wrap(text: str, level: int, need: int) -> str:
    return text if level >= need else rf"\left({text}\right)"


def _tex(node: Node) -> tuple[str, int]:
    if isinstance(node, Num):
        return node.text, _ATOM
    if isinstance(node, Name):
        return _name(node.id), _ATOM
    if isinstance(node, Vector):
        return r"\left[" + ", ".join(_tex(i)[0] for i in node.items) + r"\right]", _ATOM
    assert isinstance(node, Call)
    args = [_tex(a) for a in node.args]
    return _operator(node, args) or _function(node, args)


def _operator(node: Call, args: list[tuple[str, int]]) -> tuple[str, int] | None:
    f = node.func
    if f in ("add", "sub"):
        (a, _), (b, lb) = args
        sign = "+" if f == "add" else "-"
        return f"{a} {sign} {_wrap(b, lb, _PRODUCT if f == 'sub' else _SUM)}", _SUM
    if f == "neg":
        return "-" + _wrap(args[0][0], args[0][1], _PRODUCT), _UNARY
    if f == "mul":
        (a, la), (b, lb) = args
        return rf"{_wrap(a, la, _PRODUCT)} \cdot {_wrap(b, lb, _UNARY)}", _PRODUCT
    if f == "div":
        return rf"\frac{{{args[0][0]}}}{{{args[1][0]}}}", _ATOM
    if f == "pow":
        (a, la), (b, _) = args
        return f"{_wrap(a, la, _ATOM)}^{{{b}}}", _POWER
    if f == "matmul":
        (a, la), (b, lb) = args
        return rf"{_wrap(a, la, _POWER)} \, {_wrap(b, lb, _POWER)}", _PRODUCT
    if f == "transpose":
        return f"{_wrap(args[0][0], args[0][1], _ATOM)}^\\top", _POWER
    return None


def _function(node: Call, args: list[tuple[str, int]]) -> tuple[str, int]:
    f = node.func
    if f == "sqrt":
        return rf"\sqrt{{{args[0][0]}}}", _ATOM
    if f == "abs":
        return rf"\left|{args[0][0]}\right|", _ATOM
    if f in _COMPARE:
        return rf"\left[{args[0][0]} {_COMPARE[f]} {args[1][0]}\right]", _ATOM
    if f == "index":
        key = dict(node.params)["key"]
        return f"{_wrap(args[0][0], args[0][1], _ATOM)}_{{{','.join(str(k) for k in key)}}}", _ATOM
    name = _FUNCTIONS.get(f, rf"\operatorname{{{f}}}")
    inner = ", ".join([a for a, _ in args] + [f"{k}={v}" for k, v in node.params])
    return rf"{name}\left({inner}\right)", _ATOM
