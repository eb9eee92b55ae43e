"""The embedded executor: Nornir's threaded runner in this process (the default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nornir.core.task import Task

from netorch.errors import DeviceBusy
from netorch.executor.base import ProgressFn
from netorch.executor.messages import DeviceRequest, DeviceResult
from netorch.executor.work import DeviceWork
from netorch.transport.base import DeviceJob, DeviceSession

if TYPE_CHECKING:
    from netorch.credentials import CredentialStore
    from netorch.engine import Engine

PhaseFn = Callable[[Any, str, set[str], Callable[[Task], None], ProgressFn | None], None]


class InProcessRun:
    """One run's phases as Nornir runs over its hosts, in this process."""

    def __init__(self, nr: Any, work: DeviceWork, phase: PhaseFn, progress: ProgressFn | None,
                 close: Callable[[], None] | None = None, creds: CredentialStore | None = None) -> None:
        self.nr = nr
        self.work = work
        self._phase = phase
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

        self._phase(self.nr, phase, set(by_host), fn, self.progress)
        return results

    def close(self) -> None:
        if self._close is not None:
            self._close()


class InProcessExecutor:
    kind = "inprocess"

    def check(self) -> None:
        return None

    def open(self, engine: Engine, jobs: list[DeviceJob], workers: int, progress: ProgressFn | None, *,
             kind: str, actor: str, lock_wait: float, all_or_none: bool,
             sessions: dict[str, DeviceSession] | None = None, nornir: object | None = None) -> InProcessRun:
        if nornir is not None:
            return InProcessRun(nornir, DeviceWork(sessions), engine._phase, progress)
        nr, creds = engine._nornir(jobs, workers)
        return InProcessRun(nr, DeviceWork(sessions), engine._phase, progress, close=lambda: engine._close(nr),
                            creds=creds)
