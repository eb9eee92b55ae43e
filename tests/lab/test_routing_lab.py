"""Dynamic routing on the lab: the example's OSPF and BGP intents applied to real FRR routers,
proven by the routers' own state and by traffic between the hosts, under a link failure and
with a BGP daemon killed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from netorch.lab import LabStatus, exec_in, ping, start_daemon
from netorch.lab._system import pid_alive, read_pid
from netorch.lab.probe import probe
from netorch.protocols import state as ps
from netorch.run.drift import DriftChecker, DriftReport
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, DriftOptions
from netorch.service import Workspace
from netorch.store import Store

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
HOSTS = "lab_routers,lab_netconf"
ROUTERS = ("r1", "r2", "r3", "r4", "up1")
#: generous: OSPF notices a link down at once (the veth loses carrier), SPF runs within seconds
CONVERGENCE_BOUND = 30.0


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll until condition() holds; the seconds it took (fails after timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def routed(lab: LabStatus, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    eng = Engine(ws, Store(tmp_path_factory.mktemp("routing") / "store.db"), credentials=str(lab.credentials_file))
    report = eng.apply(ApplyOptions(limit=HOSTS, workers=10))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    return eng


def live_checks(lab: LabStatus, eng: Engine, router: str) -> list[ps.ProtocolCheck]:
    """The protocol checks of one router, read from the router itself (its vtysh, not a transport)."""
    # (a daemon the router does not run answers with an error: no state, and no check asks for it)
    outputs = [exec_in(lab.run_dir, router, ["vtysh", "-c", c]).stdout for c in ps.COMMANDS]
    return ps.protocol_checks(eng.ws.compile()[router], ps.parse_state(outputs))


def converged(lab: LabStatus, eng: Engine) -> bool:
    return all(c.ok for r in ROUTERS for c in live_checks(lab, eng, r))


def route_via(lab: LabStatus, router: str, destination: str) -> str:
    """The kernel's choice of next hop from `router` towards `destination` (`ip route get`)."""
    words = exec_in(lab.run_dir, router, ["ip", "-o", "route", "get", destination]).stdout.split()
    return words[words.index("via") + 1] if "via" in words else ""


def drift(eng: Engine, limit: str) -> DriftReport:
    return DriftChecker(eng).check(DriftOptions(limit=limit, record=False))


def test_after_apply_every_adjacency_and_session_is_up(routed: Engine, lab: LabStatus) -> None:
    wait_for(lambda: converged(lab, routed), 60, "the protocols to converge after apply")
    for router in ROUTERS:
        checks = live_checks(lab, routed, router)
        desired = routed.ws.compile()[router]
        intended = (len(desired.ospf.neighbors) if desired.ospf else 0) + (
            len(desired.bgp.neighbors) if desired.bgp else 0)
        assert sum(c.kind in ("ospf_adjacency", "bgp_session") for c in checks) == intended > 0
        assert all(c.ok for c in checks), [(c.subject, c.detail) for c in checks if not c.ok]
    # and drift, through the transports (napalm for most, netmiko for r3), agrees
    report = drift(routed, HOSTS)
    assert not [(d.host, s.kind, s.subject) for d in report.devices for s in d.state], report.devices


def test_traffic_follows_the_intents(routed: Engine, lab: LabStatus) -> None:
    wait_for(lambda: converged(lab, routed), 60, "convergence")
    # users -> servers through r2 (the links through r3 cost more), both ways
    assert route_via(lab, "r1", "10.2.0.10") == "10.0.12.2"
    assert route_via(lab, "r4", "10.1.0.10") == "10.0.24.1"
    # the external host is reached through the preferred exit, r2 (local preference): even r3,
    # which has its own session to up1, goes to r2's loopback (over r1 or r4, equal cost); and
    # up1 sends the campus prefixes back through r2 too (r3 prepends its AS)
    assert route_via(lab, "r3", "203.0.113.10") in ("10.0.13.1", "10.0.34.2")
    assert route_via(lab, "up1", "10.1.0.10") == "10.0.25.1"
    assert ping(lab.run_dir, "h1", "10.2.0.10") and ping(lab.run_dir, "h1", "203.0.113.10")
    # every flow between the hosts does what the intents say (expectations computed from them)
    results = probe(routed.ws, lab.run_dir)
    assert results and all(p.ok for p in results), [p.as_dict() for p in results if not p.ok]
    assert any(p.dst == "h4" and p.expected for p in results)


def test_failover_to_the_backup_and_back(routed: Engine, lab: LabStatus) -> None:
    wait_for(lambda: converged(lab, routed), 60, "convergence")
    assert route_via(lab, "r1", "10.2.0.10") == "10.0.12.2"
    exec_in(lab.run_dir, "r1", ["ip", "link", "set", "eth1", "down"], check=True)
    try:
        down = wait_for(lambda: route_via(lab, "r1", "10.2.0.10") == "10.0.13.2"
                        and ping(lab.run_dir, "h1", "10.2.0.10", timeout=1.0), CONVERGENCE_BOUND,
                        "traffic from users to servers over the backup through r3")
        # the intended primary is gone: drift says so, naming the adjacency and the prefix
        report = drift(routed, "r1")
        issues = {(s.kind, s.subject) for d in report.devices for s in d.state}
        assert ("ospf_adjacency_down", "ospf area 0 neighbour r2 (10.255.0.2) on eth1") in issues
        assert ("wrong_next_hop", "10.2.0.0/24 by ospf via 10.0.12.2") in issues
    finally:
        exec_in(lab.run_dir, "r1", ["ip", "link", "set", "eth1", "up"], check=True)
    back = wait_for(lambda: route_via(lab, "r1", "10.2.0.10") == "10.0.12.2"
                    and ping(lab.run_dir, "h1", "10.2.0.10", timeout=1.0), CONVERGENCE_BOUND + 40,
                    "traffic back on the primary through r2")
    print(f"convergence: to the backup {down:.2f} s, back to the primary {back:.2f} s")
    assert down < CONVERGENCE_BOUND
    wait_for(lambda: converged(lab, routed), 60, "every adjacency and session up again")


def test_a_killed_bgpd_is_state_drift_naming_the_peer(routed: Engine, lab: LabStatus) -> None:
    wait_for(lambda: converged(lab, routed), 60, "convergence")
    pidfile = lab.run_dir / "nodes" / "up1" / "run" / "bgpd.pid"
    pid = read_pid(pidfile)
    assert pid is not None and pid_alive(pid)
    os.kill(pid, signal.SIGKILL)
    try:
        wait_for(lambda: not pid_alive(pid), 10, "up1's bgpd to exit")

        def r2_sees_it() -> set[tuple[str, str]]:
            report = drift(routed, "r2")
            return {(s.kind, s.subject) for d in report.devices for s in d.state}

        issues: set[tuple[str, str]] = set()

        def session_down() -> bool:
            nonlocal issues
            issues = r2_sees_it()
            return ("bgp_session_down", "bgp neighbour up1 (10.0.25.2, AS 64999)") in issues

        wait_for(session_down, 30, "r2's drift to report the session to up1 down", interval=1.0)
        assert ("prefix_missing", "203.0.113.0/24 by bgp via 10.0.25.2 (up1)") in issues
    finally:
        now = read_pid(pidfile)
        if now is None or not pid_alive(now):
            start_daemon(lab.run_dir, "up1", "bgpd")
    wait_for(lambda: converged(lab, routed), 90, "the sessions to up1 to come back")
