"""The executor seam: the engine hands each phase's per-device work to an executor.

    Executor.open(RunTarget, jobs, ...)       -> ExecutorRun   one run (an apply, a plan, a drift check)
    ExecutorRun.run(phase, [DeviceRequest])   -> {host: DeviceResult}
    ExecutorRun.close()

An executor receives a RunTarget (plain data: the inventory, where the credentials are, the
timeouts), never the engine. A run keeps every device's session in one place for its whole
life (this process, or one worker): prepare opens it, the later phases find it there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from netorch.defaults import CONNECT_TIMEOUT, WORKERS
from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.errors import DeviceBusy
from netorch.model.inventory import InventoryView
from netorch.transport.base import DeviceJob, DeviceSession

if TYPE_CHECKING:
    from netorch.credentials import CredentialStore

#: progress(phase, host, what): called as each device finishes a phase
ProgressFn = Callable[[str, str, str], None]


@dataclass(frozen=True)
class RunTarget:
    """What an executor needs to reach the devices of a run: the inventory, the credentials
    file in force (None: each host's own, or the environment), connection timeout, parallelism."""

    inventory: InventoryView
    credentials: str | None = None
    timeout: int = CONNECT_TIMEOUT
    workers: int = WORKERS


class ExecutorRun(Protocol):
    #: hosts another controller holds (only where the executor has its own exclusion)
    busy: dict[str, DeviceBusy]
    creds: CredentialStore | None

    @property
    def placement(self) -> dict[str, str]:
        """Which worker holds each device's session ({} in process)."""
        ...

    def run(self, phase: str, requests: list[DeviceRequest]) -> dict[str, DeviceResult]: ...

    def close(self) -> None: ...


class Executor(Protocol):
    kind: str

    def check(self) -> None:
        """Raise ExecutorUnavailable when the executor cannot take work now."""

    def open(self, target: RunTarget, jobs: list[DeviceJob], progress: ProgressFn | None, *,
             kind: str, actor: str, lock_wait: float, all_or_none: bool,
             sessions: dict[str, DeviceSession] | None = None, nornir: object | None = None) -> ExecutorRun:
        """A run over these jobs' devices. all_or_none: DeviceBusy when another controller holds
        one of them past lock_wait; otherwise the busy ones are left out, named in run.busy.
        sessions and nornir: a warm pool's (the daemon's), reused and left open."""
        ...
