"""Scale-out on the lab: a redis-server started here, three `netorch worker` subprocesses
(one per region of the lab's devices), and the same plan, apply and drift through them as in
process, every device read back independently of netorch. A worker SIGKILLed mid-apply: the
transaction rolls back everywhere else and its devices revert by their own timers."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from faults import DEVICES, HOSTS, ROOT, everything, intents_with, live, wait_until

from netorch.executor.celery import CeleryExecutor
from netorch.lab import LabStatus
from netorch.run.drift import DriftChecker, DriftReport
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, DriftOptions, PlanOptions
from netorch.run.report import RunReport
from netorch.service import Workspace
from netorch.store import Store

sys.path.insert(0, str(ROOT / "tests"))
from executor_procs import Redis, Workers, redis_server

pytestmark = pytest.mark.lab

CONTROLLER = """
import os, signal
from pathlib import Path
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions
from netorch.executor.celery import CeleryExecutor
from netorch.service import Workspace
from netorch.store import Store

done = set()

def progress(phase, host, status):
    if phase == "commit":
        done.add(host)
        if len(done) == {count}:
            os.kill(os.getpid(), signal.SIGKILL)

eng = Engine(Workspace(Path({inventory!r}), Path({intents!r}), Path({templates!r})), Store(),
             credentials=os.environ["NETORCH_CREDENTIALS"], executor=CeleryExecutor({broker!r}))
eng.apply(ApplyOptions(limit={hosts!r}, confirm_timeout=15), progress=progress)
"""

REGIONS = {"r1": "north", "up1": "north", "r2": "south", "r3": "east", "r4": "east", "nc1": "east"}
EXTRA = ("routes:\n"
         "  - {name: scale-r1, prefix: 10.93.0.0/16, next_hop: 10.0.12.2, hosts: [r1]}\n"
         "  - {name: scale-r2, prefix: 10.93.0.0/16, next_hop: 10.0.24.2, hosts: [r2]}\n"
         "  - {name: scale-r3, prefix: 10.93.0.0/16, next_hop: 10.0.34.2, hosts: [r3]}\n"
         "  - {name: scale-r4, prefix: 10.93.0.0/16, interface: eth3, hosts: [r4]}\n"
         "  - {name: scale-up1, prefix: 10.93.0.0/16, next_hop: 10.0.25.1, hosts: [up1]}\n"
         "  - {name: scale-nc1, prefix: 10.93.0.0/16, next_hop: 10.9.0.254, hosts: [nc1]}\n")


def has_extra(text: str) -> bool:
    return "10.93.0.0/16" in text


def regional_inventory(folder: Path) -> Path:
    """The example inventory with a region per lab device."""
    shutil.copytree(ROOT / "inventory", folder)
    hosts: dict[str, Any] = yaml.safe_load((folder / "hosts.yaml").read_text())
    for host, region in REGIONS.items():
        hosts[host].setdefault("data", {})["region"] = region
    (folder / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    return folder


class Scaleout:
    def __init__(self, lab: LabStatus, redis: Redis, folder: Path) -> None:
        self.lab = lab
        self.redis = redis
        self.inventory = regional_inventory(folder / "inventory")
        self.workers = Workers(redis, self.inventory, ROOT / "intents", lab.credentials_file, folder)

    def ensure_workers(self) -> None:
        for region in sorted(set(REGIONS.values())):
            proc = self.workers.procs.get(region)
            if proc is None or proc.poll() is not None:
                self.workers.procs.pop(region, None)
                self.workers.start(region, region)

    def engines(self, intents: Path, folder: Path, **kw: Any) -> tuple[Engine, Engine]:
        ws = Workspace(self.inventory, intents, ROOT / "netorch" / "templates")
        creds = str(self.lab.credentials_file)
        local = Engine(ws, Store(folder / "local.db"), credentials=creds, **kw)
        remote = Engine(ws, Store(folder / "remote.db"), credentials=creds, executor=CeleryExecutor(self.redis.url),
                        **kw)
        return local, remote


@pytest.fixture(scope="module")
def scaleout(lab: LabStatus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaleout]:
    folder = tmp_path_factory.mktemp("scaleout")
    with redis_server(folder / "redis") as redis:
        s = Scaleout(lab, redis, folder)
        try:
            yield s
        finally:
            s.workers.stop_all()


def per_device(report: RunReport) -> dict[str, tuple[str, str]]:
    return {d.host: (d.status, d.diff) for d in report.devices}


def drift_view(report: DriftReport) -> dict[str, tuple[str, list[tuple[str, str, tuple[str, ...]]], list[str]]]:
    return {d.host: (d.status, sorted((c.artifact, c.kind, tuple(c.path)) for c in d.config),
                     sorted(f"{s.kind} {s.subject}" for s in d.state)) for d in report.devices}


def test_plan_apply_and_drift_through_three_workers_match_in_process(
        lab: LabStatus, baseline: dict[str, str], scaleout: Scaleout, tmp_path: Path) -> None:
    scaleout.ensure_workers()
    local, remote = scaleout.engines(intents_with(tmp_path, "a", EXTRA), tmp_path)
    # plan: the same diffs, device by device
    planned_here, planned_there = local.plan(PlanOptions(limit=HOSTS)), remote.plan(PlanOptions(limit=HOSTS))
    assert per_device(planned_there) == per_device(planned_here)
    assert [d.status for d in planned_there.devices] == ["changes"] * len(DEVICES)
    # apply through the workers: every device new, as read back by netorch and independently
    report = remote.apply(ApplyOptions(limit=HOSTS, confirm_timeout=60))
    assert report.exit_code == 0 and report.message == f"{len(DEVICES)} device(s) changed", report.message
    assert all(d.final == "new" for d in report.devices)
    placement = report.options["executor"]["placement"]
    assert set(placement) == set(DEVICES)
    assert len({placement[h] for h in DEVICES}) == 3  # one worker per region
    assert placement["r3"] == placement["r4"] == placement["nc1"] != placement["r1"]
    now = everything(lab)
    assert all(has_extra(now[h]) for h in DEVICES), [h for h in DEVICES if not has_extra(now[h])]
    # drift: in sync through either executor
    in_sync_here = DriftChecker(local).check(DriftOptions(limit=HOSTS))
    in_sync_there = DriftChecker(remote).check(DriftOptions(limit=HOSTS))
    assert drift_view(in_sync_there) == drift_view(in_sync_here)
    assert in_sync_there.status == "in_sync", drift_view(in_sync_there)
    # against the example intents the extra routes are drift: the same drift either way
    (tmp_path / "back").mkdir()
    back_here, back_there = scaleout.engines(ROOT / "intents", tmp_path / "back")
    drift_here = DriftChecker(back_here).check(DriftOptions(limit=HOSTS))
    drift_there = DriftChecker(back_there).check(DriftOptions(limit=HOSTS))
    assert drift_view(drift_there) == drift_view(drift_here)
    assert {d.host for d in drift_there.devices if d.status == "drift"} == set(DEVICES)


def test_a_worker_sigkilled_mid_apply_leaves_every_device_as_before(
        lab: LabStatus, baseline: dict[str, str], scaleout: Scaleout, tmp_path: Path) -> None:
    scaleout.ensure_workers()
    _, remote = scaleout.engines(intents_with(tmp_path, "a", EXTRA), tmp_path)
    killed: list[float] = []

    def progress(phase: str, host: str, status: str) -> None:
        # r2's worker dies once r2 is committed (confirmed: its own timer is running)
        if phase == "commit" and host == "r2" and not killed:
            scaleout.workers.kill("south")
            killed.append(time.monotonic())

    report = remote.apply(ApplyOptions(limit=HOSTS, confirm_timeout=20), progress=progress)
    assert killed, "the worker was never killed"
    devices = {d.host: d for d in report.devices}
    r2 = devices["r2"]
    assert report.exit_code == 1
    assert r2.final == "unknown" and r2.status == "unreachable" and "was lost" in r2.error, (r2.status, r2.error)
    assert "unknown state" in report.message and "r2" in report.message, report.message
    assert "restores its previous configuration within 20 s" in report.message
    others = [h for h in DEVICES if h != "r2"]
    assert all(devices[h].final == "old" and devices[h].status == "rolled_back" for h in others), \
        [(h, devices[h].status, devices[h].final, devices[h].error) for h in others]
    for host in others:  # read back independently: as before the run
        assert live(lab, host) == baseline[host], host
    # r2 reverts by its own timer, without any worker or controller
    wait_until(lambda: live(lab, "r2") == baseline["r2"], 60, "r2 to revert by itself")
    # a restarted worker serves the region in the next run
    scaleout.ensure_workers()
    again = remote.plan(PlanOptions(limit="r2"))
    assert again.devices[0].status == "changes" and has_extra(again.devices[0].diff)


def test_the_controller_sigkilled_after_commit_leaves_no_device_half_configured(
        lab: LabStatus, baseline: dict[str, str], scaleout: Scaleout, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess

    scaleout.ensure_workers()
    intents = intents_with(tmp_path, "a", EXTRA)
    store = tmp_path / "controller.db"
    env = {**os.environ, "NETORCH_STORE": str(store), "NETORCH_CREDENTIALS": str(lab.credentials_file),
           "PYTHONPATH": str(ROOT), "NETORCH_EXECUTOR": f"celery:{scaleout.redis.url}"}
    # a controller process that dies (SIGKILL, by itself) once the workers answered every commit
    script = tmp_path / "controller.py"
    script.write_text(CONTROLLER.format(inventory=str(scaleout.inventory), intents=str(intents),
                                        templates=str(ROOT / "netorch" / "templates"), broker=scaleout.redis.url,
                                        hosts=HOSTS, count=len(DEVICES)))
    proc = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=180, check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])
    runs = Store(store).runs(kind="apply", limit=1)
    phases = {e.host: e.phase for e in Store(store).journal_entries(runs[0].id)}
    assert set(phases.values()) == {"committing"}, phases  # it died inside the commit phase
    now = everything(lab)
    assert all(has_extra(now[h]) for h in DEVICES), "the commits did not reach every device"
    # no controller any more: every device with a revert timer of its own restores its previous
    # configuration by itself (the workers close the dead run's sessions, releasing nc1's lock)
    timed = [h for h in DEVICES if h != "r3"]
    wait_until(lambda: all(live(lab, h) == baseline[h] for h in timed), 60, "the devices to revert by themselves")
    # r3 is pushed through netmiko, which has no timer: the journal is its safety net, as in process
    assert has_extra(live(lab, "r3"))
    from netorch.run.recover import recover

    ws = Workspace(scaleout.inventory, intents, ROOT / "netorch" / "templates")
    fixed = recover(Engine(ws, Store(store), credentials=str(lab.credentials_file)))
    assert fixed.exit_code == 0, [(d.host, d.status, d.error) for d in fixed.devices]
    assert everything(lab) == baseline
    # the workers still serve: a plan through them after the Redis locks of the dead controller expire
    again = scaleout.engines(intents, tmp_path)[1].plan(PlanOptions(limit=HOSTS, lock_wait=60))
    assert [d.status for d in again.devices] == ["changes"] * len(DEVICES), [(d.host, d.error) for d in again.devices]
