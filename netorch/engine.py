"""Plan and apply: push compiled intents to devices through Nornir, transactionally.

The unit of work is one device: a DeviceJob (serialisable inputs) in, a
DeviceOutcome (typed, serialisable) out. Nornir's threaded runner is the local
executor; each phase of a transaction is one Nornir run over the hosts still in it:

    prepare   open, load the candidate, diff            (nothing changed yet)
    commit    commit the devices with a diff            (confirmed when --confirm-timeout)
    verify    post-checks: intended routes in the RIB
    confirm   confirm every commit, once all are verified

All-or-nothing by default: a failure in any phase rolls back the devices already
committed and the run fails with a per-device report.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from nornir.core import Nornir
from nornir.core.task import Result, Task

from netorch.credentials import CredentialStore, scrub
from netorch.errors import DeviceRejected, DeviceUnreachable, NetorchError, TransportError
from netorch.model.inventory import HostView
from netorch.platforms import Transport, spec
from netorch.service import Workspace
from netorch.store import DeviceRecord, Store
from netorch.transport.base import DeviceJob, DeviceSession
from netorch.transport.nornir_setup import build_nornir, credential_store

Status = Literal["unchanged", "changes", "changed", "failed", "unreachable", "rolled_back", "skipped",
                 "reverted"]
ProgressFn = Callable[[str, str, str], None]


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

    @property
    def changed(self) -> bool:
        return self.status in ("changes", "changed")

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "platform": self.platform, "transport": self.transport, "status": self.status,
                "changed": self.changed, "diff": self.diff, "error": self.error, "phase": self.phase,
                "duration": round(self.duration, 3), "checks": self.checks}


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
    def exit_code(self) -> int:
        if any(d.status in ("failed", "unreachable", "rolled_back", "reverted") for d in self.devices) \
                or self.status == "failed":
            return 1
        if self.kind == "plan" and any(d.changed for d in self.devices):
            return 2
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "run_id": self.run_id, "revision": self.revision,
                "duration": round(self.duration, 3), "message": self.message, "options": self.options,
                "exit_code": self.exit_code, "devices": [d.as_dict() for d in self.devices]}


def session_class(transport: Transport) -> type[DeviceSession]:
    if transport == Transport.NAPALM:
        from netorch.transport.napalm_session import NapalmSession

        return NapalmSession
    if transport == Transport.NETMIKO:
        from netorch.transport.netmiko_cli import NetmikoSession

        return NetmikoSession
    from netorch.transport.netconf import NcclientSession

    return NcclientSession


def transport_of(host: HostView) -> Transport:
    return host.data.transport or spec(host.platform).transport


def actor_name() -> str:
    if os.environ.get("NETORCH_ACTOR"):
        return os.environ["NETORCH_ACTOR"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, TransportError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class Engine:
    """Plan and apply over a workspace, recording every run in the store."""

    def __init__(self, workspace: Workspace, store: Store | None = None, credentials: str | None = None,
                 timeout: int = 30, verify_timeout: float = 5.0) -> None:
        self.ws = workspace
        self.verify_timeout = verify_timeout
        self.store = store
        self.credentials_path = credentials
        self.timeout = timeout
        self._lock = threading.Lock()

    # -- jobs ---------------------------------------------------------------------------
    def jobs(self, limit: str | None) -> tuple[list[DeviceJob], list[DeviceOutcome]]:
        """Jobs for the deployable selected hosts; render-only hosts are reported as skipped."""
        desired = self.ws.compile()
        hosts = self.ws.select(limit)
        rendered = self.ws.render(limit)
        jobs, skipped = [], []
        for host in hosts:
            transport = transport_of(host)
            if not host.data.deploy:
                skipped.append(DeviceOutcome(host.name, host.platform.value, transport.value, "skipped",
                                             phase="select", error="render-only (data.deploy is false)"))
                continue
            jobs.append(DeviceJob(host.name, host.platform.value, transport, rendered[host.name],
                                  desired[host.name]))
        return jobs, skipped

    def _nornir(self, jobs: list[DeviceJob], workers: int) -> tuple[Nornir, CredentialStore]:
        inventory = self.ws.inventory()
        creds = credential_store(inventory, self.credentials_path)
        return build_nornir(inventory, [j.host for j in jobs], workers, creds, self.timeout), creds

    # -- phases -------------------------------------------------------------------------
    def _phase(self, nr: Nornir, name: str, hosts: set[str], fn: Callable[[Task], None],
               progress: ProgressFn | None) -> None:
        if not hosts:
            return

        def task(t: Task) -> Result:
            fn(t)
            if progress is not None:
                progress(name, t.host.name, "done")
            return Result(host=t.host)

        nr.filter(filter_func=lambda h: h.name in hosts).run(task=task, name=name, raise_on_error=False)

    def _session(self, task: Task, job: DeviceJob, sessions: dict[str, DeviceSession]) -> DeviceSession:
        existing = sessions.get(job.host)
        if existing is not None:
            existing.job = job  # a warm session serves the current intents
            return existing
        cls = session_class(job.transport)
        try:
            conn = task.host.get_connection(cls.connection_name, task.nornir.config)
        except DeviceUnreachable:
            raise
        except Exception as exc:  # any library's connect failure
            hint = ""
            if not (task.host.username or task.host.password):
                hint = " (no credentials: set NETORCH_CREDENTIALS, --credentials or NETORCH_USERNAME/PASSWORD)"
            raise DeviceUnreachable(job.host, f"cannot connect over {job.transport.value}: "
                                    f"{type(exc).__name__}: {exc}{hint}") from None
        session = cls(job.host, conn, job)
        with self._lock:
            sessions[job.host] = session
        return session

    def _drop(self, task: Task, job: DeviceJob, sessions: dict[str, DeviceSession]) -> None:
        """Forget a broken session so that the next run reconnects."""
        with self._lock:
            sessions.pop(job.host, None)
        with contextlib.suppress(Exception):
            task.host.close_connection(session_class(job.transport).connection_name)

    def _close(self, nr: Nornir) -> None:
        with contextlib.suppress(Exception):  # closing a broken session must never fail a run
            nr.close_connections(on_good=True, on_failed=True)

    def _record(self, kind: str, report: RunReport, creds: CredentialStore | None, actor: str) -> RunReport:
        _scrubbed(report, creds)
        if self.store is None:
            return report
        run_id = self.store.start_run(kind, actor, report.revision, report.options)
        for d in report.devices:
            self.store.record_device(run_id, DeviceRecord(d.host, d.status, d.changed, d.diff, d.error,
                                                          {"phase": d.phase, "checks": d.checks,
                                                           "transport": d.transport}, d.duration))
        counts: dict[str, int] = {}
        for d in report.devices:
            counts[d.status] = counts.get(d.status, 0) + 1
        self.store.finish_run(run_id, report.status, {"counts": counts, "message": report.message,
                                                      "duration": round(report.duration, 3)})
        report.run_id = run_id
        return report

    def _prepare(self, nr: Nornir, jobs: list[DeviceJob], outcomes: dict[str, DeviceOutcome],
                 sessions: dict[str, DeviceSession], progress: ProgressFn | None) -> None:
        by_host = {j.host: j for j in jobs}

        def prepare(task: Task) -> None:
            job = by_host[task.host.name]
            out = outcomes[job.host]
            start = time.perf_counter()
            out.phase = "prepare"
            try:
                session = self._session(task, job, sessions)
                session.load()
                out.diff = session.diff()
                out.status = "changes" if out.diff else "unchanged"
            except DeviceUnreachable as exc:
                out.status, out.error = "unreachable", _error_text(exc)
            except (DeviceRejected, TransportError, NetorchError) as exc:
                out.status, out.error = "failed", _error_text(exc)
            except Exception as exc:
                out.status, out.error = "failed", _error_text(exc)
            out.duration += time.perf_counter() - start

        self._phase(nr, "prepare", set(by_host), prepare, progress)

    # -- plan ---------------------------------------------------------------------------
    def plan(self, limit: str | None = None, workers: int = 10, progress: ProgressFn | None = None,
             actor: str | None = None, record: bool = False) -> RunReport:
        started = time.perf_counter()
        jobs, skipped = self.jobs(limit)
        revision = self.ws.revision()
        outcomes = {j.host: DeviceOutcome(j.host, j.platform, j.transport.value) for j in jobs}
        sessions: dict[str, DeviceSession] = {}
        creds = None
        if jobs:
            nr, creds = self._nornir(jobs, workers)
            try:
                self._prepare(nr, jobs, outcomes, sessions, progress)
                for session in sessions.values():
                    session.discard()
            finally:
                self._close(nr)
        devices = sorted(outcomes.values(), key=lambda d: d.host) + skipped
        changes = sum(1 for d in devices if d.changed)
        bad = sum(1 for d in devices if d.status in ("failed", "unreachable"))
        message = f"{changes} device(s) would change" if changes else "no changes"
        if bad:
            others = message.replace("no changes", "no changes on the others")
            message = f"{bad} device(s) could not be planned; {others}"
        report = RunReport("plan", "failed" if bad else ("changes" if changes else "unchanged"), devices,
                           revision, duration=time.perf_counter() - started, message=message,
                           options={"limit": limit, "workers": workers})
        if record:
            return self._record("plan", report, creds, actor or actor_name())
        return _scrubbed(report, creds)

    # -- apply --------------------------------------------------------------------------
    def apply(self, limit: str | None = None, workers: int = 10, dry_run: bool = False,
              confirm_timeout: int | None = None, best_effort: bool = False,
              progress: ProgressFn | None = None, actor: str | None = None,
              stop: threading.Event | None = None) -> RunReport:
        started = time.perf_counter()
        actor = actor or actor_name()
        jobs, skipped = self.jobs(limit)
        revision = self.ws.revision()
        options = {"limit": limit, "workers": workers, "dry_run": dry_run, "confirm_timeout": confirm_timeout,
                   "best_effort": best_effort}
        outcomes = {j.host: DeviceOutcome(j.host, j.platform, j.transport.value) for j in jobs}
        sessions: dict[str, DeviceSession] = {}
        if not jobs:
            return RunReport("apply", "unchanged", skipped, revision, options=options, message="no devices")
        nr, creds = self._nornir(jobs, workers)
        committed: set[str] = set()
        message = ""
        try:
            self._prepare(nr, jobs, outcomes, sessions, progress)
            bad = {h for h, o in outcomes.items() if o.status in ("failed", "unreachable")}
            to_commit = {h for h, o in outcomes.items() if o.status == "changes"}
            if dry_run or (bad and not best_effort) or (stop is not None and stop.is_set()):
                for session in sessions.values():
                    session.discard()
                if bad and not best_effort:
                    message = f"{len(bad)} device(s) failed to prepare: nothing was committed"
                elif stop is not None and stop.is_set():
                    message = "stopped before commit: nothing was committed"
                else:
                    message = f"dry run: {len(to_commit)} device(s) would change"
            else:
                committed = self._commit_phases(nr, sessions, outcomes, to_commit, confirm_timeout,
                                                best_effort, progress)
                failed = [h for h, o in outcomes.items() if o.status in ("failed", "unreachable")]
                rolled = [h for h, o in outcomes.items() if o.status == "rolled_back"]
                if rolled:
                    message = (f"{len(failed)} device(s) failed; {len(rolled)} committed device(s) rolled back: "
                               "the network is as it was before the run")
                elif failed:
                    message = f"{len(failed)} device(s) failed ({'best effort' if best_effort else 'rolled back'})"
                elif committed:
                    message = f"{len(committed)} device(s) changed"
                else:
                    message = "no changes: the network already matches the intents"
        finally:
            self._close(nr)
        devices = sorted(outcomes.values(), key=lambda d: d.host) + skipped
        if dry_run:
            for d in devices:
                if d.status == "changed":
                    d.status = "changes"
        failed_any = any(d.status in ("failed", "unreachable", "rolled_back", "reverted") for d in devices)
        status = "failed" if failed_any else ("changed" if committed else ("dry_run" if dry_run else "unchanged"))
        report = RunReport("apply", status, devices, revision, duration=time.perf_counter() - started,
                           message=message, options=options)
        return self._record("apply", report, creds, actor)

    def _commit_phases(self, nr: Nornir, sessions: dict[str, DeviceSession], outcomes: dict[str, DeviceOutcome],
                       to_commit: set[str], confirm_timeout: int | None, best_effort: bool,
                       progress: ProgressFn | None) -> set[str]:
        committed: set[str] = set()
        lock = threading.Lock()

        def commit(task: Task) -> None:
            host = task.host.name
            out = outcomes[host]
            start = time.perf_counter()
            out.phase = "commit"
            try:
                sessions[host].commit(revert_in=confirm_timeout)
                with lock:
                    committed.add(host)
                out.status = "changed"
            except DeviceUnreachable as exc:
                out.status, out.error = "unreachable", _error_text(exc)
            except Exception as exc:
                out.status, out.error = "failed", _error_text(exc)
            out.duration += time.perf_counter() - start

        self._phase(nr, "commit", to_commit, commit, progress)

        def verify(task: Task) -> None:
            host = task.host.name
            out = outcomes[host]
            start = time.perf_counter()
            out.phase = "verify"
            try:
                # routes reach the RIB asynchronously after a commit: poll until every intended
                # route is there (and the preferred ones active), or the deadline passes
                deadline = time.monotonic() + self.verify_timeout
                while True:
                    checks = sessions[host].check_routes()
                    problems = [c.detail for c in checks if c.detail]
                    if not problems or time.monotonic() >= deadline:
                        break
                    time.sleep(0.1)
                out.checks = [f"{c.route.prefix} via {c.route.next_hop or c.route.interface}: "
                              f"{'active' if c.active else 'present' if c.present else 'missing'}" for c in checks]
                if problems:
                    out.status, out.error = "failed", "post-check failed: " + "; ".join(problems)
            except Exception as exc:
                out.status, out.error = "failed", f"post-check failed: {_error_text(exc)}"
            out.duration += time.perf_counter() - start

        failed_commit = any(o.status in ("failed", "unreachable") for o in outcomes.values())
        if not failed_commit or best_effort:
            self._phase(nr, "verify", set(committed), verify, progress)
        failed = {h for h, o in outcomes.items() if o.status in ("failed", "unreachable")}

        if failed and not best_effort:
            self._rollback(nr, sessions, outcomes, committed - failed, progress, reason="another device failed")
            self._rollback(nr, sessions, outcomes, committed & failed, progress, reason=None)
            return committed

        if confirm_timeout:
            def confirm(task: Task) -> None:
                host = task.host.name
                out = outcomes[host]
                out.phase = "confirm"
                try:
                    sessions[host].confirm()
                except Exception as exc:
                    out.status, out.error = "reverted", f"confirm failed: {_error_text(exc)}"

            self._phase(nr, "confirm", committed - failed, confirm, progress)
            if any(outcomes[h].status == "reverted" for h in committed) and not best_effort:
                ok = {h for h in committed if outcomes[h].status == "changed"}
                self._rollback(nr, sessions, outcomes, ok, progress, reason="another device did not confirm")
        return committed

    def _rollback(self, nr: Nornir, sessions: dict[str, DeviceSession], outcomes: dict[str, DeviceOutcome],
                  hosts: set[str], progress: ProgressFn | None, reason: str | None) -> None:
        def rollback(task: Task) -> None:
            host = task.host.name
            out = outcomes[host]
            try:
                sessions[host].rollback()
                if reason is not None:
                    out.status = "rolled_back"
                    out.error = f"rolled back: {reason}"
                else:
                    out.error += " (rolled back)"
            except Exception as exc:
                out.status = "failed"
                out.error = (out.error + "; " if out.error else "") + f"ROLLBACK FAILED: {_error_text(exc)}"

        self._phase(nr, "rollback", hosts, rollback, progress)


def _scrubbed(report: RunReport, creds: CredentialStore | None) -> RunReport:
    secrets = creds.secrets() if creds else set()
    for d in report.devices:
        d.error = scrub(d.error, secrets)
        d.diff = scrub(d.diff, secrets)
    return report
