"""Revisions: what `netorch rollback` re-applies and what `netorch diff` compares.

Every apply stores its intents revision (a content hash of the intent and inventory files,
with the files themselves and the git commit when they live in a repository) and each
device's rendered artifacts and desired state. A rollback re-applies exactly an earlier
run's artifacts through the same transaction; a diff shows what differs between two
revisions, in the intents and per device.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from netorch.errors import NetorchError
from netorch.model.desired import DesiredState
from netorch.platforms import Transport
from netorch.run.engine import Target
from netorch.store import RunRecord, Store
from netorch.transport.base import DeviceJob

APPLIED = ("changed", "unchanged")


class RevisionError(NetorchError):
    """A run or revision that cannot be found or used."""


def _applied_runs(store: Store) -> list[RunRecord]:
    return [r for r in store.runs(limit=10_000, kind="apply") if r.status in APPLIED]


def find_run(store: Store, to: str | None) -> RunRecord:
    """The apply run that `--to` names: a run id, a revision (hash prefix), or by default the
    successful apply before the latest one whose revision differs from the latest's."""
    if to is not None and not to.strip():
        raise RevisionError("--to is empty: give an apply run id or a revision, or leave it out")
    runs = _applied_runs(store)
    if not runs:
        raise RevisionError("no successful apply in the store: nothing to roll back to")
    if to is None:
        latest = runs[0]
        earlier = [r for r in runs[1:] if r.revision != latest.revision]
        if not earlier:
            raise RevisionError(f"no earlier revision than {latest.revision} in the store")
        return earlier[0]
    if to.isdecimal():
        record = store.run(int(to))
        if record is None or record.kind != "apply":
            raise RevisionError(f"no apply run {to} in the store")
        if record.status not in APPLIED:
            raise RevisionError(f"run {to} did not complete ({record.status}): roll back to a run that did")
        return record
    matches = [r for r in runs if r.revision.startswith(to)]
    if not matches:
        raise RevisionError(f"no successful apply of a revision {to!r} in the store")
    if len({r.revision for r in matches}) > 1:
        raise RevisionError(f"revision {to!r} is ambiguous: {', '.join(sorted({r.revision for r in matches}))}")
    return matches[0]


def target(store: Store, to: str | None, hosts: list[str] | None = None) -> Target:
    """The jobs that put the devices back as run `to` left them (all its devices, or `hosts`)."""
    run = find_run(store, to)
    stored = store.artifacts(run.id)
    if not stored:
        raise RevisionError(f"run {run.id} keeps no artifacts (pruned by retention, or made before netorch kept "
                            "them): roll back to a later run")
    chosen = sorted(stored) if hosts is None else [h for h in hosts if h in stored]
    if hosts is not None and not chosen:
        raise RevisionError(f"run {run.id} did not touch any of: {', '.join(hosts)}")
    jobs = [DeviceJob(h, stored[h][0], Transport(stored[h][1]), dict(stored[h][2]),
                      DesiredState.model_validate(stored[h][3])) for h in chosen]
    return Target(run.id, run.revision, jobs)


@dataclass(frozen=True)
class RevisionDiff:
    a: str
    b: str
    intents: str
    devices: dict[str, str]

    def text(self) -> str:
        parts = [f"revision {self.a} -> {self.b}"]
        parts.append(self.intents or "(intents and inventory: no difference)")
        for host, diff in sorted(self.devices.items()):
            parts.append(f"== {host}\n{diff}")
        if not self.devices:
            parts.append("(device configurations: no difference)")
        return "\n".join(parts)


def _latest_artifacts(store: Store, revision: str) -> dict[str, dict[str, str]]:
    for run in _applied_runs(store):
        if run.revision == revision:
            stored = store.artifacts(run.id)
            if stored:
                return {h: v[2] for h, v in stored.items()}
    return {}


def diff(store: Store, rev_a: str, rev_b: str) -> RevisionDiff:
    found = []
    for rev in (rev_a, rev_b):
        item = store.revision_files(rev)
        if item is None:
            raise RevisionError(f"no single stored revision {rev!r} (see `netorch history`)")
        found.append(item)
    (a, _, files_a), (b, _, files_b) = found
    lines: list[str] = []
    for name in sorted(set(files_a) | set(files_b)):
        lines += difflib.unified_diff(files_a.get(name, "").splitlines(), files_b.get(name, "").splitlines(),
                                      f"{a}/{name}", f"{b}/{name}", lineterm="")
    arts_a, arts_b = _latest_artifacts(store, a), _latest_artifacts(store, b)
    devices: dict[str, str] = {}
    for host in sorted(set(arts_a) | set(arts_b)):
        one, two = arts_a.get(host, {}), arts_b.get(host, {})
        text: list[str] = []
        for name in sorted(set(one) | set(two)):
            text += difflib.unified_diff(one.get(name, "").splitlines(), two.get(name, "").splitlines(),
                                         f"{a}/{host}/{name}", f"{b}/{host}/{name}", lineterm="")
        if text:
            devices[host] = "\n".join(text)
    return RevisionDiff(a, b, "\n".join(lines), devices)
