"""The one service API that the CLI and the daemon are thin adapters over.

Offline part (this module): load, validate, compile and render. Device work
(plan, apply, drift) builds on it in netorch.run.engine."""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

from netorch.compile import compile_intents
from netorch.errors import NetorchError, Problem, ValidationFailed
from netorch.model.desired import DesiredState
from netorch.model.intents import IntentSet
from netorch.model.inventory import HostView, InventoryView, inventory_files
from netorch.model.loader import load_intents
from netorch.model.nornir_config import RESOLVED_NAME, load_any, resolved_text
from netorch.render import render_state
from netorch.topology import Topology
from netorch.util import paused_gc
from netorch.validate import Validator

DEFAULT_INVENTORY = "inventory"
DEFAULT_INTENTS = "intents"
DEFAULT_TEMPLATES = "templates"
#: the templates netorch ships: netorch/templates/<platform>/*.j2 and netconf/netorch-policy.yang
PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "templates"


def templates_folder(explicit: Path | str | None = None) -> Path:
    """The templates folder to render with, the first of: `explicit` (the --templates flag, a
    daemon config's `templates:`), the environment variable NETORCH_TEMPLATES, ./templates when
    that folder exists, the templates that ship inside the package. An explicit folder (or
    NETORCH_TEMPLATES) is taken as named even when it is missing: rendering then says so."""
    if explicit is not None:
        return Path(explicit)
    named = os.environ.get("NETORCH_TEMPLATES")
    if named:
        return Path(named)
    local = Path(DEFAULT_TEMPLATES)
    if local.is_dir():
        return local
    return PACKAGED_TEMPLATES


@dataclass(frozen=True)
class Validation:
    problems: tuple[Problem, ...]
    hosts: int
    counts: dict[str, int]
    files: int
    deferred: bool = False
    """Paths, loops and what routers share were not checked: an object is invalid (see problems)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        c = self.counts
        return (f"{self.files} intent file(s), {c['routes']} routes, {c['domains']} domains, "
                f"{c['rules']} rules, {c['services']} services against {self.hosts} hosts")


@dataclass
class Workspace:
    """Where intents, inventory and templates live. A workspace reads its files once: loading,
    validation and compilation are memoised (make a new Workspace to see edited files)."""

    inventory_dir: Path = field(default_factory=lambda: Path(os.environ.get("NETORCH_INVENTORY", DEFAULT_INVENTORY)))
    intents_dir: Path = field(default_factory=lambda: Path(os.environ.get("NETORCH_INTENTS", DEFAULT_INTENTS)))
    templates_dir: Path = field(default_factory=templates_folder)
    _loaded: tuple[InventoryView | None, IntentSet, list[Problem]] | None = field(default=None, repr=False)
    _topology: Topology | None = field(default=None, repr=False)
    _desired: dict[str, DesiredState] | None = field(default=None, repr=False)
    _validation: Validation | None = field(default=None, repr=False)
    _files: dict[str, str] | None = field(default=None, repr=False)

    def load(self) -> tuple[InventoryView | None, IntentSet, list[Problem]]:
        if self._loaded is None:
            with paused_gc():
                inventory, inv_problems = load_any(self.inventory_dir)
                intents, int_problems = load_intents(self.intents_dir)
            self._loaded = (inventory, intents, inv_problems + int_problems)
        return self._loaded

    def validate(self) -> Validation:
        if self._validation is not None:
            return self._validation
        inventory, intents, problems = self.load()
        found = list(problems)
        deferred = inventory is None
        if inventory is not None:
            with paused_gc():
                validator = Validator(inventory, intents, self.topology())
                found += validator.run()
                deferred = validator.deferred
        self._validation = Validation(tuple(sorted(set(found))), len(inventory.hosts) if inventory else 0,
                                      intents.counts(), len(intents.files), deferred and bool(found))
        return self._validation

    def topology(self) -> Topology:
        """Connected subnets and adjacency of the inventory, built once per workspace."""
        if self._topology is None:
            self._topology = Topology.build(self.inventory())
        return self._topology

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
        if self._desired is not None:
            return self._desired
        inventory, intents, _ = self.load()
        assert inventory is not None
        with paused_gc():
            self._desired = compile_intents(inventory, intents, self.topology())
        return self._desired

    def select(self, limit: str | None) -> list[HostView]:
        return self.inventory().select(limit)

    def render(self, limit: str | None = None, processes: int = 1) -> dict[str, dict[str, str]]:
        """{host: {artifact filename: text}} for the selected hosts. With processes > 1 (and many
        hosts) rendering is shared among forked worker processes; keep 1 in threaded programs."""
        desired = self.compile()
        if not self.templates_dir.is_dir():
            raise NetorchError(f"templates folder {self.templates_dir} not found")
        names = [h.name for h in self.select(limit)]
        if processes > 1 and len(names) >= 200 and "fork" in multiprocessing.get_all_start_methods():
            return _render_forked(desired, names, self.templates_dir, processes)
        with paused_gc():
            return {name: render_state(desired[name], self.templates_dir) for name in names}

    def revision_files(self) -> dict[str, str]:
        """The text of every intent and inventory file, by a name relative to its folder
        (intents/..., inventory/...): what a stored revision keeps. Read once per workspace, like
        the intents themselves; a file gone since the load is left out."""
        if self._files is not None:
            return self._files
        inventory, intents, _ = self.load()
        out: dict[str, str] = {}
        base = self.intents_dir if self.intents_dir.is_dir() else self.intents_dir.parent
        paths: list[tuple[str, Path]] = []
        for name in intents.files:
            path = Path(name)
            try:
                rel = path.resolve().relative_to(base.resolve())
            except ValueError:
                rel = Path(path.name)
            paths.append((f"intents/{rel}", path))
        if inventory is not None and inventory.source:  # a Nornir config file: it, and the hosts its plugin gave
            paths.append((f"inventory/{Path(inventory.source).name}", Path(inventory.source)))
            out[f"inventory/{RESOLVED_NAME}"] = resolved_text(inventory)
        else:
            paths += [(f"inventory/{n}", path) for n, path in inventory_files(self.inventory_dir).items()]
        for key, path in paths:
            try:
                out[key] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
        self._files = out
        return out

    def git_commit(self) -> str:
        """The git commit the intents are at, when they live in a repository ('+dirty' when their
        files differ from it); '' otherwise."""
        import subprocess

        folder = self.intents_dir if self.intents_dir.is_dir() else self.intents_dir.parent
        try:
            head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                  timeout=10, check=False)
            if head.returncode != 0:
                return ""
            dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", ".",
                                    str(self.inventory_dir.resolve())], capture_output=True, text=True, timeout=10,
                                   check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")

    def revision(self) -> str:
        """A hash of every intent and inventory file: what a run was made from."""
        digest = hashlib.sha256()
        for name, text in sorted(self.revision_files().items()):
            digest.update(name.encode())
            digest.update(b"\0")
            digest.update(text.encode())
            digest.update(b"\0")
        return digest.hexdigest()[:12]


_FORK_JOB: tuple[dict[str, DesiredState], Path] | None = None


def _render_chunk(names: list[str]) -> dict[str, dict[str, str]]:
    assert _FORK_JOB is not None
    desired, templates = _FORK_JOB
    with paused_gc():
        return {name: render_state(desired[name], templates) for name in names}


def _render_forked(desired: dict[str, DesiredState], names: list[str], templates: Path,
                   processes: int) -> dict[str, dict[str, str]]:
    global _FORK_JOB  # noqa: PLW0603 - handed to forked children by inheritance, not pickling
    _FORK_JOB = (desired, templates)
    # the children inherit the parent's objects: frozen, no collection in a child scans them (which
    # would write to every object's header, copying the whole heap into each child)
    gc.freeze()
    try:
        chunks = [names[i::processes * 4] for i in range(processes * 4)]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            parts = pool.map(_render_chunk, chunks)
    finally:
        _FORK_JOB = None
        gc.unfreeze()
    merged: dict[str, dict[str, str]] = {}
    for part in parts:
        merged.update(part)
    return {name: merged[name] for name in names}


def write_rendered(rendered: dict[str, dict[str, str]], out: Path) -> list[Path]:
    """Write out/<host>/<artifact>; a folder or file that cannot be written is a NetorchError
    naming it."""
    written = []
    for host, files in sorted(rendered.items()):
        path = folder = out / host
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in sorted(files.items()):
                path = folder / name
                path.write_text(text, encoding="utf-8")
                written.append(path)
        except OSError as exc:
            raise NetorchError(f"cannot write {path}: {exc.strerror or exc}") from None
    return written
