"""Drift on the lab, over what netorch owns: out-of-band changes that operators and failures make
are found with the exact difference and class, remediation restores intent (traffic too) and
leaves unmanaged configuration untouched, and a second check is clean."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from faults import intents_with, wait_converged

from netorch.configtree.frr import KERNEL_ABSENT, KERNEL_DOWN, KERNEL_ONLY
from netorch.device.drift import DeviceDrift
from netorch.lab import LabStatus, exec_in
from netorch.lab.nodes import listening, ping, tcp_connect
from netorch.run.drift import DriftChecker, DriftReport
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, DriftOptions
from netorch.service import Workspace
from netorch.store import Store

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
LAB_HOSTS = os.environ.get("NETORCH_TEST_LAB_HOSTS", "lab_routers")


def make_checker(lab: LabStatus, tmp_path: Path, inventory: Path | None = None,
                 intents: Path | None = None) -> DriftChecker:
    ws = Workspace(inventory or ROOT / "inventory", intents or ROOT / "intents", ROOT / "netorch" / "templates")
    engine = Engine(ws, Store(tmp_path / "store.db"), credentials=str(lab.credentials_file))
    report = engine.apply(ApplyOptions(limit=LAB_HOSTS))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    wait_converged(lab)
    return DriftChecker(engine)


@pytest.fixture
def checker(lab: LabStatus, tmp_path: Path) -> DriftChecker:
    return make_checker(lab, tmp_path)


def device(report: DriftReport, host: str) -> DeviceDrift:
    return next(d for d in report.devices if d.host == host)


def sh(lab: LabStatus, node: str, *argv: str) -> str:
    return exec_in(lab.run_dir, node, list(argv), check=True).stdout


def vtysh(lab: LabStatus, router: str, *commands: str) -> None:
    args = ["vtysh", "-c", "configure terminal"]
    for command in commands:
        args += ["-c", command]
    exec_in(lab.run_dir, router, args, check=True)


def running(lab: LabStatus, router: str) -> str:
    return sh(lab, router, "vtysh", "-c", "show running-config")


def config_of(d: DeviceDrift) -> list[tuple[str, str, tuple[str, ...], str]]:
    return sorted((c.artifact, c.kind, tuple(c.path), c.detail) for c in d.config)


def wait_for(condition: Callable[[], bool], what: str, bound: float = 15.0) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {bound} s waiting for {what}"
        time.sleep(0.2)


def remediate_and_recheck(checker: DriftChecker, host: str) -> DriftReport:
    fixed = checker.check(DriftOptions(limit=LAB_HOSTS, remediate=True))
    assert fixed.remediation_run is not None and fixed.remediation_run["exit_code"] == 0, fixed.remediation_run
    outcome = next(d for d in fixed.remediation_run["devices"] if d["host"] == host)  # type: ignore[index]
    assert outcome["status"] == "changed", outcome
    return fixed


PROTOCOL_STATE = {"ospf_adjacency_down", "bgp_session_down", "prefix_missing", "wrong_next_hop"}


def assert_clean(checker: DriftChecker, converge: float = 90.0) -> None:
    """A check is clean: at once for config and every other state; protocol state may take until the
    protocols have converged again after what the test did (bounded)."""
    deadline = time.monotonic() + converge
    while True:
        again = checker.check(DriftOptions(limit=LAB_HOSTS))
        drifted = [d for d in again.devices if d.drifted]
        settling = all(not d.config and d.state and all(s.kind in PROTOCOL_STATE for s in d.state)
                       for d in drifted)
        if again.exit_code == 0 or not settling or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert again.exit_code == 0, [(d.host, d.config, d.state) for d in drifted]


@pytest.fixture
def foreign_r1(lab: LabStatus) -> Iterator[None]:
    """Configuration on r1 that netorch does not own: a VRF block, a prefix-list, a route-map, an
    interface outside the inventory with a description, and a line on an inventory interface."""
    sh(lab, "r1", "ip", "link", "add", "nox0", "type", "veth", "peer", "name", "nox1")
    vtysh(lab, "r1", "vrf blue", "ip route 10.77.0.0/16 10.0.12.2", "exit-vrf",
          "ip prefix-list theirs seq 5 permit 10.0.0.0/8", "route-map theirs permit 10", "exit",
          "interface nox0", "description theirs", "exit")
    try:
        yield
    finally:
        vtysh(lab, "r1", "no vrf blue", "no ip prefix-list theirs", "no route-map theirs",
              "interface nox0", "no description", "exit")
        exec_in(lab.run_dir, "r1", ["ip", "link", "del", "nox0"])


FOREIGN_LINES = ("vrf blue", " ip route 10.77.0.0/16 10.0.12.2", "ip prefix-list theirs seq 5 permit 10.0.0.0/8",
                 "route-map theirs permit 10", "interface nox0", " description theirs")


def test_unmanaged_parts_are_not_drift_and_survive_remediation(checker: DriftChecker, lab: LabStatus,
                                                               foreign_r1: None) -> None:
    vtysh(lab, "r1", "ip route 10.66.0.0/16 10.0.12.2")  # and one change netorch owns
    report = checker.check(DriftOptions(limit=LAB_HOSTS, show_unmanaged=True))
    r1 = device(report, "r1")
    assert config_of(r1) == [("frr.conf", "unexpected", ("ip route 10.66.0.0/16 10.0.12.2",), "")]
    assert {"vrf blue (1 line(s))", "ip prefix-list theirs seq 5 permit 10.0.0.0/8",
            "route-map theirs permit 10 (0 line(s))", "interface nox0 (1 line(s))"} <= set(r1.unmanaged)
    remediate_and_recheck(checker, "r1")
    live = running(lab, "r1")
    assert "ip route 10.66.0.0/16" not in live
    for line in FOREIGN_LINES:
        assert f"\n{line}\n" in live, (line, live)
    assert_clean(checker)


def test_widened_ownership_removes_what_it_owns(lab: LabStatus, tmp_path: Path, foreign_r1: None) -> None:
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory", inventory)
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    hosts["r1"]["data"]["ownership"] = {"static_routes": "all", "interfaces": "all", "prefix_lists": "all"}
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    report = DriftChecker(Engine(Workspace(inventory, ROOT / "intents", ROOT / "netorch" / "templates"),
                                 Store(tmp_path / "w.db"), credentials=str(lab.credentials_file))
                          ).check(DriftOptions(limit=LAB_HOSTS))
    assert config_of(device(report, "r1")) == [
        ("frr.conf", "unexpected", ("interface nox0", "description theirs"), ""),
        ("frr.conf", "unexpected", ("ip prefix-list theirs seq 5 permit 10.0.0.0/8",), ""),
        ("frr.conf", "unexpected", ("vrf blue", "ip route 10.77.0.0/16 10.0.12.2"), "")]
    checker = make_checker(lab, tmp_path, inventory)  # its apply is the remediation
    live = running(lab, "r1")
    assert "10.77.0.0/16" not in live and "prefix-list theirs" not in live and "description theirs" not in live
    assert "\nroute-map theirs permit 10\n" in live  # not owned: kept
    assert_clean(checker)


def test_kernel_address_change_is_config_drift_and_remediated(checker: DriftChecker, lab: LabStatus) -> None:
    """The users' gateway address moves with `ip addr` (FRR's config unchanged): the flow breaks."""
    assert ping(lab.run_dir, "h1", "10.2.0.10", count=2)
    sh(lab, "r1", "ip", "addr", "del", "10.1.0.1/24", "dev", "eth3")
    sh(lab, "r1", "ip", "addr", "add", "10.1.9.1/24", "dev", "eth3")
    assert "ip address 10.1.0.1/24" in running(lab, "r1")  # FRR's config did not change
    assert not ping(lab.run_dir, "h1", "10.2.0.10", count=1, timeout=1)
    report = checker.check(DriftOptions(limit=LAB_HOSTS))
    r1 = device(report, "r1")
    assert r1.status == "drift"
    assert config_of(r1) == [
        ("frr.conf", "missing", ("interface eth3", "ip address 10.1.0.1/24"), KERNEL_ABSENT),
        ("frr.conf", "unexpected", ("interface eth3", "ip address 10.1.9.1/24"), KERNEL_ONLY)]
    assert "no ip address 10.1.9.1/24" in r1.remediation
    remediate_and_recheck(checker, "r1")
    addrs = sh(lab, "r1", "ip", "-4", "-o", "addr", "show", "dev", "eth3")
    assert "10.1.0.1/24" in addrs and "10.1.9.1" not in addrs
    wait_for(lambda: ping(lab.run_dir, "h1", "10.2.0.10", count=1, timeout=1), "the flow to come back")
    assert_clean(checker)


def test_admin_down_interface_is_brought_up(checker: DriftChecker, lab: LabStatus) -> None:
    sh(lab, "r1", "ip", "link", "set", "eth3", "down")
    report = checker.check(DriftOptions(limit=LAB_HOSTS))
    r1 = device(report, "r1")
    assert config_of(r1) == [("frr.conf", "missing", ("interface eth3", "no shutdown"), KERNEL_DOWN)]
    assert ("interface_down", "eth3", "administratively down") in [(s.kind, s.subject, s.detail) for s in r1.state]
    assert not ping(lab.run_dir, "h1", "10.2.0.10", count=1, timeout=1)
    remediate_and_recheck(checker, "r1")
    assert ",UP" in sh(lab, "r1", "ip", "-o", "link", "show", "eth3")
    wait_for(lambda: ping(lab.run_dir, "h1", "10.2.0.10", count=1, timeout=1), "the flow to come back")
    assert_clean(checker)


def staticd(lab: LabStatus, router: str) -> list[str]:
    return ["/usr/lib/frr/staticd", "-d", "-F", "traditional", "-P", "0", "-f", "/dev/null",
            "--vty_socket", "/run/frr", "-z", "/run/frr/zserv.api", "-i", "/run/frr/staticd.pid",
            "--log", "file:/run/frr/staticd.log"]


def test_dead_staticd_is_state_drift_naming_it(lab: LabStatus, tmp_path: Path) -> None:
    # the example routes with OSPF and BGP: r4 gets a static route, so its configuration needs staticd
    checker = make_checker(lab, tmp_path, intents=intents_with(
        tmp_path, "a", "routes:\n  - {name: s-r4, prefix: 10.91.0.0/16, interface: eth3, hosts: [r4]}\n"))
    pid = int((lab.run_dir / "nodes" / "r4" / "run" / "staticd.pid").read_text().split()[0])
    os.kill(pid, 9)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), "staticd to end")
    try:
        report = checker.check(DriftOptions(limit=LAB_HOSTS))
        r4 = device(report, "r4")
        assert r4.status == "drift"
        assert [(s.kind, s.subject) for s in r4.state if s.kind == "daemon_down"] == [("daemon_down", "staticd")]
        assert not any(c.kind == "missing" and c.path[-1].startswith("ip route") for c in r4.config)
        fixed = checker.check(DriftOptions(limit=LAB_HOSTS, remediate=True))
        # nothing is pushed to a router whose staticd is down (others may be: their probes fail)
        assert fixed.remediation_run is None or all(
            d["host"] != "r4" for d in fixed.remediation_run["devices"])  # type: ignore[attr-defined]
    finally:
        sh(lab, "r4", *staticd(lab, "r4"))
    # a restarted staticd has no routes: that is config drift now, and remediation brings them back
    pidfile = lab.run_dir / "nodes" / "r4" / "run" / "staticd.pid"
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != str(pid), "staticd to start again")
    report = checker.check(DriftOptions(limit=LAB_HOSTS))
    assert ("frr.conf", "missing", ("ip route 10.91.0.0/16 eth3",), "") in config_of(device(report, "r4"))
    remediate_and_recheck(checker, "r4")
    wait_for(lambda: ping(lab.run_dir, "h1", "10.2.0.10", count=1, timeout=1), "the flow to come back")
    assert_clean(checker)


FOREIGN_TABLE = """table ip theirs {
  chain screen {
    type filter hook forward priority -10; policy accept;
    ip daddr 10.2.0.0/24 tcp dport 8080 drop
    ip daddr 192.0.2.0/24 drop
  }
}
"""


def test_foreign_table_is_interfering_and_kept(checker: DriftChecker, lab: LabStatus, tmp_path: Path) -> None:
    exec_in(lab.run_dir, "r4", ["nft", "-f", "-"], input_text=FOREIGN_TABLE, check=True)
    try:
        with listening(lab.run_dir, "h2", 8080):
            assert not tcp_connect(lab.run_dir, "h1", "10.2.0.10", 8080, timeout=1)
            report = checker.check(DriftOptions(limit=LAB_HOSTS))
            r4 = device(report, "r4")
            assert config_of(r4) == [("nftables.nft", "interfering",
                                      ("table ip theirs", "chain screen", "ip daddr 10.2.0.0/24 tcp dport 8080 drop"),
                                      "hook forward priority filter - 10: drops traffic the intents carry")]
            assert "left as is" in r4.remediation
            assert [(s.kind, s.subject) for s in device(report, "r1").state] == [("service_unreachable",
                                                                                 "web 10.2.0.10")]
            fixed = checker.check(DriftOptions(limit=LAB_HOSTS, remediate=True))
            assert fixed.recheck is not None
            assert config_of(device(fixed.recheck, "r4")) == config_of(r4)  # not netorch's: kept
            assert "table ip theirs" in sh(lab, "r4", "nft", "list", "tables")
            # the operator widens ownership to every table: the apply removes it, traffic flows
            inventory = tmp_path / "inventory"
            shutil.copytree(ROOT / "inventory", inventory)
            hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
            hosts["r4"]["data"]["ownership"] = {"nft_tables": "all"}
            (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts))
            owner = make_checker(lab, tmp_path, inventory)
            assert "table ip theirs" not in sh(lab, "r4", "nft", "list", "tables")
            wait_for(lambda: tcp_connect(lab.run_dir, "h1", "10.2.0.10", 8080, timeout=1), "the flow")
            assert_clean(owner)
    finally:
        exec_in(lab.run_dir, "r4", ["nft", "delete", "table", "ip", "theirs"])
    assert_clean(checker)


def test_extra_set_in_the_managed_table_is_interfering(checker: DriftChecker, lab: LabStatus) -> None:
    sh(lab, "r4", "nft", "add", "set", "inet", "netorch", "evil", "{ type ipv4_addr; elements = { 10.1.0.10 }; }")
    report = checker.check(DriftOptions(limit=LAB_HOSTS))
    assert config_of(device(report, "r4")) == [
        ("nftables.nft", "interfering", ("set evil",),
         "in table inet netorch, not written by netorch: type ipv4_addr; elements = { 10.1.0.10 }")]
    remediate_and_recheck(checker, "r4")
    assert "evil" not in sh(lab, "r4", "nft", "list", "table", "inet", "netorch")
    assert_clean(checker)


def test_hostname_is_unmanaged(checker: DriftChecker, lab: LabStatus) -> None:
    """FRR takes its hostname from the kernel and each vtysh prints its own: netorch does not own it."""
    vtysh(lab, "r1", "hostname other")
    try:
        report = checker.check(DriftOptions(limit=LAB_HOSTS, show_unmanaged=True))
        r1 = device(report, "r1")
        assert r1.status == "in_sync" and r1.config == []
        assert any(line.startswith("hostname ") for line in r1.unmanaged)
    finally:
        vtysh(lab, "r1", "hostname r1")


def test_a_moved_nft_rule_names_its_old_and_new_position(checker: DriftChecker, lab: LabStatus) -> None:
    chain = "netorch_servers_eth3_out"
    listing = sh(lab, "r4", "nft", "-a", "list", "chain", "inet", "netorch", chain)
    rules = [line.strip() for line in listing.splitlines() if "comment" in line and "handle" in line]
    assert len(rules) >= 3
    last_text, last_handle = rules[-1].rsplit(" # handle ", 1)
    first_handle = rules[0].rsplit(" # handle ", 1)[1]
    sh(lab, "r4", "nft", "insert", "rule", "inet", "netorch", chain, "position", first_handle, last_text)
    sh(lab, "r4", "nft", "delete", "rule", "inet", "netorch", chain, "handle", last_handle)
    report = checker.check(DriftOptions(limit=LAB_HOSTS))
    n = len(rules)
    assert config_of(device(report, "r4")) == [
        ("nftables.nft", "changed", (f"chain {chain}", last_text),
         f"moved: rule 1 of {n} running, rule {n} of {n} intended")]
    remediate_and_recheck(checker, "r4")
    assert_clean(checker)


def test_the_probe_crosses_the_routers_own_forward_chain(checker: DriftChecker, lab: LabStatus) -> None:
    """r1's own rule for the web service is deleted: r1's own probe still gets through (a packet
    it sends itself skips its forward chain), the users' packets do not; drift says so."""
    chain = "netorch_users_eth3_in"
    listing = sh(lab, "r1", "nft", "-a", "list", "chain", "inet", "netorch", chain)
    handle = next(x for x in listing.splitlines() if '"service:web"' in x).rsplit("handle ", 1)[1].strip()
    sh(lab, "r1", "nft", "delete", "rule", "inet", "netorch", chain, "handle", handle)
    with listening(lab.run_dir, "h2", 8080):
        assert not tcp_connect(lab.run_dir, "h1", "10.2.0.10", 8080, timeout=1)
        report = checker.check(DriftOptions(limit=LAB_HOSTS))
        r1 = device(report, "r1")
        assert [(s.kind, s.subject) for s in r1.state] == [("service_unreachable", "web 10.2.0.10")]
        assert r1.state[0].detail.startswith("the forward chain of r1 drops the consumers' tcp/8080 to 10.2.0.10 "
                                             "(eth3 -> eth1)")
        assert 'comment "default:servers"' in r1.state[0].detail
        assert [(c.kind, c.path[0]) for c in r1.config] == [("missing", f"chain {chain}")]
        remediate_and_recheck(checker, "r1")
        wait_for(lambda: tcp_connect(lab.run_dir, "h1", "10.2.0.10", 8080, timeout=1), "the users' flow")
    assert_clean(checker)
