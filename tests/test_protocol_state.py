"""Protocol state checks on JSON captured from real FRR 8.4 routers (tests/data/frr/: three
routers of the routing case, r1, r2 and up1, with r3 and r4 absent; then up1's bgpd killed and
r2's link to r1 taken down)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from netorch.device.drift import protocol_issues
from netorch.device.work import DeviceWork
from netorch.executor.scripted import ScriptedExecutor
from netorch.model.desired import DesiredState
from netorch.platforms import Transport
from netorch.protocols import state as ps
from netorch.run import transaction
from netorch.run.report import DeviceOutcome
from netorch.service import Workspace
from netorch.transport.base import DeviceJob, DeviceSession

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests/data/frr"
CASE = ROOT / "tests/cases/routing"


@pytest.fixture(scope="module")
def desired() -> dict[str, DesiredState]:
    return Workspace(CASE / "inventory", CASE / "intents", ROOT / "netorch" / "templates").compile()


def captured(host: str, **variants: str) -> ps.ProtocolState:
    names = ("ospf_neighbor", "bgp_summary", "bgp_ipv4", "route")
    return ps.parse_state([(DATA / f"{host}_{n}{variants.get(n, '')}.json").read_text() for n in names])


def failed(checks: list[ps.ProtocolCheck]) -> dict[str, tuple[str | None, str]]:
    return {c.subject: (c.problem, c.detail) for c in checks if not c.ok}


def test_r2_converged_with_what_is_there(desired: dict[str, DesiredState]) -> None:
    checks = ps.protocol_checks(desired["r2"], captured("r2"))
    ok = {c.subject for c in checks if c.ok}
    assert "ospf area 0 neighbour r1 (10.255.0.1) on eth1" in ok
    assert {"bgp neighbour up1 (10.0.25.2, AS 64999)", "bgp neighbour r1 (10.255.0.1, AS 65000)"} <= ok
    assert {"0.0.0.0/0 by bgp via 10.0.25.2 (up1)", "203.0.113.0/24 by bgp via 10.0.25.2 (up1)",
            "10.1.0.0/24 by ospf via 10.0.12.1", "10.255.0.1/32 by ospf via 10.0.12.1"} <= ok
    # r3 and r4 were not running when this was captured
    bad = failed(checks)
    assert bad["ospf area 0 neighbour r4 (10.255.0.4) on eth2"] == ("ospf_adjacency_down", "no adjacency")
    assert bad["bgp neighbour r3 (10.255.0.3, AS 65000)"] == ("bgp_session_down", "state Active")
    assert bad["10.2.0.0/24 by ospf via 10.0.24.2"] == ("prefix_missing", "not installed in the RIB")
    assert all(c.peer == "r4" and c.area == 0 for c in checks if c.subject.startswith("ospf area 0 neighbour r4"))


def test_ibgp_route_is_judged_by_its_recursive_next_hop(desired: dict[str, DesiredState]) -> None:
    checks = {c.subject: c for c in ps.protocol_checks(desired["r1"], captured("r1"))}
    # r1 learns the default from r2 over iBGP: next hop r2's loopback, resolved through OSPF
    default = checks["0.0.0.0/0 by bgp via 10.255.0.2 (r2)"]
    assert default.ok and default.prefix == "0.0.0.0/0" and default.peer == "r2"


def test_upstream_gets_the_campus_prefixes_from_r2(desired: dict[str, DesiredState]) -> None:
    bad = failed(ps.protocol_checks(desired["up1"], captured("up1")))
    assert bad == {"bgp neighbour r3 (10.0.35.1, AS 65000)": ("bgp_session_down", "state Active"),
                   "10.2.0.0/24 by bgp via 10.0.25.1 (r2)": ("prefix_missing", "not in the BGP table")}


def test_a_killed_bgpd_on_the_peer_drops_session_and_prefixes(desired: dict[str, DesiredState]) -> None:
    bad = failed(ps.protocol_checks(desired["r2"], captured("r2", bgp_summary="_up1_down", bgp_ipv4="_up1_down",
                                                           route="_up1_down")))
    assert bad["bgp neighbour up1 (10.0.25.2, AS 64999)"][0] == "bgp_session_down"
    assert bad["bgp neighbour up1 (10.0.25.2, AS 64999)"][1].startswith("state ")
    assert bad["0.0.0.0/0 by bgp via 10.0.25.2 (up1)"] == ("prefix_missing", "not in the BGP table")
    assert "bgp neighbour r1 (10.255.0.1, AS 65000)" not in bad


def test_a_link_down_drops_the_adjacency(desired: dict[str, DesiredState]) -> None:
    bad = failed(ps.protocol_checks(desired["r2"], captured("r2", ospf_neighbor="_down")))
    assert bad["ospf area 0 neighbour r1 (10.255.0.1) on eth1"] == ("ospf_adjacency_down", "no adjacency")


def test_wrong_next_hop_and_wrong_interface(desired: dict[str, DesiredState]) -> None:
    st = captured("r2")
    rib = json.loads(json.dumps(st.rib))
    for hop in rib[""]["10.1.0.0/24"][-1]["nexthops"]:
        hop["ip"] = "10.0.24.2"
    neighbors = json.loads((DATA / "r2_ospf_neighbor.json").read_text())
    neighbors["neighbors"]["10.255.0.1"][0]["ifaceName"] = "eth2:10.0.24.1"
    moved = ps.ProtocolState(neighbors, st.bgp_summary, st.bgp_routes, rib)
    bad = failed(ps.protocol_checks(desired["r2"], moved))
    assert bad["10.1.0.0/24 by ospf via 10.0.12.1"] == ("wrong_next_hop",
                                                       "installed via 10.0.24.2, intended via 10.0.12.1")
    assert bad["ospf area 0 neighbour r1 (10.255.0.1) on eth1"] == ("ospf_adjacency_down",
                                                                  "seen on eth2, not on eth1")


def test_shapes_and_silent_daemons(desired: dict[str, DesiredState]) -> None:
    st = captured("r2")
    assert st.ospf_neighbors is not None and st.bgp_summary is not None and st.bgp_routes is not None
    # older FRR: neighbours at the top level; without `vrf all`: the VRF's object itself
    flat = ps.ProtocolState(st.ospf_neighbors["neighbors"], st.bgp_summary["default"], st.bgp_routes["default"],
                            st.rib)
    assert failed(ps.protocol_checks(desired["r2"], flat)) == failed(ps.protocol_checks(desired["r2"], st))
    silent = ps.parse_state(["", "", "% bgpd is not running", ""])
    bad = failed(ps.protocol_checks(desired["r2"], silent))
    assert bad["ospf area 0 neighbour r1 (10.255.0.1) on eth1"] == ("ospf_adjacency_down", "ospfd gives no state")
    assert bad["bgp neighbour up1 (10.0.25.2, AS 64999)"] == ("bgp_session_down", "bgpd gives no state")
    # a device without protocol intents has no checks
    assert ps.protocol_checks(desired["nc1"], silent) == []


# ----------------------------------------------------------------- apply's verify and drift


class _Converging(DeviceSession):
    """A device whose protocols come up after `after` polls (or never)."""

    native_confirm = False
    checks_commit = True

    def __init__(self, job: DeviceJob, after: int | None) -> None:
        super().__init__(job.host, None, job)
        self.after, self.polls = after, 0

    def protocol_checks(self) -> list[ps.ProtocolCheck]:
        self.polls += 1
        up = self.after is not None and self.polls > self.after
        return [ps.ProtocolCheck(kind="bgp_session", subject="bgp neighbour up1 (10.0.25.2, AS 64999)",
                                 problem=None if up else "bgp_session_down", detail="" if up else "state Active",
                                 peer="up1")]

    def load(self) -> None: ...
    def diff(self) -> str: return ""
    def commit(self, revert_in: int | None = None) -> None: ...
    def confirm(self) -> None: ...
    def rollback(self) -> None: ...
    def discard(self) -> None: ...
    def live_config(self) -> dict[str, str]: return {}


def _verify(desired: DesiredState, session: _Converging, monkeypatch: pytest.MonkeyPatch,
            bound: float) -> DeviceOutcome:
    monkeypatch.setattr(transaction, "PROTOCOL_CONVERGENCE_TIMEOUT", bound)
    job = session.job
    outcomes = {job.host: DeviceOutcome(job.host, "frr", "napalm", "changed")}

    work = DeviceWork({job.host: session})
    task = SimpleNamespace(host=SimpleNamespace(name=job.host))
    run = ScriptedExecutor(lambda _phase, req: work.handle(task, req)).open(  # type: ignore[arg-type]
        None, [job], None, kind="apply", actor="t", lock_wait=0, all_or_none=True)  # type: ignore[arg-type]
    tx = transaction.Transaction([job], outcomes, None, 1, run, None, 120, 0.1)  # type: ignore[arg-type]
    tx.verify({job.host})
    return outcomes[job.host]


def test_verify_polls_until_protocols_converge(desired: dict[str, DesiredState],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    job = DeviceJob("r2", "frr", Transport.NAPALM, {}, desired["r2"])
    session = _Converging(job, after=3)
    out = _verify(desired["r2"], session, monkeypatch, bound=30.0)
    assert out.status == "changed" and session.polls == 4
    assert "bgp neighbour up1 (10.0.25.2, AS 64999): ok" in out.checks


def test_verify_fails_naming_the_session_that_stays_down(desired: dict[str, DesiredState],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    job = DeviceJob("r2", "frr", Transport.NAPALM, {}, desired["r2"])
    session = _Converging(job, after=None)
    start = time.monotonic()
    out = _verify(desired["r2"], session, monkeypatch, bound=1.0)
    assert 1.0 <= time.monotonic() - start < 5.0  # its own bound, not verify_timeout (0.1 s)
    assert out.status == "failed"
    assert out.error == "post-check failed: bgp neighbour up1 (10.0.25.2, AS 64999): state Active"


def test_failed_protocol_checks_are_state_drift(desired: dict[str, DesiredState]) -> None:
    checks = ps.protocol_checks(desired["r2"], captured("r2", ospf_neighbor="_down"))
    issues = {(i.kind, i.subject) for i in protocol_issues(checks)}
    assert ("ospf_adjacency_down", "ospf area 0 neighbour r1 (10.255.0.1) on eth1") in issues
    assert ("bgp_session_down", "bgp neighbour r3 (10.255.0.3, AS 65000)") in issues
    assert ("prefix_missing", "10.2.0.0/24 by ospf via 10.0.24.2") in issues
    assert len(issues) == sum(1 for c in checks if not c.ok)


@pytest.mark.parametrize("host", ["r2", "r3", "up1"])
def test_frr_prints_the_rendered_protocol_sections_with_the_same_meaning(host: str) -> None:
    """`show running-config` of FRR 8.4 after loading the rendered frr.conf (captured in a scratch
    namespace with IP forwarding off, vtysh outside the router's UTS namespace): both
    comparators see nothing but those two environment lines."""
    from netorch.configtree import hconfig as nm
    from netorch.configtree.frr import diff_frr

    running = (DATA / f"{host}_running_config.txt").read_text()
    desired = (ROOT / f"tests/golden/frr/routing_{host}/frr.conf").read_text()
    assert "router bgp" in running and "ip prefix-list netorch_" in running
    assert [d.path for d in diff_frr(running, desired, ("eth0",))] == [("no ip forwarding",)]
    assert nm.structured_diff(running, desired, ignore_interfaces=["eth0"]) == [
        ("unexpected", "no ip forwarding"), ("unexpected", "hostname vm")]


def test_an_interface_that_carries_an_adjacency_is_used(desired: dict[str, DesiredState]) -> None:
    """r2 has no static routes in the example: its links are used because OSPF runs over them."""
    from netorch.device.drift import state_issues
    from netorch.transport.base import InterfaceState, Snapshot

    assert not desired["r2"].routes
    links = {n: InterfaceState(n, n != "eth2", True) for n in ("eth1", "eth2", "eth3", "eth4", "lo")}
    issues = state_issues(desired["r2"], Snapshot({}, None, links))
    assert [(i.kind, i.subject, i.detail) for i in issues] == [("interface_down", "eth2", "link down")]


def test_equal_bgp_paths_any_may_be_the_best(desired: dict[str, DesiredState]) -> None:
    """Two eBGP paths equal up to the router id (multipath): FRR installs both and calls the
    oldest its best, which the model cannot know. Either as best passes; a path not received,
    or one of the two missing from the FIB, fails."""
    from ipaddress import IPv4Address, IPv4Network

    from netorch.model.desired import ExpectedRoute

    a, b = "10.0.11.1", "10.0.12.1"
    prefix = "10.100.3.0/24"
    state = desired["up1"].model_copy(update={"expected_routes": (ExpectedRoute(
        prefix=IPv4Network(prefix), protocol="bgp", next_hops=(IPv4Address(a), IPv4Address(b)),
        origin="bgp:64999"),)})

    def table(best: str, paths: tuple[str, ...], installed: tuple[str, ...]) -> ps.ProtocolState:
        bgp = {"routes": {prefix: [{"peerId": p, "bestpath": p == best, "multipath": True,
                                    "nexthops": [{"ip": p}]} for p in paths]}}
        rib = {prefix: [{"protocol": "bgp", "selected": True, "installed": True,
                         "nexthops": [{"ip": h, "active": True} for h in installed]}]}
        return ps.ProtocolState(None, None, bgp, {"": rib})

    def problems(st: ps.ProtocolState) -> list[str]:
        return [c.detail for c in ps.check_routes(state, st) if c.problem]

    assert problems(table(b, (a, b), (a, b))) == []
    assert problems(table(a, (a, b), (a, b))) == []
    assert problems(table(a, (a,), (a,))) == [f"not received from {b} (only from {a})"]
    assert problems(table(b, (a, b), (b,))) == [f"installed via {b}"]
