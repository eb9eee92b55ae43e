"""Small helpers shared by the pure layers, and by the command lines (netorch's and the lab's)."""

from __future__ import annotations

import difflib
import gc
import inspect
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def nonempty_path(value: str | Path) -> Path:
    """A path given on a command line (typer's parser for every path option and argument): an
    empty one (`--out ""`) would silently name the current folder, so it is refused; typer shows
    the ValueError as a usage error that names the option."""
    if isinstance(value, str) and not value:
        raise ValueError("an empty path names no file or folder")
    return Path(value)


def reflow(text: str | None) -> str:
    """A docstring as command-line help: each paragraph on one line, which the help display wraps to
    the terminal (typer's rich help keeps a docstring's line breaks, so a sentence broken in the
    source would show broken)."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(text or "").split("\n\n") if p.strip())


def bare_flags(params: list[Any]) -> list[Any]:
    """A command's parameters with no value shown for its flags (--json, --help): typer shows
    <bool> beside them, as if they took one."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
            param.metavar = ""
    return params


#: under this many columns, --help is plain text wrapped to the terminal: rich's panels would cut
#: words of the help column with an ellipsis
NARROW_HELP = 80


def narrow_help(command: Any, ctx: Any, get_help: Any) -> str:
    """A command's --help in a terminal narrower than NARROW_HELP: click's plain help, wrapped to
    the terminal's width (never cut), instead of typer's rich panels."""
    columns = shutil.get_terminal_size((NARROW_HELP, 24)).columns
    if columns >= NARROW_HELP:
        return str(get_help(ctx))
    mode, command.rich_markup_mode = command.rich_markup_mode, None
    ctx.terminal_width = max(columns - 1, 20)
    base = ctx.formatter_class

    def stacked(self: Any, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        base.write_dl(self, rows, 2, col_spacing)  # each option's help under it, the whole width

    ctx.formatter_class = type("StackedHelpFormatter", (base,), {"write_dl": stacked})
    try:
        return str(get_help(ctx))
    finally:
        command.rich_markup_mode = mode


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector around a phase that builds many small objects and
    few cycles (loading, validating, compiling, rendering a large network): otherwise full
    collections rescan every object already built, again and again, and dominate the time.

    On the way out, what the phase built moves straight to the oldest generation (freeze, then
    unfreeze): it is long-lived by nature, and letting the young generations scan millions of
    objects once more only to promote them costs about half a second per phase on a
    5,000-device network. Garbage cycles among them are still found, by the next full
    collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


SUGGESTED_NAMES = 12
"""Most existing names an "unknown name" message lists."""


#: characters a reader takes for one another ("dl" typed for "d1", "rO" for "r0")
LOOKALIKE = str.maketrans({"l": "1", "I": "1", "|": "1", "O": "0", "o": "0"})


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """"unknown host 'r22'; did you mean 'r2'? (hosts: r1, r2, r3)": the closest existing name
    (difflib) when one is close, and the names that exist, at most SUGGESTED_NAMES of them."""
    names = sorted({str(n) for n in known})
    text = f"unknown {kind} {name!r}"
    look = str(name).translate(LOOKALIKE)
    close = [n for n in names if n.translate(LOOKALIKE) == look][:1] or difflib.get_close_matches(
        str(name), names, n=1, cutoff=0.6)
    if close:
        text += f"; did you mean {close[0]!r}?"
    if not names:
        return text + f" (no {kind} is declared)"
    shown = ", ".join(names[:SUGGESTED_NAMES])
    more = f" and {len(names) - SUGGESTED_NAMES} more" if len(names) > SUGGESTED_NAMES else ""
    plural = kind if kind.endswith("s") else f"{kind}s"
    return text + f" ({plural}: {shown}{more})"
