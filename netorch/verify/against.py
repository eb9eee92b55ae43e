"""What `netorch verify --against` compares the current intents with: a stored run or revision
(from the store), or the network as it runs (read through the transports). The differential
goes from the older to the newer: RUN/REV -> intents, intents -> live.

- RUN (an apply run id): its revision's intent and inventory files, compiled again, with the
  desired state the run pushed for each device it touched; REV (a revision hash or a unique
  prefix of one): its files, compiled again. Only apply runs keep their revision's files.
- live: every selected device read through its transport in one session (the snapshot drift
  uses: running config, netorch's nftables table, the kernel's addresses and link state; and
  the RIB), under the same per-device leases as drift, so no run changes it meanwhile; the
  others (and what a transport cannot read) are modelled as intended, and the report says so."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from ipaddress import IPv4Network
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from netorch.defaults import READ_LOCK_WAIT, WORKERS
from netorch.errors import DeviceUnreachable, NetorchError, StoreError, TransportError, ValidationFailed
from netorch.model.desired import DesiredState
from netorch.service import Workspace
from netorch.util import paused_gc
from netorch.verify.differential import Differential, Side, differential
from netorch.verify.live import Reading, live_source, live_state
from netorch.verify.model import RibEntry

if TYPE_CHECKING:
    from nornir.core.task import Task

    from netorch.executor.base import ProgressFn
    from netorch.run.engine import Engine
    from netorch.store import Store
    from netorch.transport.base import DeviceSession



class AgainstError(NetorchError):
    """What --against names cannot be found or used."""


def current_side(ws: Workspace) -> Side:
    _, intents, _ = ws.load()
    return Side(f"intents {ws.revision()}", ws.compile(), ws.topology(), intents)


def _compiled(files: dict[str, str], templates: Path, what: str) -> Side:
    """A stored revision's files in a private folder, loaded and compiled."""
    with tempfile.TemporaryDirectory(prefix="netorch-revision-") as tmp:
        root = Path(tmp)
        for name, text in files.items():
            rel = PurePosixPath(name)
            if rel.is_absolute() or ".." in rel.parts or rel.parts[:1] not in (("intents",), ("inventory",)):
                raise AgainstError(f"{what}: stored file name {name!r} is not usable")
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (root / "intents").mkdir(exist_ok=True)
        ws = Workspace(root / "inventory", root / "intents", templates)
        try:
            desired = ws.compile()
        except ValidationFailed as exc:
            first = exc.problems[0] if exc.problems else None
            raise AgainstError(f"{what} does not validate today ({len(exc.problems)} problem(s); first: "
                               f"{first.message if first else '?'})") from None
        _, intents, _ = ws.load()
        return Side(what, desired, ws.topology(), intents)


def stored_side(store: Store, ref: str, templates: Path) -> Side:
    """RUN (a run id) or REV (a revision hash or unique prefix), from the store."""
    pushed: dict[str, DesiredState] = {}
    if ref.isdecimal():
        run = store.run(int(ref))
        if run is None:
            raise AgainstError(f"no run {ref} in {store.path} (see `netorch history`)")
        revision = run.revision
        what = f"run {run.id} (revision {revision})"
        pushed = {h: DesiredState.model_validate(v[3]) for h, v in store.artifacts(run.id).items()}
    else:
        revision, what = ref, f"revision {ref}"
    found = store.revision_files(revision)
    if found is None:
        raise AgainstError(f"{what}: no single stored revision {revision!r} (apply runs keep their revision's "
                           "files; see `netorch history --kind apply`)")
    full, _, files = found
    if not ref.isdecimal():
        what = f"revision {full}"
    side = _compiled(files, templates, what)
    if not pushed:
        return side
    desired = dict(side.desired)
    desired.update(pushed)
    return Side(what, desired, side.topo, side.intents)


def live_side(engine: Engine, limit: str | None = None, workers: int = WORKERS, progress: ProgressFn | None = None,
              lock_wait: float = READ_LOCK_WAIT, actor: str | None = None) -> Side:
    """The network as it runs: the selected devices read through their transports."""
    from netorch.credentials import scrub
    from netorch.device.session import open_session
    from netorch.executor import nornir as plumbing
    from netorch.run.report import actor_name

    ws = engine.ws
    current = current_side(ws)
    jobs, _ = engine.jobs(limit)
    by_host = {j.host: j for j in jobs}
    readings: dict[str, Reading] = {}
    unreadable: dict[str, str] = {}
    lock = threading.Lock()
    sessions: dict[str, DeviceSession] = {}

    def collect(task: Task) -> None:
        job = by_host[task.host.name]
        try:
            session = open_session(task, job, sessions, lock)
            snap = session.snapshot()
            rib = session.rib()
            reading = Reading(snap.config, snap.kernel, snap.interfaces, rib)
            with lock:
                readings[job.host] = reading
        except (DeviceUnreachable, TransportError) as exc:
            with lock:
                unreadable[job.host] = exc.message
        except Exception as exc:
            with lock:
                unreadable[job.host] = f"{type(exc).__name__}: {exc}"

    creds = None
    if jobs:
        nr, creds = plumbing.build(engine.target(workers), [j.host for j in jobs])
        holder = None
        try:
            if engine.store is not None:
                try:
                    holder, busy = engine.store.acquire_free(sorted(by_host), 0, actor or actor_name(), "verify",
                                                              wait=lock_wait)
                except StoreError:
                    busy = {}
                for host, why in busy.items():
                    by_host.pop(host)
                    unreadable[host] = str(why)
            plumbing.run_phase(nr, "verify", set(by_host), collect, progress)
        finally:
            if holder is not None and engine.store is not None:
                with contextlib.suppress(StoreError):
                    engine.store.release(holder)
            plumbing.close(nr)
    secrets = creds.secrets() if creds is not None else set()
    desired = dict(current.desired)
    ribs: dict[str, list[RibEntry]] = {}
    prefixes: set[IPv4Network] = set()
    notes: list[str] = []
    for host, reading in sorted(readings.items()):
        state, entries, found = live_state(desired[host], reading, by_host[host].transport.value)
        desired[host] = state
        notes += found
        if entries is not None:
            ribs[host] = entries
            prefixes.update(e.prefix for e in entries)
    modelled = sorted(set(current.desired) - set(readings) - set(unreadable))
    if modelled:
        notes.append(f"not read (modelled as intended): {', '.join(modelled)}")
    return Side("live", desired, current.topo, current.intents, (live_source(ribs),), frozenset(prefixes),
                tuple(scrub(n, secrets) for n in notes),
                tuple(f"{h}: {scrub(why, secrets)}" for h, why in sorted(unreadable.items())))


def verify_against(ws: Workspace, against: str, store: Store, credentials: str | None = None,
                   limit: str | None = None, workers: int = WORKERS, progress: ProgressFn | None = None,
                   actor: str | None = None) -> Differential:
    """The flows whose outcome differs between `against` and the current intents, from the older
    to the newer: from RUN or REV to the intents (what the intents changed since); from the
    intents to live (what the network does otherwise than the intents say: an out-of-band
    change, which an apply would undo)."""
    from netorch.run.engine import Engine

    intents = current_side(ws)
    if against == "live":
        before, after = intents, live_side(Engine(ws, store, credentials), limit, workers, progress, actor=actor)
    else:
        before, after = stored_side(store, against, ws.templates_dir), intents
    hosts = {h.name for h in ws.select(limit)} if limit is not None else None
    with paused_gc():
        result = differential(before, after, hosts)
    result.against = "live" if against == "live" else before.label
    return result


__all__ = ["AgainstError", "current_side", "live_side", "stored_side", "verify_against"]
