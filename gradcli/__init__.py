"""gradcli: value and gradient of a formula, exactly, from the shell or from Python.

>>> from gradcli import grad
>>> grad("sin(x**2)", x=3.0).gradient["x"]
-5.466781571308061

The package is laid out by stage; data flows one way, text -> AST -> graph -> values and
gradients -> presentation, and no module imports from a later stage (tests/test_layering.py):

    primitives.py  the one table of functions: value rule, derivative rules, conventions
    errors.py limits.py spans.py arrays.py   what every stage reads
    lang/      text -> AST: the grammar, the parser, the printer of formulas
    engine/    AST -> graph -> values; reverse and forward mode; big arrays in blocks
    symbolic/  the derivative as a formula: the reverse sweep written out as source
    api.py     the Python API (compile, evaluate, grad), over lang and engine
    higher.py  diff, hessian, jacobian: derivatives beyond the gradient, over api and symbolic
    bindings.py  NAME=VALUE words and files -> values
    output/    numbers as text, consoles and tables, JSON encoding
    check/     every route to a gradient and a verdict (and spec files, reports)
    explain/   the chain rule step by step, as data and as tables
    cli/       the Typer app and its commands

Reading order of the core path for a newcomer: primitives.py, lang/gradcli.lark,
lang/parser.py, engine/graph.py, engine/rules.py, engine/values.py, engine/reverse.py,
engine/forward.py, api.py, then cli/grad.py for how a command uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gradcli.api import Compiled, GradResult, compile, evaluate, grad
    from gradcli.errors import GradcliError
    from gradcli.higher import diff, hessian, jacobian

__all__ = [
    "Compiled",
    "GradResult",
    "GradcliError",
    "__version__",
    "compile",
    "diff",
    "evaluate",
    "grad",
    "hessian",
    "jacobian",
]


def __getattr__(name: str) -> Any:
    # Lazy: `gradcli --version` and the CLI's start-up should not pay for numpy or lark.
    if name in ("Compiled", "GradResult", "compile", "evaluate", "grad"):
        from gradcli import api

        return getattr(api, name)
    if name in ("diff", "hessian", "jacobian"):
        from gradcli import higher

        return getattr(higher, name)
    if name == "GradcliError":
        from gradcli.errors import GradcliError

        return GradcliError
    raise AttributeError(f"module 'gradcli' has no attribute {name!r}")
