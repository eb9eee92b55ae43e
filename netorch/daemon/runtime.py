"""The daemon's engine room: runs (scheduled or asked for through the API) with per-device
exclusion, warm device sessions, metrics and webhook events.

The devices the daemon checks (its drift scope) are the deployable hosts (`data.deploy`) of the
current inventory that its schedules name (the union of their `limit`s; a schedule without one
names every deployable host), or every deployable host when there is no schedule. `/drift/status`
and `netorch_device_drift` cover exactly these, from the last result of each in the store, so
they are right at start-up, before the first check."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from nornir.core import Nornir

from netorch.daemon.config import DaemonConfig
from netorch.daemon.metrics import Metrics
from netorch.daemon.notify import Notifier
from netorch.errors import NetorchError
from netorch.run.drift import DriftChecker, DriftReport
from netorch.run.engine import Engine, open_engine
from netorch.run.options import ApplyOptions, DriftOptions, PlanOptions
from netorch.run.report import RunReport, status_counts
from netorch.service import Workspace
from netorch.store import DeviceRecord, Store
from netorch.transport.base import DeviceSession

log = logging.getLogger("netorch.daemon")

#: the results that tell a device's drift status (skipped: busy in another run, not checked)
CHECKED = ("in_sync", "drift", "unreachable", "error")
DRIFT_VALUE = {"in_sync": 0, "drift": 1}  # anything else checked: -1


class Busy(NetorchError):
    """Some of the devices are in another run (apply and drift exclude each other per device)."""


class DeviceLocks:
    """All-or-nothing, non-blocking reservation of devices for one run."""

    def __init__(self) -> None:
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self, hosts: list[str]) -> Iterator[None]:
        with self._lock:
            taken = sorted(self._busy.intersection(hosts))
            if taken:
                raise Busy(f"device(s) busy in another run: {', '.join(taken)}")
            self._busy.update(hosts)
        try:
            yield
        finally:
            with self._lock:
                self._busy.difference_update(hosts)

    def busy(self) -> list[str]:
        with self._lock:
            return sorted(self._busy)


class WarmPool:
    """Device sessions kept open between drift checks (bounded; rebuilt when the inventory
    changes; a broken session is dropped and reconnected by the next check)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.nornir: Nornir | None = None
        self.sessions: dict[str, DeviceSession] = {}
        self.key: str | None = None
        self.lock = threading.Lock()

    def get(self, engine: Engine, hosts: list[str], workers: int) -> tuple[Nornir, dict[str, DeviceSession]] | None:
        if len(hosts) > self.limit:
            return None
        inventory = engine.ws.inventory()
        key = f"{inventory.directory}:{engine.ws.revision()}:{workers}"
        with self.lock:
            wanted = set(hosts)
            if self.nornir is not None and (self.key != key or not wanted <= set(self.nornir.inventory.hosts)):
                self.close()
            if self.nornir is None:
                all_hosts = sorted(h.name for h in inventory.hosts.values() if h.data.deploy)[: self.limit]
                jobs_hosts = sorted(set(all_hosts) | wanted)
                from netorch.executor import nornir as plumbing

                self.nornir, _ = plumbing.build(engine.target(workers), jobs_hosts)
                self.key = key
            return self.nornir, self.sessions

    def close(self) -> None:
        if self.nornir is not None:
            from netorch.executor import nornir as plumbing

            plumbing.close(self.nornir)
        self.nornir = None
        self.sessions = {}
        self.key = None


class Runtime:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.store = Store(config.store)
        self.locks = DeviceLocks()
        self.pool = WarmPool(config.warm_connections)
        self.metrics = Metrics()
        self.notifier = Notifier(config.webhook, self.store)
        self.metrics.watch_outbox(self.notifier.counts)
        self.stop_event = threading.Event()
        self.started = time.time()
        self._gauged: set[str] = set()
        self._scope: tuple[object, list[str]] | None = None
        self._scope_lock = threading.Lock()
        self._gauge_lock = threading.Lock()
        # what a transition is measured from: the last in_sync/drift result of each device
        self._last_status: dict[str, str] = {
            host: rec.status for host, (_, rec) in self.store.latest_by_host("drift", ("in_sync", "drift")).items()}
        self._load_last_state()
        self.recover_interrupted()

    def scope(self) -> list[str]:
        """The devices the daemon checks (see the module docstring), sorted. Read from the current
        inventory (again only when its files change); while it cannot be read, the last scope."""
        from netorch.model.inventory import inventory_files
        from netorch.model.nornir_config import is_config_file, load_any

        folder = self.config.inventory
        stamp: list[tuple[str, int, int]] = []
        files = {folder.name: folder} if is_config_file(folder) else inventory_files(folder)
        for name, path in files.items():
            with contextlib.suppress(OSError):
                st = path.stat()
                stamp.append((name, st.st_mtime_ns, st.st_size))
        if is_config_file(folder):  # the hosts live elsewhere (Nautobot): read them again each minute
            stamp.append(("minute", int(time.time() // 60), 0))
        key = (str(folder), tuple(stamp))
        with self._scope_lock:
            if self._scope is not None and self._scope[0] == key:
                return self._scope[1]
            inventory, problems = load_any(folder)
            if inventory is None:
                log.warning("drift scope: cannot read the inventory (%s); keeping the last one",
                            problems[0].message if problems else "unknown problem")
                return self._scope[1] if self._scope is not None else []
            limits = [s.limit for s in self.config.schedules] or [None]
            hosts: set[str] = set()
            for limit in [None] if None in limits else limits:
                try:
                    hosts.update(h.name for h in inventory.select(limit) if h.data.deploy)
                except NetorchError as exc:  # a schedule naming a host or group that left the inventory
                    log.warning("drift scope: schedule limit %s", exc)
            self._scope = (key, sorted(hosts))
            return self._scope[1]

    def _load_last_state(self) -> None:
        """Metrics as they were: each checked device's last drift result, the last run of each kind."""
        self._set_drift_gauges(set(self.scope()), self.store.latest_by_host("drift", CHECKED))
        for kind, when in self.store.last_finished().items():
            if kind in ("drift", "apply"):
                self.metrics.last_run.labels(kind).set(when)

    def _set_drift_gauges(self, scope: set[str], latest: dict[str, tuple[int, DeviceRecord]]) -> None:
        with self._gauge_lock:  # runs on different devices end in parallel
            for host in sorted(self._gauged - scope):
                self.metrics.drift.remove(host)
                self._gauged.discard(host)
            for host, (_, rec) in latest.items():
                if host in scope and rec.status in CHECKED:
                    self.metrics.drift.labels(host).set(DRIFT_VALUE.get(rec.status, -1))
                    self._gauged.add(host)

    def _set_last_run(self, kind: str) -> None:
        when = self.store.last_finished().get(kind)
        self.metrics.last_run.labels(kind).set(when if when is not None else time.time())

    def recover_interrupted(self) -> RunReport | None:
        """At start-up: finish the runs a previous process left interrupted (journal), so that no
        device stays half-way through a transaction of a controller that is gone."""
        from netorch.run.options import RecoverOptions
        from netorch.run.recover import pending_notice, recover

        notices = pending_notice(self.store)
        if not notices:
            return None
        for line in notices:
            log.warning("%s", line)
        try:
            report = recover(self.engine(), RecoverOptions(workers=self.config.workers, actor="daemon"))
        except NetorchError as exc:
            log.error("recovery of interrupted runs failed: %s", exc)
            return None
        log.warning("recovery: %s", report.message)
        return report

    def workspace(self) -> Workspace:
        """A fresh workspace per run: intent edits are picked up without a restart."""
        c = self.config
        return Workspace(c.inventory, c.intents, c.templates)

    def engine(self) -> Engine:
        c = self.config
        return open_engine(self.workspace(), self.store, c.credentials, c.executor.spec())

    def _hosts(self, engine: Engine, limit: str | None) -> list[str]:
        return [h.name for h in engine.ws.select(limit) if h.data.deploy]

    def drift(self, limit: str | None = None, actor: str = "scheduler", remediate: bool = False,
              warm: bool = True) -> DriftReport:
        engine = self.engine()
        hosts = self._hosts(engine, limit)
        with self.locks.hold(hosts):
            started = time.perf_counter()
            pooled = self.pool.get(engine, hosts, self.config.workers) if warm else None
            checker = DriftChecker(engine)
            options = DriftOptions(limit=limit, workers=self.config.workers, actor=actor)
            nr, sessions = pooled if pooled is not None else (None, None)
            try:
                if pooled is None:
                    report = checker.check(options)
                else:
                    with self.pool.lock:
                        report = checker.check(options, nornir=nr, sessions=sessions)
                if remediate and not self.stop_event.is_set() and any(d.status == "drift" for d in report.devices):
                    with self.pool.lock:
                        checker.remediate(report, options, nornir=nr, sessions=sessions, stop=self.stop_event)
            finally:
                self.metrics.run_duration.labels("drift").observe(time.perf_counter() - started)
            self.metrics.runs.labels("drift", report.status).inc()
            self._after_drift(report)
            if report.recheck is not None:
                self._after_drift(report.recheck)
            return report

    def _after_drift(self, report: DriftReport) -> None:
        """Metrics and webhook events of a drift check: the gauge of each checked device (the
        scope), an event for each device that went into drift or back in sync."""
        scope = set(self.scope())
        self._set_drift_gauges(scope, {d.host: (report.run_id or 0, DeviceRecord(
            d.host, d.status, d.drifted, "", d.error, {}, d.duration)) for d in report.devices})
        for d in report.devices:
            if d.status == "skipped":
                continue
            if d.status in ("unreachable", "error"):
                self.metrics.device_errors.labels(d.host, d.status).inc()
            before = self._last_status.get(d.host)
            first_and_fine = before is None and d.status == "in_sync"
            if d.status in ("in_sync", "drift") and before != d.status and not first_and_fine:
                self.notifier.send({
                    "event": "drift" if d.status == "drift" else "in_sync",
                    "host": d.host, "run_id": report.run_id, "previous": before,
                    "config_differences": len(d.config), "state_issues": len(d.state),
                    "summary": [f"{c.kind}: {' / '.join(c.path)}" for c in d.config][:20]
                    + [f"{s.kind}: {s.subject}" for s in d.state][:20],
                    "time": time.time(),
                })
            if d.status in ("in_sync", "drift"):
                self._last_status[d.host] = d.status
        self._set_last_run("drift")

    def apply(self, actor: str, options: ApplyOptions) -> RunReport:
        engine = self.engine()
        hosts = self._hosts(engine, options.limit)
        options = replace(options, workers=self.config.workers, actor=actor)
        with self.locks.hold(hosts):
            started = time.perf_counter()
            report = engine.apply(options, stop=self.stop_event)
            self.metrics.run_duration.labels("apply").observe(time.perf_counter() - started)
            self.metrics.runs.labels("apply", report.status).inc()
            counts = status_counts(d.status for d in report.devices)
            for d in report.devices:
                if d.status in ("failed", "unreachable"):
                    self.metrics.device_errors.labels(d.host, d.status).inc()
            self._set_last_run("apply")
            self.notifier.send({
                "event": "apply_finished", "run_id": report.run_id, "status": report.status, "actor": actor,
                "dry_run": options.dry_run, "devices": counts, "checked": report.checked,
                "changed": sorted(d.host for d in report.devices if d.changed), "time": time.time(),
            })
            return report

    def plan(self, actor: str, options: PlanOptions) -> RunReport:
        engine = self.engine()
        hosts = self._hosts(engine, options.limit)
        with self.locks.hold(hosts):
            return engine.plan(replace(options, workers=self.config.workers, actor=actor, record=True))

    def close(self) -> None:
        self.stop_event.set()
        with self.pool.lock:
            self.pool.close()
        self.notifier.close()
        self.store.close()
