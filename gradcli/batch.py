"""Many points in one call (`--at FILE` of grad, eval and check): rows of bindings from CSV
(a header of input names) or JSON Lines (one object a line), the program parsed and compiled
once, and, when the program is element-wise in the row inputs, every row evaluated as one
array pass (row i's gradient is the i-th element of the gradient of the sum).

A row with a bad value is reported with its number and the others go on; a name bound both on
the command line and in a row is an error that names the row (nothing is overridden silently).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcli.api import Compiled, GradResult
from gradcli.engine.graph import Graph
from gradcli.errors import BindingError, GradcliError, LimitError
from gradcli.limits import LIMITS
from gradcli.primitives import PRIMITIVES, Primitive

Array = Any


@dataclass
class Row:
    number: int  # 1-based, data rows only (a CSV header is not counted)
    line: int  # the line of the file
    values: dict[str, Any]
    error: str = ""


@dataclass
class RowResult:
    row: Row
    value: Any = None
    gradient: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str = ""


def sniff(text: str) -> str:
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def read_rows(text: str, fmt: str | None = None) -> tuple[list[str], list[Row]]:
    """The columns (input names) and the rows of a CSV or JSON Lines text."""
    if len(text) > LIMITS.max_text_file_bytes:
        raise LimitError(f"the points file is larger than {LIMITS.max_text_file_bytes:,} bytes")
    fmt = fmt or sniff(text)
    if fmt == "csv":
        return _csv_rows(text)
    if fmt == "jsonl":
        return _jsonl_rows(text)
    raise BindingError(f"unknown --at-format '{fmt}'", hint="csv or jsonl")


def _number(text: str) -> float:
    t = text.strip()
    value = float(t)  # 'inf', 'nan' too, as numbers on the command line (x=1/0)
    return value


def _csv_rows(text: str) -> tuple[list[str], list[Row]]:
    lines = [
        (n + 1, line)
        for n, line in enumerate(text.splitlines())
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise BindingError("the points file has no header line (the input names)")
    reader = csv.reader(io.StringIO("\n".join(line for _, line in lines)))
    table = list(reader)
    header = [h.strip() for h in table[0]]
    bad = [h for h in header if not h.isidentifier()]
    if bad:
        raise BindingError(
            f"the first line of a CSV points file names the inputs; '{bad[0]}' is not a name",
            hint="x,y\\n1,2\\n3,4",
        )
    rows = []
    for k, (cells, (line, _)) in enumerate(zip(table[1:], lines[1:], strict=True), start=1):
        row = Row(k, line, {})
        if len(cells) != len(header):
            row.error = f"row {k} (line {line}) has {len(cells)} values for {len(header)} columns"
        else:
            try:
                row.values = {h: _number(c) for h, c in zip(header, cells, strict=True)}
            except ValueError as exc:
                row.error = f"row {k} (line {line}): {exc}"
        rows.append(row)
    return header, rows


def _jsonl_rows(text: str) -> tuple[list[str], list[Row]]:
    rows = []
    columns: dict[str, None] = {}
    k = 0
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        k += 1
        row = Row(k, line, {})
        try:
            obj = json.loads(raw, parse_constant=lambda c: float(c.replace("Infinity", "inf")))
            if not isinstance(obj, dict):
                raise ValueError("a line is one JSON object of bindings")
            for name, v in obj.items():
                if not str(name).isidentifier():
                    raise ValueError(f"'{name}' is not an input name")
                arr = np.asarray(v, dtype=np.float64)
                row.values[str(name)] = float(arr) if arr.ndim == 0 else arr
                columns[str(name)] = None
        except (ValueError, TypeError) as exc:
            row.error = f"row {k} (line {line}): {exc}"
        rows.append(row)
    return list(columns), rows


def _per_row(compiled: Compiled) -> Compiled | None:
    """The program with each reduction replaced by its value on one element (rows of single
    numbers: every reduction sees one number a row), so that a column of rows is one array
    pass; None when it has something else than element-wise steps and such reductions."""
    ops = []
    for op in compiled.graph.ops:
        prim = op.prim
        if prim is not None and prim.kind == "reduce":
            if prim.one_element is None:
                return None
            prim = _twin(prim.name)
        elif prim is not None and prim.kind != "elementwise":
            return None
        ops.append(dataclasses.replace(op, prim=prim))
    row = copy.copy(compiled)
    row.__dict__.pop("kinky", None)
    graph = compiled.graph
    row.graph = Graph(graph.program, ops, graph.output, graph.inputs, graph.names, graph.input_spans)
    return row


def _twin(name: str) -> Primitive:
    """The element-wise twin of a reduction, declared with the table (Primitive.one_element)."""
    return PRIMITIVES[f"{name}_of_one"]


def run(
    compiled: Compiled,
    shared: Mapping[str, Any],
    rows: list[Row],
    *,
    gradient: bool,
    wrt: str | None = None,
    mode: str = "reverse",
    fail_fast: bool = False,
) -> tuple[list[RowResult], bool]:
    """Every row's value (and gradient). Returns the results in row order and whether the
    rows went through one vectorized pass."""
    for row in rows:
        both = sorted(set(row.values) & set(shared))
        if both and not row.error:
            row.error = (
                f"row {row.number} (line {row.line}) binds '{both[0]}', which the command line binds too"
            )
    good = [r for r in rows if not r.error]
    row_names = sorted({n for r in good for n in r.values})
    scalar_rows = all(np.ndim(v) == 0 for r in good for v in r.values.values())
    scalar_shared = all(np.ndim(v) == 0 for v in shared.values())
    complete = all(set(r.values) == set(row_names) for r in good)
    per_row = _per_row(compiled) if scalar_rows and scalar_shared else None
    vector = bool(good) and complete and per_row is not None
    results: dict[int, RowResult] = {r.number: RowResult(r, error=r.error) for r in rows}
    if fail_fast and any(r.error for r in rows):
        first = next(r for r in rows if r.error)
        return [results[first.number]], False
    if vector:
        try:
            assert per_row is not None
            _vectorized(per_row, shared, good, row_names, results, gradient, wrt, mode)
            return [results[r.number] for r in rows], True
        except GradcliError:
            pass  # one row spoils the pass (a shape, a limit): row by row, to name it
    for row in good:
        res = results[row.number]
        try:
            point = {**shared, **row.values}
            if gradient:
                r = compiled.grad(point, wrt=wrt, mode=mode)
                res.value, res.gradient, res.warnings = r.value, dict(r.gradient), list(r.warnings)
            else:
                res.value, res.warnings = compiled.evaluate_full(point)
        except GradcliError as err:
            res.error = f"row {row.number} (line {row.line}): {err.message}"
            if fail_fast:
                return [results[r.number] for r in rows if r.number <= row.number], False
    return [results[r.number] for r in rows], False


def _vectorized(
    compiled: Compiled,
    shared: Mapping[str, Any],
    good: list[Row],
    names: list[str],
    results: dict[int, RowResult],
    gradient: bool,
    wrt: str | None,
    mode: str,
) -> None:
    columns = {n: np.array([r.values[n] for r in good], dtype=np.float64) for n in names}
    # a shared number is a column too: each row's gradient with respect to it is its element
    columns |= {n: np.full(len(good), float(v)) for n, v in shared.items() if n in compiled.graph.inputs}
    point = dict(columns)
    if gradient:
        r: GradResult = compiled.grad(point, wrt=wrt, mode=mode)
        value = np.broadcast_to(np.asarray(r.value, dtype=np.float64), (len(good),))
        grads: dict[str, np.ndarray] = {
            k: np.broadcast_to(np.asarray(g, dtype=np.float64), (len(good),)) for k, g in r.gradient.items()
        }
        for k, row in enumerate(good):
            res = results[row.number]
            res.value = float(value[k])
            res.gradient = {n: float(g[k]) for n, g in grads.items()}
            if not math.isfinite(res.value) or any(not math.isfinite(v) for v in res.gradient.values()):
                res.warnings = [f"row {row.number}: NaN or infinite"]
    else:
        value = np.broadcast_to(np.asarray(compiled.evaluate(point), dtype=np.float64), (len(good),))
        for k, row in enumerate(good):
            res = results[row.number]
            res.value = float(value[k])
            if not math.isfinite(res.value):
                res.warnings = [f"row {row.number}: NaN or infinite"]


def csv_lines(
    columns: Sequence[str], results: Sequence[RowResult], gradient_names: Sequence[str]
) -> Iterator[str]:
    """The input columns, the value, one gradient column per input differentiated."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", *columns, "value", *(f"d/d{n}" for n in gradient_names), "error"])
    for res in results:
        row = res.row
        writer.writerow(
            [
                row.number,
                *(_cell(row.values.get(c)) for c in columns),
                _cell(res.value),
                *(_cell(res.gradient.get(n)) for n in gradient_names),
                res.error,
            ]
        )
        yield out.getvalue()
        out.seek(0)
        out.truncate()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if np.ndim(v):
        return json.dumps(np.asarray(v).tolist())
    return repr(float(v))
