"""End to end on the lab: apply the example intents, prove their effect with traffic between
the lab's hosts, and prove the transaction: idempotence, all-or-nothing, confirmed commits."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netorch.lab import LabStatus, listening, ping, tcp_connect, up
from netorch.lab._system import pid_alive, read_pid
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, PlanOptions
from netorch.service import Workspace
from netorch.store import Store

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
LAB_HOSTS = os.environ.get("NETORCH_TEST_LAB_HOSTS", "lab_routers,lab_netconf")


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def engine(lab: LabStatus, tmp_path: Path) -> Engine:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    return Engine(ws, Store(tmp_path / "store.db"), credentials=str(lab.credentials_file))


def scratch_engine(lab: LabStatus, tmp_path: Path, extra: dict[str, str],
                   templates: Path | None = None) -> Engine:
    intents = tmp_path / "intents"
    if not intents.exists():
        shutil.copytree(ROOT / "intents", intents)
    for name, text in extra.items():
        (intents / name).write_text(text)
    ws = Workspace(ROOT / "inventory", intents, templates or ROOT / "netorch" / "templates")
    return Engine(ws, Store(tmp_path / "store.db"), credentials=str(lab.credentials_file))


@pytest.fixture
def applied(engine: Engine) -> Engine:
    report = engine.apply(ApplyOptions(limit=LAB_HOSTS, workers=10))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    return engine


def running(engine: Engine, host: str) -> str:
    from netorch.transport.napalm_frr.driver import FrrDriver

    inv = engine.ws.inventory().hosts[host]
    import yaml

    data = yaml.safe_load(Path(engine.credentials_path or "").read_text())
    creds = data["default"]
    drv = FrrDriver(inv.hostname, creds["username"], creds["password"],
                    optional_args={"key_file": creds["ssh_key_file"], "known_hosts": data["known_hosts"]})
    drv.open()
    try:
        return drv.get_config(retrieve="running")["running"]
    finally:
        drv.close()


def test_apply_makes_the_network_behave_as_declared(applied: Engine, lab: LabStatus) -> None:
    run_dir = lab.run_dir
    # routes: the users reach the servers (ping is allowed by rule users-ping-servers)
    assert ping(run_dir, "h1", "10.2.0.10")
    # a denied flow: guests never reach users, explicitly
    assert not ping(run_dir, "h3", "10.1.0.10")
    # a flow no rule allows: guests -> servers ping (default deny between domains)
    assert not ping(run_dir, "h3", "10.2.0.10")
    with listening(run_dir, "h2", 8080), listening(run_dir, "h2", 8081):
        # service web: consumers users only
        assert tcp_connect(run_dir, "h1", "10.2.0.10", 8080)
        assert not tcp_connect(run_dir, "h3", "10.2.0.10", 8080)
        # service guest-portal: consumers guests only
        assert tcp_connect(run_dir, "h3", "10.2.0.10", 8081)
        assert not tcp_connect(run_dir, "h1", "10.2.0.10", 8081)


def test_plan_after_apply_is_clean_three_times(applied: Engine) -> None:
    for _ in range(3):
        report = applied.plan(PlanOptions(limit=LAB_HOSTS))
        assert report.exit_code == 0, [(d.host, d.diff, d.error) for d in report.devices]
        assert all(d.status in ("unchanged", "skipped") for d in report.devices)


def test_second_apply_changes_nothing_and_is_recorded(applied: Engine) -> None:
    report = applied.apply(ApplyOptions(limit=LAB_HOSTS))
    assert report.exit_code == 0
    assert report.status == "unchanged"
    assert "no changes" in report.message
    assert applied.store is not None
    runs = applied.store.runs(kind="apply")
    assert len(runs) == 2 and runs[0].status == "unchanged"
    second = applied.store.run(runs[0].id)
    assert second is not None and second.devices and not any(d.changed for d in second.devices)


def test_plan_shows_a_pending_change_with_exit_2(applied: Engine, lab: LabStatus, tmp_path: Path) -> None:
    eng = scratch_engine(lab, tmp_path, {"extra.yaml": (
        "routes:\n  - name: r1-extra\n    prefix: 10.77.0.0/16\n    next_hop: 10.0.12.2\n    hosts: [r1]\n")})
    report = eng.plan(PlanOptions(limit=LAB_HOSTS))
    assert report.exit_code == 2
    changed = {d.host: d.diff for d in report.devices if d.changed}
    assert list(changed) == ["r1"]
    assert "+ ip route 10.77.0.0/16 10.0.12.2" in changed["r1"]


def test_unreachable_device_leaves_every_device_as_it_was(applied: Engine, lab: LabStatus,
                                                         tmp_path: Path) -> None:
    before = {h: running(applied, h) for h in ("r1", "r2")}
    eng = scratch_engine(lab, tmp_path, {"extra.yaml": (
        "routes:\n  - name: all-extra\n    prefix: 10.78.0.0/16\n    next_hop: 10.0.12.2\n    hosts: [r1]\n"
        "  - name: r2-extra\n    prefix: 10.78.0.0/16\n    next_hop: 10.0.24.2\n    hosts: [r2]\n"
        "  - name: r4-extra\n    prefix: 10.78.0.0/16\n    next_hop: 10.0.34.1\n    hosts: [r4]\n")})
    pid = read_pid(lab.run_dir / "nodes" / "r4" / "sshd.pid")
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), 10, "r4's sshd to stop")
    try:
        report = eng.apply(ApplyOptions(limit=LAB_HOSTS))
        statuses = {d.host: d.status for d in report.devices}
        assert report.exit_code == 1
        assert statuses["r4"] == "unreachable"
        assert "nothing was committed" in report.message
        r4 = next(d for d in report.devices if d.host == "r4")
        assert "Traceback" not in r4.error and r4.error
        assert {h: running(applied, h) for h in ("r1", "r2")} == before
    finally:
        up(lab.run_dir / "topology.yaml", lab.run_dir)  # the lab heals (it is rebuilt)
        applied.apply(ApplyOptions(limit=LAB_HOSTS))


def _bad_templates(tmp_path: Path, host: str, line: str) -> Path:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "netorch" / "templates", templates)
    conf = templates / "frr" / "frr.conf.j2"
    text = conf.read_text().replace("!\n{% for i in interfaces %}",
                                    f'{{% if host == "{host}" %}}\n{line}\n{{% endif %}}\n!\n'
                                    "{% for i in interfaces %}", 1)
    conf.write_text(text)
    return templates


def test_a_rejected_line_is_reported_and_the_network_is_left_as_it_was(applied: Engine, lab: LabStatus,
                                                             tmp_path: Path) -> None:
    before = {h: running(applied, h) for h in ("r1", "r2", "r4")}
    from netorch.render import _environment

    _environment.cache_clear()
    templates = _bad_templates(tmp_path, "r2", "ip route 10.79.0.0/16")
    eng = scratch_engine(lab, tmp_path, {"extra.yaml": (
        "routes:\n  - name: r1-extra\n    prefix: 10.79.0.0/16\n    next_hop: 10.0.12.2\n    hosts: [r1]\n")},
        templates=templates)
    report = eng.apply(ApplyOptions(limit=LAB_HOSTS))
    r2 = next(d for d in report.devices if d.host == "r2")
    assert report.exit_code == 1 and r2.status == "failed"
    assert "% " in r2.error or "Unknown command" in r2.error or "rejected" in r2.error
    assert {h: running(applied, h) for h in ("r1", "r2", "r4")} == before


def test_failed_post_check_rolls_back_devices_already_committed(applied: Engine, lab: LabStatus,
                                                               tmp_path: Path) -> None:
    """r4's link to r3 has no carrier (r3's end is down; an admin-down interface of r4 itself would
    be brought up by the apply): a new route through r3 commits but is not active in the RIB, and
    OSPF over the link is down. The post-checks fail (after the protocol convergence bound) and
    every device committed in this run goes back."""
    from netorch.lab import exec_in

    before = {h: running(applied, h) for h in ("r1", "r2", "r4")}
    eng = scratch_engine(lab, tmp_path, {"extra.yaml": (
        "routes:\n  - name: r1-extra\n    prefix: 10.80.0.0/16\n    next_hop: 10.0.12.2\n    hosts: [r1]\n"
        "  - name: r4-extra\n    prefix: 10.80.0.0/16\n    next_hop: 10.0.34.1\n    hosts: [r4]\n")})
    exec_in(lab.run_dir, "r3", ["ip", "link", "set", "eth2", "down"], check=True)
    try:
        report = eng.apply(ApplyOptions(limit=LAB_HOSTS))
        statuses = {d.host: d.status for d in report.devices}
        assert report.exit_code == 1
        assert statuses["r4"] == "failed" and "post-check" in next(
            d.error for d in report.devices if d.host == "r4")
        # r1 fails its own post-check too: OSPF's route to the cut link's subnet is gone
        r1 = next(d for d in report.devices if d.host == "r1")
        assert r1.status == "failed" and "10.0.34.0/30 by ospf" in r1.error
        assert {h: running(applied, h) for h in ("r1", "r2", "r4")} == before
    finally:
        exec_in(lab.run_dir, "r3", ["ip", "link", "set", "eth2", "up"], check=True)


def test_unconfirmed_commit_reverts_by_itself_on_frr(applied: Engine, lab: LabStatus) -> None:
    import yaml

    from netorch.transport.napalm_frr.confirm import join_candidate
    from netorch.transport.napalm_frr.driver import FrrDriver

    creds = yaml.safe_load(Path(lab.credentials_file or "").read_text())["default"]
    drv = FrrDriver("198.18.0.13", creds["username"], creds["password"],
                    optional_args={"key_file": creds["ssh_key_file"], "known_hosts": str(lab.known_hosts_file)})
    drv.open()
    try:
        original = drv.get_config(retrieve="running")["running"]
        frr = original.split("#@netorch-nftables")[0] + "ip route 10.81.0.0/16 10.0.13.1\n"
        drv.load_merge_candidate(config=join_candidate(frr, None))
        drv.commit_config(revert_in=3)
        assert drv.has_pending_commit()
        assert "ip route 10.81.0.0/16 10.0.13.1" in drv.get_config(retrieve="running")["running"]
        wait_until(lambda: not drv.has_pending_commit(), 20, "the unconfirmed commit to revert")
        assert drv.get_config(retrieve="running")["running"] == original
    finally:
        drv.close()


def test_confirmed_apply_through_the_cli(applied: Engine, lab: LabStatus, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from netorch.cli import main

    extra = tmp_path / "intents"
    shutil.copytree(ROOT / "intents", extra)
    # onto r2's guests subnet: with the example's BGP default on r4, a route through r4 would
    # loop back to r2 (and `netorch verify` refuses the apply)
    (extra / "extra.yaml").write_text(
        "routes:\n  - name: r2-extra\n    prefix: 10.82.0.0/16\n    interface: eth3\n    hosts: [r2]\n")
    args = ["--intents", str(extra), "apply", "--limit", LAB_HOSTS, "--confirm-timeout", "30", "--json",
            "--credentials", str(lab.credentials_file)]
    env_store = os.environ.get("NETORCH_STORE")
    os.environ["NETORCH_STORE"] = str(tmp_path / "cli.db")
    try:
        assert main(args) == 0
        result = json.loads(capsys.readouterr().out)
        assert [d["host"] for d in result["devices"] if d["changed"]] == ["r2"]
        assert main(["--intents", str(extra), "plan", "--limit", LAB_HOSTS, "--credentials",
                     str(lab.credentials_file)]) == 0
        record = Store(tmp_path / "cli.db").runs(kind="apply")[0]
        full = Store(tmp_path / "cli.db").run(record.id)
        assert full is not None and record.actor and record.revision
        assert "+ ip route 10.82.0.0/16 eth3" in next(d.diff for d in full.devices if d.host == "r2")
        password = str(__import__("yaml").safe_load(Path(lab.credentials_file or "").read_text())
                       ["default"]["password"])
        assert password not in (tmp_path / "cli.db").read_bytes().decode("utf-8", "replace")
    finally:
        if env_store is None:
            os.environ.pop("NETORCH_STORE", None)
        else:
            os.environ["NETORCH_STORE"] = env_store
        applied.apply(ApplyOptions(limit=LAB_HOSTS))


@pytest.fixture(autouse=True)
def _clear_template_cache() -> Iterator[None]:
    from netorch.render import _environment

    _environment.cache_clear()
    yield
    _environment.cache_clear()


def test_probe_agrees_with_the_intents_after_apply(applied: Engine, lab: LabStatus) -> None:
    from netorch.lab.probe import probe

    results = probe(applied.ws, lab.run_dir)
    assert results and all(p.ok for p in results), [p.as_dict() for p in results if not p.ok]
    assert any(p.expected for p in results) and any(not p.expected for p in results)
    assert any(p.protocol == "tcp" and p.port == 8080 for p in results)


def test_wrong_credentials_give_a_clear_per_device_error(applied: Engine, lab: LabStatus, tmp_path: Path) -> None:
    import yaml

    creds = yaml.safe_load(Path(lab.credentials_file or "").read_text())
    creds["default"]["password"] = "wrong-password-123"
    creds["default"].pop("ssh_key_file", None)
    creds["connections"]["netmiko"]["password"] = "wrong-password-123"
    creds["platforms"]["netconf"]["password"] = "wrong-password-123"
    bad = tmp_path / "bad-credentials.yaml"
    bad.write_text(yaml.safe_dump(creds))
    bad.chmod(0o600)
    engine = Engine(applied.ws, Store(tmp_path / "s.db"), credentials=str(bad), timeout=10)
    report = engine.apply(ApplyOptions(limit=LAB_HOSTS))
    assert report.exit_code == 1 and "nothing was committed" in report.message
    for d in report.devices:
        if d.status == "skipped":
            continue
        assert d.status == "unreachable", (d.host, d.status, d.error)
        assert "Traceback" not in d.error and "wrong-password-123" not in d.error
        assert "auth" in d.error.lower()
