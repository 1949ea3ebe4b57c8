"""JSON output of every command, assembled in one place (the encoding rules are
gradcli/output/jsondata.py's: floats round-trip, NaN and infinity are null with a warning
naming where, one line of ASCII).

- `result_object`: grad and eval (`--json`).
- `explanation_object`: explain (`--format json`, `--json`) and `grad --explain --json`.
- `check_object`: one line of check's JSON Lines.
- `function_object`: one entry of `functions --json`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcli.arrays import Array
from gradcli.output import jsondata
from gradcli.output.jsondata import to_json

if TYPE_CHECKING:
    from gradcli.check.report import Located
    from gradcli.explain.model import Explanation, Flow, TangentTable
    from gradcli.primitives import Primitive

JSON_MAX_ELEMENTS = 10_000  # explain: larger arrays are written as their shape and a summary


def write(obj: Any) -> None:
    """One JSON object on one line of stdout (big arrays streamed: bounded memory)."""
    jsondata.write(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------
# grad and eval


def result_object(
    source: str,
    value: Any,
    inputs: Mapping[str, Any],
    warnings: Sequence[str],
    *,
    mode: str | None,
    gradients: Mapping[str, Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`gradients` maps a mode to the gradient by input name: the first is `gradient`; with both
    modes, forward mode's is `forward_gradient`. The warnings end with the nulls written."""
    nulls: list[str] = []
    obj: dict[str, Any] = {
        "program": source,
        "inputs": to_json(dict(inputs), "inputs", nulls),
        "value": to_json(value, "value", nulls),
    }
    if gradients:
        first = next(iter(gradients.values()))
        obj["gradient"] = to_json(dict(first), "gradient", nulls)
    if "forward" in gradients and len(gradients) > 1:
        obj["forward_gradient"] = to_json(dict(gradients["forward"]), "forward_gradient", nulls)
    obj["mode"] = mode
    obj.update(extra or {})
    obj["warnings"] = [*warnings, *nulls]
    return obj


# --------------------------------------------------------------------------
# explain


class _Explained:
    """The explanation as data: every number at full precision (NaN/inf as null, noted), and
    arrays above JSON_MAX_ELEMENTS as their shape and summary."""

    def __init__(self, e: Explanation, max_rows: int) -> None:
        self.e = e
        self.max_rows = max_rows
        self.warnings = list(e.warnings)
        self.elided: dict[str, int] = {}

    def num(self, value: Array, path: str) -> Any:
        from gradcli.output.numbers import value_text

        arr = np.asarray(value)
        if arr.size > JSON_MAX_ELEMENTS:
            return {"shape": list(arr.shape), "summary": value_text(arr, 17, one_line=True)}
        return to_json(value, path, self.warnings)

    def keep(self, items: Sequence[Any], what: str) -> list[Any]:
        """The first and last `max_rows` items (as the tables keep them); counts what is left out."""
        max_rows = self.max_rows
        if max_rows <= 0 or len(items) <= max_rows:
            return list(items)
        head = (max_rows + 1) // 2
        tail = max_rows - head
        self.elided[what] = len(items) - max_rows
        return [*items[:head], *(items[len(items) - tail :] if tail else [])]

    def forward(self) -> list[dict[str, Any]]:
        e = self.e
        return [
            {
                "step": n.step,
                "node": n.label,
                "source": n.source,
                "operation": n.operation,
                "inputs": [e.label(a) for a in n.args],
                "shape": list(np.shape(n.value)),
                "value": self.num(n.value, f"forward.{n.label}"),
            }
            for n in self.keep(list(e.nodes.values()), "forward")
        ]

    def flow(self, f: Flow, where: str) -> dict[str, Any]:
        return {
            "to": self.e.label(f.local.arg),
            "local": f.local.label,
            "formula": f.local.formula,
            "local_value": self.num(f.local.value, where + ".local_value"),
            "product": self.num(f.product, where + ".product"),
            "summed": f.summed,
        }

    def backward(self) -> list[dict[str, Any]]:
        e = self.e
        rows = []
        for r in self.keep(e.backward, "backward"):
            where = f"backward.{e.label(r.node)}"
            rows.append(
                {
                    "step": e.step(r.node),
                    "node": e.label(r.node),
                    "upstream": self.num(r.upstream, where),
                    "contributions": [
                        {"from": e.label(f.local.node), "value": self.num(f.product, "contribution")}
                        for f in r.contributions
                    ],
                    "flows": [self.flow(f, where) for f in r.flows],
                }
            )
        return rows

    def tangents(self, t: TangentTable) -> dict[str, Any]:
        e = self.e
        rows = [
            {
                "step": e.step(r.node),
                "node": e.label(r.node),
                "diagonal": r.diagonal,
                "tangent": self.num(r.tangent, "tangent"),
                "terms": [
                    {
                        "local": x.local.label,
                        "formula": x.local.formula,
                        "local_value": self.num(x.local.value, "local_value"),
                        "tangent_in": self.num(x.tangent_in, "tangent_in"),
                    }
                    for x in r.terms
                ],
            }
            for r in self.keep(t.rows, f"tangents.{t.seed}")
        ]
        gradient = self.num(t.gradient, f"tangents.{t.seed}")
        return {"seed": t.seed, "omitted": t.omitted, "gradient": gradient, "rows": rows}

    def chains(self) -> list[dict[str, Any]]:
        out = []
        for c in self.keep(self.e.chains, "chains"):
            paths = [
                {
                    "factors": [
                        {"label": f.label, "formula": f.formula, "value": self.num(f.value, "factor")}
                        | ({} if f.after is None else {"step": f.step, "after": self.num(f.after, "factor")})
                        for f in path.factors
                    ],
                    "value": self.num(path.value, f"chains.{c.input}.path"),
                }
                for path in c.paths
            ]
            out.append(
                {
                    "input": c.input,
                    "total_paths": c.total_paths,
                    "listed_paths": len(c.paths),
                    "paths": paths,
                    "sum": self.num(c.path_sum, f"chains.{c.input}.sum"),
                    "gradient": self.num(c.gradient, f"chains.{c.input}.gradient"),
                }
            )
        return out


def explanation_object(e: Explanation, *, max_rows: int) -> dict[str, Any]:
    """The explanation's content as data (the tables' rows, kept and elided alike)."""
    x = _Explained(e, max_rows)
    obj: dict[str, Any] = {
        "program": e.program,
        "mode": e.mode,
        "wrt": e.wrt,
        "output": e.output_label,
        "inputs": {k: x.num(v, f"inputs.{k}") for k, v in e.inputs.items()},
        "value": x.num(e.value, "value"),
        "gradient": {k: x.num(v, f"gradient.{k}") for k, v in e.gradient.items()},
        "forward": x.forward(),
    }
    if e.mode in ("reverse", "both"):
        obj["backward"] = x.backward()
    if e.mode in ("forward", "both"):
        obj["tangents"] = [x.tangents(t) for t in e.tangents]
    obj["chains"] = x.chains()
    obj["elided"] = x.elided
    obj["warnings"] = x.warnings
    return obj


# --------------------------------------------------------------------------
# check


def check_object(loc: Located) -> dict[str, Any]:
    """One check as a JSON-ready dict (NaN/inf become null, with a warning entry)."""
    from gradcli.check.verdict import KINK

    r = loc.result
    nulls: list[str] = []
    obj: dict[str, Any] = {"name": r.name or None, "program": r.program}
    if loc.file is not None:
        obj["file"] = loc.file
        obj["line"] = loc.line
    obj["inputs"] = to_json(dict(r.inputs), "inputs", nulls)
    obj["value"] = to_json(r.value, "value", nulls)
    if r.expected_value is not None:
        obj["expected_value"] = to_json(r.expected_value, "expected_value", nulls)
    obj.update(
        {
            "passed": r.passed,
            "verdict": r.verdict,
            "gradients": {row.name: _check_row(row, nulls) for row in r.rows},
            "kinks": [ex.describe() for ex in r.excuses if ex.kind == KINK],
            "notes": [ex.describe() for ex in r.excuses if ex.kind != KINK] + list(r.notes),
            "failures": list(r.failures),
            "tolerances": {"rtol": r.rtol, "atol": r.atol},
            "warnings": [*r.warnings, *nulls],
        }
    )
    return obj


def _check_row(row: Any, nulls: list[str]) -> dict[str, Any]:
    """Every route for one input; the warnings of nulls written go to `nulls`."""
    from gradcli.check.verdict import CODES

    where = f"gradients.{row.name}"
    fd = row.fd
    # Elements left out by sampling are null too, but they are not NaN: no warning for them.
    fd_nulls = nulls if np.any(fd.computed & ~np.isfinite(fd.estimate)) else None
    entry: dict[str, Any] = {
        "reverse": to_json(row.reverse, f"{where}.reverse", nulls),
        "forward": None if row.forward is None else to_json(row.forward, f"{where}.forward", nulls),
        "finite_difference": to_json(
            np.where(fd.computed, fd.estimate, np.nan), f"{where}.finite_difference", fd_nulls
        ),
        "finite_difference_error": to_json(
            np.where(fd.computed, fd.error, np.nan), f"{where}.finite_difference_error", fd_nulls
        ),
        "finite_difference_method": fd.method,
    }
    if row.manual is not None:
        entry["manual"] = to_json(row.manual, f"{where}.manual", nulls)
        entry["manual_formula"] = row.manual_text
    if row.expected is not None:
        entry["expected"] = to_json(row.expected, f"{where}.expected", nulls)
    entry["max_rel"] = to_json(row.max_rel, f"{where}.max_rel", nulls)
    entry["max_abs"] = to_json(row.max_abs, f"{where}.max_abs", nulls)
    entry["verdict"] = row.verdict
    if row.shape:
        entry["verdicts"] = np.asarray(CODES, dtype=object)[row.status].tolist()
    return entry


# --------------------------------------------------------------------------
# functions


def function_object(prim: Primitive) -> dict[str, Any]:
    """One function of the table: how it is written, its arity, rule, domain and convention."""
    from gradcli.cli.docs import aliases_of, derivative_text

    return {
        "name": prim.name,
        "spellings": list(prim.spelled()),
        "aliases": aliases_of(prim),
        "arity": prim.arity,
        "rule": derivative_text(prim),
        "description": prim.doc,
        "kind": prim.kind,
        "domain": prim.domain or None,
        "convention": prim.convention or None,
    }
