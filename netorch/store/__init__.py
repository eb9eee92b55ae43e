"""The local store: runs (apply, plan, drift), per-device results, diffs and the audit
trail, in SQLite by default. Created and migrated automatically; thread-safe.

It also keeps each verification (`netorch verify`, and the one plan and apply make before
touching any device, linked to their run): verdict, failed promises with counterexamples.

It is also what makes runs safe across processes:

* the write-ahead journal: an apply is in the store (revision, devices, each device's
  phase) before any device is touched, and each device's phase is written before the
  device enters it; a run whose process died shows as ``interrupted`` with each device's
  last phase, and ``netorch recover`` finishes it from the journal;
* per-device leases (holder, pid, actor, expiry), taken before prepare: runs that touch
  the same device never interleave, whichever process they come from. A lease held by a
  process of this machine that is gone, or one past its expiry, is stale and taken over.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netorch.errors import DeviceBusy, StoreError

DEFAULT_STORE = ".netorch/netorch.db"

MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL,
        actor TEXT NOT NULL,
        revision TEXT NOT NULL,
        status TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '{}',
        options TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE device_results (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        host TEXT NOT NULL,
        status TEXT NOT NULL,
        changed INTEGER NOT NULL DEFAULT 0,
        diff TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        details TEXT NOT NULL DEFAULT '{}',
        duration REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, host)
    );
    CREATE INDEX device_results_host ON device_results(host, run_id);
    CREATE INDEX runs_kind ON runs(kind, id);
    """,
    """
    ALTER TABLE runs ADD COLUMN process TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN heartbeat REAL;
    CREATE TABLE journal (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        host TEXT NOT NULL,
        platform TEXT NOT NULL,
        transport TEXT NOT NULL,
        phase TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}',
        updated_at REAL NOT NULL,
        PRIMARY KEY (run_id, host)
    );
    CREATE TABLE leases (
        host TEXT PRIMARY KEY,
        run_id INTEGER NOT NULL,
        holder TEXT NOT NULL,
        process TEXT NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE revisions (
        hash TEXT PRIMARY KEY,
        git_commit TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        files TEXT NOT NULL
    );
    CREATE TABLE run_artifacts (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        host TEXT NOT NULL,
        platform TEXT NOT NULL,
        transport TEXT NOT NULL,
        artifacts TEXT NOT NULL,
        desired TEXT NOT NULL,
        PRIMARY KEY (run_id, host)
    );
    """,
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        finished_at REAL
    );
    CREATE INDEX outbox_state ON outbox(state, id);
    CREATE TABLE outbox_totals (
        state TEXT PRIMARY KEY,
        count INTEGER NOT NULL
    );
    """,
    """
    CREATE TABLE verifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        actor TEXT NOT NULL,
        revision TEXT NOT NULL,
        against TEXT NOT NULL DEFAULT '',
        verdict TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        failures TEXT NOT NULL DEFAULT '[]',
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX verifications_run ON verifications(run_id);
    """,
]

#: finished outbox events (delivered, dead, dropped) kept for inspection; older ones are deleted
#: (their totals are kept in outbox_totals)
OUTBOX_KEEP = 1000

#: how many apply runs keep their per-device artifacts (what `netorch rollback` re-applies),
#: unless NETORCH_RETENTION says otherwise
DEFAULT_RETENTION = 100

#: a lease lives this long unless its holder renews it (the engine renews every third of it)
LEASE_TTL = 60.0
#: a run whose heartbeat is older than this (and whose process cannot be checked) is interrupted
STALE_AFTER = 3 * LEASE_TTL


@dataclass(frozen=True)
class DeviceRecord:
    host: str
    status: str
    changed: bool
    diff: str
    error: str
    details: dict[str, Any]
    duration: float


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str
    started_at: float
    finished_at: float | None
    actor: str
    revision: str
    status: str
    summary: dict[str, Any]
    options: dict[str, Any]
    devices: tuple[DeviceRecord, ...] = ()
    #: the verifications linked to the run (plan and apply: the one made before any device was touched)
    verifications: tuple[VerificationRecord, ...] = ()

    def as_dict(self, with_devices: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "started_at": self.started_at, "finished_at": self.finished_at,
            "actor": self.actor, "revision": self.revision, "status": self.status,
            "summary": self.summary, "options": self.options,
        }
        if with_devices:
            out["devices"] = [d.__dict__ for d in self.devices]
            out["verifications"] = [v.as_dict() for v in self.verifications]
        return out


#: verdicts of a verification: every promise holds / one fails; differential: no difference /
#: differences / incomplete (a device could not be read)
VERDICTS = ("ok", "fail", "same", "different", "incomplete")


@dataclass(frozen=True)
class VerificationRecord:
    """One `netorch verify` (kind verify), or the verification plan/apply made before touching
    any device (kind plan/apply, linked to the run). `against` is '' for the promises of the
    intents, else what the differential compared them with ('live', 'run 42', a revision).
    failures: the failed promises with their counterexamples; details: the report's statistics
    and, for a differential, the flows whose outcome changes. Plain data, no secrets."""

    id: int
    run_id: int | None
    kind: str
    created_at: float
    actor: str
    revision: str
    against: str
    verdict: str
    summary: str
    failures: list[dict[str, Any]]
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "run_id": self.run_id, "kind": self.kind, "created_at": self.created_at,
                "actor": self.actor, "revision": self.revision, "against": self.against or None,
                "verdict": self.verdict, "summary": self.summary, "failures": self.failures,
                "details": self.details}


@dataclass(frozen=True)
class JournalEntry:
    """One device's last recorded phase in a run, and what the run needs to finish it."""

    run_id: int
    host: str
    platform: str
    transport: str
    phase: str
    data: dict[str, Any]
    updated_at: float


@dataclass(frozen=True)
class OutboxEvent:
    """A webhook event in the outbox: pending until delivered, dead (gave up) or dropped (bound)."""

    id: int
    event: str
    payload: dict[str, Any]
    created_at: float
    state: str
    attempts: int
    last_error: str


@dataclass(frozen=True)
class Lease:
    host: str
    run_id: int
    holder: str
    process: str
    actor: str
    kind: str
    acquired_at: float
    expires_at: float


def default_path() -> Path:
    return Path(os.environ.get("NETORCH_STORE", DEFAULT_STORE))


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] == "Z":
        return None
    return fields[19] if len(fields) > 19 else ""


def this_process() -> str:
    """machine:pid:start-time of this process: a pid reused by another process does not match."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def process_alive(token: str) -> bool | None:
    """Whether the process a token names still runs; None when it runs on another machine."""
    machine, _, rest = token.partition(":")
    pid_text, _, start = rest.partition(":")
    if machine != socket.gethostname():
        return None
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    current = _start_time(pid)
    return current is not None and (not start or current == start)


class Store:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from None

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for index, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(script)
                self._db.execute(f"PRAGMA user_version = {index}")
            self._db.commit()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
                self._db.commit()
            except sqlite3.Error as exc:
                self._db.rollback()
                raise StoreError(f"store {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def start_run(self, kind: str, actor: str, revision: str, options: dict[str, Any] | None = None) -> int:
        with self._tx() as db:
            now = time.time()
            cur = db.execute(
                "INSERT INTO runs (kind, started_at, actor, revision, status, options, process, heartbeat)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (kind, now, actor, revision, "running", json.dumps(options or {}, sort_keys=True),
                 this_process(), now))
            return int(cur.lastrowid or 0)

    # -- the journal ------------------------------------------------------------------------
    def journal(self, run_id: int, entries: list[tuple[str, str, str, str, dict[str, Any] | None]]) -> None:
        """Record (host, platform, transport, phase, data) for devices of a run, in one transaction;
        data None keeps what was recorded before (data given is merged into it)."""
        if not entries:
            return
        now = time.time()
        with self._tx() as db:
            for host, platform, transport, phase, data in entries:
                row = db.execute("SELECT data FROM journal WHERE run_id=? AND host=?", (run_id, host)).fetchone()
                merged: dict[str, Any] = json.loads(row[0]) if row else {}
                merged.update(data or {})
                db.execute("INSERT OR REPLACE INTO journal (run_id, host, platform, transport, phase, data, updated_at)"
                           " VALUES (?,?,?,?,?,?,?)",
                           (run_id, host, platform, transport, phase, json.dumps(merged, sort_keys=True), now))
            db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (now, run_id))

    def journal_entries(self, run_id: int) -> list[JournalEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, host, platform, transport, phase, data, updated_at FROM journal WHERE run_id=?"
                " ORDER BY host", (run_id,)).fetchall()
        return [JournalEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6]) for r in rows]

    def heartbeat(self, run_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))

    def interrupted_runs(self) -> list[RunRecord]:
        """Runs still marked running whose process is gone (or silent for too long): marked
        interrupted here, and returned with every interrupted run not yet recovered."""
        with self._lock:
            rows = self._db.execute("SELECT id, process, heartbeat FROM runs WHERE status = 'running'").fetchall()
        dead = []
        for run_id, process, beat in rows:
            alive = process_alive(process) if process else False
            if alive is False or (alive is None and (beat or 0) < time.time() - STALE_AFTER):
                dead.append(run_id)
        if dead:
            with self._tx() as db:
                for run_id in dead:
                    db.execute("UPDATE runs SET status='interrupted' WHERE id=? AND status='running'", (run_id,))
        with self._lock:
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM runs WHERE status = 'interrupted' ORDER BY id").fetchall()]
        return [rec for rec in (self.run(i) for i in ids) if rec is not None]

    def set_status(self, run_id: int, status: str, summary: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            if summary is None:
                db.execute("UPDATE runs SET status=? WHERE id=?", (status, run_id))
            else:
                db.execute("UPDATE runs SET status=?, summary=?, finished_at=? WHERE id=?",
                           (status, json.dumps(summary, sort_keys=True, default=str), time.time(), run_id))

    # -- revisions and per-run artifacts ----------------------------------------------------
    def save_revision(self, revision: str, git_commit: str, files: dict[str, str]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO revisions (hash, git_commit, created_at, files) VALUES (?,?,?,?)",
                       (revision, git_commit, time.time(), json.dumps(files, sort_keys=True)))

    def revision_files(self, revision: str) -> tuple[str, str, dict[str, str]] | None:
        """(hash, git commit, files) of a stored revision, by hash or unique hash prefix."""
        with self._lock:
            rows = self._db.execute("SELECT hash, git_commit, files FROM revisions WHERE hash LIKE ? || '%'",
                                    (revision,)).fetchall()
        if len(rows) != 1:
            return None
        return rows[0][0], rows[0][1], json.loads(rows[0][2])

    def save_artifacts(self, run_id: int, devices: list[tuple[str, str, str, dict[str, str], dict[str, Any]]]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO run_artifacts (run_id, host, platform, transport, artifacts,"
                           " desired) VALUES (?,?,?,?,?,?)",
                           [(run_id, h, p, t, json.dumps(a, sort_keys=True), json.dumps(d, sort_keys=True))
                            for h, p, t, a, d in devices])

    def artifacts(self, run_id: int) -> dict[str, tuple[str, str, dict[str, str], dict[str, Any]]]:
        """{host: (platform, transport, artifacts, desired state)} that run `run_id` pushed."""
        with self._lock:
            rows = self._db.execute("SELECT host, platform, transport, artifacts, desired FROM run_artifacts"
                                    " WHERE run_id=?", (run_id,)).fetchall()
        return {r[0]: (r[1], r[2], json.loads(r[3]), json.loads(r[4])) for r in rows}

    def prune(self, keep: int | None = None) -> int:
        """Keep the artifacts of the last `keep` apply runs (NETORCH_RETENTION, default 100) and the
        revisions they or any run refers to; returns how many runs lost their artifacts."""
        if keep is None:
            try:
                keep = int(os.environ.get("NETORCH_RETENTION", DEFAULT_RETENTION))
            except ValueError:
                keep = DEFAULT_RETENTION
        keep = max(1, keep)
        with self._tx() as db:
            old = [r[0] for r in db.execute(
                "SELECT DISTINCT run_id FROM run_artifacts ORDER BY run_id DESC LIMIT -1 OFFSET ?", (keep,))]
            for run_id in old:
                db.execute("DELETE FROM run_artifacts WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM revisions WHERE hash NOT IN (SELECT r.revision FROM runs r JOIN run_artifacts a"
                       " ON a.run_id = r.id)")
        return len(old)

    # -- leases -----------------------------------------------------------------------------
    def acquire(self, hosts: list[str], run_id: int, actor: str, kind: str, wait: float = 0.0,
                ttl: float = LEASE_TTL, holder: str | None = None) -> str:
        """Take a lease on every host, all or none, waiting up to `wait` seconds for busy ones;
        DeviceBusy names the first busy host, its run, actor and since when. Returns the holder."""
        holder = holder or f"{kind}{run_id or ''}:{this_process()}:{secrets.token_hex(4)}"
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            busy = self._try_acquire(sorted(set(hosts)), run_id, holder, actor, kind, ttl)
            if busy is None:
                return holder
            if time.monotonic() >= deadline:
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(busy.acquired_at))
                where = f"run {busy.run_id}" if busy.run_id else f"a {busy.kind}"
                raise DeviceBusy(busy.host, busy.run_id, busy.actor, busy.kind,
                                 f"{busy.host} is busy in {where} ({busy.kind} by {busy.actor}, since {since})")
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def acquire_free(self, hosts: list[str], run_id: int, actor: str, kind: str, wait: float = 0.0,
                     ttl: float = LEASE_TTL) -> tuple[str, dict[str, DeviceBusy]]:
        """Take a lease on every host that is free (waiting up to `wait` seconds for busy ones);
        returns the holder and, for each host still busy, why. For runs that can do without some
        devices (a drift check reports a busy device as skipped)."""
        holder = f"{kind}{run_id or ''}:{this_process()}:{secrets.token_hex(4)}"
        todo = sorted(set(hosts))
        busy: dict[str, DeviceBusy] = {}
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            busy = {}
            for host in todo:
                try:
                    self.acquire([host], run_id, actor, kind, wait=0.0, ttl=ttl, holder=holder)
                except DeviceBusy as exc:
                    busy[host] = exc
            if not busy or time.monotonic() >= deadline:
                return holder, busy
            todo = sorted(busy)
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _try_acquire(self, hosts: list[str], run_id: int, holder: str, actor: str, kind: str,
                     ttl: float) -> Lease | None:
        now = time.time()
        with self._tx() as db:
            if not db.in_transaction:
                db.execute("BEGIN IMMEDIATE")  # read and write the leases atomically across processes
            placeholders = ",".join("?" for _ in hosts)
            rows = db.execute(f"SELECT host, run_id, holder, process, actor, kind, acquired_at, expires_at"  # noqa: S608
                              f" FROM leases WHERE host IN ({placeholders})", hosts).fetchall() if hosts else []
            for row in rows:
                lease = Lease(*row)
                if lease.holder == holder:
                    continue
                if lease.expires_at > now and process_alive(lease.process) is not False:
                    return lease
            for host in hosts:
                db.execute("INSERT OR REPLACE INTO leases (host, run_id, holder, process, actor, kind, acquired_at,"
                           " expires_at) VALUES (?,?,?,?,?,?,?,?)",
                           (host, run_id, holder, this_process(), actor, kind, now, now + ttl))
        return None

    def renew(self, holder: str, ttl: float = LEASE_TTL) -> int:
        with self._tx() as db:
            cur = db.execute("UPDATE leases SET expires_at=? WHERE holder=?", (time.time() + ttl, holder))
            return cur.rowcount

    def release(self, holder: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE holder=?", (holder,))

    def leases(self) -> list[Lease]:
        with self._lock:
            rows = self._db.execute("SELECT host, run_id, holder, process, actor, kind, acquired_at, expires_at"
                                    " FROM leases ORDER BY host").fetchall()
        return [Lease(*r) for r in rows]

    def record_device(self, run_id: int, record: DeviceRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO device_results (run_id, host, status, changed, diff, error, details, duration)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (run_id, record.host, record.status, int(record.changed), record.diff, record.error,
                 json.dumps(record.details, sort_keys=True, default=str), record.duration))

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at=?, status=?, summary=? WHERE id=?",
                       (time.time(), status, json.dumps(summary, sort_keys=True, default=str), run_id))

    def _run(self, row: tuple[Any, ...], devices: tuple[DeviceRecord, ...] = ()) -> RunRecord:
        return RunRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                         json.loads(row[7]), json.loads(row[8]), devices)

    # -- verifications ----------------------------------------------------------------------
    _VERIFICATION_COLUMNS = ("id, run_id, kind, created_at, actor, revision, against, verdict, summary, failures,"
                             " details")

    def save_verification(self, kind: str, actor: str, revision: str, verdict: str, summary: str,
                          failures: list[dict[str, Any]], details: dict[str, Any], against: str = "",
                          run_id: int | None = None) -> int:
        """Keep one verification; returns its id (link it to a run later with link_verification)."""
        if verdict not in VERDICTS:
            raise StoreError(f"unknown verification verdict {verdict!r}")
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO verifications (run_id, kind, created_at, actor, revision, against, verdict, summary,"
                " failures, details) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (run_id, kind, time.time(), actor, revision, against, verdict, summary,
                 json.dumps(failures, sort_keys=True, default=str), json.dumps(details, sort_keys=True, default=str)))
            return int(cur.lastrowid or 0)

    def link_verification(self, verification_id: int, run_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE verifications SET run_id=? WHERE id=?", (run_id, verification_id))

    @staticmethod
    def _verification(row: tuple[Any, ...]) -> VerificationRecord:
        return VerificationRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                                  json.loads(row[9]), json.loads(row[10]))

    def verification(self, verification_id: int) -> VerificationRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {self._VERIFICATION_COLUMNS} FROM verifications WHERE id=?",  # noqa: S608
                                   (verification_id,)).fetchone()
        return None if row is None else self._verification(row)

    def verifications(self, limit: int = 20, run_ids: list[int] | None = None) -> list[VerificationRecord]:
        """The latest verifications, newest first; with run_ids, those linked to these runs."""
        query = f"SELECT {self._VERIFICATION_COLUMNS} FROM verifications"  # noqa: S608
        args: list[Any] = []
        if run_ids is not None:
            if not run_ids:
                return []
            query += f" WHERE run_id IN ({','.join('?' for _ in run_ids)})"
            args += run_ids
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [self._verification(r) for r in rows]

    def runs(self, limit: int = 20, kind: str | None = None, host: str | None = None) -> list[RunRecord]:
        query = "SELECT id, kind, started_at, finished_at, actor, revision, status, summary, options FROM runs"
        args: list[Any] = []
        where = []
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if host:
            where.append("id IN (SELECT run_id FROM device_results WHERE host = ?)")
            args.append(host)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [self._run(r) for r in rows]

    def run(self, run_id: int) -> RunRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, kind, started_at, finished_at, actor, revision, status, summary, options"
                " FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            devs = self._db.execute(
                "SELECT host, status, changed, diff, error, details, duration FROM device_results"
                " WHERE run_id = ? ORDER BY host", (run_id,)).fetchall()
        devices = tuple(DeviceRecord(d[0], d[1], bool(d[2]), d[3], d[4], json.loads(d[5]), d[6]) for d in devs)
        record = self._run(row, devices)
        linked = tuple(reversed(self.verifications(limit=100, run_ids=[run_id])))
        return replace(record, verifications=linked) if linked else record

    def latest_by_host(self, kind: str, statuses: tuple[str, ...] | None = None) -> dict[str, tuple[int, DeviceRecord]]:
        """The most recent result of each host in runs of `kind` (among results with one of
        `statuses`, when given)."""
        only, args = "", [kind]
        if statuses is not None:
            only = " AND d2.status IN (" + ",".join("?" for _ in statuses) + ")"
            args += list(statuses)
        with self._lock:
            rows = self._db.execute(
                "SELECT d.run_id, d.host, d.status, d.changed, d.diff, d.error, d.details, d.duration"  # noqa: S608
                " FROM device_results d WHERE d.run_id = (SELECT MAX(d2.run_id) FROM device_results d2"
                " JOIN runs r2 ON r2.id = d2.run_id WHERE d2.host = d.host AND r2.kind = ?" + only + ")",
                args).fetchall()
        return {r[1]: (r[0], DeviceRecord(r[1], r[2], bool(r[3]), r[4], r[5], json.loads(r[6]), r[7]))
                for r in rows}

    def last_finished(self) -> dict[str, float]:
        """{kind: when its last finished run ended}."""
        with self._lock:
            rows = self._db.execute("SELECT kind, MAX(finished_at) FROM runs WHERE finished_at IS NOT NULL"
                                    " GROUP BY kind").fetchall()
        return {r[0]: float(r[1]) for r in rows}

    # -- the webhook outbox -----------------------------------------------------------------
    def outbox_add(self, event: str, payload: dict[str, Any], max_pending: int) -> tuple[int, int]:
        """Append an event to the outbox; beyond `max_pending` pending events the oldest are
        dropped. Returns the event's id and how many were dropped."""
        now = time.time()
        with self._tx() as db:
            cur = db.execute("INSERT INTO outbox (event, payload, created_at) VALUES (?,?,?)",
                             (event, json.dumps(payload, sort_keys=True, default=str), now))
            pending = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
            dropped = max(0, pending - max(1, max_pending))
            if dropped:
                db.execute("UPDATE outbox SET state = 'dropped', finished_at = ? WHERE id IN (SELECT id FROM outbox"
                           " WHERE state = 'pending' ORDER BY id LIMIT ?)", (now, dropped))
                self._count(db, "dropped", dropped)
            return int(cur.lastrowid or 0), dropped

    def outbox_next(self) -> OutboxEvent | None:
        """The oldest pending event (events are delivered in order)."""
        with self._lock:
            row = self._db.execute("SELECT id, event, payload, created_at, state, attempts, last_error FROM outbox"
                                   " WHERE state = 'pending' ORDER BY id LIMIT 1").fetchone()
        return None if row is None else OutboxEvent(row[0], row[1], json.loads(row[2]), *row[3:])

    def outbox_attempted(self, event_id: int, attempts: int, state: str, error: str = "") -> None:
        """Record an attempt: state stays pending (to retry), or becomes delivered or dead."""
        with self._tx() as db:
            finished = None if state == "pending" else time.time()
            cur = db.execute("UPDATE outbox SET state = ?, attempts = ?, last_error = ?, finished_at = ?"
                             " WHERE id = ? AND state = 'pending'", (state, attempts, error, finished, event_id))
            if state != "pending" and cur.rowcount:
                self._count(db, state, 1)
                db.execute("DELETE FROM outbox WHERE state != 'pending' AND id <= (SELECT id FROM outbox"
                           " WHERE state != 'pending' ORDER BY id DESC LIMIT 1 OFFSET ?)", (OUTBOX_KEEP,))

    def outbox_events(self, state: str | None = None) -> list[OutboxEvent]:
        query = "SELECT id, event, payload, created_at, state, attempts, last_error FROM outbox"
        args: tuple[str, ...] = ()
        if state is not None:
            query, args = query + " WHERE state = ?", (state,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [OutboxEvent(r[0], r[1], json.loads(r[2]), *r[3:]) for r in rows]

    def outbox_counts(self) -> dict[str, int]:
        """Events pending now, and how many were ever delivered, dead or dropped."""
        with self._lock:
            pending = self._db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
            totals = dict(self._db.execute("SELECT state, count FROM outbox_totals").fetchall())
        return {"pending": int(pending), **{s: int(totals.get(s, 0)) for s in ("delivered", "dead", "dropped")}}

    @staticmethod
    def _count(db: sqlite3.Connection, state: str, n: int) -> None:
        db.execute("INSERT INTO outbox_totals (state, count) VALUES (?, ?)"
                   " ON CONFLICT(state) DO UPDATE SET count = count + excluded.count", (state, n))
