"""Small helpers shared by the pure layers, and by the command lines (netorch's and the lab's)."""

from __future__ import annotations

import gc
import inspect
from collections.abc import Iterator
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
