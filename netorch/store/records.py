"""The store's records: frozen plain data, what the Store returns (runs with their devices
and verifications, journal entries, outbox events, leases) and DeviceRecord, what it records
for each device of a run; VERDICTS, the verdicts a verification may have. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
