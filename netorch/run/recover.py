"""Finish interrupted runs from the journal: `netorch recover`.

A run whose process died (SIGKILL, a crash, a lost machine) stays in the store with each
device's last phase. Recovery rolls its transaction back: every device that may have
changed (a commit was attempted) is brought back to the configuration it had before the
run, from what the run left on the device (the FRR driver's checkpoint files, which carry
the run's id), from the device's own pending confirmed commit (NETCONF: cancel-commit with
the persist id), or from the journal itself (netmiko devices, which have no revert timer:
the managed part of their configuration before the run is in the journal). Devices the run
never committed are left alone. A run whose devices had all finished is simply closed.
The recovery of each device is a `recover` action through the executor, like every other
device action: in this process or on the worker of the device's region.
"""

from __future__ import annotations

import time
from typing import Any

from netorch.device.messages import DeviceRequest, JobSpec
from netorch.errors import DeviceBusy, NetorchError, StoreError
from netorch.executor.base import ProgressFn
from netorch.run.engine import Engine
from netorch.run.options import RecoverOptions
from netorch.run.report import DeviceOutcome, RunReport, actor_name
from netorch.store import JournalEntry, RunRecord, Store
from netorch.transport.base import DeviceJob

#: phases in which a device may have been changed by the run
TOUCHED = ("committing", "committed", "confirming", "rolling_back")


def describe(store: Store, run: RunRecord) -> str:
    entries = store.journal_entries(run.id)
    phases = ", ".join(f"{e.host}: {e.phase}" for e in entries) or "no device recorded"
    return f"run {run.id} ({run.kind} by {run.actor}) was interrupted ({phases})"


def pending_notice(store: Store) -> list[str]:
    """One line per interrupted run, for commands that find one."""
    try:
        runs = store.interrupted_runs()
    except StoreError:
        return []
    return [describe(store, r) + ": run `netorch recover`" for r in runs if r.kind == "apply"]


def abandon_run(store: Store | None, run_id: int) -> str:
    """Close an interrupted run without touching its devices (an operator's decision)."""
    if store is None:
        raise NetorchError("no store")
    interrupted = {r.id: r for r in store.interrupted_runs()}
    if run_id not in interrupted:
        raise NetorchError(f"run {run_id} is not an interrupted run")
    run = interrupted[run_id]
    store.set_status(run_id, "abandoned", {**run.summary, "abandoned": "devices left as they were"})
    return describe(store, run).replace("was interrupted", "is abandoned") + ": its devices were not touched"


def recover(engine: Engine, options: RecoverOptions | None = None, *,
            progress: ProgressFn | None = None) -> RunReport:
    """Roll back every interrupted apply run; one report over all their devices."""
    options = options or RecoverOptions()
    workers, lock_wait = options.workers, options.lock_wait
    started = time.perf_counter()
    actor = options.actor or actor_name()
    store = engine.store if engine.store is not None else Store(":memory:")
    runs = [r for r in store.interrupted_runs() if r.kind == "apply"]
    revision = engine.ws.revision()
    if not runs:
        return RunReport("recover", "unchanged", [], revision, message="no interrupted run: nothing to recover")
    outcomes: list[DeviceOutcome] = []
    failed_runs: list[int] = []
    for run in runs:
        outs = _recover_run(engine, store, run, workers, progress, actor, lock_wait)
        outcomes += outs
        if any(o.status in ("failed", "unreachable") for o in outs):
            failed_runs.append(run.id)
    done = [r.id for r in runs if r.id not in failed_runs]
    parts = []
    if done:
        parts.append(f"run(s) {', '.join(map(str, done))} recovered: every device they had touched is as before them")
    if failed_runs:
        parts.append(f"run(s) {', '.join(map(str, failed_runs))} NOT fully recovered (see the devices); "
                     "run `netorch recover` again once they can be reached")
    report = RunReport("recover", "failed" if failed_runs else "recovered", outcomes, revision,
                       duration=time.perf_counter() - started, message="; ".join(parts),
                       options={"runs": [r.id for r in runs]})
    try:
        run_id = store.start_run("recover", actor, revision, report.options)
        report.run_id = run_id
        return engine.finish("recover", report, None, store, run_id)
    except StoreError as exc:
        report.message += f" (the store could not record it: {exc})"
        return report


def _recover_run(engine: Engine, store: Store, run: RunRecord, workers: int, progress: ProgressFn | None,
                 actor: str, lock_wait: float) -> list[DeviceOutcome]:
    entries = {e.host: e for e in store.journal_entries(run.id)}
    phases: tuple[str, ...] = TOUCHED
    rollout = run.options.get("rollout")
    if isinstance(rollout, dict) and not rollout.get("keep_completed"):
        phases = (*TOUCHED, "confirmed")  # a rollout stopped half-way goes back whole
    touched = {h: e for h, e in entries.items() if e.phase in phases}
    outcomes = {h: DeviceOutcome(h, e.platform, e.transport, "unchanged", phase=e.phase,
                                 error=f"run {run.id}: {e.phase}, not touched") for h, e in entries.items()
                if h not in touched}
    if not touched:
        store.set_status(run.id, "recovered", {**run.summary, "recovered": "nothing to undo"})
        return list(outcomes.values())
    hosts = sorted(touched)
    try:
        holder = store.acquire(hosts, run.id, actor, "recover", wait=lock_wait)
    except DeviceBusy as exc:
        return list(outcomes.values()) + [DeviceOutcome(h, touched[h].platform, touched[h].transport, "failed",
                                                        error=str(exc)) for h in hosts]
    try:
        return list(outcomes.values()) + _roll_back(engine, store, run, touched, workers, progress, actor, lock_wait)
    finally:
        store.release(holder)


def _jobs(engine: Engine, touched: dict[str, JournalEntry]) -> tuple[list[DeviceJob], list[DeviceOutcome]]:
    inventory = engine.ws.inventory()
    known = [h for h in touched if h in inventory.hosts]
    missing = [DeviceOutcome(h, touched[h].platform, touched[h].transport, "failed", phase=touched[h].phase,
                             error="no longer in the inventory: cannot be reached to recover it")
               for h in touched if h not in inventory.hosts]
    jobs = []
    if known:
        current, _ = engine.jobs(",".join(known))
        for job in current:
            artifacts: dict[str, Any] = touched[job.host].data.get("artifacts") or job.artifacts
            jobs.append(DeviceJob(job.host, job.platform, job.transport, dict(artifacts), job.desired))
    return jobs, missing


def _roll_back(engine: Engine, store: Store, run: RunRecord, touched: dict[str, JournalEntry], workers: int,
               progress: ProgressFn | None, actor: str, lock_wait: float) -> list[DeviceOutcome]:
    jobs, outcomes = _jobs(engine, touched)
    if not jobs:
        return outcomes
    results = {j.host: DeviceOutcome(j.host, j.platform, j.transport.value, phase=touched[j.host].phase)
               for j in jobs}
    requests = []
    for job in jobs:
        entry = touched[job.host]
        data = dict(entry.data.get("session") or {})
        data["confirming"] = entry.phase == "confirming"
        requests.append(DeviceRequest(host=job.host, action="recover", job=JobSpec.of(job), recovery=data))
    execution = engine.executor.open(engine.target(workers), jobs, progress, kind="recover", actor=actor,
                                     lock_wait=lock_wait, all_or_none=True)
    try:
        answers = execution.run("recover", requests)
    finally:
        execution.close()
    for host, out in results.items():
        entry = touched[host]
        answer = answers.get(host)
        out.duration = answer.duration if answer is not None else 0.0
        if answer is not None and answer.status == "rolled_back":
            out.status, out.final = "rolled_back", "old"
            out.error = f"run {run.id} ({entry.phase}): {answer.detail}"
        else:
            why = (answer.error if answer is not None else None) or "no answer from the executor"
            out.status, out.final = "failed", "unknown"
            out.error = f"run {run.id} ({entry.phase}): recovery failed: {why}"
    done = list(results.values())
    ok = all(o.status == "rolled_back" for o in done) and not outcomes
    try:
        store.journal(run.id, [(o.host, o.platform, o.transport, "recovered" if o.status == "rolled_back"
                                else touched[o.host].phase, {"recovery": o.error}) for o in done])
        if ok:
            store.set_status(run.id, "recovered", {**run.summary, "recovered": "rolled back"})
    except StoreError:
        pass
    return outcomes + done
