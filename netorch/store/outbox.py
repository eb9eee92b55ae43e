"""The webhook outbox: events appended when they happen, delivered in order by the notifier;
pending until delivered, dead (gave up) or dropped (beyond the bound on pending events).
Finished events are kept for inspection up to OUTBOX_KEEP; their totals for ever.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from netorch.store.records import OutboxEvent
from netorch.store.schema import StoreBase

#: finished outbox events (delivered, dead, dropped) kept for inspection; older ones are deleted
#: (their totals are kept in outbox_totals)
OUTBOX_KEEP = 1000


class OutboxMixin(StoreBase):
    """The Store's webhook outbox."""

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
