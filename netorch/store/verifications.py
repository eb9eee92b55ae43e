"""Verifications: each `netorch verify`, and the one plan and apply make before touching any
device (linked to their run): verdict, summary, failed promises with counterexamples.
"""

from __future__ import annotations

import json
import time
from typing import Any

from netorch.errors import StoreError
from netorch.store.records import VERDICTS, VerificationRecord
from netorch.store.schema import ROWID_MAX, StoreBase


class VerificationsMixin(StoreBase):
    """The Store's verifications: save, link to a run, read back."""

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
        if not 0 < verification_id <= ROWID_MAX:
            return None
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
        args.append(min(limit, ROWID_MAX))
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [self._verification(r) for r in rows]
