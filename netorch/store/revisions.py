"""Revisions (the files of each intent revision a run used, by hash) and each apply run's
per-device artifacts and desired state (what `netorch rollback` re-applies), with their
retention: prune keeps the artifacts of the last DEFAULT_RETENTION (or NETORCH_RETENTION)
apply runs and the revisions they refer to.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from netorch.store.schema import ROWID_MAX, StoreBase

#: how many apply runs keep their per-device artifacts (what `netorch rollback` re-applies),
#: unless NETORCH_RETENTION says otherwise
DEFAULT_RETENTION = 100


class RevisionsMixin(StoreBase):
    """The Store's revisions and per-run artifacts."""

    def save_revision(self, revision: str, git_commit: str, files: dict[str, str]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO revisions (hash, git_commit, created_at, files) VALUES (?,?,?,?)",
                       (revision, git_commit, time.time(), json.dumps(files, sort_keys=True)))

    def revision_files(self, revision: str) -> tuple[str, str, dict[str, str]] | None:
        """(hash, git commit, files) of a stored revision, by hash or unique hash prefix (taken as
        written: an empty prefix, or % and _, match nothing)."""
        if not revision:
            return None
        with self._lock:
            rows = self._db.execute("SELECT hash, git_commit, files FROM revisions WHERE substr(hash, 1, ?) = ?",
                                    (len(revision), revision)).fetchall()
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

    def last_pushed(self, hosts: list[str]) -> dict[str, dict[str, str]]:
        """{host: artifacts} of the last apply that left each host on its artifacts (changed, or
        already in sync); hosts never applied are absent. One query, whatever the fleet."""
        wanted = set(hosts)
        with self._lock:
            rows = self._db.execute(
                "SELECT a.host, a.artifacts FROM run_artifacts a JOIN ("
                " SELECT d.host, MAX(d.run_id) AS run_id FROM device_results d JOIN run_artifacts x"
                " ON x.run_id = d.run_id AND x.host = d.host"
                " WHERE d.status IN ('changed', 'unchanged') GROUP BY d.host"
                ") last ON a.host = last.host AND a.run_id = last.run_id").fetchall()
        return {host: json.loads(text) for host, text in rows if host in wanted}

    def prune(self, keep: int | None = None) -> int:
        """Keep the artifacts of the last `keep` apply runs (NETORCH_RETENTION, default 100) and the
        revisions they or any run refers to; returns how many runs lost their artifacts."""
        if keep is None:
            try:
                keep = int(os.environ.get("NETORCH_RETENTION", DEFAULT_RETENTION))
            except ValueError:
                keep = DEFAULT_RETENTION
        keep = min(max(1, keep), ROWID_MAX)  # more than SQLite counts: keep everything
        with self._tx() as db:
            old = [r[0] for r in db.execute(
                "SELECT DISTINCT run_id FROM run_artifacts ORDER BY run_id DESC LIMIT -1 OFFSET ?", (keep,))]
            for run_id in old:
                db.execute("DELETE FROM run_artifacts WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM revisions WHERE hash NOT IN (SELECT r.revision FROM runs r JOIN run_artifacts a"
                       " ON a.run_id = r.id)")
        return len(old)
