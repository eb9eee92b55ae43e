"""The one service API that the CLI and the daemon are thin adapters over.

Offline part (this module): load, validate, compile and render. Device work
(plan, apply, drift) builds on it in netorch.engine."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from netorch.compile import compile_intents
from netorch.errors import NetorchError, Problem, ValidationFailed
from netorch.model.desired import DesiredState
from netorch.model.intents import IntentSet
from netorch.model.inventory import HostView, InventoryView, load_inventory
from netorch.model.loader import load_intents
from netorch.render import render_state
from netorch.validate import validate

DEFAULT_INVENTORY = "inventory"
DEFAULT_INTENTS = "intents"
DEFAULT_TEMPLATES = "templates"


@dataclass(frozen=True)
class Validation:
    problems: tuple[Problem, ...]
    hosts: int
    counts: dict[str, int]
    files: int

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        c = self.counts
        return (f"{self.files} intent file(s), {c['routes']} routes, {c['domains']} domains, "
                f"{c['rules']} rules, {c['services']} services against {self.hosts} hosts")


@dataclass
class Workspace:
    """Where intents, inventory and templates live."""

    inventory_dir: Path = field(default_factory=lambda: Path(os.environ.get("NETORCH_INVENTORY", DEFAULT_INVENTORY)))
    intents_dir: Path = field(default_factory=lambda: Path(os.environ.get("NETORCH_INTENTS", DEFAULT_INTENTS)))
    templates_dir: Path = field(default_factory=lambda: Path(os.environ.get("NETORCH_TEMPLATES", DEFAULT_TEMPLATES)))
    _loaded: tuple[InventoryView | None, IntentSet, list[Problem]] | None = field(default=None, repr=False)

    def load(self) -> tuple[InventoryView | None, IntentSet, list[Problem]]:
        if self._loaded is None:
            inventory, inv_problems = load_inventory(self.inventory_dir)
            intents, int_problems = load_intents(self.intents_dir)
            self._loaded = (inventory, intents, inv_problems + int_problems)
        return self._loaded

    def validate(self) -> Validation:
        inventory, intents, problems = self.load()
        found = list(problems)
        if inventory is not None:
            found += validate(inventory, intents)
        return Validation(tuple(sorted(set(found))), len(inventory.hosts) if inventory else 0,
                          intents.counts(), len(intents.files))

    def inventory(self) -> InventoryView:
        inventory, _, problems = self.load()
        if inventory is None:
            raise ValidationFailed(problems)
        return inventory

    def compile(self) -> dict[str, DesiredState]:
        """Validated desired state of every host; raises ValidationFailed with every problem."""
        result = self.validate()
        if not result.ok:
            raise ValidationFailed(list(result.problems))
        inventory, intents, _ = self.load()
        assert inventory is not None
        return compile_intents(inventory, intents)

    def select(self, limit: str | None) -> list[HostView]:
        return self.inventory().select(limit)

    def render(self, limit: str | None = None) -> dict[str, dict[str, str]]:
        """{host: {artifact filename: text}} for the selected hosts."""
        desired = self.compile()
        if not self.templates_dir.is_dir():
            raise NetorchError(f"templates folder {self.templates_dir} not found")
        return {h.name: render_state(desired[h.name], self.templates_dir) for h in self.select(limit)}

    def revision(self) -> str:
        """A hash of every intent and inventory file: what a run was made from."""
        digest = hashlib.sha256()
        _, intents, _ = self.load()
        paths = [Path(p) for p in intents.files]
        paths += [self.inventory_dir / n for n in ("hosts.yaml", "groups.yaml", "defaults.yaml")]
        for path in sorted(paths):
            if path.is_file():
                digest.update(str(path.name).encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:12]


def write_rendered(rendered: dict[str, dict[str, str]], out: Path) -> list[Path]:
    written = []
    for host, files in sorted(rendered.items()):
        folder = out / host
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in sorted(files.items()):
            path = folder / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
