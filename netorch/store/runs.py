"""Runs (apply, plan, drift ...: who, which revision, status, summary), each device's result
and diff, and the write-ahead journal: an apply is in the store (revision, devices, each
device's phase) before any device is touched, and each device's phase is written before the
device enters it; a run whose process died shows as ``interrupted`` with each device's last
phase, and ``netorch recover`` finishes it from the journal.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from netorch.store.leases import STALE_AFTER, process_alive, this_process
from netorch.store.records import DeviceRecord, JournalEntry, RunRecord
from netorch.store.schema import ROWID_MAX
from netorch.store.verifications import VerificationsMixin


class RunsMixin(VerificationsMixin):
    """The Store's runs, device results and journal. A run read back carries the verifications
    linked to it, hence built on the verifications."""

    def start_run(self, kind: str, actor: str, revision: str, options: dict[str, Any] | None = None) -> int:
        with self._tx() as db:
            now = time.time()
            cur = db.execute(
                "INSERT INTO runs (kind, started_at, actor, revision, status, options, process, heartbeat)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (kind, now, actor, revision, "running", json.dumps(options or {}, sort_keys=True),
                 this_process(), now))
            return int(cur.lastrowid or 0)

    def set_status(self, run_id: int, status: str, summary: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            if summary is None:
                db.execute("UPDATE runs SET status=? WHERE id=?", (status, run_id))
            else:
                db.execute("UPDATE runs SET status=?, summary=?, finished_at=? WHERE id=?",
                           (status, json.dumps(summary, sort_keys=True, default=str), time.time(), run_id))

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
        args.append(min(limit, ROWID_MAX))
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [self._run(r) for r in rows]

    def run(self, run_id: int) -> RunRecord | None:
        if not 0 < run_id <= ROWID_MAX:  # no such run, and SQLite cannot even be asked beyond its INTEGER
            return None
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
