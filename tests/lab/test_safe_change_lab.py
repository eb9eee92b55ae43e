"""Safe change on the lab: saved plans (stale ones refused), a staged rollout that stops and
rolls back, rollback to an earlier run, and ownership: removing an intent removes exactly
what it produced. Every device is read back from the device itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faults import DEVICES, HOSTS, ROOT, _creds, daemon_pid, engine_for, everything, intents_with, live, wait_until

from netorch.lab import LabStatus, exec_in, start_daemon
from netorch.lab._system import pid_alive
from netorch.run.options import ApplyOptions
from netorch.run.rollout import Rollout
from netorch.store import Store

pytestmark = pytest.mark.lab

EXTRA = ("routes:\n"
         "  - {name: sc-r1, prefix: 10.96.0.0/16, next_hop: 10.0.12.2, hosts: [r1]}\n"
         "  - {name: sc-r2, prefix: 10.96.0.0/16, next_hop: 10.0.24.2, hosts: [r2]}\n"
         "  - {name: sc-r4, prefix: 10.96.0.0/16, interface: eth3, hosts: [r4]}\n")


def cli(args: list[str], store: Path, lab: LabStatus) -> tuple[int, str]:
    env = {**os.environ, "NETORCH_STORE": str(store), "NETORCH_CREDENTIALS": str(lab.credentials_file),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "netorch.cli", "--inventory", str(ROOT / "inventory"),
                           "--templates", str(ROOT / "netorch" / "templates"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_saved_plan_applies_exactly_and_a_stale_one_is_refused(lab: LabStatus, baseline: dict[str, str],
                                                                tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    intents = intents_with(tmp_path, "a", EXTRA)
    plan = tmp_path / "change.plan"
    code, said = cli(["--intents", str(intents), "plan", "--limit", HOSTS, "--out", str(plan)], store, lab)
    assert code == 2 and plan.is_file(), said
    secret = str(_creds(lab)["default"]["password"])
    assert secret not in plan.read_text()  # the plan file holds no secrets
    # someone changes r2 by hand after the review
    exec_in(lab.run_dir, "r2", ["vtysh", "-c", "configure terminal", "-c", "ip route 10.97.0.0/16 10.0.24.2"],
            check=True)
    code, said = cli(["--intents", str(intents), "apply", str(plan)], store, lab)
    assert code == 1 and "stale plan" in said, said
    now = everything(lab)
    assert now["r1"] == baseline["r1"] and now["r4"] == baseline["r4"]  # nothing was pushed
    assert "10.96.0.0/16" not in now["r2"]
    exec_in(lab.run_dir, "r2", ["vtysh", "-c", "configure terminal", "-c", "no ip route 10.97.0.0/16 10.0.24.2"],
            check=True)
    # the intents changed since the plan: refused whole
    (intents / "more.yaml").write_text("routes:\n  - {name: sc-more, prefix: 10.98.0.0/16, next_hop: 10.0.12.2, "
                                       "hosts: [r1]}\n")
    code, said = cli(["--intents", str(intents), "apply", str(plan)], store, lab)
    assert code == 1 and "the intents changed since the plan" in said, said
    (intents / "more.yaml").unlink()
    # a fresh plan, reviewed, applied exactly: the devices are as the plan said
    code, said = cli(["--intents", str(intents), "plan", "--limit", HOSTS, "--out", str(plan)], store, lab)
    assert code == 2, said
    code, said = cli(["--intents", str(intents), "apply", str(plan)], store, lab)
    assert code == 0, said
    now = everything(lab)
    assert all("10.96.0.0/16" in now[h] for h in ("r1", "r2", "r4"))
    assert now["r3"] == baseline["r3"] and now["nc1"] == baseline["nc1"]
    # a tampered plan is refused before anything
    text = plan.read_text().replace("10.96.0.0/16", "10.99.0.0/16")
    plan.write_text(text)
    code, said = cli(["--intents", str(intents), "apply", str(plan)], store, lab)
    assert code == 1 and "seal does not match" in said, said


def test_a_rollout_whose_second_wave_fails_stops_and_leaves_every_device_as_before(
        lab: LabStatus, baseline: dict[str, str], tmp_path: Path) -> None:
    """waves: r2 (canary), r1, r4. r1's staticd is down, so its new route cannot be installed (OSPF
    and BGP, which every router's checks read, are untouched): the rollout stops in wave 2, rolls r1
    and the canary back, never starts r4."""
    extra = ("routes:\n"
             "  - {name: w-r1, prefix: 10.95.0.0/16, next_hop: 10.0.13.2, hosts: [r1]}\n"
             "  - {name: w-r2, prefix: 10.95.0.0/16, next_hop: 10.0.24.2, hosts: [r2]}\n"
             "  - {name: w-r4, prefix: 10.95.0.0/16, interface: eth3, hosts: [r4]}\n")
    eng = engine_for(lab, intents_with(tmp_path, "a", extra), Store(tmp_path / "s.db"))
    pid = daemon_pid(lab, "r1", "staticd")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 10, "r1's staticd to end")
    try:
        report = eng.apply(ApplyOptions(limit=HOSTS, rollout=Rollout.parse("r2", "1", max_failures=0)))
    finally:
        start_daemon(lab.run_dir, "r1", "staticd")
    waves: list[dict[str, Any]] = report.options["waves"]
    assert [w["hosts"] for w in waves] == [["r2"], ["r1"], ["r4"]]
    assert waves[0]["status"].startswith("completed") and waves[0]["status"].endswith("rolled back")
    assert waves[1]["status"].startswith("stopped") and waves[1]["failed"] == ["r1"]
    assert waves[2]["status"] == "not started"
    assert report.exit_code == 1
    by = {d.host: d for d in report.devices}
    assert by["r1"].status == "failed" and by["r1"].final == "old", (by["r1"].status, by["r1"].error)
    assert by["r2"].status == "rolled_back" and by["r2"].final == "old" and by["r2"].wave == 1
    assert by["r4"].final == ""  # never touched
    assert everything(lab) == baseline
    record = Store(tmp_path / "s.db").run(report.run_id or 0)
    assert record is not None and record.summary["waves"][1]["failed"] == ["r1"]


def test_rollback_to_an_earlier_run_restores_its_configs(lab: LabStatus, baseline: dict[str, str],
                                                       tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    code, said = cli(["--intents", str(ROOT / "intents"), "apply", "--limit", HOSTS, "--json"], store, lab)
    assert code == 0, said
    first = json.loads(said[said.index("{"):])
    intents = intents_with(tmp_path, "b", EXTRA)
    code, said = cli(["--intents", str(intents), "apply", "--limit", HOSTS], store, lab)
    assert code == 0, said
    changed = everything(lab)
    assert all("10.96.0.0/16" in changed[h] for h in ("r1", "r2", "r4"))
    second = Store(store).runs(kind="apply")[0].revision
    code, said = cli(["--intents", str(intents), "diff", first["revision"], second], store, lab)
    assert code == 0 and "+  - {name: sc-r1, prefix: 10.96.0.0/16" in said and "== r1" in said, said
    assert any(line.startswith("+") and "ip route 10.96.0.0/16 10.0.12.2" in line for line in said.splitlines())
    code, said = cli(["--intents", str(intents), "rollback", "--to", str(first["run_id"])], store, lab)
    assert code == 0, said
    assert everything(lab) == baseline
    latest = Store(store).runs(kind="apply")[0]
    assert latest.options["rollback_to"]["run"] == first["run_id"] and latest.revision == first["revision"]


OWNED = {
    "route": "routes:\n  - {name: own-r, prefix: 10.88.0.0/16, next_hop: 10.0.12.2, hosts: [r1]}\n"
             "  - {name: own-r3, prefix: 10.88.0.0/16, next_hop: 10.0.34.2, hosts: [r3]}\n"
             "  - {name: own-nc, prefix: 10.88.0.0/16, next_hop: 10.9.0.254, hosts: [nc1]}\n",
    "domain": "domains:\n  - name: core-links\n    members:\n      - {host: r1, interface: eth2}\n",
    "rule": "rules:\n  - {name: own-guests-https, sequence: 40, from: guests, to: servers, protocol: tcp, "
            "ports: [8443], action: allow}\n",
    "service": "services:\n  - {name: own-svc, providers: [10.2.0.20], protocol: tcp, ports: [9000], "
               "consumers: [users]}\n",
}


@pytest.mark.parametrize("kind", sorted(OWNED))
def test_removing_an_intent_removes_exactly_what_it_produced(lab: LabStatus, baseline: dict[str, str],
                                                            tmp_path: Path, kind: str) -> None:
    store = Store(tmp_path / "s.db")
    with_it = engine_for(lab, intents_with(tmp_path, "with", OWNED[kind]), store)
    report = with_it.apply(ApplyOptions(limit=HOSTS))
    assert report.exit_code == 0 and report.status == "changed", [(d.host, d.status, d.error) for d in report.devices]
    changed = {h for h, text in everything(lab).items() if text != baseline[h]}
    assert changed, "the intent produced no configuration"
    without = engine_for(lab, ROOT / "intents", store)
    report = without.apply(ApplyOptions(limit=HOSTS))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    now = everything(lab)
    assert now == baseline, [h for h in DEVICES if now[h] != baseline[h]]
    assert {d.host for d in report.devices if d.status == "changed"} == changed
    assert live(lab, "r1") == baseline["r1"]
