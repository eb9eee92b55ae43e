"""Transactions under faults, on the lab: every device's final config is read back from the
device itself and compared with what the run's report says it is.

Faults: a slow management path (a delay proxy), a device lost during commit (sessions killed
by pid, management link down), two applies at once, the controller SIGKILLed between commit
and confirm (then `netorch recover`), a store that cannot be written (before and during a
run), a routing daemon killed before a remediation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from faults import (
    DEVICES,
    HOSTS,
    ROOT,
    _creds,
    cut_off,
    daemon_pid,
    engine_for,
    everything,
    intents_with,
    latency,
    live,
    pending_commit,
    reconnect,
    startup,
    wait_until,
)

from netorch.errors import StoreError
from netorch.executor import nornir as plumbing
from netorch.lab import LabStatus, up
from netorch.run.options import ApplyOptions, DriftOptions
from netorch.run.report import RunReport
from netorch.service import Workspace
from netorch.store import Store

pytestmark = pytest.mark.lab


EXTRA = ("routes:\n"
         "  - {name: fault-r1, prefix: 10.91.0.0/16, next_hop: 10.0.12.2, hosts: [r1]}\n"
         "  - {name: fault-r2, prefix: 10.91.0.0/16, next_hop: 10.0.24.2, hosts: [r2]}\n"
         "  - {name: fault-r3, prefix: 10.91.0.0/16, next_hop: 10.0.34.2, hosts: [r3]}\n"
         "  - {name: fault-r4, prefix: 10.91.0.0/16, interface: eth3, hosts: [r4]}\n"
         "  - {name: fault-up1, prefix: 10.91.0.0/16, next_hop: 10.0.25.1, hosts: [up1]}\n"
         "  - {name: fault-nc1, prefix: 10.91.0.0/16, next_hop: 10.9.0.254, hosts: [nc1]}\n")


def has_extra(text: str) -> bool:
    return "10.91.0.0/16" in text


def by_host(report: RunReport) -> dict[str, Any]:
    return {d.host: d for d in report.devices}


def assert_report_is_true(report: RunReport, before: dict[str, str], now: dict[str, str]) -> None:
    """Every device the run touched is what the report says it is, read back from the device."""
    for host, d in by_host(report).items():
        if host not in now:
            continue
        if d.final == "new":
            assert has_extra(now[host]), (host, "reported new, reads back without the change")
        elif d.final == "old":
            assert now[host] == before[host], (host, "reported as before the run, reads back otherwise")
        elif d.final == "":
            assert now[host] == before[host], (host, "reported untouched, but it changed")


# -- a slow device ----------------------------------------------------------------------------------
def test_a_slow_device_and_a_short_confirm_timeout_end_fully_applied_or_fully_rolled_back(
        lab: LabStatus, baseline: dict[str, str], tmp_path: Path) -> None:
    """3 s of round trip to r1 and --confirm-timeout 20: the other devices' timers would fire
    while r1 is still committing and verifying; the controller re-arms them (or rolls back)."""
    eng = engine_for(lab, intents_with(tmp_path, "a", EXTRA), Store(tmp_path / "s.db"))
    with latency(lab, "r1", 3.0):
        report = eng.apply(ApplyOptions(limit=HOSTS, confirm_timeout=20))
    now = everything(lab)
    assert_report_is_true(report, baseline, now)
    changed = {h for h in DEVICES if has_extra(now[h])}
    assert changed in (set(), set(DEVICES)), f"half applied: {sorted(changed)}"
    if changed:
        assert report.exit_code == 0 and report.message == "5 device(s) changed", report.message
        assert all(by_host(report)[h].final == "new" for h in DEVICES)
        # the controller had to re-arm at least one device's timer to get there
        assert any("re-armed" in c for h in DEVICES for c in by_host(report)[h].checks)
    else:
        assert report.exit_code == 1 and "the network is as it was before the run" in report.message
    # and no timer is left pending on any device to change it behind the report
    for host in ("r1", "r2", "r4"):
        assert not pending_commit(lab, host), host


# -- a device lost in the middle of its commit ------------------------------------------------------
def test_a_device_lost_during_commit_is_reported_unknown_and_reverts_by_itself(
        lab: LabStatus, baseline: dict[str, str], tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    eng = engine_for(lab, intents_with(tmp_path, "a", EXTRA), store, timeout=10)
    result: dict[str, RunReport] = {}

    def run() -> None:
        result["report"] = eng.apply(ApplyOptions(limit=HOSTS, confirm_timeout=15))

    import threading

    with latency(lab, "r1", 2.0):
        worker = threading.Thread(target=run)
        worker.start()

        def r1_committing() -> bool:
            runs = store.runs(kind="apply", limit=1)
            return bool(runs) and any(e.host == "r1" and e.phase == "committing"
                                      for e in store.journal_entries(runs[0].id))

        wait_until(r1_committing, 90, "r1 to enter its commit")
        # the commit's first step has reached r1 (its revert timer is armed with the first change);
        # its answer is still on the way back through the 2 s of latency when r1 is cut off
        wait_until(lambda: pending_commit(lab, "r1"), 30, "r1's commit to reach it")
        cut_off(lab, "r1")
        worker.join(timeout=120)
    assert not worker.is_alive()
    report = result["report"]
    r1 = by_host(report)["r1"]
    try:
        assert report.exit_code == 1
        assert r1.final == "unknown" and r1.status in ("unreachable", "failed"), (r1.status, r1.final, r1.error)
        assert "as it was before the run" not in report.message
        assert "unknown state" in report.message and "r1" in report.message
        assert "10.91.0.0/16" in r1.as_dict()["sent"]  # what was sent is in the report
        others = {h: live(lab, h) for h in DEVICES if h != "r1"}
        assert_report_is_true(report, baseline, others)
        assert all(by_host(report)[h].final == "old" for h in others), [(h, by_host(report)[h].final) for h in others]
    finally:
        reconnect(lab, "r1")
    # r1's own timer restores it, whatever part of the commit reached it
    wait_until(lambda: live(lab, "r1") == baseline["r1"], 60, "r1 to revert by itself")


# -- two applies at once ----------------------------------------------------------------------------
CLI = [sys.executable, "-m", "netorch.cli"]


def cli(args: list[str], store: Path, lab: LabStatus, **popen: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "NETORCH_STORE": str(store), "NETORCH_CREDENTIALS": str(lab.credentials_file),
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([*CLI, "--inventory", str(ROOT / "inventory"),
                             "--templates", str(ROOT / "netorch" / "templates"), *args],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_two_applies_on_overlapping_devices_never_interleave(lab: LabStatus, baseline: dict[str, str],
                                                            tmp_path: Path) -> None:
    store = tmp_path / "shared.db"
    a = intents_with(tmp_path, "a", "routes:\n  - {name: a-r1, prefix: 10.92.0.0/16, next_hop: 10.0.12.2, "
                     "hosts: [r1]}\n  - {name: a-r2, prefix: 10.92.0.0/16, next_hop: 10.0.25.2, hosts: [r2]}\n")
    b = intents_with(tmp_path, "b", "routes:\n  - {name: b-r1, prefix: 10.93.0.0/16, next_hop: 10.0.12.2, "
                     "hosts: [r1]}\n  - {name: b-r4, prefix: 10.93.0.0/16, next_hop: 10.0.24.1, hosts: [r4]}\n")
    with latency(lab, "r1", 1.0):
        first = cli(["--intents", str(a), "apply", "--limit", "r1,r2", "--json", "--lock-wait", "0.5"], store, lab)
        wait_until(lambda: bool(Store(store).leases()), 60, "the first apply to hold its devices")
        second = cli(["--intents", str(b), "apply", "--limit", "r1,r4", "--json", "--lock-wait", "0.5"], store, lab)
        out_b, _ = second.communicate(timeout=120)
        out_a, err_a = first.communicate(timeout=180)
    ra, rb = json.loads(out_a), json.loads(out_b)
    assert first.returncode == 0, (ra["message"], err_a)
    assert second.returncode == 1
    assert "r1 is busy in run " in rb["message"] and "nothing was pushed" in rb["message"], rb["message"]
    assert f"run {ra['run_id']} (apply by " in rb["message"]
    now = {h: live(lab, h) for h in ("r1", "r2", "r4")}
    assert "10.92.0.0/16" in now["r1"] and "10.92.0.0/16" in now["r2"]
    assert "10.93.0.0/16" not in now["r1"] and now["r4"] == baseline["r4"]
    assert Store(store).leases() == []


# -- the controller killed between commit and confirm -------------------------------------------------
@pytest.mark.parametrize("recovery", ["cli", "daemon"])
def test_sigkill_between_commit_and_confirm_then_recover(lab: LabStatus, baseline: dict[str, str],
                                                         tmp_path: Path, recovery: str) -> None:
    store_path = tmp_path / "s.db"
    intents = intents_with(tmp_path, "a", EXTRA)
    with latency(lab, "r1", 1.0):
        proc = cli(["--intents", str(intents), "apply", "--limit", HOSTS, "--confirm-timeout", "300"], store_path, lab)

        def all_committed() -> bool:
            store = Store(store_path)
            runs = store.runs(kind="apply", limit=1)
            entries = store.journal_entries(runs[0].id) if runs else []
            return len(entries) == len(DEVICES) and all(e.phase == "committed" for e in entries)

        wait_until(all_committed, 120, "every device to be committed")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    store = Store(store_path)
    (run,) = store.runs(kind="apply", limit=1)
    # the netmiko device has no timer of its own: it keeps the change until recovered
    assert has_extra(live(lab, "r3"))
    history = cli(["history", str(run.id)], store_path, lab)
    text, _ = history.communicate(timeout=60)
    assert f"run {run.id}: apply" in text and "interrupted" in text
    assert "r3: last phase committed" in text
    blocked = cli(["--intents", str(intents), "apply", "--limit", "r3"], store_path, lab)
    out, _ = blocked.communicate(timeout=60)
    assert blocked.returncode == 1 and f"run {run.id} was interrupted on r3" in out
    if recovery == "cli":
        proc = cli(["recover", "--json"], store_path, lab)
        out, err = proc.communicate(timeout=180)
        result = json.loads(out)
        assert proc.returncode == 0, (result["message"], err)
        statuses = {d["host"]: d["status"] for d in result["devices"]}
    else:
        # the daemon recovers interrupted runs when it starts
        from netorch.daemon.config import DaemonConfig
        from netorch.daemon.runtime import Runtime

        runtime = Runtime(DaemonConfig(store=store_path, inventory=ROOT / "inventory", intents=intents,
                                       templates=ROOT / "netorch" / "templates", credentials=lab.credentials_file))
        runtime.close()
        (rec,) = Store(store_path).runs(kind="recover", limit=1)
        statuses = {d.host: d.status for d in Store(store_path).run(rec.id).devices}  # type: ignore[union-attr]
    assert statuses == {h: "rolled_back" for h in DEVICES}
    now = everything(lab)
    assert now == baseline, [h for h in DEVICES if now[h] != baseline[h]]
    assert Store(store_path).run(run.id).status == "recovered"  # type: ignore[union-attr]
    # nothing reverts later either: the FRR and NETCONF timers were cancelled by the recovery
    assert everything(lab) == baseline


# -- a store that cannot be written ---------------------------------------------------------------------
def test_a_read_only_store_pushes_nothing(lab: LabStatus, baseline: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    Store(folder / "netorch.db").close()  # an existing store, with its schema
    intents = intents_with(tmp_path, "a", EXTRA)
    script = (f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
              f"exec {sys.executable} -m netorch.cli --inventory {ROOT / 'inventory'} --intents {intents} "
              f"--templates {ROOT / 'netorch' / 'templates'} apply --limit {HOSTS}")
    env = {**os.environ, "NETORCH_STORE": str(folder / "netorch.db"),
           "NETORCH_CREDENTIALS": str(lab.credentials_file), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert "store" in said and ("cannot be written" in said or "cannot open" in said), said
    assert "Traceback" not in said
    assert everything(lab) == baseline


class FailingStore(Store):
    """A store whose disk fails once the run reaches a phase."""

    def __init__(self, path: Path, fail_at: str) -> None:
        super().__init__(path)
        self.fail_at = fail_at

    def journal(self, run_id: int, entries: list[Any]) -> None:
        if any(e[3] == self.fail_at for e in entries):
            raise StoreError("disk I/O error")
        super().journal(run_id, entries)


def test_a_store_failure_mid_run_rolls_every_device_back(lab: LabStatus, baseline: dict[str, str],
                                                        tmp_path: Path) -> None:
    eng = engine_for(lab, intents_with(tmp_path, "a", EXTRA), FailingStore(tmp_path / "s.db", "confirming"))
    report = eng.apply(ApplyOptions(limit=HOSTS))
    now = everything(lab)
    assert report.exit_code == 1
    assert now == baseline
    assert all(by_host(report)[h].final == "old" for h in DEVICES), [(d.host, d.final) for d in report.devices]
    assert "the network is as it was before the run" in report.message
    assert_report_is_true(report, baseline, now)


# -- a routing daemon down ---------------------------------------------------------------------------
def test_remediation_with_staticd_down_never_persists_less(lab: LabStatus, baseline: dict[str, str],
                                                           tmp_path: Path) -> None:
    from netorch.run.drift import DriftChecker

    # the example routes with OSPF and BGP: give r1 static routes of its own first
    eng = engine_for(lab, intents_with(tmp_path, "a", EXTRA), Store(tmp_path / "s.db"))
    assert eng.apply(ApplyOptions(limit="r1")).exit_code == 0
    saved = startup(lab, "r1")
    assert "ip route 10.91.0.0/16" in saved
    os.kill(daemon_pid(lab, "r1", "staticd"), signal.SIGKILL)
    try:
        report = DriftChecker(eng).check(DriftOptions(limit="r1", remediate=True))
        assert report.exit_code != 0
        assert report.remediation_run is not None
        r1 = next(d for d in report.devices if d.host == "r1")
        assert r1.status == "drift"
        # the saved configuration still has every static route it had
        after = startup(lab, "r1")
        assert [x for x in saved.splitlines() if x.startswith("ip route")] == \
            [x for x in after.splitlines() if x.startswith("ip route")]
        again = eng.apply(ApplyOptions(limit="r1"))
        assert again.exit_code == 1
        assert "already matches" not in again.message
    finally:
        up(lab.run_dir / "topology.yaml", lab.run_dir)  # the lab heals (its daemons restart)


# -- the timers themselves -------------------------------------------------------------------------
def frr_driver(lab: LabStatus, host: str, tag: str) -> Any:
    from netorch.transport.napalm_frr.driver import FrrDriver

    creds = _creds(lab)["default"]
    view = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates").inventory().hosts[host]
    drv = FrrDriver(view.hostname, creds["username"], creds["password"],
                    optional_args={"key_file": creds["ssh_key_file"], "run_tag": tag,
                                   "known_hosts": str(lab.known_hosts_file)})
    drv.open()
    return drv


def test_frr_confirm_is_atomic_and_says_when_the_timer_fired(lab: LabStatus, baseline: dict[str, str]) -> None:
    from napalm.base.exceptions import CommitConfirmException

    from netorch.lab import exec_in
    from netorch.transport.napalm_frr.confirm import join_candidate

    drv = frr_driver(lab, "r2", "t-timer")
    try:
        frr = baseline["r2"].split("#@netorch-nftables")[0] + "ip route 10.94.0.0/16 10.0.24.2\n"
        drv.load_merge_candidate(config=join_candidate(frr, None))
        drv.commit_config(revert_in=60)

        def deadline() -> int:
            out = exec_in(lab.run_dir, "r2", ["cat", "/run/frr/netorch/deadline.t-timer"], check=True).stdout
            return int(out)

        first = deadline()
        assert drv.extend_commit(600)  # re-armed: the device's own deadline moved
        assert deadline() >= first + 500
        drv.confirm_commit()
        assert not drv.has_pending_commit()
        drv.rollback()  # back to the baseline, from this run's checkpoint
        assert live(lab, "r2") == baseline["r2"]

        drv.run_tag = "t-expire"
        drv.load_merge_candidate(config=join_candidate(frr, None))
        drv.commit_config(revert_in=2)
        wait_until(lambda: not drv.has_pending_commit(), 30, "r2's timer to fire")
        with pytest.raises(CommitConfirmException, match="timer fired"):
            drv.confirm_commit()
        assert not drv.extend_commit(60)  # nothing pending any more: it says so
        assert live(lab, "r2") == baseline["r2"]
    finally:
        drv.close()


def test_netconf_follow_up_confirmed_commit_rearms_the_timer(lab: LabStatus, baseline: dict[str, str],
                                                            tmp_path: Path) -> None:
    eng = engine_for(lab, intents_with(tmp_path, "a", EXTRA), Store(tmp_path / "s.db"))
    jobs, _ = eng.jobs("nc1")
    nr, _ = plumbing.build(eng.target(1), [j.host for j in jobs])
    sessions: dict[str, Any] = {}
    try:
        task_host = nr.inventory.hosts["nc1"]
        from netorch.transport.netconf.session import NcclientSession

        conn = task_host.get_connection(NcclientSession.connection_name, nr.config)
        s = NcclientSession("nc1", conn, jobs[0])
        sessions["nc1"] = s
        s.load()
        s.diff()
        s.commit(revert_in=3)
        started = time.monotonic()
        assert s.extend(30)
        # past the first deadline (3 s), the change is still there: the timer was re-armed
        while time.monotonic() - started < 8:
            assert has_extra(live(lab, "nc1")), "nc1 reverted at its first deadline"
        s.confirm()
        assert has_extra(live(lab, "nc1"))
    finally:
        nr.close_connections()


def test_a_drift_check_never_reads_a_device_another_run_holds(lab: LabStatus, baseline: dict[str, str],
                                                             tmp_path: Path) -> None:
    from netorch.run.drift import DriftChecker

    store = Store(tmp_path / "s.db")
    run = store.start_run("apply", "tester", "rev")
    holder = store.acquire(["r1"], run, "tester", "apply")  # as an apply in another process would
    try:
        report = DriftChecker(engine_for(lab, ROOT / "intents", store)).check(
            DriftOptions(limit="r1,r2", lock_wait=0.5))
    finally:
        store.release(holder)
    by = {d.host: d for d in report.devices}
    assert by["r1"].status == "skipped" and f"r1 is busy in run {run} (apply by tester" in by["r1"].error
    assert by["r2"].status == "in_sync"
    assert store.leases() == []
