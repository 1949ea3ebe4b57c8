"""A session with state, as in the notebook: bound inputs, and gradients that accumulate.

`grad EXPR` computes the gradient of EXPR with respect to the session's inputs that require
one and *adds* it to each input's `.grad` (PyTorch's `backward()`), until `zero_grad` resets
them (`x.grad.zero_()`). `detach x` makes x a constant (`requires_grad=False`), `attach x`
undoes it. Every command returns text; nothing here reads a terminal (gradcli/cli/repl.py does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.api import Compiled
from gradcli.errors import UsageError
from gradcli.output.numbers import value_text

Array = Any
PRECISION = 10

HELP = """commands:
  NAME = EXPR        bind an input (a number, [1, 2], linspace(0, 1, 5), @file, or a formula of bound inputs)
  EXPR               the value of a formula (no gradient: torch.no_grad())
  grad EXPR          the gradient of EXPR, added to each input's .grad (backward())
  grads              the accumulated .grad of every input
  zero_grad [NAMES]  reset .grad (all, or the inputs named); alias: zero
  detach NAMES       make inputs constants (requires_grad=False); attach NAMES undoes it
  explain EXPR       the chain rule, step by step
  check EXPR [| x: FORMULA ...]   every route to the gradient; manual formulas after '|'
  diff EXPR          the derivative as a formula
  inputs             the bound inputs; functions: the table of functions; help; exit (or Ctrl-D)"""


@dataclass
class Session:
    values: dict[str, Array] = field(default_factory=dict)
    grads: dict[str, Array] = field(default_factory=dict)
    detached: set[str] = field(default_factory=set)
    precision: int = PRECISION

    # -- the commands ---------------------------------------------------------------------

    def run(self, line: str) -> str:
        """One line of input -> the text to show (errors as their caret messages)."""
        text = line.strip()
        if not text or text.startswith("#"):
            return ""
        word, _, rest = text.partition(" ")
        command = COMMANDS.get(word)
        if command is not None:
            return command(self, rest.strip())
        if _binding(text) is not None:
            name, expr = _binding(text)  # type: ignore[misc]
            return self.bind(name, expr)
        return self.evaluate(text)

    def bind(self, name: str, expr: str) -> str:
        if expr.startswith("@"):
            from gradcli.bindings import parse_bindings

            value = parse_bindings([f"{name}={expr}"])[name]
        else:
            compiled = Compiled(expr)
            value = compiled.evaluate(self._inputs(compiled))
        self.values[name] = np.array(value, dtype=np.float64)[()] if np.ndim(value) else float(value)
        self.grads.pop(name, None)
        return f"{name} = {self._show(self.values[name])}"

    def evaluate(self, expr: str) -> str:
        compiled = Compiled(expr)
        value, warnings = compiled.evaluate_full(self._inputs(compiled))
        return _with_warnings(self._show(value), warnings)

    def grad(self, expr: str) -> str:
        if not expr:
            raise UsageError("grad needs a formula: grad x**2")
        compiled = Compiled(expr)
        point = self._inputs(compiled)
        wrt = [n for n in compiled.inputs if n not in self.detached]
        if not wrt:
            raise UsageError(
                "nothing to differentiate: every input of the formula is detached",
                hint="attach NAME makes an input require a gradient again",
            )
        result = compiled.grad(point, wrt=wrt)
        lines = [f"value  {self._show(result.value)}"]
        for name in wrt:
            g = np.asarray(result.gradient[name], dtype=np.float64)
            have = self.grads.get(name)
            self.grads[name] = (g if have is None else have + g)[()]
            lines.append(f"d/d{name} = {self._show(g[()])}   {name}.grad = {self._show(self.grads[name])}")
        return _with_warnings("\n".join(lines), result.warnings)

    def show_grads(self, rest: str) -> str:
        if not self.values:
            return "no inputs bound yet: x = 3"
        return "\n".join(
            f"{name}.grad = {self._show(self.grads[name]) if name in self.grads else 'None'}"
            + ("   (detached)" if name in self.detached else "")
            for name in self.values
        )

    def zero_grad(self, rest: str) -> str:
        names = _names(rest) or list(self.values)
        for name in names:
            self._known(name)
            self.grads[name] = np.zeros(np.shape(self.values[name]))[()]
        return "\n".join(f"{name}.grad = {self._show(self.grads[name])}" for name in names)

    def detach(self, rest: str) -> str:
        names = _names(rest)
        for name in names:
            self._known(name)
            self.detached.add(name)
        return f"detached: {', '.join(names)} (constants now: no gradient)" if names else "detach NAMES"

    def attach(self, rest: str) -> str:
        names = _names(rest)
        for name in names:
            self._known(name)
            self.detached.discard(name)
        return f"attached: {', '.join(names)} (gradients again)" if names else "attach NAMES"

    def explain(self, expr: str) -> str:
        from gradcli.explain.model import explain
        from gradcli.explain.render import table_text

        compiled = Compiled(expr)
        wrt = [n for n in compiled.inputs if n not in self.detached] or None
        return table_text(explain(expr, self._inputs(compiled), wrt=wrt), width=100).rstrip()

    def check(self, rest: str) -> str:
        from gradcli.check.report import print_check
        from gradcli.check.verdict import CheckSpec, parse_manual, prepare, verdict
        from gradcli.output.console import make_console

        expr, _, manual = rest.partition("|")
        compiled = Compiled(expr)
        formulas = [parse_manual(m.strip()) for m in manual.split("|") if m.strip()] if manual else []
        wrt = ",".join(n for n in compiled.inputs if n not in self.detached) or None
        result = verdict(prepare(CheckSpec(expr.strip(), self._inputs(compiled), wrt, formulas)))
        console = make_console(no_color=True, width=100)
        with console.capture() as captured:
            print_check(console, result, self.precision)
        return "\n".join(line.rstrip() for line in captured.get().rstrip().split("\n"))

    def diff(self, expr: str) -> str:
        from gradcli.higher import diff

        compiled = Compiled(expr)
        point = self._inputs(compiled) if all(n in self.values for n in compiled.inputs) else None
        out = []
        for name, d in diff(expr, point).items():
            lines = d.text.split("\n")
            out.append(
                f"d/d{name} = {lines[0]}" if len(lines) == 1 else f"d/d{name}:\n  " + "\n  ".join(lines)
            )
            if d.value is not None:
                out.append(f"  at the point: {self._show(d.value)}")
        return "\n".join(out)

    def show_inputs(self, rest: str) -> str:
        if not self.values:
            return "no inputs bound yet: x = 3"
        return "\n".join(
            f"{name} = {self._show(v)}" + ("   (detached)" if name in self.detached else "")
            for name, v in self.values.items()
        )

    def functions(self, rest: str) -> str:
        from gradcli.cli.docs import public_primitives

        return "  ".join(p.name for p in public_primitives())

    # -- helpers ------------------------------------------------------------------------

    def _inputs(self, compiled: Compiled) -> dict[str, Array]:
        missing = [n for n in compiled.inputs if n not in self.values]
        if missing:
            raise UsageError(
                f"not bound in this session: {', '.join(missing)}",
                hint=" ".join(f"{n} = ..." for n in missing[:3]) + " first",
            )
        return {n: self.values[n] for n in compiled.inputs}

    def _known(self, name: str) -> None:
        if name not in self.values:
            raise UsageError(f"'{name}' is not bound in this session", hint=f"{name} = ... first")

    def _show(self, value: Array) -> str:
        return value_text(value, self.precision, one_line=True)


def _with_warnings(text: str, warnings: list[str]) -> str:
    return "\n".join([*(f"warning: {w}" for w in warnings), text])


def _names(rest: str) -> list[str]:
    return [n for n in rest.replace(",", " ").split() if n]


def _binding(text: str) -> tuple[str, str] | None:
    """`name = expr` (one '=', not '=='), else None."""
    name, sep, expr = text.partition("=")
    name = name.strip()
    if not sep or expr.startswith("=") or not name.isidentifier() or name.endswith(("<", ">", "!")):
        return None
    return name, expr.strip()


COMMANDS: dict[str, Callable[[Session, str], str]] = {
    "grad": Session.grad,
    "backward": Session.grad,
    "grads": Session.show_grads,
    "zero_grad": Session.zero_grad,
    "zero": Session.zero_grad,
    "detach": Session.detach,
    "attach": Session.attach,
    "explain": Session.explain,
    "check": Session.check,
    "diff": Session.diff,
    "inputs": Session.show_inputs,
    "vars": Session.show_inputs,
    "functions": Session.functions,
    "eval": Session.evaluate,
    "help": lambda s, rest: HELP,
}
WORDS = [*COMMANDS, "exit", "quit"]
