"""The local store: runs (apply, plan, drift), per-device results, diffs and the audit
trail, in SQLite by default. Created and migrated automatically; thread-safe."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netorch.errors import StoreError

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
]


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

    def as_dict(self, with_devices: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "started_at": self.started_at, "finished_at": self.finished_at,
            "actor": self.actor, "revision": self.revision, "status": self.status,
            "summary": self.summary, "options": self.options,
        }
        if with_devices:
            out["devices"] = [d.__dict__ for d in self.devices]
        return out


def default_path() -> Path:
    return Path(os.environ.get("NETORCH_STORE", DEFAULT_STORE))


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
            cur = db.execute(
                "INSERT INTO runs (kind, started_at, actor, revision, status, options) VALUES (?,?,?,?,?,?)",
                (kind, time.time(), actor, revision, "running", json.dumps(options or {}, sort_keys=True)))
            return int(cur.lastrowid or 0)

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
        return self._run(row, devices)

    def latest_by_host(self, kind: str) -> dict[str, tuple[int, DeviceRecord]]:
        """The most recent result of each host in runs of `kind`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT d.run_id, d.host, d.status, d.changed, d.diff, d.error, d.details, d.duration"
                " FROM device_results d JOIN runs r ON r.id = d.run_id WHERE r.kind = ?"
                " AND d.run_id = (SELECT MAX(d2.run_id) FROM device_results d2 JOIN runs r2 ON r2.id = d2.run_id"
                "                 WHERE d2.host = d.host AND r2.kind = ?)", (kind, kind)).fetchall()
        return {r[1]: (r[0], DeviceRecord(r[1], r[2], bool(r[3]), r[4], r[5], json.loads(r[6]), r[7]))
                for r in rows}
