"""Faults injected into gradcli by tests, to show that a check catches them."""

from __future__ import annotations

from typing import Any

import pytest


def skew_forward(monkeypatch: pytest.MonkeyPatch, factor: float) -> None:
    """Make forward mode wrong by `factor` (a relative error) on every path it takes: the
    general evaluator and the float path of single-number programs."""
    from gradcli.engine import forward, scalar

    general, floats = forward.gradients, scalar.forward

    def skewed_general(*args: Any, **kwargs: Any) -> Any:
        return {k: v * (1 + factor) for k, v in general(*args, **kwargs).items()}

    def skewed_floats(*args: Any, **kwargs: Any) -> Any:
        grads = floats(*args, **kwargs)
        return None if grads is None else {k: v * (1 + factor) for k, v in grads.items()}

    monkeypatch.setattr(forward, "gradients", skewed_general)
    monkeypatch.setattr(scalar, "forward", skewed_floats)
