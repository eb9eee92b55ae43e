"""One register per seam, in the manner of Nornir's PluginRegister.

A seam (transports, executors, configuration comparers) names its plugins in one Register:
a name maps to the plugin, or to a "package.module:attribute" reference that is imported
the first time the plugin is asked for, so that a seam's heavy libraries (ncclient, celery)
load only when something uses them. Asking for a name nothing registered is a NetorchError
that lists the names that exist.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

from netorch.errors import NetorchError

T = TypeVar("T")


class Register(Generic[T]):
    """name -> plugin (or "module:attribute", resolved on first use)."""

    def __init__(self, seam: str) -> None:
        self.seam = seam
        self._plugins: dict[str, T | str] = {}
        self._lock = threading.Lock()

    def register(self, name: str, plugin: T | str) -> None:
        """Add a plugin; registering the same name again with another plugin is an error."""
        with self._lock:
            known = self._plugins.get(name)
            if known is not None and known is not plugin and known != plugin:
                raise NetorchError(f"{self.seam} {name!r} is registered already")
            self._plugins[name] = plugin

    def get(self, name: str) -> T:
        with self._lock:
            plugin = self._plugins.get(name)
        if plugin is None:
            known = ", ".join(sorted(self._plugins)) or "none"
            raise NetorchError(f"no {self.seam} named {name!r} (known: {known})")
        if isinstance(plugin, str):
            module, _, attribute = plugin.partition(":")
            loaded: T = getattr(importlib.import_module(module), attribute)
            with self._lock:
                self._plugins[name] = loaded
            return loaded
        return plugin

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._plugins))
