"""Numbers as text: the one rule every human-readable output follows (grad's table, explain's
tables and chain, check's columns and messages). JSON is separate (gradcli/output/jsondata.py).

- A number has `precision` significant digits in its shortest form (`3`, `-5.466781571`,
  `1e-20`); `nan`, `inf`, `-inf` are spelled so; a negative zero prints as `0` (the sign of
  a zero is noise to a reader; JSON keeps it).
- An array of two or more equal elements prints as `(3,) all 0.5`. Any other array prints in
  full, in nested brackets, up to SUMMARY_THRESHOLD elements; a longer one is summarised,
  `(100,) [1, 2, 3, ..., 98, 99, 100]` (EDGE_ITEMS at each end of each axis). The shape comes
  first exactly when the text does not show it (an `all`, a summary); `value_text(...,
  shape=False)` leaves it out where a table has a shape column of its own.
- Discrepancies and error estimates (check's Δ columns) are in one-digit scientific notation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SUMMARY_THRESHOLD = 12  # arrays with more elements are summarised
EDGE_ITEMS = 3  # items shown at each end of a summarised axis


def number_text(x: float, precision: int) -> str:
    """`precision` significant digits, shortest form: 3, -5.466781571, 1e-20, nan, -inf; -0 is 0."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{precision}g}"
    return "0" if text == "-0" else text


def sci_text(x: float) -> str:
    """A discrepancy or an error estimate: `1.5e-12`, `0`, `nan`."""
    if math.isnan(x):
        return "nan"
    if x == 0:
        return "0"
    return f"{x:.1e}"


def shape_text(value: Any) -> str:
    """'' for a scalar, '(3,)' / '(2, 3)' for an array."""
    shape = np.shape(value)
    return str(shape) if shape else ""


def is_summarised(value: Any) -> bool:
    return int(np.size(value)) > SUMMARY_THRESHOLD


def value_text(value: Any, precision: int, *, shape: bool = True, one_line: bool = False) -> str:
    """A scalar as one number; an array in brackets, summarised when long (see the module).

    `shape=False` leaves out the shape in front of a summary; `one_line` joins the rows of
    a 2-D array (numpy puts each row on a line of its own)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return number_text(float(arr), precision)
    if arr.size == 0:
        return "[]"
    prefix = f"{arr.shape} " if shape else ""
    first = arr.flat[0]
    if arr.size > 1 and (np.all(arr == first) or np.all(np.isnan(arr))):
        return f"{prefix}all {number_text(float(first), precision)}"
    if arr.size <= SUMMARY_THRESHOLD:
        prefix = ""
    text = np.array2string(
        arr,
        separator=", ",
        threshold=SUMMARY_THRESHOLD,
        edgeitems=EDGE_ITEMS,
        max_line_width=10**6,  # rows stay on one line; a table wraps if it must
        formatter={"float_kind": lambda v: number_text(float(v), precision)},
    )
    return prefix + (" ".join(text.split()) if one_line else text)
