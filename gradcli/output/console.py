"""Rich consoles for human output, created only when something is printed (rich is slow to import).

Colour and box-drawing only on a terminal: never when stdout is not a TTY, with
NO_COLOR set, or with --no-color; FORCE_COLOR forces colour on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table


def wants_color(stream_isatty: bool, no_color: bool = False) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream_isatty


def make_console(
    *, stderr: bool = False, no_color: bool = False, width: int | None = None, record: bool = False
) -> Console:
    """A console on stdout (or stderr); plain text, no colour, no boxes when not on a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    isatty = bool(getattr(stream, "isatty", lambda: False)())
    color = wants_color(isatty, no_color)
    return Console(
        file=stream,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        emoji=False,
        width=width if width is not None else (None if isatty else 100),
        record=record,
        soft_wrap=False,
        legacy_windows=False,
    )


def plain_boxes(console: Console) -> bool:
    """True when tables should be drawn without box characters (not a terminal / no colour)."""
    return console.no_color or not console.is_terminal


def make_table(
    console: Console, headers: Sequence[str], *, right: Sequence[bool] = (), styles: Sequence[str] = ()
) -> Table:
    """The one table style of human output (grad, functions, check, explain): light rules and
    bold headers on a terminal; plain aligned columns two spaces apart otherwise. `right`
    right-aligns columns and `styles` styles them (by position; default left, unstyled)."""
    from rich import box
    from rich.table import Table

    plain = plain_boxes(console)
    out = Table(
        box=None if plain else box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 2, 0, 0) if plain else (0, 1),
        header_style="" if plain else "bold",
    )
    for k, header in enumerate(headers):
        out.add_column(
            header,
            justify="right" if k < len(right) and right[k] else "left",
            style=styles[k] if k < len(styles) else "",
            overflow="fold",
        )
    return out


def emit(console: Console, *renderables: RenderableType) -> None:
    """Print; when not on a terminal, without the padding spaces rich leaves at line ends."""
    if not plain_boxes(console):
        for item in renderables:
            console.print(item)
        return
    with console.capture() as capture:
        for item in renderables:
            console.print(item)
    text = "\n".join(line.rstrip() for line in capture.get().split("\n"))
    console.file.write(text)
    console.file.flush()
