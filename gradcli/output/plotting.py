"""Pictures of a curve (gradcli/curve.py's arrays): in the terminal with plotille (braille
dots, pure Python, no dependencies), and to a file with matplotlib (the optional extra
`gradcli[plot]`). Imported only by `gradcli plot`: the other commands' start-up never pays
for it.

Two panels, f above and df/dx below, so that the picture reads without colour. Non-finite
points are gaps, not spikes: each finite run is drawn as its own line, and the y range is
that of the finite values (the extreme 1 % trimmed when they would flatten the rest).
"""

from __future__ import annotations

import re
import shutil
from typing import Any

import numpy as np

from gradcli.errors import GradcliError


class PlotError(GradcliError):
    kind = "plot error"


def _runs(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The runs of consecutive points that are finite and inside [lo, hi]."""
    ok = np.isfinite(y) & (y >= lo) & (y <= hi)
    runs, start = [], None
    for k, good in enumerate([*ok, False]):
        if good and start is None:
            start = k
        elif not good and start is not None:
            runs.append((x[start:k], y[start:k]))
            start = None
    return runs


def _limits(*ys: np.ndarray) -> tuple[float, float]:
    finite = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.array([])
    if not finite.size:
        return -1.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    q1, q99 = (float(v) for v in np.percentile(finite, [1, 99]))
    if hi - lo > 20 * max(q99 - q1, 1e-300):  # a pole would flatten the curve
        lo, hi = q1, q99
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


_AUTO_LABEL = re.compile(r"Label \d+$")


def _panel(
    plotille: Any,
    x: np.ndarray,
    series: list[tuple[np.ndarray, str]],
    width: int,
    height: int,
    color: bool,
    ylabel: str,
    xlabel: str,
    marks: list[tuple[float, str]],
) -> str:
    fig = plotille.Figure()
    fig.width, fig.height = width, height
    fig.with_colors = color
    fig.x_label, fig.y_label = xlabel, ylabel
    fig.set_x_limits(min_=float(x[0]), max_=float(x[-1]))
    lo, hi = _limits(series[0][0])  # the curve's range: a tangent or a marker is clipped to it
    fig.set_y_limits(min_=lo, max_=hi)
    colors = ["blue", "red", "green"]
    for n, (y, label) in enumerate(series):
        for k, (rx, ry) in enumerate(_runs(x, y, lo, hi)):
            fig.plot(
                rx.tolist(), ry.tolist(), lc=colors[n % 3] if color else None, label=label if k == 0 else None
            )
    for n, (m, _fn) in enumerate(marks):
        fig.plot(
            [m, m], [lo, hi], lc="yellow" if color else None, label="kink" if n == 0 else None, marker="x"
        )
    # plotille names every unlabelled line in the legend ("Label 3"): the runs after a gap and
    # the markers after the first are the same lines as the first, so their entries go
    text = str(fig.show(legend=True))
    return "\n".join(line for line in text.split("\n") if not _AUTO_LABEL.search(line))


def terminal(curve: Any, color: bool, width: int | None = None) -> str:
    """The two panels for a terminal of the current size (or `width` columns)."""
    import plotille

    cols, rows = shutil.get_terminal_size((100, 40))
    width = max(30, (width or cols) - 16)
    height = max(8, min(20, (rows - 14) // 2))
    tangent = curve.value_at + curve.slope * (curve.x - curve.at)
    marks = list(curve.kinks)
    name = curve.input
    top = _panel(
        plotille,
        curve.x,
        [(curve.f, "f"), (tangent, f"tangent at {name} = {curve.at:g}")],
        width,
        height,
        color,
        "f",
        name,
        marks,
    )
    bottom = _panel(
        plotille, curve.x, [(curve.df, f"df/d{name}")], width, height, color, f"df/d{name}", name, marks
    )
    return top + "\n" + bottom


def export(curve: Any, path: str, program: str) -> None:
    """A figure file (.svg, .png, .pdf) by matplotlib, when it is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(
            "writing a figure file needs matplotlib, which is not installed",
            hint="pip install 'gradcli[plot]' (the terminal plot needs nothing more)",
        ) from None
    name = curve.input
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 6))
    top.plot(curve.x, np.where(np.isfinite(curve.f), curve.f, np.nan), label="f")
    top.plot(
        curve.x,
        curve.value_at + curve.slope * (curve.x - curve.at),
        "--",
        label=f"tangent at {name} = {curve.at:g} (slope {curve.slope:.6g})",
    )
    top.set_ylim(*_limits(curve.f))
    bottom.plot(curve.x, np.where(np.isfinite(curve.df), curve.df, np.nan), color="C3", label=f"df/d{name}")
    bottom.set_ylim(*_limits(curve.df))
    for x, fn in curve.kinks:
        for ax in (top, bottom):
            ax.axvline(x, color="0.6", linestyle=":", label=f"kink ({fn})" if ax is top else None)
    top.set_title(program if len(program) <= 80 else program[:77] + "...")
    top.set_ylabel("f")
    bottom.set_ylabel(f"df/d{name}")
    bottom.set_xlabel(name)
    top.legend()
    bottom.legend()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as exc:
        raise PlotError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(fig)
