"""A lean LALR(1) driver over the parse tables Lark builds from the grammar.

Lark computes the tables (gradcli/lang/gradcli.lark -> states, shifts, reductions); this
module only runs them, the way Lark's own parser does, with three differences that make a
big program parse several times faster:
- tokens are the lexer's regex matches (gradcli/lang/lexer.py), not Token objects;
- a chain of unit reductions (`expr: term`, `term: unary`, ... the precedence levels an
  operand climbs through) is taken in one step: where it ends depends only on the two states
  on top of the stack and the lookahead, so it is computed once and remembered;
- each rule's action is a function of its children's values, given per run by rule name;
  rules whose name starts with '_' (Lark's inlined rules: separators, repetitions) splice
  their children into the parent's, as Lark does.

A token the tables do not accept ends the run with `Mismatch`; the caller then lets Lark's
own parser report the error, with its expected-token sets and examples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lark import Lark

from gradcli.lang.lexer import Match

Action = Callable[[list[Any]], Any]
END = "$END"


class Mismatch(Exception):
    """The tables have no action for this token (None: the end of the input)."""

    def __init__(self, token: Match | None) -> None:
        super().__init__(token)
        self.token = token


class TooDeep(Exception):
    """The stack of open rules (nesting: brackets, prefix operators) passed the run's limit."""

    def __init__(self, token: Match) -> None:
        super().__init__(token)
        self.token = token


class Spliced(list[Any]):
    """The children of an inlined rule, to be spliced into its parent's children."""


@dataclass
class _Rule:
    origin: str
    name: str  # the alias, else the origin: what the actions are keyed by
    size: int
    unit: bool  # `?rule: child` with no action: the child is the value
    splice: bool  # some child may be Spliced: flatten before the action


class Tables:
    """Lark's LALR tables for one start symbol."""

    def __init__(self, parser: Lark, start: str) -> None:
        table = parser.parser.parser.parser.parse_table
        self.start = table.start_states[start]
        self.end = table.end_states[start]
        self.rules: list[_Rule] = []
        index: dict[Any, int] = {}
        # per state: terminal -> shift target (>= 0) or ~rule index (< 0); nonterminal -> goto
        self.act: dict[int, dict[str, int]] = {}
        self.goto: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            acts, gotos = self.act.setdefault(state, {}), self.goto.setdefault(state, {})
            for symbol, (kind, arg) in row.items():
                if kind.name == "Shift":
                    (gotos if _nonterminal(symbol) else acts)[symbol] = arg
                else:
                    if arg not in index:
                        index[arg] = len(self.rules)
                        self.rules.append(_rule(arg))
                    acts[symbol] = ~index[arg]
        self.units: dict[tuple[int, int, str], int] = {}

    def unit_target(self, below: int, top: int, kind: str) -> int:
        """The state on top after the unit reductions that `top` (above `below`) makes on
        the lookahead `kind`: remembered per (below, top, kind)."""
        key = (below, top, kind)
        found = self.units.get(key)
        if found is None:
            state = top
            while True:
                code = self.act[state].get(kind)
                if code is None or code >= 0 or not self.rules[~code].unit:
                    break
                state = self.goto[below][self.rules[~code].origin]
            found = self.units[key] = state
        return found

    def _plan(self, actions: Mapping[str, Action]) -> list[tuple[Action | None, int, bool, str]]:
        """Per rule: (its action, or None for a unit rule; its size; splice?; its origin).
        An inlined rule's action splices."""
        out: list[tuple[Action | None, int, bool, str]] = []
        for rule in self.rules:
            function: Action | None
            if rule.origin.startswith("_"):
                function = _splice
            elif rule.name in actions:
                function = actions[rule.name]
            elif rule.unit:
                function = None
            else:
                raise KeyError(f"no action for the grammar rule {rule.name!r}")
            out.append((function, rule.size, rule.splice, rule.origin))
        return out

    def run(
        self, tokens: Iterable[Match], names: Sequence[str], actions: Mapping[str, Action], max_depth: int
    ) -> Any:
        """The start rule's value for the tokens (the last one "$END"; a token's terminal is
        `names[m.lastindex]`); Mismatch where the tables reject one, TooDeep where the
        parser's stack would hold more than `max_depth` entries."""
        state, end = self.start, self.end
        states, values = [state], []
        act, goto, unit_target = self.act, self.goto, self.unit_target
        plan = self._plan(actions)
        for m in tokens:
            kind = names[m.lastindex or 0]
            while True:
                code = act[state].get(kind)
                if code is None:
                    raise Mismatch(m)
                if code >= 0:
                    states.append(code)
                    values.append(m)
                    state = code
                    if len(states) > max_depth:
                        raise TooDeep(m)
                    break
                function, size, splice, origin = plan[~code]
                if function is None:
                    state = states[-1] = unit_target(states[-2], state, kind)
                    continue
                if size:
                    children = values[-size:]
                    del values[-size:]
                    del states[-size:]
                else:
                    children = []
                values.append(function(_flatten(children) if splice else children))
                state = goto[states[-1]][origin]
                if state == end:  # the start rule, reduced at "$END"
                    return values[-1]
                states.append(state)
        raise Mismatch(None)  # the tokens ended without "$END"


def _nonterminal(symbol: str) -> bool:
    return not (symbol.isupper() or symbol == END or (symbol.startswith("_") and symbol[1:].isupper()))


def _flatten(children: list[Any]) -> list[Any]:
    # A repetition is left-recursive (`items: items "," item`): its first child is the list
    # so far, which nothing else holds; extend it in place, as Lark does (copying it would
    # make a list of n items cost n**2).
    first = children[0] if children else None
    out: list[Any] = first if isinstance(first, Spliced) else []
    for child in children[1:] if out is first else children:
        if isinstance(child, Spliced):
            out.extend(child)
        else:
            out.append(child)
    return out


def _rule(rule: Any) -> _Rule:
    origin: str = rule.origin.name
    size = len(rule.expansion)
    splice = any(_nonterminal(s.name) and s.name.startswith("_") for s in rule.expansion)
    unit = size == 1 and bool(rule.options.expand1) and not rule.alias
    return _Rule(origin, rule.alias or origin, size, unit, splice)


def _splice(children: list[Any]) -> Spliced:
    """The value of an inlined rule: its children (already spliced when it repeats)."""
    return children if isinstance(children, Spliced) else Spliced(children)
