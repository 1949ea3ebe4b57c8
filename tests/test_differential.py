"""The differential test (tests/differential.py): random programs over the whole primitive table,
with 2-D broadcasting, kinks, extreme magnitudes and empty arrays. On every program forward
and reverse mode agree, nothing but a GradcliError is raised, every value is the exact one at
its float64 arguments, and the gradient is the exact chain rule's where mpmath can judge it.

500 programs here (a few seconds); GRADCLI_FUZZ=1 runs 20,000 (GRADCLI_DIFFERENTIAL_PROGRAMS sets any count).
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from differential import generate, judge
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LONG_RUN = os.environ.get("GRADCLI_FUZZ") == "1"
PROGRAMS = int(os.environ.get("GRADCLI_DIFFERENTIAL_PROGRAMS", "0")) or (20000 if LONG_RUN else 500)

pytestmark: Any = pytest.mark.fuzz if LONG_RUN else []


@settings(max_examples=PROGRAMS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_random_programs_agree_with_each_other_and_with_the_exact_answer(seed: int) -> None:
    case = generate(random.Random(seed))
    verdict = judge(case)
    assert not verdict.internal, f"{case}: {verdict.internal}"
    assert not verdict.disagree, f"{case}: {verdict.disagree}"
    assert not verdict.values, f"{case}: {verdict.values}"
    assert not verdict.reference, f"{case}: {verdict.reference}"


def test_the_generator_covers_the_table() -> None:
    """Every public primitive with a gradient appears in the generated programs."""
    from gradcli.primitives import PRIMITIVES

    rng = random.Random(0)
    text = " ".join(generate(rng).program for _ in range(3000))
    # Matrix operations have their own generator (tests/test_properties.py, typed by shape).
    wanted = [
        p.name
        for p in PRIMITIVES.values()
        if p.public and p.kind not in ("constant", "structured") and p.notation is None
    ]
    missing = [name for name in wanted if f"{name}(" not in text]
    assert not missing, missing


def test_the_reference_covers_the_table() -> None:
    from mpref import COVERED

    from gradcli.primitives import PRIMITIVES

    missing = [
        p.name
        for p in PRIMITIVES.values()
        if p.public and p.kind not in ("constant", "structured") and p.name not in COVERED
    ]
    assert not missing, f"add {missing} to tests/mpref.py"


def test_the_judges_find_what_they_are_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong rule (cos' = +sin) and a wrong value (norm without scaling) are caught."""
    import dataclasses

    import numpy as np
    from differential import Case

    from gradcli.engine import rules
    from gradcli.primitives import PRIMITIVES

    monkeypatch.setitem(PRIMITIVES, "cos", dataclasses.replace(PRIMITIVES["cos"], partials=("sin(x)",)))
    rules.forget()
    try:
        assert judge(Case("cos(x)", {"x": 0.7})).reference
    finally:
        monkeypatch.undo()
        rules.forget()
    unscaled = dataclasses.replace(PRIMITIVES["norm"], fn=lambda x: np.float64(np.sqrt(np.sum(np.square(x)))))
    monkeypatch.setitem(PRIMITIVES, "norm", unscaled)
    assert judge(Case("norm(x)", {"x": [3e-170, 4e-170]})).values
