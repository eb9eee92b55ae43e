"""RIB fidelity of the control-plane model (netorch.rib) as a property, on a generated lab: for
routed designs drawn by hypothesis (which links OSPF uses, one area or two with border routers,
costs, passive loopbacks and stubs, static routes with floating backups, iBGP full mesh or route
reflectors, eBGP with an upstream AS, originate, accept filters, preferred exits, redistribution
into OSPF and BGP), netorch validates and applies the design, and every router's RIB as FRR
computes it (`show ip route vrf all json`: prefix, protocol, next hops) equals the model's, with
every link up and after a drawn link fails. Waiting for that equality, with a bound, is the test:
a router that does not reach the model's RIB in time fails with the difference per router.

The lab is its own (prefix nolr, mgmt 198.19/16), up once for the module; each example applies
another design to it (apply replaces what netorch owns). Hypothesis runs a few derandomised
examples without shrinking, so CI sees the same designs every time and stays short."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

from netorch.lab import LabStatus, down, exec_in, ping, up
from netorch.lab.topology import Topology, parse_topology
from netorch.model.desired import DesiredState
from netorch.rib import ControlPlane
from netorch.rib.frr import Selected, frr_selected, model_selected
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions
from netorch.service import Workspace
from netorch.store import Store

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
MGMT = "eth0"
#: the bound on convergence after an apply, a link failure or its repair
CONVERGENCE = 60.0

# -- the lab: seven campus routers in a ring with chords, and an upstream router ------------------------
#
#        up1 (AS 64999: 203.0.113.0/24, 198.51.100.0/24)
#        /   \
#      r2     r5            ring r1-r2-r3-r4-r5-r6-r7-r1, chords r1-r4, r2-r6, r5-r7;
#                           every campus router rI has a stub subnet 10.100.I.0/24 with an
#                           end host hI (.10); up1's external subnets have hosts x1, x2
CAMPUS = [f"r{i}" for i in range(1, 8)]
UPSTREAM = "up1"
RING = [(f"r{i}", f"r{i % 7 + 1}") for i in range(1, 8)]
CHORDS = [("r1", "r4"), ("r2", "r6"), ("r5", "r7")]
UPLINKS = [("r2", UPSTREAM), ("r5", UPSTREAM)]
EXTERNAL = [IPv4Network("203.0.113.0/24"), IPv4Network("198.51.100.0/24")]
DEFAULT = IPv4Network("0.0.0.0/0")
CAMPUS_AS, UPSTREAM_AS = 65000, 64999
#: the two-area layout: area 0 and area 1 members (r4, and r1 when drawn, are border routers)
AREA0 = ["r1", "r2", "r3", "r4"]
AREA1 = ["r4", "r5", "r6", "r7"]


@dataclass(frozen=True)
class LinkEnds:
    a: str
    a_if: str
    b: str
    b_if: str
    network: IPv4Network

    @property
    def pair(self) -> tuple[str, str]:
        return (self.a, self.b)


def build_topology() -> tuple[Topology, list[LinkEnds], dict[str, tuple[str, IPv4Network]]]:
    """The lab topology, its links (ends and subnet) and each router's stub (interface, subnet)."""
    interfaces: dict[str, dict[str, dict[str, str]]] = {r: {} for r in [*CAMPUS, UPSTREAM]}
    links: list[LinkEnds] = []
    for k, (a, b) in enumerate([*RING, *CHORDS, *UPLINKS], start=1):
        net = IPv4Network(f"10.0.{k}.0/30")
        ia, ib = f"eth{len(interfaces[a]) + 1}", f"eth{len(interfaces[b]) + 1}"
        interfaces[a][ia] = {"address": f"{net.network_address + 1}/30"}
        interfaces[b][ib] = {"address": f"{net.network_address + 2}/30"}
        links.append(LinkEnds(a, ia, b, ib, net))
    stubs: dict[str, tuple[str, IPv4Network]] = {}
    hosts: dict[str, dict[str, str]] = {}

    def stub(router: str, host: str, net: IPv4Network, description: str) -> str:
        # (an end host on it: this kernel has no dummy interfaces)
        name = f"eth{len(interfaces[router]) + 1}"
        interfaces[router][name] = {"address": f"{net.network_address + 1}/24", "description": description}
        hosts[host] = {"router": router, "interface": name, "address": f"{net.network_address + 10}/24",
                       "gateway": str(net.network_address + 1)}
        return name

    for i, r in enumerate(CAMPUS, start=1):
        net = IPv4Network(f"10.100.{i}.0/24")
        stubs[r] = (stub(r, f"h{i}", net, "stub"), net)
    for i, net in enumerate(EXTERNAL, start=1):
        stub(UPSTREAM, f"x{i}", net, "external")
    routers: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(CAMPUS, start=1):
        routers[r] = {"mgmt": f"198.19.0.{10 + i}", "loopback": f"10.255.0.{i}/32", "ospf": True,
                      "bgp": True, "interfaces": interfaces[r]}
    routers[UPSTREAM] = {"mgmt": "198.19.0.19", "loopback": "10.255.0.9/32", "bgp": True,
                         "interfaces": interfaces[UPSTREAM]}
    topo = parse_topology({"prefix": "nolr", "mgmt_gateway": "198.19.0.1/16", "routers": routers,
                           "links": [[f"{x.a}:{x.a_if}", f"{x.b}:{x.b_if}"] for x in links], "hosts": hosts},
                          "rib property lab")
    return topo, links, stubs


TOPO, LINKS, STUBS = build_topology()
ROUTERS = [*CAMPUS, UPSTREAM]


def neighbours(router: str) -> list[tuple[str, LinkEnds]]:
    """(peer, link) of every link of `router`."""
    return [(x.b if x.a == router else x.a, x) for x in LINKS if router in (x.a, x.b)]


def address_of(router: str, x: LinkEnds) -> str:
    return str(x.network.network_address + (1 if x.a == router else 2))


# -- drawn designs -------------------------------------------------------------------------------------

@dataclass
class Design:
    """The intents of one drawn design (routing.yaml)."""

    routing: dict[str, Any]


COSTS = st.sampled_from([5, 10, 10, 20])


@st.composite
def ospf_part(draw: st.DrawFn) -> dict[str, Any]:
    """The OSPF intent: the ring and some chords, one area or two (r4, and maybe r1, border
    routers), costs, passive loopbacks and some passive stubs."""
    two_areas = draw(st.booleans())
    second_abr = two_areas and draw(st.booleans())
    members: dict[int, list[str]] = {0: list(CAMPUS)} if not two_areas else {
        0: list(AREA0), 1: [*AREA1, *(["r1"] if second_abr else [])]}
    home = {r: min(a for a, rs in members.items() if r in rs) for r in CAMPUS}
    used = list(RING) + [c for c in CHORDS if draw(st.booleans())]
    if two_areas:  # a link is in OSPF only when its ends share an area
        used = [(a, b) for a, b in used if any(a in rs and b in rs for rs in members.values())]
    links = [{"hosts": [a, b], "cost": draw(COSTS)} for a, b in used]
    areas: dict[int, list[dict[str, Any]]] = {a: [] for a in members}
    for r in CAMPUS:
        areas[home[r]].append({"host": r, "interface": "lo", "passive": True})
        if draw(st.integers(0, 2)) == 0:  # the stub, passive (advertised, no adjacency)
            areas[home[r]].append({"host": r, "interface": STUBS[r][0], "passive": True})
    intent: dict[str, Any] = {"name": "core", "areas": [
        {"area": a, "hosts": sorted(members[a]), "links": False, "interfaces": areas[a]} for a in sorted(members)],
        "links": links}
    return intent


@st.composite
def static_part(draw: st.DrawFn) -> list[dict[str, Any]]:
    """0-3 static routes, each to a neighbour's stub or to a prefix nothing else carries, through
    that neighbour, and with a floating backup through another neighbour."""
    routes: list[dict[str, Any]] = []
    taken: set[tuple[str, str]] = set()
    for n in range(draw(st.integers(0, 3))):
        router = draw(st.sampled_from(CAMPUS))
        peers = [(p, x) for p, x in neighbours(router) if p != UPSTREAM]
        peer, x = draw(st.sampled_from(peers))
        prefix = str(STUBS[peer][1]) if draw(st.booleans()) else f"10.200.{n + 1}.0/24"
        if (router, prefix) in taken:
            continue
        taken.add((router, prefix))
        routes.append({"name": f"s{n}", "prefix": prefix, "next_hop": address_of(peer, x), "hosts": [router]})
        others = [(p, y) for p, y in peers if p != peer]
        if draw(st.booleans()):
            backup, y = draw(st.sampled_from(others))
            routes.append({"name": f"s{n}b", "prefix": prefix, "next_hop": address_of(backup, y),
                           "distance": draw(st.sampled_from([5, 115, 250])), "hosts": [router]})
    return routes


def static_routers(routes: list[dict[str, Any]]) -> set[str]:
    return {h for r in routes for h in r["hosts"]}


@st.composite
def designs(draw: st.DrawFn) -> Design:
    ospf = draw(ospf_part())
    routes = draw(static_part())
    with_statics = sorted(static_routers(routes))
    # -- BGP: the exits r2 and r5 always, other campus routers at random
    speakers = sorted({"r2", "r5", *(r for r in CAMPUS if draw(st.integers(0, 3)) > 0)})
    ibgp = draw(st.sampled_from(["full-mesh", "route-reflectors"]))
    bgp: dict[str, Any] = {"name": "edge", "routers": [
        *({"host": r, "asn": CAMPUS_AS} for r in speakers), {"host": UPSTREAM, "asn": UPSTREAM_AS}],
        "ibgp": ibgp}
    if ibgp == "route-reflectors":
        bgp["route_reflectors"] = sorted(draw(st.sets(st.sampled_from(speakers), min_size=1, max_size=2)))
    external = sorted(draw(st.sets(st.sampled_from(EXTERNAL), min_size=1)), key=str)
    up_originates = [*external, *([DEFAULT] if draw(st.booleans()) else [])]
    originate: list[dict[str, Any]] = [{"host": UPSTREAM, "prefixes": [str(p) for p in up_originates]}]
    campus_prefixes: list[IPv4Network] = []
    for r in speakers:
        mine = [STUBS[r][1]] if draw(st.booleans()) else []
        mine += [IPv4Network(s["prefix"]) for s in routes if r in s["hosts"] and draw(st.integers(0, 3)) == 0]
        mine = sorted(set(mine), key=lambda n: (int(n.network_address), n.prefixlen))
        if mine:
            originate.append({"host": r, "prefixes": [str(p) for p in mine]})
            campus_prefixes += mine
    bgp["originate"] = originate
    accept: list[dict[str, Any]] = []
    for exit_router in ("r2", "r5"):
        kind = draw(st.sampled_from(["exact", "covering", "everything", "nothing"]))
        if kind == "exact":
            got = draw(st.sets(st.sampled_from(up_originates), min_size=1))
            accept.append({"host": exit_router, "from": UPSTREAM,
                           "prefixes": sorted(str(p) for p in got), "max_prefix": 10})
        elif kind == "covering":
            accept.append({"host": exit_router, "from": UPSTREAM, "prefixes": ["198.51.0.0/16", "203.0.0.0/8"],
                           "or_longer": True})
        elif kind == "everything":
            accept.append({"host": exit_router, "from": UPSTREAM, "prefixes": ["0.0.0.0/0"], "or_longer": True})
        if campus_prefixes and draw(st.booleans()):
            accept.append({"host": UPSTREAM, "from": exit_router, "prefixes": ["10.0.0.0/8"], "or_longer": True})
        elif campus_prefixes:
            got = draw(st.sets(st.sampled_from(campus_prefixes), min_size=1))
            accept.append({"host": UPSTREAM, "from": exit_router,
                           "prefixes": sorted(str(p) for p in got)})
    bgp["accept"] = accept
    prefer = []
    exits = draw(st.permutations(["r2", "r5"]))
    if draw(st.booleans()):
        prefer.append({"prefixes": [str(p) for p in up_originates], "exits": list(exits)})
    if campus_prefixes and draw(st.booleans()):
        prefer.append({"prefixes": [str(p) for p in campus_prefixes], "exits": list(exits)})
    if prefer:
        bgp["prefer"] = prefer
    # -- redistribution: connected / static into OSPF, connected / static / ospf into BGP
    ospf_redis: list[dict[str, Any]] = []
    bgp_redis: list[dict[str, Any]] = []
    connected_into_ospf = sorted(draw(st.sets(st.sampled_from(CAMPUS), max_size=2)))
    if connected_into_ospf:
        entry: dict[str, Any] = {"protocol": "connected", "hosts": connected_into_ospf}
        if draw(st.booleans()):
            entry["prefixes"] = ["10.100.0.0/16"]
        ospf_redis.append(entry)
    if with_statics and draw(st.booleans()):
        ospf_redis.append({"protocol": "static", "hosts": sorted(draw(st.sets(st.sampled_from(with_statics),
                                                                               min_size=1)))})
    for protocol in ("connected", "static", "ospf"):
        candidates = speakers if protocol != "static" else [r for r in speakers if r in with_statics]
        if candidates and draw(st.integers(0, 2)) == 0:
            entry = {"protocol": protocol, "hosts": sorted(draw(st.sets(st.sampled_from(candidates),
                                                                        min_size=1, max_size=2)))}
            if protocol != "static" and draw(st.booleans()):
                entry["prefixes"] = ["10.100.0.0/16"]
            bgp_redis.append(entry)
    # BGP into OSPF on one exit, unless that exit also redistributes OSPF into BGP (a feedback loop)
    into_bgp_ospf = {h for e in bgp_redis if e["protocol"] == "ospf" for h in e["hosts"]}
    bgp_into_ospf = draw(st.sampled_from([None, "r2", "r5"]))
    if bgp_into_ospf is not None and bgp_into_ospf not in into_bgp_ospf:
        ospf_redis.append({"protocol": "bgp", "hosts": [bgp_into_ospf]})
    if ospf_redis:
        ospf["redistribute"] = ospf_redis
    if bgp_redis:
        bgp["redistribute"] = bgp_redis
    routing: dict[str, Any] = {"ospf": [ospf], "bgp": [bgp]}
    if routes:
        routing["routes"] = routes
    return Design(routing)


# -- the routers' RIBs against the model -----------------------------------------------------------------

def frr_rib(run_dir: Path, router: str) -> Selected:
    """The routes FRR selected on `router`, every VRF (`show ip route vrf all json` nests the
    routes per VRF), management and kernel routes left out."""
    out = exec_in(run_dir, router, ["vtysh", "-c", "show ip route vrf all json"], timeout=20).stdout
    doc: dict[str, Any] = json.loads(out or "{}")
    nested = bool(doc) and all(isinstance(v, dict) for v in doc.values())
    tables = doc if nested else {"default": doc}
    selected: Selected = {}
    for vrf, table in sorted(tables.items()):
        tag = "" if vrf == "default" else f"vrf {vrf} "
        selected.update({tag + p: r for p, r in frr_selected(table,
                                                              ignore_interfaces={MGMT}).items()})
    return selected


def model_rib(plane: ControlPlane, router: str) -> Selected:
    selected: Selected = {}
    for vrf in plane.vrfs(router) or [""]:
        tag = f"vrf {vrf} " if vrf else ""
        selected.update({tag + p: r for p, r in model_selected(plane.rib(router, vrf), {MGMT}).items()})
    return selected


def differences(expected: Selected, real: Selected) -> list[str]:
    def show(route: tuple[str, tuple[tuple[str, str], ...]] | None) -> str:
        if route is None:
            return "(none)"
        protocol, hops = route
        return protocol + " " + (", ".join(f"{gw or 'direct'} {ifname}".strip() for gw, ifname in hops) or "-")

    return [f"  {p}: FRR {show(real.get(p))} | model {show(expected.get(p))}"
            for p in sorted(set(expected) | set(real)) if expected.get(p) != real.get(p)]


def wait_for_model(run_dir: Path, plane: ControlPlane, what: str, timeout: float = CONVERGENCE) -> float:
    """Poll every router's RIB until it equals the model's; the seconds it took. On timeout, fail
    with the difference per router."""
    expected = {r: model_rib(plane, r) for r in ROUTERS}
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(ROUTERS)) as pool:
        while True:
            real = dict(zip(ROUTERS, pool.map(lambda r: frr_rib(run_dir, r), ROUTERS), strict=True))
            diff = {r: d for r in ROUTERS if (d := differences(expected[r], real[r]))}
            took = time.monotonic() - start
            if not diff:
                return took
            if took > timeout:
                notes = "".join(f"\n  model note: {n}" for n in plane.notes)
                raise AssertionError(
                    f"{what}: the routers' RIBs are not the model's after {timeout:.0f}s{notes}\n"
                    + "\n".join(f"{r}:\n" + "\n".join(d) for r, d in diff.items()))
            time.sleep(1.0)


def set_link(run_dir: Path, x: LinkEnds, state: str) -> None:
    for router, ifname in ((x.a, x.a_if), (x.b, x.b_if)):
        exec_in(run_dir, router, ["ip", "link", "set", ifname, state], check=True)


# -- the lab fixture -----------------------------------------------------------------------------------

@dataclass
class RibLab:
    """The lab of one example: brought up afresh for each (about a second), since FRR 8.4's
    zebra, after some sequences of changes, keeps selected routes out of the kernel for good
    ("Nexthop id does not exist"), which one design would then pass on to the next."""

    run_dir: Path
    work: Path
    status: LabStatus | None = None
    examples: int = 0
    timings: list[str] = field(default_factory=list)

    @property
    def inventory(self) -> Path:
        return self.run_dir / "inventory"

    def fresh(self) -> LabStatus:
        if self.status is not None:
            down(self.run_dir)
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.status = up(TOPO, self.run_dir)
        assert self.status.state == "up", self.status
        return self.status


@pytest.fixture(scope="module")
def rib_lab() -> Iterator[RibLab]:
    from conftest import make_run_dir, require_lab

    require_lab()
    run_dir = make_run_dir("ribprop")
    work = run_dir.parent / "work"
    work.mkdir()
    lab = RibLab(run_dir, work)
    try:
        yield lab
    finally:
        print("\n" + "\n".join(lab.timings))
        down(run_dir)
        shutil.rmtree(run_dir.parent, ignore_errors=True)


def workspace(lab: RibLab, design: Design) -> Workspace:
    folder = lab.work / f"intents-{lab.examples}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "routing.yaml").write_text(yaml.safe_dump(design.routing, sort_keys=False))
    return Workspace(lab.inventory, folder, ROOT / "netorch" / "templates")


def timed(lab: RibLab, label: str, step: Callable[[], float]) -> None:
    took = step()
    lab.timings.append(f"example {lab.examples}: {label} in {took:.1f}s")


def bgp_states(run_dir: Path, router: str) -> str:
    """`neighbour state` of every BGP session of `router` (for a failure's message)."""
    out = exec_in(run_dir, router, ["vtysh", "-c", "show bgp vrf all summary json"], timeout=20).stdout
    try:
        doc = json.loads(out or "{}")
    except ValueError:
        return out.strip()[:200]
    peers = {p: v.get("state", "?") for vrf in doc.values() if isinstance(vrf, dict)
             for p, v in vrf.get("ipv4Unicast", {}).get("peers", {}).items()}
    return ", ".join(f"{p} {s}" for p, s in sorted(peers.items())) or "no BGP sessions"


def survivable(plane: ControlPlane, states: dict[str, DesiredState]) -> list[LinkEnds]:
    """The links whose failure leaves every BGP speaker of the campus a route to every other's
    loopback. (Across a cut, an iBGP session stays up until its hold timer expires, 180 s, while
    the model takes it down at once: such failures are not drawn.)"""
    speakers = [h for h in CAMPUS if states[h].bgp is not None]
    loopbacks = {h: IPv4Network(f"{states[h].bgp.router_id}/32") for h in speakers}  # type: ignore[union-attr]
    out = []
    for x in LINKS:
        failed = ControlPlane(states, down=[(x.a, x.a_if), (x.b, x.b_if)])
        if all(failed.rib(a).best(loopbacks[b]) is not None for a in speakers for b in speakers if a != b):
            out.append(x)
    return out


HOSTS = sorted(TOPO.hosts)


def delivered(plane: ControlPlane, a: str, b: str) -> bool | None:
    """Whether the model delivers a ping from host a to host b and its answer back: True on
    every equal-cost branch both ways, False on none (one way or the other), None when it
    depends on the branch a flow's hash picks."""
    ha, hb = TOPO.hosts[a], TOPO.hosts[b]
    there = [w.outcome == "delivered" and w.host == hb.router for w in plane.walks(ha.router, hb.address.ip)]
    back = [w.outcome == "delivered" and w.host == ha.router for w in plane.walks(hb.router, ha.address.ip)]
    if all(there) and all(back):
        return True
    if not any(there) or not any(back):
        return False
    return None


def check_traffic(lab: RibLab, plane: ControlPlane, what: str, timeout: float = 20.0) -> float:
    """Traffic fidelity on the same design: a ping between every two end hosts passes exactly
    when the model delivers it both ways (waiting, with a bound, for a path the model delivers);
    where one equal-cost branch delivers and another does not, the flow's hash decides, and
    either answer is the model's."""
    pairs = [(a, b) for a in HOSTS for b in HOSTS if a != b]
    expected = {p: delivered(plane, *p) for p in pairs}
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        while True:
            real = dict(zip(pairs, pool.map(lambda p: ping(lab.run_dir, p[0], str(TOPO.hosts[p[1]].address.ip),
                                                              count=1, timeout=1.0), pairs), strict=True))
            wrong = [p for p in pairs if expected[p] is not None and real[p] != expected[p]]
            took = time.monotonic() - start
            if not wrong:
                return took
            if took > timeout or any(real[p] for p in wrong):  # a ping the model drops never heals
                def walks(a: str, b: str) -> str:
                    there = plane.follow(TOPO.hosts[a].router, TOPO.hosts[b].address.ip)
                    back = plane.follow(TOPO.hosts[b].router, TOPO.hosts[a].address.ip)
                    return (f"there {there.outcome} {' > '.join(h for h, _ in there.hops)}, "
                            f"back {back.outcome} {' > '.join(h for h, _ in back.hops)}")

                routes = "\n".join(f"  {r}: " + exec_in(lab.run_dir, r, ["ip", "route"], timeout=20).stdout.replace(
                    "\n", "; ") for r in ROUTERS)
                raise AssertionError(f"{what}: traffic differs from the model:\n" + "\n".join(
                    f"  {a} -> {b}: ping {'passes' if real[(a, b)] else 'fails'}, model "
                    f"{'delivers' if expected[(a, b)] else 'drops'} ({walks(a, b)})" for a, b in wrong)
                    + "\nthe kernels' routes:\n" + routes)


def wait_or_explain(lab: RibLab, plane: ControlPlane, what: str) -> float:
    try:
        return wait_for_model(lab.run_dir, plane, what)
    except AssertionError as exc:
        sessions = "\n".join(f"  {r}: {bgp_states(lab.run_dir, r)}" for r in ROUTERS)
        raise AssertionError(f"{exc}\nBGP sessions as the routers see them:\n{sessions}") from None


# Eight derandomised examples in CI, each on a fresh lab (about 45 s each). Drawn designs that
# validate refuses (routes that go round between BGP and OSPF) do not count; hypothesis draws
# others. Twelve passed when last run by hand (17 drawn).
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(design=designs(), data=st.data())
def test_every_router_rib_equals_the_model(rib_lab: RibLab, design: Design, data: st.DataObject) -> None:
    lab = rib_lab
    lab.examples += 1
    note(yaml.safe_dump(design.routing, sort_keys=False))
    status = lab.fresh()
    ws = workspace(lab, design)
    validation = ws.validate()
    assume(validation.ok)
    states: dict[str, DesiredState] = ws.compile()
    plane = ControlPlane(states)
    engine = Engine(ws, Store(lab.work / f"store-{lab.examples}.db"), credentials=str(status.credentials_file))
    started = time.monotonic()
    report = engine.apply(ApplyOptions(workers=len(ROUTERS)))
    assert report.exit_code == 0, "apply failed:\n" + "\n".join(f"  {d.host}: {d.status} {d.error or ''}"
                                                          for d in report.devices)
    lab.timings.append(f"example {lab.examples}: applied in {time.monotonic() - started:.1f}s")
    timed(lab, "converged to the model", lambda: wait_or_explain(lab, plane, "after apply"))
    timed(lab, "traffic as the model says", lambda: check_traffic(lab, plane, "after apply"))
    broken = data.draw(st.sampled_from(survivable(plane, states)), label="failed link")
    set_link(lab.run_dir, broken, "down")
    try:
        failed = ControlPlane(states, down=[(broken.a, broken.a_if), (broken.b, broken.b_if)])
        timed(lab, f"converged with {broken.a}-{broken.b} down",
              lambda: wait_or_explain(lab, failed, f"with the link {broken.a}-{broken.b} down"))
        timed(lab, "traffic as the model says", lambda: check_traffic(lab, failed, f"with {broken.a}-{broken.b} down"))
    finally:
        set_link(lab.run_dir, broken, "up")
    timed(lab, "converged back", lambda: wait_or_explain(lab, plane, f"after {broken.a}-{broken.b} came back"))
