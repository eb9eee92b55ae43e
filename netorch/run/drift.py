"""Drift over many devices: the run level of `netorch drift`.

Each device's drift is collected where its session is (netorch.device.drift, through the
executor); here the devices are selected, leased against concurrent runs, their reports
gathered, recorded in the store, and with --remediate the drifted ones are brought back to
intent through the apply path (same transactions, same records) and checked again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Literal

from pydantic import Field

from netorch.configtree.base import Difference, render_diffs
from netorch.credentials import CredentialStore
from netorch.device.drift import DeviceDrift, DriftModel
from netorch.device.messages import DeviceRequest, JobSpec, Probe
from netorch.device.probes import service_probes
from netorch.errors import StoreError
from netorch.executor.base import ProgressFn
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, DriftOptions
from netorch.run.report import RunReport, actor_name, checked_count, status_counts
from netorch.store import DeviceRecord
from netorch.transport.base import DeviceJob, DeviceSession


class DriftReport(DriftModel):
    """The result of `netorch drift --json`."""

    kind: Literal["drift"] = "drift"
    run_id: int | None = None
    revision: str
    status: Literal["in_sync", "drift", "error", "unknown"] = Field(
        description="in_sync: every device read matches; unknown: no device was read (exit code 1)")
    exit_code: int
    checked: int = Field(0, description="how many devices were actually read (in sync or drifted); the "
                         "others were skipped, unreachable or failed, and are never counted in sync")
    duration: float
    devices: list[DeviceDrift]
    remediation_run: dict[str, object] | None = Field(
        None, description="with --remediate: the apply report of the remediation")
    recheck: DriftReport | None = Field(
        None, description="with --remediate: the drift check of the remediated devices, right after")


# -- the run ----------------------------------------------------------------------------------
class DriftChecker:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def check(self, options: DriftOptions | None = None, *, progress: ProgressFn | None = None,
              sessions: dict[str, DeviceSession] | None = None, nornir: object | None = None) -> DriftReport:
        """Every selected device's drift; sessions and nornir: a warm pool's (the daemon's)."""
        options = options or DriftOptions()
        limit, workers, actor, lock_wait = options.limit, options.workers, options.actor, options.lock_wait
        started = time.perf_counter()
        eng = self.engine
        jobs, skipped = eng.jobs(limit)
        revision = eng.ws.revision()
        results: dict[str, DeviceDrift] = {}
        own_sessions = sessions is None
        sessions = {} if sessions is None else sessions
        creds = None
        if jobs:
            eng.executor.check()
            by_host = {j.host: j for j in jobs}
            probes = self._probes(jobs)
            # an apply and a drift check never overlap on a device, whichever process runs them:
            # a device another run holds (past lock_wait) is reported as skipped, busy
            holder = None
            if eng.store is not None:
                try:
                    holder, busy = eng.store.acquire_free(sorted(by_host), 0, actor or actor_name(), "drift",
                                                          wait=lock_wait)
                except StoreError:
                    busy = {}
                for host, why in busy.items():
                    job = by_host.pop(host)
                    results[host] = DeviceDrift(host=host, platform=job.platform, transport=job.transport.value,
                                                status="skipped", error=str(why))
            try:
                run = eng.executor.open(eng.target(workers), list(by_host.values()), progress, kind="drift",
                                        actor=actor or actor_name(), lock_wait=lock_wait, all_or_none=False,
                                        sessions=sessions, nornir=nornir)
                creds = run.creds
                for host, why in run.busy.items():
                    job = by_host.pop(host)
                    results[host] = DeviceDrift(host=host, platform=job.platform, transport=job.transport.value,
                                                status="skipped", error=str(why))
                try:
                    answers = run.run("drift", [DeviceRequest(host=h, action="drift", job=JobSpec.of(j),
                                                              show_unmanaged=options.show_unmanaged,
                                                              probes=tuple(probes.get(h, ())))
                                                for h, j in sorted(by_host.items())])
                finally:
                    if own_sessions:
                        run.close()
                for host, job in by_host.items():
                    answer = answers.get(host)
                    if answer is not None and answer.drift is not None:
                        results[host] = DeviceDrift.model_validate(answer.drift)
                    else:
                        error = (answer.error if answer is not None else None) or "no answer from the executor"
                        results[host] = DeviceDrift(host=host, platform=job.platform, transport=job.transport.value,
                                                    status="unreachable" if answer is None or answer.lost
                                                    else "error", error=error)
            finally:
                if holder is not None:
                    with contextlib.suppress(StoreError):
                        eng.store.release(holder)  # type: ignore[union-attr]
        devices = sorted(results.values(), key=lambda d: d.host)
        devices += [DeviceDrift(host=s.host, platform=s.platform, transport=s.transport, status="skipped",
                                error=s.error) for s in skipped]
        report = self._report(devices, revision, started, options.allow_unreachable)
        if options.record:
            report = self._record(report, actor or actor_name(), creds)
        if options.remediate and any(d.status == "drift" for d in devices):
            self.remediate(report, options, progress=progress, sessions=sessions, nornir=nornir)
        return report

    def remediate(self, report: DriftReport, options: DriftOptions, *, progress: ProgressFn | None = None,
                  sessions: dict[str, DeviceSession] | None = None, nornir: object | None = None,
                  stop: threading.Event | None = None) -> None:
        """Apply the intents to the drifted devices (same transaction and records as apply), then
        check them again so that the report, the store and the daemon see the result."""
        eng = self.engine
        # a device whose routing daemon is down cannot take a configuration: it is reported, not pushed
        drifted = ",".join(d.host for d in report.devices if d.status == "drift"
                           and not any(s.kind == "daemon_down" for s in d.state))
        if not drifted:
            return
        fix: RunReport = eng.apply(ApplyOptions(limit=drifted, workers=options.workers, actor=options.actor),
                                   progress=progress, stop=stop)
        report.remediation_run = fix.as_dict()
        again = DriftOptions(limit=drifted, workers=options.workers, actor=options.actor, record=options.record)
        report.recheck = self.check(again, progress=progress, sessions=sessions, nornir=nornir)
        if fix.exit_code != 0 or report.recheck.exit_code == 1:
            report.exit_code = 1

    def _probes(self, jobs: list[DeviceJob]) -> dict[str, list[Probe]]:
        _, intents, _ = self.engine.ws.load()
        return service_probes((item.value for item in intents.services), {j.host: j.desired for j in jobs})

    @staticmethod
    def _report(devices: list[DeviceDrift], revision: str, started: float, allow_unreachable: bool) -> DriftReport:
        """The run's status: error, drift, in_sync (of the devices read; --allow-unreachable lets the
        unreachable ones be), or unknown when no device was read at all, which never exits 0."""
        errors = [d for d in devices if d.status == "error" or (d.status == "unreachable" and not allow_unreachable)]
        drifted = [d for d in devices if d.status == "drift"]
        checked = checked_count(d.status for d in devices)
        status: Literal["in_sync", "drift", "error", "unknown"] = (
            "error" if errors else "drift" if drifted else "in_sync" if checked else "unknown")
        code = 1 if errors or not checked else (2 if drifted else 0)
        return DriftReport(revision=revision, status=status, exit_code=code, checked=checked,
                           duration=round(time.perf_counter() - started, 3), devices=devices)

    def _record(self, report: DriftReport, actor: str, creds: CredentialStore | None) -> DriftReport:
        # passwords never reach a report or the store, whatever a device or a library printed:
        # the run's credentials, or (no device was opened) the ones it would have used
        from netorch.credentials import scrub
        from netorch.transport.nornir_setup import credential_store

        if creds is None:
            creds = credential_store(self.engine.ws.inventory(), self.engine.credentials_path)
        secrets = creds.secrets()
        for d in report.devices:
            d.error = scrub(d.error, secrets)
        store = self.engine.store
        if store is None:
            return report
        run_id = store.start_run("drift", actor, report.revision, {})
        for d in report.devices:
            diff = render_diffs([Difference(c.kind, tuple(c.path), c.detail) for c in d.config])
            if d.state:
                diff += ("\n" if diff else "") + "\n".join(f"! state {s.kind}: {s.subject} {s.detail}".rstrip()
                                                           for s in d.state)
            store.record_device(run_id, DeviceRecord(
                d.host, d.status, d.drifted, diff, d.error,
                {"config": [c.model_dump() for c in d.config], "state": [s.model_dump() for s in d.state],
                 "remediation": d.remediation}, d.duration))
        counts = status_counts(d.status for d in report.devices)
        store.finish_run(run_id, report.status, {"counts": counts, "checked": report.checked,
                                                 "duration": report.duration})
        report.run_id = run_id
        return report


def schema() -> dict[str, object]:
    return DriftReport.model_json_schema()


__all__ = ["DriftChecker", "DriftReport", "schema"]
