"""Each verification kept in the store: when, who, the intents revision, what it was compared
with, the verdict, the failed promises with their counterexamples, and (for a differential)
the flows whose outcome changes. Plain data from the reports: no secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netorch.verify.differential import Differential
from netorch.verify.report import Report

if TYPE_CHECKING:
    from netorch.store import Store


def record_fields(result: Report | Differential, options: dict[str, Any] | None = None
                  ) -> tuple[str, str, list[dict[str, Any]], dict[str, Any], str]:
    """(verdict, summary, failures, details, against) of a report."""
    extra = {k: v for k, v in (options or {}).items() if v is not None}
    if isinstance(result, Differential):
        data = result.as_dict()
        details = {"counts": data["counts"], "changes": data["changes"], "notes": data["notes"],
                   "unreadable": data["unreadable"], "stats": data["stats"], "duration": data["duration"], **extra}
        against = result.against or result.before
        return result.verdict, result.summary(), [], details, against
    details = {"stats": result.stats, "warnings": len(result.warnings), "duration": round(result.duration, 3),
               **extra}
    return ("ok" if result.ok else "fail"), result.summary(), [f.as_dict() for f in result.failures], details, ""


def save(store: Store, kind: str, actor: str, revision: str, result: Report | Differential,
         options: dict[str, Any] | None = None, run_id: int | None = None) -> int:
    """Keep one verification (kind: verify, plan or apply); returns its id."""
    verdict, summary, failures, details, against = record_fields(result, options)
    return store.save_verification(kind, actor, revision, verdict, summary, failures, details, against=against,
                                   run_id=run_id)


__all__ = ["record_fields", "save"]
