"""Small helpers shared by the pure layers."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector around a phase that builds many small objects and
    few cycles (loading, validating, compiling, rendering a large network): otherwise full
    collections rescan every object already built, again and again, and dominate the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
