"""Designs written the way a user writes them, where validate, verify and compile used to
disagree: one control-plane model (netorch.rib) now answers for all of them."""

from __future__ import annotations

import shutil
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from netorch.rib import ControlPlane
from netorch.service import Workspace
from netorch.verify.verifier import verify

INVENTORY = """
c1:
  hostname: 192.0.2.1
  platform: frr
  data:
    interfaces:
      lo: {address: 10.255.9.1/32}
      eth1: {address: 10.60.12.1/30}
      eth2: {address: 10.60.13.1/30}
      eth3: {address: 10.40.0.1/24, description: users}
c2:
  hostname: 192.0.2.2
  platform: frr
  data:
    interfaces:
      lo: {address: 10.255.9.2/32}
      eth1: {address: 10.60.12.2/30}
      eth2: {address: 10.60.23.1/30}
      eth3: {address: 10.60.29.1/30, description: to upstream}
c3:
  hostname: 192.0.2.3
  platform: frr
  data:
    interfaces:
      lo: {address: 10.255.9.3/32}
      eth1: {address: 10.60.13.2/30}
      eth2: {address: 10.60.23.2/30}
      eth3: {address: 10.60.35.1/30, description: to the edge device}
e1:
  hostname: 192.0.2.5
  platform: netconf
  data:
    interfaces:
      eth1: {address: 10.60.35.2/30}
      eth2: {address: 10.50.0.1/24, description: staff}
u1:
  hostname: 192.0.2.9
  platform: frr
  data:
    interfaces:
      lo: {address: 10.255.9.9/32}
      eth1: {address: 10.60.29.2/30}
      eth2: {address: 198.51.100.1/24, description: internet}
"""

INTENTS = """
routes:
  # the edge device's stub: c3 reaches it by a static route and redistributes it into OSPF
  - {name: staff-stub, prefix: 10.50.0.0/24, next_hop: 10.60.35.2, hosts: [c3]}
  - {name: edge-default, prefix: 0.0.0.0/0, next_hop: 10.60.35.1, hosts: [e1]}
ospf:
  - name: core
    areas:
      - area: 0
        hosts: [c1, c2, c3]
        interfaces:
          - {host: c1, interface: lo, passive: true}
          - {host: c2, interface: lo, passive: true}
          - {host: c3, interface: lo, passive: true}
          - {host: c1, interface: eth3, passive: true}
    redistribute:
      - {protocol: static, hosts: [c3]}
bgp:
  - name: edge
    routers:
      - {host: c2, asn: 65010}
      - {host: u1, asn: 64999}
    ibgp: none
    originate:
      - {host: u1, prefixes: [0.0.0.0/0]}
      - {host: c2, prefixes: [10.40.0.0/24]}
    accept:
      # a wide accept filter: the upstream sends only the default route
      - {host: c2, from: u1, prefixes: [0.0.0.0/0, 198.51.0.0/16], or_longer: true}
      - {host: u1, from: c2, prefixes: [10.40.0.0/16], or_longer: true}
domains:
  - name: users
    members: [{host: c1, interface: eth3}]
  - name: staff
    members: [{host: e1, interface: eth2}]
rules:
  - {name: users-to-staff, sequence: 10, from: users, to: staff, protocol: tcp, ports: [22], action: allow}
"""


def _workspace(tmp_path: Path, intents: str = INTENTS) -> Workspace:
    (tmp_path / "inventory").mkdir(parents=True)
    (tmp_path / "inventory" / "hosts.yaml").write_text(INVENTORY)
    (tmp_path / "intents").mkdir()
    (tmp_path / "intents" / "design.yaml").write_text(intents)
    return Workspace(tmp_path / "inventory", tmp_path / "intents", Path(__file__).resolve().parents[1]
                     / "netorch" / "templates")


def test_static_stubs_redistributed_into_ospf_carry_a_rule_without_workaround_routes(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    assert ws.validate().problems == ()
    desired = ws.compile()
    plane = ControlPlane(desired)
    staff = plane.rib("c1").lookup(IPv4Address("10.50.0.10"))
    assert staff is not None and staff.protocol == "ospf" and staff.detail == "e2"
    # compile's expected routes say the same as the model
    [expected] = [e for e in desired["c1"].expected_routes if str(e.prefix) == "10.50.0.0/24"]
    assert expected.protocol == "ospf" and [str(h) for h in expected.next_hops] == ["10.60.13.2"]
    # and verify finds the rule's traffic delivered, with no loop anywhere
    report = verify(ws)
    assert not [f for f in report.failures if f.kind in ("loop", "blackhole", "rule", "reachability")], report.lines()


def test_an_accept_filter_is_no_route(tmp_path: Path) -> None:
    """c2 accepts 198.51.0.0/16 or longer from u1, which sends only its default route: no
    router expects or forwards with a /16 that nobody sends."""
    desired = _workspace(tmp_path).compile()
    assert {str(e.prefix) for e in desired["c2"].expected_routes if e.protocol == "bgp"} == {"0.0.0.0/0"}
    plane = ControlPlane(desired)
    assert plane.rib("c2").best(IPv4Network("198.51.0.0/16")) is None
    # u1 gets the users' subnet from c2 (its accept filter allows it), by eBGP
    users = plane.rib("u1").best(IPv4Network("10.40.0.0/24"))
    assert users is not None and users.protocol == "bgp" and [str(h) for h in users.via] == ["10.60.29.1"]


def test_without_redistribution_the_path_check_names_the_router_without_a_route(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, INTENTS.replace("    redistribute:\n      - {protocol: static, hosts: [c3]}\n", ""))
    messages = [p.message for p in ws.validate().problems]
    assert any("users-to-staff" in m and "c1 has no route to 10.50.0.0/24" in m for m in messages), messages


def test_a_floating_static_takes_over_when_its_primary_link_fails(tmp_path: Path) -> None:
    intents = INTENTS.replace(
        "  - {name: edge-default, prefix: 0.0.0.0/0, next_hop: 10.60.35.1, hosts: [e1]}\n",
        "  - {name: edge-default, prefix: 0.0.0.0/0, next_hop: 10.60.35.1, hosts: [e1]}\n"
        "  - {name: c1-staff-primary, prefix: 10.50.0.0/24, next_hop: 10.60.13.2, hosts: [c1]}\n"
        "  - {name: c1-staff-backup, prefix: 10.50.0.0/24, next_hop: 10.60.12.2, distance: 200, hosts: [c1]}\n")
    desired = _workspace(tmp_path, intents).compile()
    normal = ControlPlane(desired).rib("c1").best(IPv4Network("10.50.0.0/24"))
    assert normal is not None and normal.protocol == "static" and normal.origin == "route:c1-staff-primary"
    cut = ControlPlane(desired, down=[("c1", "eth2"), ("c3", "eth1")]).rib("c1").best(IPv4Network("10.50.0.0/24"))
    # the primary's next hop is gone: OSPF's external route (110) wins over the backup (200)
    assert cut is not None and cut.protocol == "ospf" and [str(h.address) for h in cut.next_hops] == ["10.60.12.2"]


def test_originating_a_prefix_no_route_holds_is_refused_at_its_line(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, INTENTS.replace("      - {host: c2, prefixes: [10.40.0.0/24]}",
                                              "      - {host: c2, prefixes: [10.40.0.0/24, 10.77.0.0/24]}"))
    [problem] = ws.validate().problems
    assert problem.line == INTENTS.splitlines().index("      - {host: c2, prefixes: [10.40.0.0/24]}") + 1
    assert "c2 has no route to 10.77.0.0/24" in problem.message


def test_an_aggregate_with_summary_only_and_its_discard_route(tmp_path: Path) -> None:
    """c2 aggregates the users' /16 for the upstream (summary-only: the /24 is not sent), and
    discards what of the /16 it has no longer route for, rather than send it back upstream."""
    aggregate = "    aggregate:\n      - {host: c2, prefixes: [10.40.0.0/16], summary_only: true}\n"
    intents = INTENTS.replace("    accept:\n", aggregate + "    accept:\n", 1)
    ws = _workspace(tmp_path, intents)
    assert ws.validate().problems == ()
    desired = ws.compile()
    plane = ControlPlane(desired)
    upstream = {str(r.prefix): r for r in plane.rib("u1").selected() if r.protocol == "bgp"}
    assert set(upstream) == {"10.40.0.0/16"}
    assert [str(h) for h in upstream["10.40.0.0/16"].via] == ["10.60.29.1"]
    discard = plane.rib("c2").best(IPv4Network("10.40.0.0/16"))
    assert discard is not None and discard.protocol == "bgp" and discard.next_hops == () and discard.distance == 200
    # the users' own /24 still goes to c1 (OSPF, longer), the rest of the /16 is dropped at c2
    assert plane.follow("u1", IPv4Address("10.40.0.10")).outcome == "delivered"
    walk = plane.follow("u1", IPv4Address("10.40.7.1"))
    assert walk.outcome == "discard" and walk.host == "c2"
    # without a longer prefix in BGP, FRR announces no aggregate: validate says so at its line
    lonely = INTENTS.replace("    accept:\n", "    aggregate:\n      - {host: c2, prefixes: [10.90.0.0/16]}\n"
                             "    accept:\n", 1)
    (tmp_path / "lonely").mkdir()
    problems = _workspace(tmp_path / "lonely", lonely).validate().problems
    assert [(p.path, p.message) for p in problems] == [(
        "bgp[0].aggregate[0].prefixes[0]", "c2 has no route within 10.90.0.0/16 in its BGP table (originated, "
        "redistributed or learned): the aggregate is never announced")]


def test_a_default_route_originated_into_ospf_while_the_router_has_one(tmp_path: Path) -> None:
    """c2 originates a default route into OSPF (default-information originate) while it has one
    of its own, here from the upstream by eBGP; redistribution alone never carries a default."""
    intents = INTENTS.replace("    redistribute:\n      - {protocol: static, hosts: [c3]}\n",
                              "    redistribute:\n      - {protocol: static, hosts: [c3]}\n"
                              "    default_originate:\n      - {hosts: [c2]}\n", 1)
    desired = _workspace(tmp_path, intents).compile()
    default = IPv4Network("0.0.0.0/0")
    route = ControlPlane(desired).rib("c1").best(default)
    assert route is not None and (route.protocol, route.detail) == ("ospf", "e2")
    assert [str(h.address) for h in route.next_hops] == ["10.60.12.2"]
    assert ControlPlane(desired, routers_down=["u1"]).rib("c1").best(default) is None
    # the rendered FRR config says so
    (tmp_path / "render").mkdir()
    assert " default-information originate\n" in _workspace(tmp_path / "render", intents).render()["c2"]["frr.conf"]


def test_an_ibgp_session_no_route_carries_is_refused(tmp_path: Path) -> None:
    """c1 and c3 in iBGP over loopbacks OSPF advertises, but c3 has no adjacency (the area's
    links are not in it, only c1-c2's): the session cannot come up, and validate says so
    instead of apply waiting for it."""
    area = "        hosts: [c1, c2, c3]\n"
    intents = INTENTS.replace(area, area + "        links: false\n", 1).replace(
        "          - {host: c1, interface: eth3, passive: true}\n",
        "          - {host: c1, interface: eth3, passive: true}\n          - {host: c1, interface: eth1}\n"
        "          - {host: c2, interface: eth1}\n", 1).replace(
        "      - {host: c2, asn: 65010}\n", "      - {host: c2, asn: 65010}\n      - {host: c1, asn: 65010}\n"
        "      - {host: c3, asn: 65010}\n", 1).replace("    ibgp: none\n", "    ibgp: full-mesh\n", 1)
    messages = [p.message for p in _workspace(tmp_path, intents).validate().problems]
    assert any("BGP session c1-c3 cannot come up: c1 has no route to 10.255.9.3 (c3)" in m for m in messages), messages
    assert not any("c1-c2" in m for m in messages), messages


def _ibgp_core(redistribute: str) -> str:
    """The design with c1, c2, c3 in iBGP (full mesh over their loopbacks) and `redistribute`
    entries (YAML lines) under BGP."""
    return INTENTS.replace(
        "      - {host: c2, asn: 65010}\n", "      - {host: c2, asn: 65010}\n      - {host: c1, asn: 65010}\n"
        "      - {host: c3, asn: 65010}\n", 1).replace("    ibgp: none\n", "    ibgp: full-mesh\n"
                                                    "    redistribute:\n" + redistribute, 1)


def test_a_redistributed_route_keeps_its_gateway_as_the_bgp_next_hop(tmp_path: Path) -> None:
    """FRR announces a route redistributed into BGP with the route's own gateway as next hop
    (as the lab showed: `10.0.5.1 from 0.0.0.0`), and a router drops a path whose next hop is
    one of its own addresses: c3's OSPF route to c1's loopback reaches c2 via c1's address and
    never reaches c1 back."""
    ws = _workspace(tmp_path, _ibgp_core("      - {protocol: ospf, hosts: [c3]}\n"))
    assert ws.validate().ok, ws.validate().problems
    plane = ControlPlane(ws.compile())
    c1_lo = IPv4Network("10.255.9.1/32")
    at_c2 = plane.bgp.loc["c2"][c1_lo].best
    assert at_c2.peer == "c3" and at_c2.next_hop == IPv4Address("10.60.13.1")
    assert c1_lo not in plane.bgp.loc["c1"]
    # a connected route redistributed has no gateway: the next hop is the router's own address
    ws2 = _workspace(tmp_path / "connected", _ibgp_core("      - {protocol: connected, hosts: [c3]}\n"))
    stub = ControlPlane(ws2.compile()).bgp.loc["c2"][IPv4Network("10.60.35.0/30")].best
    assert stub.peer == "c3" and stub.next_hop == IPv4Address("10.255.9.3")


def test_redistribution_that_goes_round_is_refused_at_both_ends(tmp_path: Path) -> None:
    """A design the lab property test drew (tests/data/rib_property_lab): BGP into OSPF on r5, OSPF
    into BGP on r6, in one AS with route reflectors. r6 sends the upstream's 203.0.113.0/24 back
    into BGP as its own, r2 then prefers that over its own eBGP path and withdraws it, r5 loses the
    route, r6's OSPF route goes, and round again: on the lab, apply never converged (iBGP stuck,
    routes selected but never installed). validate refuses it at both redistribute entries,
    naming the prefix; with OSPF into BGP limited to the campus's prefixes, it validates."""
    data = Path(__file__).resolve().parent / "data" / "rib_property_lab"
    intents = tmp_path / "intents"
    intents.mkdir()
    design = (data / "oscillation.yaml").read_text()
    (intents / "routing.yaml").write_text(design)
    templates = Path(__file__).resolve().parents[1] / "netorch" / "templates"
    ws = Workspace(data / "inventory", intents, templates)
    problems = [p for p in ws.validate().problems if "never settle" in p.message]
    assert {p.path for p in problems} == {"ospf[0].redistribute[1]", "bgp[0].redistribute[2]"}, problems
    assert all("203.0.113.0/24" in p.message for p in problems)
    filtered = design.replace("  - protocol: ospf\n    hosts:\n    - r6\n",
                              "  - protocol: ospf\n    hosts:\n    - r6\n    prefixes:\n    - 10.0.0.0/8\n")
    assert filtered != design
    (intents / "routing.yaml").write_text(filtered)
    assert not any("never settle" in p.message for p in Workspace(data / "inventory", intents, templates)
                   .validate().problems)


def test_a_route_that_feeds_itself_is_refused(tmp_path: Path) -> None:
    """Another drawn design (tests/data/rib_property_lab/ghost.yaml): BGP into OSPF on r5, OSPF
    into BGP on r1. It settles, but the upstream's 198.51.100.0/24 goes round: on the lab, with
    r2-up1 down (its only source), every router kept it (OSPF from r5, r5's BGP path from r1's
    redistribution) while the model, computed afresh, had it gone. Refused at both entries."""
    data = Path(__file__).resolve().parent / "data" / "rib_property_lab"
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "routing.yaml").write_text((data / "ghost.yaml").read_text())
    ws = Workspace(data / "inventory", intents, Path(__file__).resolve().parents[1] / "netorch" / "templates")
    problems = [p for p in ws.validate().problems if "go round" in p.message]
    assert {p.path for p in problems} == {"ospf[0].redistribute[0]", "bgp[0].redistribute[0]"}, problems
    assert all("BGP into OSPF on r5, back into BGP on r1" in p.message and "198.51.100.0/24" in p.message
               for p in problems)


def test_a_flow_follows_every_equal_cost_branch(tmp_path: Path) -> None:
    """A drawn design (tests/data/rib_property_lab/ecmp_loop.yaml) where r6 reaches the
    upstream's 198.51.100.0/24 over two equal-cost OSPF paths: through r5 it is delivered,
    through r7 it loops between r1 (OSPF, via r2) and r2 (BGP, via r1). On the lab, a ping from
    h6 to x2 took the looping branch; the model follows every branch and says so."""
    data = Path(__file__).resolve().parent / "data" / "rib_property_lab"
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "routing.yaml").write_text((data / "ecmp_loop.yaml").read_text())
    ws = Workspace(data / "inventory", intents, Path(__file__).resolve().parents[1] / "netorch" / "templates")
    plane = ControlPlane(ws.compile())
    x2 = IPv4Address("198.51.100.10")
    walks = plane.walks("r6", x2)
    assert {w.outcome for w in walks} == {"delivered", "loop"}, walks
    assert [h for h, _ in walks[0].hops] == ["r6", "r5", "up1"] and walks[0].outcome == "delivered"
    looping = next(w for w in walks if w.outcome == "loop")
    assert [h for h, _ in looping.hops][:2] == ["r6", "r7"] and {"r1", "r2"} <= {h for h, _ in looping.hops}
    assert plane.follow("r6", x2).outcome == "loop"
    assert plane.follow("r5", x2).outcome == "delivered"


USER_DESIGN = Path(__file__).resolve().parent / "data" / "user_design"


def _user_design(tmp_path: Path, old: str = "", new: str = "") -> Workspace:
    """A design a new user wrote (tests/data/user_design: two OSPF areas, a static stub
    redistributed into OSPF, two eBGP exits with a summary-only aggregate, floating defaults,
    four domains, rules and services), with `old` replaced by `new` in its routing intents."""
    intents = tmp_path / "intents"
    shutil.copytree(USER_DESIGN / "intents", intents)
    routing = intents / "routing.yaml"
    text = routing.read_text()
    assert old in text
    routing.write_text(text.replace(old, new))
    return Workspace(USER_DESIGN / "inventory", intents, Path(__file__).resolve().parents[1] / "netorch" / "templates")


def test_a_flow_that_leaves_the_network_is_no_path(tmp_path: Path) -> None:
    """The upstream accepts only a /24 the exits never send (summary-only): its own default
    route then carries the service's packets out of the inventory. verify said so; validate now
    says it too, instead of 'valid'."""
    assert _user_design(tmp_path / "as-written").validate().ok
    ws = _user_design(tmp_path / "narrow", "prefixes: [172.16.0.0/16]}\n      - {host: isp, from: e2, prefixes: "
                      "[172.16.0.0/16]}", "prefixes: [172.16.20.0/24]}\n      - {host: isp, from: e2, prefixes: "
                      "[172.16.20.0/24]}")
    messages = [p.message for p in ws.validate().problems]
    assert any("to 172.16.20.20/32 has no route: isp sends them out of the network by route" in m
               and "(a next hop outside the inventory)" in m for m in messages), messages


def test_redistribution_both_ways_on_one_router_with_disjoint_filters(tmp_path: Path) -> None:
    """e1 redistributes the upstream's /24 into OSPF and the campus /16 into BGP: nothing can come
    back, so it validates; with filters that overlap it is refused, naming what goes round."""
    into_ospf = "    redistribute:\n      - {protocol: static, hosts: [d1], prefixes: [172.16.60.0/24]}\n"
    disjoint = into_ospf + "      - {protocol: bgp, hosts: [e1], prefixes: [198.51.100.0/24]}\n"
    assert _user_design(tmp_path / "disjoint", into_ospf, disjoint).validate().ok
    overlapping = into_ospf + "      - {protocol: bgp, hosts: [e1], prefixes: [172.16.20.0/24]}\n"
    messages = [p.message for p in _user_design(tmp_path / "overlap", into_ospf, overlapping).validate().problems]
    assert any("e1 redistributes OSPF into BGP and BGP into OSPF" in m and "172.16.20.0/24 through both ways" in m
               for m in messages), messages
