"""Simplification of formulas (ASTs) for `gradcli diff`: the algebra a person does by hand.

- numbers fold exactly (as fractions: 1/3 stays 1/3, 0.1*3 is 0.3);
- sums are terms with coefficients: equal terms combine (`x + x` is `2*x`), zeros drop;
- products are a coefficient and factors with exponents: equal factors combine (`x*x` is
  `x**2`, `x/x` is 1, as SymPy does), factors of 1 drop, a factor 0 makes 0, the
  coefficient comes first, then names and powers, then calls (`2*x*cos(x**2)`);
- `x**1`, `x**0`, `--x`, `where(c, a, a)` and a `where` whose condition is a number go.

Formulas stay small (gradcli/symbolic/derive.py names what it would repeat), so recursion is
fine here; `derive` keeps each expression's depth bounded.
"""

from __future__ import annotations

from fractions import Fraction

from gradcli.lang.ast import Call, Node, Num
from gradcli.lang.printer import to_text
from gradcli.primitives import PRIMITIVES

Coef = Fraction


def key(node: Node) -> str:
    """Structural identity of a formula (its program text)."""
    return to_text(node, program=True)


def number(value: Coef) -> Node:
    """A literal for an exact coefficient: 3, 0.5, 1/3, -2."""
    if value < 0:
        return Call("neg", (number(-value),))
    if value.denominator == 1:
        return Num(float(value), str(value.numerator))
    as_float = float(value)
    text = repr(as_float)
    if Fraction(text) == value and len(text) <= 12:
        return Num(as_float, text)
    return Call("div", (number(Coef(value.numerator)), number(Coef(value.denominator))))


def coef_of(node: Node) -> Coef | None:
    """The exact value of a numeric literal (or -literal, p/q of literals), else None."""
    if isinstance(node, Num):
        try:
            return Fraction(node.text)
        except ValueError:
            return Fraction(node.value)
    if isinstance(node, Call) and node.func == "neg":
        inner = coef_of(node.args[0])
        return None if inner is None else -inner
    if isinstance(node, Call) and node.func == "div":
        a, b = coef_of(node.args[0]), coef_of(node.args[1])
        if a is not None and b is not None and b != 0:
            return a / b
    return None


def simplify(node: Node) -> Node:
    if not isinstance(node, Call):
        return node
    f = node.func
    if f in ("add", "sub", "neg", "mul", "div"):
        # a whole chain of sums (or of products) at once: simplifying each level of a long
        # left-nested chain again would be quadratic in its length
        group = ("add", "sub", "neg") if f in ("add", "sub", "neg") else ("mul", "div")
        flat = _simplify_leaves(node, group)
        return _sum(flat) if f in ("add", "sub", "neg") else _product(flat)
    args = tuple(simplify(a) for a in node.args)
    if f == "pow":
        return _product(Call(f, args))
    if f == "where":
        c, a, b = args
        decided = coef_of(c)
        if decided is not None:
            return a if decided != 0 else b
        if key(a) == key(b):
            return a
    prim = PRIMITIVES.get(f)
    if prim is not None and prim.foldable and all(coef_of(a) is not None for a in args):
        values = [float(coef_of(a) or 0) for a in args]
        folded = float(prim.fn(*values))
        if folded == folded and abs(folded) != float("inf") and folded.is_integer():
            return number(Coef(int(folded)))
    return Call(f, args, params=node.params)


def _simplify_leaves(node: Node, group: tuple[str, ...]) -> Node:
    """The chain of `group` operators with each operand outside it simplified (iteratively)."""
    if not (isinstance(node, Call) and node.func in group):
        return simplify(node)
    done: dict[int, Node] = {}
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        item, ready = stack.pop()
        if not (isinstance(item, Call) and item.func in group):
            done[id(item)] = simplify(item)
            continue
        if ready:
            done[id(item)] = Call(item.func, tuple(done[id(a)] for a in item.args))
            continue
        stack.append((item, True))
        stack.extend((a, False) for a in item.args)
    return done[id(node)]


# -- sums --------------------------------------------------------------------------------


def _terms(node: Node, sign: Coef, out: list[tuple[Coef, Node | None]]) -> None:
    if isinstance(node, Call) and node.func == "add":
        _terms(node.args[0], sign, out)
        _terms(node.args[1], sign, out)
        return
    if isinstance(node, Call) and node.func == "sub":
        _terms(node.args[0], sign, out)
        _terms(node.args[1], -sign, out)
        return
    if isinstance(node, Call) and node.func == "neg":
        _terms(node.args[0], -sign, out)
        return
    c = coef_of(node)
    if c is not None:
        out.append((sign * c, None))
        return
    coef, rest = _split_coef(node)
    out.append((sign * coef, rest))


def _split_coef(node: Node) -> tuple[Coef, Node]:
    """A product's numeric coefficient (with its sign) and the rest, in normal form."""
    factors: list[tuple[Node, Coef]] = []
    coef = [Coef(1)]
    _factors(node, Coef(1), factors, coef)
    if coef[0] == 0 or not factors:
        return coef[0], number(Coef(1))
    return coef[0], _product(_rebuild(factors))


def _rebuild(factors: list[tuple[Node, Coef]]) -> Node:
    out: Node | None = None
    for base, power in factors:
        f = _power(base, power) if power > 0 else Call("div", (number(Coef(1)), _power(base, -power)))
        out = f if out is None else Call("mul", (out, f))
    assert out is not None
    return out


def _sum(node: Node) -> Node:
    terms: list[tuple[Coef, Node | None]] = []
    _terms(node, Coef(1), terms)
    constant = Coef(0)
    coefs: dict[str, Coef] = {}
    bodies: dict[str, Node] = {}
    for coef, term in terms:
        if term is None:
            constant += coef
            continue
        k = key(term)
        coefs[k] = coefs.get(k, Coef(0)) + coef
        bodies.setdefault(k, term)
    parts: list[tuple[Coef, Node | None]] = [(c, bodies[k]) for k, c in coefs.items() if c != 0]
    if constant != 0 or not parts:
        parts.append((constant, None))
    # a leading positive term reads better: a - b, not -b + a
    parts.sort(key=lambda p: p[0] < 0)
    result: Node | None = None
    for coef, term in parts:
        magnitude = abs(coef)
        body = number(magnitude) if term is None else _scaled(magnitude, term)
        if result is None:
            result = body if coef >= 0 else Call("neg", (body,))
        else:
            result = Call("add" if coef >= 0 else "sub", (result, body))
    assert result is not None
    return result


def _scaled(coef: Coef, term: Node) -> Node:
    if coef == 1:
        return term
    return _product(Call("mul", (number(coef), term)))


# -- products ----------------------------------------------------------------------------


def _factors(node: Node, power: Coef, out: list[tuple[Node, Coef]], coef: list[Coef]) -> None:
    if isinstance(node, Call) and node.func == "mul":
        _factors(node.args[0], power, out, coef)
        _factors(node.args[1], power, out, coef)
        return
    if isinstance(node, Call) and node.func == "div":
        _factors(node.args[0], power, out, coef)
        _factors(node.args[1], -power, out, coef)
        return
    if isinstance(node, Call) and node.func == "neg" and power.denominator == 1:
        if power.numerator % 2:  # (-a)**3 is -(a**3); (-a)**2 is a**2
            coef[0] = -coef[0]
        _factors(node.args[0], power, out, coef)
        return
    c = coef_of(node)
    if c is not None and (power.denominator == 1 and (c != 0 or power > 0)):
        coef[0] = coef[0] * c ** int(power)
        return
    if isinstance(node, Call) and node.func == "pow":
        e = coef_of(node.args[1])
        if e is not None:
            _factors(node.args[0], power * e, out, coef)
            return
    out.append((node, power))


def _product(node: Node) -> Node:
    factors: list[tuple[Node, Coef]] = []
    coef = [Coef(1)]
    _factors(node, Coef(1), factors, coef)
    if coef[0] == 0:
        return number(Coef(0))
    powers: dict[str, Coef] = {}
    bases: dict[str, Node] = {}
    for base, power in factors:
        k = key(base)
        powers[k] = powers.get(k, Coef(0)) + power
        bases.setdefault(k, base)
    kept = [(bases[k], p) for k, p in powers.items() if p != 0]
    # names and their powers first, then calls; within each, a fixed order (so that equal
    # products have equal text and their terms combine: 2*sin(x)*cos(x) - 2*cos(x)*sin(x))
    kept.sort(key=lambda f: (_rank(f[0]), key(f[0])))
    top = [_power(b, p) for b, p in kept if p > 0]
    bottom = [_power(b, -p) for b, p in kept if p < 0]
    negative = coef[0] < 0
    magnitude = abs(coef[0])
    numerator: Node | None = None
    if magnitude != 1 or not top:
        literal = number(magnitude)
        if isinstance(literal, Call) and (top or bottom):  # 1/3*x as x/3 (0.5*x stays)
            numerator = number(Coef(magnitude.numerator)) if magnitude.numerator != 1 or not top else None
            bottom.insert(0, number(Coef(magnitude.denominator)))
        else:
            numerator = literal
    if negative:  # the sign on the first factor: -2 * x, -x / y
        if numerator is not None:
            numerator = Call("neg", (numerator,))
        else:
            top[0] = Call("neg", (top[0],))
    for f in top:
        numerator = f if numerator is None else Call("mul", (numerator, f))
    if numerator is None:
        numerator = number(Coef(1))
    if not bottom:
        return numerator
    denominator = bottom[0]
    for f in bottom[1:]:
        denominator = Call("mul", (denominator, f))
    return Call("div", (numerator, denominator))


def _rank(node: Node) -> int:
    """Factor order: names and their powers, then calls, then sums (2*x*cos(x)*(x + 1))."""
    if not isinstance(node, Call) or node.func == "pow":
        return 0
    return 2 if node.func in ("add", "sub", "neg") else 1


def _power(base: Node, power: Coef) -> Node:
    if power == 1:
        return base
    return Call("pow", (base, number(power)))


def is_zero(node: Node) -> bool:
    c = coef_of(node)
    return c is not None and c == 0
