"""What a run says: each device's outcome, and the run's report (plan, apply, rollback,
recover). Plain data, serialisable; the CLI, the daemon and the store read these."""

from __future__ import annotations

import getpass
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from netorch.credentials import CredentialStore, scrub

Status = Literal["unchanged", "changes", "changed", "failed", "unreachable", "rolled_back", "skipped",
                 "reverted"]


@dataclass
class DeviceOutcome:
    host: str
    platform: str
    transport: str
    status: Status = "unchanged"
    diff: str = ""
    error: str = ""
    phase: str = ""
    duration: float = 0.0
    checks: list[str] = field(default_factory=list)
    #: what the device reads back as after the run: new, old, diverged, unknown ('' untouched)
    final: str = ""
    #: what was sent to the device (the diff committed), kept when its state is unknown
    sent: str = ""
    #: the rollout wave the device was in (0: no rollout)
    wave: int = 0

    @property
    def changed(self) -> bool:
        return self.status in ("changes", "changed")

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "platform": self.platform, "transport": self.transport, "status": self.status,
                "changed": self.changed, "diff": self.diff, "error": self.error, "phase": self.phase,
                "final": self.final, "sent": self.sent, "wave": self.wave, "duration": round(self.duration, 3),
                "checks": self.checks}


@dataclass
class RunReport:
    kind: str
    status: str
    devices: list[DeviceOutcome]
    revision: str
    run_id: int | None = None
    duration: float = 0.0
    message: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def checked(self) -> int:
        """How many devices were actually read (the others were skipped, unreachable or failed)."""
        return checked_count(d.status for d in self.devices)

    @property
    def exit_code(self) -> int:
        bad = ("failed", "unreachable") if self.kind == "recover" else ("failed", "unreachable", "rolled_back",
                                                                       "reverted")
        if any(d.status in bad for d in self.devices) or self.status == "failed":
            return 1
        if self.kind == "plan" and not self.checked:
            return 1  # a plan that read no device knows nothing of the network
        if self.kind == "plan" and any(d.changed for d in self.devices):
            return 2
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "run_id": self.run_id, "revision": self.revision,
                "duration": round(self.duration, 3), "message": self.message, "options": self.options,
                "exit_code": self.exit_code, "checked": self.checked, "devices": [d.as_dict() for d in self.devices]}



def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    """How many devices ended in each status, in the order the statuses first appear."""
    return dict(Counter(statuses))


READ_STATUSES = frozenset({"unchanged", "changes", "changed", "rolled_back", "reverted", "in_sync", "drift"})
"""The statuses of a device that was read (plan, apply, drift): the others (skipped, unreachable,
failed, error) say nothing of what the device holds."""


def checked_count(statuses: Iterable[str]) -> int:
    """How many of the devices were actually read."""
    return sum(1 for s in statuses if s in READ_STATUSES)


def summary_line(checked: int, total: int, counts: dict[str, int]) -> str:
    """"checked 3 of 4 device(s): in_sync=2 drift=1 unreachable=1", for logs and summaries."""
    return f"checked {checked} of {total} device(s): " + " ".join(f"{k}={v}" for k, v in sorted(counts.items()))


def actor_name() -> str:
    if os.environ.get("NETORCH_ACTOR"):
        return os.environ["NETORCH_ACTOR"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def scrubbed(report: RunReport, creds: CredentialStore | None) -> RunReport:
    secrets = creds.secrets() if creds else set()
    for d in report.devices:
        d.error = scrub(d.error, secrets)
        d.diff = scrub(d.diff, secrets)
    return report


class _Json(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceOutcomeJson(_Json):
    """One device in a run's --json report."""

    host: str
    platform: str
    transport: str
    status: Status
    changed: bool = Field(description="the device has changes pending (plan) or was changed (apply)")
    diff: str
    error: str
    phase: str = Field(description="the last phase the device reached: select, prepare, commit, verify, confirm")
    final: Literal["", "new", "old", "diverged", "unknown"] = Field(
        description="what the device reads back as after the run ('' when the run did not touch it)")
    sent: str = Field(description="what was sent to the device, kept when its state is unknown")
    wave: int = Field(description="the rollout wave the device was in (0: no rollout)")
    duration: float
    checks: list[str]


class RunReportJson(_Json):
    """The --json report of plan, apply, rollback and recover."""

    kind: Literal["plan", "apply", "recover"]
    status: str
    run_id: int | None
    revision: str
    duration: float
    message: str
    options: dict[str, Any]
    exit_code: int = Field(description="0 success or nothing to change, 1 failure (or a plan that read no "
                           "device), 2 changes pending (plan)")
    checked: int = Field(description="how many devices were actually read (not skipped, unreachable or failed)")
    devices: list[DeviceOutcomeJson]
