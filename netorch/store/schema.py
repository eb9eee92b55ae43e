"""The store's SQL layout and its connection. The one place that knows the layout and its
version: MIGRATIONS, applied in order on open (SQLite's user_version counts those applied).
Also the default path (NETORCH_STORE, else netorch/netorch.db in the XDG state directory:
$XDG_STATE_HOME, default ~/.local/state) and StoreBase, which opens, migrates and closes the
database and gives every part of the Store its lock and transactions.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from netorch.errors import StoreError

#: the default store, under the XDG state directory (never the current folder, which is usually
#: the user's repository of intents)
DEFAULT_STORE = "netorch/netorch.db"

#: SQLite's largest INTEGER: no run id is larger, and a larger number overflows a query
ROWID_MAX = 2**63 - 1

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


def state_home() -> Path:
    """The XDG state directory: $XDG_STATE_HOME when set to an absolute path (the XDG base
    directory specification ignores a relative one), else ~/.local/state."""
    configured = os.environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(configured):
        return Path(configured)
    home = os.path.expanduser("~")
    if not os.path.isabs(home):
        raise StoreError("no home folder for the default store (~/.local/state/netorch/netorch.db): "
                         "set NETORCH_STORE or XDG_STATE_HOME")
    return Path(home) / ".local" / "state"


def default_path() -> Path:
    """NETORCH_STORE when set (and not empty), else DEFAULT_STORE in the XDG state directory."""
    configured = os.environ.get("NETORCH_STORE", "")
    return Path(configured) if configured else state_home() / DEFAULT_STORE


class StoreBase:
    """The connection the parts of the Store share: one SQLite connection (WAL, foreign keys),
    migrated on open, guarded by one re-entrant lock; `_tx` is a transaction that commits, or
    rolls back and raises StoreError."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.RLock()
        try:
            # the default store's folder as the XDG specification asks: private to the user
            self.path.parent.mkdir(mode=0o700 if path is None else 0o777, parents=True, exist_ok=True)
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
