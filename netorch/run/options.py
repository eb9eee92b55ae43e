"""What a run is asked to do: one typed, frozen options object per kind of run.

Every entry point (a CLI command, an API endpoint, the scheduler, a remediation) builds one of
these and hands it to the engine; each field's default is defined once (netorch.defaults), so
that `--confirm-timeout` on the command line, `confirm_timeout` in the API and the default of
both are the same value on its way to the device (DeviceRequest.confirm_timeout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netorch.defaults import CONFIRM_TIMEOUT, LOCK_WAIT, READ_LOCK_WAIT, WORKERS
from netorch.run.rollout import Rollout


@dataclass(frozen=True)
class PlanOptions:
    #: a host, a group, or a comma list of them (None: every host)
    limit: str | None = None
    workers: int = WORKERS
    #: seconds to wait for a device another run holds
    lock_wait: float = LOCK_WAIT
    actor: str | None = None
    #: keep the plan in the store's history
    record: bool = False
    #: also save a plan file that `apply PLANFILE` applies exactly
    out: Path | None = None


@dataclass(frozen=True)
class ApplyOptions:
    limit: str | None = None
    workers: int = WORKERS
    #: prepare and diff every device, commit none
    dry_run: bool = False
    #: seconds a device with a revert timer waits for the confirm before it reverts by itself
    confirm_timeout: int = CONFIRM_TIMEOUT
    #: keep the devices that succeeded when others fail (otherwise all or nothing)
    best_effort: bool = False
    lock_wait: float = LOCK_WAIT
    actor: str | None = None
    #: canary and waves (None: every device at once)
    rollout: Rollout | None = None

    def as_dict(self) -> dict[str, Any]:
        """What the store and the report keep of the options."""
        return {"limit": self.limit, "workers": self.workers, "dry_run": self.dry_run,
                "confirm_timeout": self.confirm_timeout, "best_effort": self.best_effort}


@dataclass(frozen=True)
class DriftOptions:
    limit: str | None = None
    workers: int = WORKERS
    #: list the live lines netorch does not manage
    show_unmanaged: bool = False
    #: an unreachable device is reported, but does not make the check fail
    allow_unreachable: bool = False
    #: apply the intents to the drifted devices, then check them again
    remediate: bool = False
    actor: str | None = None
    #: keep the check in the store's history
    record: bool = True
    lock_wait: float = READ_LOCK_WAIT


@dataclass(frozen=True)
class RecoverOptions:
    workers: int = WORKERS
    lock_wait: float = LOCK_WAIT
    actor: str | None = None

