"""Plan and apply: push compiled intents to devices, transactionally.

The unit of work is one device: a DeviceJob (serialisable inputs) in, a DeviceResult out
of the executor (netorch.executor), folded into a DeviceOutcome (netorch.run.report). Each
phase of a transaction is one executor call over the devices still in it:

    prepare   open, load the candidate, diff            (nothing changed yet)
    commit    commit the devices with a diff            (confirmed where the device has a timer)
    verify    post-checks: intended routes in the RIB
    confirm   confirm every commit, once all are verified

All-or-nothing by default: a failure in any phase rolls back the devices already
committed and the run fails with a per-device report (netorch.run.transaction).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netorch.credentials import CredentialStore
from netorch.defaults import CONFIRM_TIMEOUT, CONNECT_TIMEOUT, VERIFY_TIMEOUT, WORKERS
from netorch.device.messages import DeviceRequest, DeviceResult, JobSpec
from netorch.device.probes import service_probes
from netorch.errors import DeviceBusy, StoreError
from netorch.executor.base import Executor, ExecutorRun, ProgressFn, RunTarget
from netorch.executor.inprocess import InProcessExecutor
from netorch.model.ownership import protocol_kinds, retire_protocols
from netorch.plans import PlannedDevice, SavedPlan, new_plan
from netorch.platforms import spec
from netorch.run.options import ApplyOptions, PlanOptions
from netorch.run.report import DeviceOutcome, RunReport, actor_name, checked_count, scrubbed, status_counts
from netorch.run.rollout import run_rollout
from netorch.run.transaction import Heartbeat, Transaction, summarise
from netorch.service import Workspace
from netorch.store import DeviceRecord, Store
from netorch.transport.base import DeviceJob


@dataclass(frozen=True)
class Target:
    """What a rollback re-applies: the artifacts (and desired states) an earlier run pushed."""

    run_id: int
    revision: str
    jobs: list[DeviceJob]


def open_engine(workspace: Workspace, store: Store | None, credentials: str | Path | None = None,
                executor: str | None = None) -> Engine:
    """The one way the CLI and the daemon make an engine: over a workspace, recording into a store,
    its device work on the executor named like `--executor` (inprocess, celery[:URL])."""
    from netorch.executor.registry import executor_from_spec

    return Engine(workspace, store, str(credentials) if credentials else None, executor=executor_from_spec(executor))


class Engine:
    """Plan and apply over a workspace, recording every run in the store."""

    def __init__(self, workspace: Workspace, store: Store | None = None, credentials: str | None = None,
                 timeout: int = CONNECT_TIMEOUT, verify_timeout: float = VERIFY_TIMEOUT,
                 executor: Executor | None = None) -> None:
        self.ws = workspace
        self.executor: Executor = executor if executor is not None else InProcessExecutor()
        self.verify_timeout = verify_timeout
        self.store = store
        self.credentials_path = credentials
        self.timeout = timeout

    # -- jobs ---------------------------------------------------------------------------
    def jobs(self, limit: str | None) -> tuple[list[DeviceJob], list[DeviceOutcome]]:
        """Jobs for the deployable selected hosts; render-only hosts are reported as skipped."""
        desired = self.ws.compile()
        hosts = self.ws.select(limit)
        rendered = self.ws.render(limit)
        jobs, skipped = [], []
        for host in hosts:
            transport = host.transport
            if not host.data.deploy:
                skipped.append(DeviceOutcome(host.name, host.platform.value, transport.value, "skipped",
                                             phase="select", error="render-only (data.deploy is false)"))
                continue
            jobs.append(DeviceJob(host.name, host.platform.value, transport, rendered[host.name],
                                  desired[host.name]))
        return self._retiring(jobs), skipped

    def _retiring(self, jobs: list[DeviceJob]) -> list[DeviceJob]:
        """Jobs whose FRR configuration no longer renders a protocol block netorch pushed to the
        device with its last apply: that kind stays netorch's (ownership `protocols`), so the block
        it wrote is removed (and is drift until then), as a resource taken out of the intents is."""
        frr = {j.host: name for j in jobs for name in j.artifacts if spec(j.platform).dialect(name) == "frr"}
        if self.store is None or not frr:
            return jobs
        before = self.store.last_pushed(sorted(frr))
        out = []
        for job in jobs:
            name = frr.get(job.host)
            pushed = before.get(job.host, {}).get(name or "")
            gone = protocol_kinds(pushed) - protocol_kinds(job.artifacts[name]) if name and pushed else set()
            out.append(replace(job, artifacts={**job.artifacts, name: retire_protocols(job.artifacts[name], gone)})
                       if name and gone else job)
        return out

    def target(self, workers: int = WORKERS) -> RunTarget:
        """What an executor needs to reach this workspace's devices."""
        return RunTarget(self.ws.inventory(), self.credentials_path, self.timeout, workers)

    def record(self, kind: str, report: RunReport, creds: CredentialStore | None, actor: str) -> RunReport:
        scrubbed(report, creds)
        if self.store is None:
            return report
        run_id = self.store.start_run(kind, actor, report.revision, report.options)
        for d in report.devices:
            self.store.record_device(run_id, DeviceRecord(d.host, d.status, d.changed, d.diff, d.error,
                                                          {"phase": d.phase, "checks": d.checks,
                                                           "transport": d.transport}, d.duration))
        counts = status_counts(d.status for d in report.devices)
        self.store.finish_run(run_id, report.status, {"counts": counts, "checked": report.checked,
                                                      "message": report.message,
                                                      "duration": round(report.duration, 3)})
        report.run_id = run_id
        return report

    def _prepare(self, run: ExecutorRun, jobs: list[DeviceJob], outcomes: dict[str, DeviceOutcome],
                 expected: dict[str, str] | None = None) -> dict[str, DeviceResult]:
        """Connect, load, diff. With `expected` (a saved plan's fingerprints), a device whose live
        configuration is not the one the plan was made against fails as stale."""
        requests = [DeviceRequest(host=j.host, action="prepare", job=JobSpec.of(j),
                                  expected=None if expected is None else expected.get(j.host, ""))
                    for j in jobs]
        results = run.run("prepare", requests)
        for job in jobs:
            out = outcomes[job.host]
            out.phase = "prepare"
            result = results.get(job.host)
            if result is None:
                out.status, out.error = "unreachable", "prepare: no answer from the executor"
                continue
            out.status = result.status  # type: ignore[assignment]
            out.diff = result.diff or ""
            out.error = result.error or ""
            out.duration += result.duration
        return results

    @staticmethod
    def _discard(run: ExecutorRun, results: dict[str, DeviceResult]) -> None:
        opened = [h for h, r in results.items() if r.opened]
        if opened:
            run.run("discard", [DeviceRequest(host=h, action="discard") for h in opened])

    @contextlib.contextmanager
    def leased(self, hosts: list[str], kind: str, actor: str, wait: float) -> Iterator[None]:
        """Hold a lease on these devices in the store (exclusion across processes) meanwhile;
        DeviceBusy when another run holds one of them past `wait` seconds."""
        if self.store is None or not hosts:
            yield
            return
        holder = self.store.acquire(hosts, 0, actor, kind, wait=wait)
        try:
            yield
        finally:
            with contextlib.suppress(StoreError):
                self.store.release(holder)

    # -- plan ---------------------------------------------------------------------------
    def plan(self, options: PlanOptions | None = None, *, progress: ProgressFn | None = None) -> RunReport:
        """Per-device diffs of live against desired; with `out`, also a saved plan file that
        `apply PLANFILE` applies exactly (netorch.plans)."""
        options = options or PlanOptions()
        limit, workers, actor, lock_wait, out = options.limit, options.workers, options.actor, options.lock_wait, \
            options.out
        started = time.perf_counter()
        jobs, skipped = self.jobs(limit)
        revision = self.ws.revision()
        outcomes = {j.host: DeviceOutcome(j.host, j.platform, j.transport.value) for j in jobs}
        creds = None
        planned: list[PlannedDevice] = []
        if jobs:
            # a plan loads candidates on the devices (a NETCONF candidate lock, FRR candidate files):
            # it waits for a run that holds them, and no run starts on them meanwhile
            self.executor.check()
            try:
                with self.leased(sorted(outcomes), "plan", actor or actor_name(), lock_wait):
                    run = self.executor.open(self.target(workers), jobs, progress, kind="plan",
                                             actor=actor or actor_name(), lock_wait=lock_wait, all_or_none=True)
                    creds = run.creds
                    try:
                        results = self._prepare(run, jobs, outcomes)
                        if out is not None:
                            planned = [PlannedDevice(j.host, j.platform, j.transport.value, j.artifacts,
                                                     j.desired.model_dump(mode="json"),
                                                     results[j.host].fingerprint or "", outcomes[j.host].diff)
                                       for j in jobs if j.host in results and results[j.host].opened
                                       and outcomes[j.host].status in ("changes", "unchanged")]
                        self._discard(run, results)
                    finally:
                        run.close()
            except DeviceBusy as exc:
                for o in outcomes.values():
                    o.status, o.error = "failed", str(exc)
        devices = sorted(outcomes.values(), key=lambda d: d.host) + skipped
        changes = sum(1 for d in devices if d.changed)
        bad = sum(1 for d in devices if d.status in ("failed", "unreachable"))
        message = f"{changes} device(s) would change" if changes else "no changes"
        if bad:
            others = message.replace("no changes", "no changes on the others")
            message = f"{bad} device(s) could not be planned; {others}"
        status = "failed" if bad else ("changes" if changes else "unchanged")
        read = checked_count(d.status for d in devices)
        if not read:
            # nothing was read: nothing is known to be unchanged (exit code 1)
            skipped_n = sum(1 for d in devices if d.status == "skipped")
            message = (f"no device was read ({len(devices)} selected, {skipped_n} skipped): nothing is known "
                       "of the network" + (f"; {bad} could not be planned" if bad else ""))
            status = "failed" if bad else "unknown"
        if out is not None:
            if bad or not read:
                message += f"; no plan file written (every device must be planned): {out} not written"
            else:
                store_path = self.store.path if self.store is not None else Store().path
                new_plan(revision, actor or actor_name(), limit, planned).save(out, store_path)
                message += f"; plan saved to {out} (apply it with `netorch apply {out}`)"
        report = RunReport("plan", status, devices,
                           revision, duration=time.perf_counter() - started, message=message,
                           options={"limit": limit, "workers": workers})
        if options.record:
            return self.record("plan", report, creds, actor or actor_name())
        return scrubbed(report, creds)

    # -- apply --------------------------------------------------------------------------
    def apply(self, options: ApplyOptions | None = None, *, progress: ProgressFn | None = None,
              stop: threading.Event | None = None, saved: SavedPlan | None = None,
              target: Target | None = None) -> RunReport:
        """A transactional apply (see netorch.run.transaction): journalled before any device is
        touched, under a lease on every device, every device read back at the end.

        saved: apply exactly a saved plan (refused per device when stale, whole when the intents
        changed); target: re-apply the artifacts of an earlier run (rollback); options.rollout:
        canary and waves (netorch.run.rollout)."""
        options = options or ApplyOptions()
        limit, workers, dry_run, best_effort = options.limit, options.workers, options.dry_run, options.best_effort
        lock_wait, rollout = options.lock_wait, options.rollout
        started = time.perf_counter()
        actor = options.actor or actor_name()
        revision = self.ws.revision()
        expected: dict[str, str] | None = None
        skipped: list[DeviceOutcome] = []
        timeout = int(options.confirm_timeout or CONFIRM_TIMEOUT)
        recorded: dict[str, Any] = {**options.as_dict(), "confirm_timeout": timeout}
        if saved is not None:
            jobs = [d.job() for d in saved.devices]
            expected = {d.host: d.live_fingerprint for d in saved.devices}
            recorded["saved_plan"] = {"revision": saved.revision, "created_at": saved.created_at, "by": saved.actor}
        elif target is not None:
            jobs = target.jobs
            revision = target.revision
            recorded["rollback_to"] = {"run": target.run_id, "revision": target.revision}
        else:
            jobs, skipped = self.jobs(limit)
        if rollout is not None:
            recorded["rollout"] = rollout.as_dict()
        outcomes = {j.host: DeviceOutcome(j.host, j.platform, j.transport.value) for j in jobs}
        if not jobs:
            return RunReport("apply", "unchanged", skipped, revision, options=recorded, message="no devices")
        if rollout is not None:
            rollout.check(sorted(outcomes))  # a canary that is no device of the run: an error before anything
        self.executor.check()  # an executor that cannot take work now: an error before anything is recorded
        if saved is not None and saved.revision != revision:
            message = (f"the intents changed since the plan was made (plan revision {saved.revision}, now "
                       f"{revision}): make a new plan; nothing was pushed")
            for out in outcomes.values():
                out.status, out.error = "failed", message
            return RunReport("apply", "failed", sorted(outcomes.values(), key=lambda d: d.host), revision,
                             options=recorded, message=message)

        def refused(message: str, run_id: int | None = None) -> RunReport:
            for out in outcomes.values():
                out.status, out.error = "failed", message
            report = RunReport("apply", "failed", sorted(outcomes.values(), key=lambda d: d.host) + skipped,
                               revision, run_id=run_id, duration=time.perf_counter() - started, message=message,
                               options=recorded)
            return report

        store = self.store if self.store is not None else Store(":memory:")
        hosts = sorted(outcomes)
        # the journal first: a run the store cannot record touches no device
        try:
            pending = [r for r in store.interrupted_runs() if r.kind == "apply"]
            blocking = {r.id: sorted({e.host for e in store.journal_entries(r.id)} & set(hosts)) for r in pending}
            blocking = {k: v for k, v in blocking.items() if v}
            if blocking:
                first = min(blocking)
                return refused(f"run {first} was interrupted on {', '.join(blocking[first])}: run `netorch recover` "
                               "first; nothing was pushed")
            run_id = store.start_run("apply", actor, revision, recorded)
            store.journal(run_id, [(j.host, j.platform, j.transport.value, "planned", {}) for j in jobs])
            if target is None:
                store.save_revision(revision, self.ws.git_commit(), self.ws.revision_files())
            store.save_artifacts(run_id, [(j.host, j.platform, j.transport.value, j.artifacts,
                                           j.desired.model_dump(mode="json")) for j in jobs])
            store.prune()
        except StoreError as exc:
            return refused(f"the store cannot be written ({exc}): nothing was pushed")
        try:
            holder = store.acquire(hosts, run_id, actor, "apply", wait=lock_wait)
        except DeviceBusy as exc:
            report = refused(f"{exc}; nothing was pushed", run_id)
            return self.finish("apply", report, None, store, run_id)
        except StoreError as exc:
            report = refused(f"the store cannot be written ({exc}): nothing was pushed", run_id)
            return self.finish("apply", report, None, store, run_id)
        beat = Heartbeat(store, run_id, holder)
        beat.start()
        creds: CredentialStore | None = None
        committed: set[str] = set()
        message = ""
        run: ExecutorRun | None = None
        try:
            try:
                run = self.executor.open(self.target(workers), jobs, progress, kind="apply", actor=actor,
                                         lock_wait=lock_wait, all_or_none=True)
            except DeviceBusy as exc:
                beat.stop()
                report = refused(f"{exc}; nothing was pushed", run_id)
                return self.finish("apply", report, None, store, run_id)
            creds = run.creds
            nonce = secrets.token_hex(3)
            for job in jobs:
                job.options.update(run_id=run_id, run_nonce=nonce)
            prepared = self._prepare(run, jobs, outcomes, expected)
            bad = {h for h, o in outcomes.items() if o.status in ("failed", "unreachable")}
            to_commit = {h for h, o in outcomes.items() if o.status == "changes"}
            try:
                store.journal(run_id, [(h, outcomes[h].platform, outcomes[h].transport, "prepared",
                                        {"status": outcomes[h].status}) for h in hosts])
                trouble = beat.failed
            except StoreError as exc:
                trouble = str(exc)
            if dry_run or (bad and not best_effort) or (stop is not None and stop.is_set()) or trouble \
                    or not to_commit:
                self._discard(run, prepared)
                if trouble:
                    message = f"the store cannot be written ({trouble}): nothing was committed"
                    for h in to_commit:
                        outcomes[h].status, outcomes[h].error = "failed", message
                elif bad and not best_effort:
                    message = f"{len(bad)} device(s) failed to prepare: nothing was committed"
                elif stop is not None and stop.is_set():
                    message = "stopped before commit: nothing was committed"
                elif dry_run:
                    message = f"dry run: {len(to_commit)} device(s) would change"
            else:
                tx = Transaction(jobs, outcomes, store, run_id, run, progress, timeout, self.verify_timeout, beat,
                                 prepared)
                if rollout is None:
                    tx.execute(to_commit, best_effort)
                else:
                    waves = run_rollout(tx, to_commit, hosts, rollout, self._gate(run, jobs, prepared),
                                        stop=(stop.is_set) if stop is not None else None)
                    tx.finish()
                    recorded["waves"] = waves
                committed = tx.committed
                message = summarise(list(outcomes.values()), committed, timeout)
                if rollout is not None:
                    message = f"rollout of {len(recorded['waves'])} wave(s): " + "; ".join(
                        f"wave {w['wave']} {w['status']}" for w in recorded["waves"]) + f". {message}"
            if not committed and not message:
                message = self._state_message(run, outcomes, prepared)
        finally:
            beat.stop()
            if run is not None:
                if run.placement:
                    recorded["executor"] = {"kind": self.executor.kind, "placement": run.placement}
                run.close()
            with contextlib.suppress(StoreError):
                store.release(holder)
        devices = sorted(outcomes.values(), key=lambda d: d.host) + skipped
        failed_any = any(d.status in ("failed", "unreachable", "rolled_back", "reverted") for d in devices)
        changed = any(d.status == "changed" for d in devices)
        status = "failed" if failed_any else ("changed" if changed else ("dry_run" if dry_run else "unchanged"))
        report = RunReport("apply", status, devices, revision, duration=time.perf_counter() - started,
                           message=message, options=recorded)
        return self.finish("apply", report, creds, store, run_id)

    def _gate(self, run: ExecutorRun, jobs: list[DeviceJob],
              prepared: dict[str, DeviceResult]) -> Callable[[set[str]], dict[str, str]]:
        """A rollout's health gate: after each wave, every service probe (`probe_from`) of this run
        must still pass; a failure is blamed on the probing device, or on the wave."""
        _, intents, _ = self.ws.load()
        opened = {j.host: j.desired for j in jobs if prepared.get(j.host) and prepared[j.host].opened}
        probes = service_probes((item.value for item in intents.services), opened)

        def gate(wave: set[str]) -> dict[str, str]:
            problems: dict[str, str] = {}
            if not probes:
                return problems
            results = run.run("gate", [DeviceRequest(host=h, action="reach", probes=tuple(p))
                                       for h, p in sorted(probes.items())])
            for origin in sorted(probes):
                result = results.get(origin)
                found = list(result.problems) if result is not None else ["no answer from the executor"]
                if result is not None and result.status == "failed" and result.error:
                    found.append(result.error)
                for detail in found:
                    blame = origin if origin in wave else min(wave)
                    problems.setdefault(blame, detail)
            return problems

        return gate

    def _state_message(self, run: ExecutorRun, outcomes: dict[str, DeviceOutcome],
                       prepared: dict[str, DeviceResult]) -> str:
        """No config changes: say so only when the live state matches too (intended routes in
        the RIB); otherwise name what still differs."""
        hosts = sorted(h for h, o in outcomes.items() if o.status == "unchanged"
                       and h in prepared and prepared[h].opened)
        problems: dict[str, list[str]] = {}
        if hosts:
            results = run.run("state", [DeviceRequest(host=h, action="state") for h in hosts])
            for host in hosts:
                result = results.get(host)
                found = list(result.problems) if result is not None else ["state not readable: no answer"]
                if found:
                    problems[host] = found
                    outcomes[host].status = "failed"
                    outcomes[host].error = "config matches the intents, state does not: " + "; ".join(found)
        if problems:
            return (f"no config changes, but the live state differs on {len(problems)} device(s): "
                    + "; ".join(f"{h}: {p[0]}" for h, p in sorted(problems.items())))
        return "no changes: the network already matches the intents"

    def finish(self, kind: str, report: RunReport, creds: CredentialStore | None, store: Store,
                run_id: int) -> RunReport:
        """Record the devices' results and close the run (its journal stays)."""
        scrubbed(report, creds)
        report.run_id = run_id
        try:
            for d in report.devices:
                store.record_device(run_id, DeviceRecord(d.host, d.status, d.changed, d.diff, d.error,
                                                         {"phase": d.phase, "checks": d.checks, "final": d.final,
                                                          "transport": d.transport}, d.duration))
            counts = status_counts(d.status for d in report.devices)
            summary: dict[str, Any] = {"counts": counts, "checked": report.checked, "message": report.message,
                                       "duration": round(report.duration, 3)}
            if "waves" in report.options:
                summary["waves"] = report.options["waves"]
            store.finish_run(run_id, report.status, summary)
        except StoreError as exc:
            report.message += f" (the store could not record the result: {exc})"
            report.status = "failed"
        return report
