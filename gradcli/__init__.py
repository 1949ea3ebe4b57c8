"""gradcli: value and gradient of a formula, exactly, from the shell or from Python.

>>> from gradcli import grad
>>> grad("sin(x**2)", x=3.0).gradient["x"]
-5.466781571308061
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gradcli.api import Compiled, GradResult, compile, evaluate, grad
    from gradcli.errors import GradcliError

__all__ = ["Compiled", "GradResult", "GradcliError", "__version__", "compile", "evaluate", "grad"]


def __getattr__(name: str) -> Any:
    # Lazy: `gradcli --version` and the CLI's start-up should not pay for numpy or lark.
    if name in ("Compiled", "GradResult", "compile", "evaluate", "grad"):
        from gradcli import api

        return getattr(api, name)
    if name == "GradcliError":
        from gradcli.errors import GradcliError

        return GradcliError
    raise AttributeError(f"module 'gradcli' has no attribute {name!r}")
