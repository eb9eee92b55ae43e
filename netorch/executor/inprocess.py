"""The embedded executor: Nornir's threaded runner in this process (the default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nornir.core import Nornir
from nornir.core.task import Task

from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.device.work import DeviceWork
from netorch.errors import DeviceBusy
from netorch.executor import nornir as plumbing
from netorch.executor.base import ProgressFn, RunTarget
from netorch.transport.base import DeviceJob, DeviceSession

if TYPE_CHECKING:
    from netorch.credentials import CredentialStore


class InProcessRun:
    """One run's phases as Nornir runs over its hosts, in this process."""

    def __init__(self, nr: Nornir, work: DeviceWork, progress: ProgressFn | None,
                 close: Callable[[], None] | None = None, creds: CredentialStore | None = None) -> None:
        self.nr = nr
        self.work = work
        self.progress = progress
        self._close = close
        self.creds = creds
        self.busy: dict[str, DeviceBusy] = {}

    @property
    def placement(self) -> dict[str, str]:
        return {}

    @property
    def sessions(self) -> dict[str, DeviceSession]:
        return self.work.sessions

    def run(self, phase: str, requests: list[DeviceRequest]) -> dict[str, DeviceResult]:
        by_host = {r.host: r for r in requests}
        results: dict[str, DeviceResult] = {}

        def fn(task: Task) -> None:
            results[task.host.name] = self.work.handle(task, by_host[task.host.name])

        plumbing.run_phase(self.nr, phase, set(by_host), fn, self.progress)
        return results

    def close(self) -> None:
        if self._close is not None:
            self._close()


class InProcessExecutor:
    kind = "inprocess"

    def check(self) -> None:
        return None

    def open(self, target: RunTarget, jobs: list[DeviceJob], progress: ProgressFn | None, *,
             kind: str, actor: str, lock_wait: float, all_or_none: bool,
             sessions: dict[str, DeviceSession] | None = None, nornir: object | None = None) -> InProcessRun:
        if isinstance(nornir, Nornir):  # a warm pool's: reused, left open
            return InProcessRun(nornir, DeviceWork(sessions), progress)
        nr, creds = plumbing.build(target, [j.host for j in jobs])
        return InProcessRun(nr, DeviceWork(sessions), progress, close=lambda: plumbing.close(nr), creds=creds)
