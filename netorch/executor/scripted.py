"""An executor that answers from a function: the test double of the executor seam, in the
manner of httpx's MockTransport.

    def device(phase: str, request: DeviceRequest) -> DeviceResult | None: ...
    engine = Engine(workspace, store, executor=ScriptedExecutor(device))

Every request of every phase goes to the function, which answers like a device would (or
None: no answer, as from a lost worker). With it the engine, transactions, rollouts and
recovery are tested for any combination of failures, without Nornir, sessions or a lab.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.errors import DeviceBusy, ExecutorUnavailable
from netorch.executor.base import ProgressFn, RunTarget
from netorch.transport.base import DeviceJob, DeviceSession

if TYPE_CHECKING:
    from netorch.credentials import CredentialStore

Handler = Callable[[str, DeviceRequest], "DeviceResult | None"]


class ScriptedRun:
    def __init__(self, executor: ScriptedExecutor, jobs: list[DeviceJob], progress: ProgressFn | None) -> None:
        self.executor = executor
        self.jobs = {j.host: j for j in jobs}
        self.progress = progress
        self.busy: dict[str, DeviceBusy] = {}
        self.creds: CredentialStore | None = None
        self.closed = False

    @property
    def placement(self) -> dict[str, str]:
        return {}

    def run(self, phase: str, requests: list[DeviceRequest]) -> dict[str, DeviceResult]:
        results: dict[str, DeviceResult] = {}
        for request in requests:
            self.executor.calls.append((phase, request))
            answer = self.executor.handler(phase, request)
            if answer is not None:
                results[request.host] = answer
            if self.progress is not None:
                self.progress(phase, request.host, "done")
        return results

    def close(self) -> None:
        self.closed = True


class ScriptedExecutor:
    """Answers every device request through `handler`; `unavailable`: check() refuses work."""

    kind = "scripted"

    def __init__(self, handler: Handler, unavailable: str = "") -> None:
        self.handler = handler
        self.unavailable = unavailable
        #: every (phase, request) in the order asked
        self.calls: list[tuple[str, DeviceRequest]] = []
        self.runs: list[ScriptedRun] = []

    def check(self) -> None:
        if self.unavailable:
            raise ExecutorUnavailable(self.unavailable)

    def open(self, target: RunTarget, jobs: list[DeviceJob], progress: ProgressFn | None, *,
             kind: str, actor: str, lock_wait: float, all_or_none: bool,
             sessions: dict[str, DeviceSession] | None = None, nornir: object | None = None) -> ScriptedRun:
        run = ScriptedRun(self, jobs, progress)
        self.runs.append(run)
        return run

    def actions(self, host: str | None = None) -> list[str]:
        """The actions asked, in order (of one device, or all)."""
        return [r.action for _, r in self.calls if host is None or r.host == host]
