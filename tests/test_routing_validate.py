"""Routing intents (OSPF, BGP, VRFs) that validation refuses, each at its file and line."""

from __future__ import annotations

from collections.abc import Callable

from netorch.service import Workspace

MakeWs = Callable[..., Workspace]


def _problems(ws: Workspace) -> list[tuple[str, int, str]]:
    problems = ws.validate().problems
    return [(p.file.rsplit("/", 1)[-1], p.line, p.message) for p in problems]


def _has(problems: list[tuple[str, int, str]], line: int, text: str) -> bool:
    return any(p[0] == "bad.yaml" and p[1] == line and text in p[2] for p in problems)


def test_ospf_unknown_hosts_areas_and_interfaces(make_ws: MakeWs) -> None:
    ws = make_ws({"bad.yaml": """ospf:
  - name: campus
    areas:
      - area: 0
        hosts: [r1, r2, r9]
        interfaces:
          - {host: r1, interface: eth7, passive: true}
    links:
      - {hosts: [r1, r2], area: 5}
"""})
    found = _problems(ws)
    assert _has(found, 5, "unknown host 'r9'")
    assert _has(found, 7, "has no interface 'eth7'")
    assert _has(found, 9, "unknown area 5")


def test_link_ends_that_disagree_and_area_not_attached_to_the_backbone(make_ws: MakeWs) -> None:
    ws = make_ws({"bad.yaml": """ospf:
  - name: campus
    areas:
      - area: 0
        hosts: [r1, r2]
      - area: 1
        hosts: [r3, r4]
        interfaces:
          - {host: r3, interface: eth1}
"""})
    found = _problems(ws)
    # r3 eth1 faces r1 eth2, which is in no area
    assert _has(found, 9, "takes no part in OSPF")
    assert _has(found, 6, "area 1 is not attached to area 0")


def test_duplicate_router_ids(make_ws: MakeWs) -> None:
    ws = make_ws({"bad.yaml": """ospf:
  - name: campus
    router_ids: {r1: 10.9.9.9, r2: 10.9.9.9}
    areas:
      - {area: 0, hosts: [r1, r2]}
"""})
    assert any("duplicate router id 10.9.9.9" in p[2] for p in _problems(ws))


def test_ibgp_without_igp_and_ebgp_neighbour_off_subnet(make_ws: MakeWs) -> None:
    ws = make_ws({"bad.yaml": """bgp:
  - name: edge
    routers:
      - {host: r1, asn: 65000}
      - {host: r2, asn: 65000}
      - {host: r4, asn: 65001}
    sessions:
      - {hosts: [r1, r4]}
"""})
    found = _problems(ws)
    assert any("carried by no IGP" in p[2] for p in found)
    assert _has(found, 8, "eBGP neighbour r4 is on no subnet connected to r1")


def test_netconf_hosts_and_passwords_are_refused(make_ws: MakeWs) -> None:
    ws = make_ws({"bad.yaml": """bgp:
  - name: edge
    routers:
      - {host: nc1, asn: 65000}
"""})
    assert _has(_problems(ws), 4, "netconf host: netorch configures no bgp")
    ws = make_ws({"bad.yaml": """bgp:
  - name: edge
    routers:
      - {host: r1, asn: 65000}
    sessions:
      - {hosts: [r1, r2], password: hunter2}
"""})
    found = _problems(ws)
    assert any("session passwords never go in intents" in p[2] for p in found)
    assert not any("hunter2" in p[2] for p in found)


def test_route_target_nobody_imports_and_redistribution_feedback(make_ws: MakeWs) -> None:
    ws = make_ws({"bad.yaml": """vrfs:
  - name: tenant
    table: 10
    rd: 65000:10
    export: [65000:99]
    members: [{host: r4, interface: eth3}]
ospf:
  - name: campus
    areas:
      - {area: 0, hosts: [r1, r2]}
    redistribute:
      - {protocol: bgp, hosts: [r1]}
bgp:
  - name: edge
    routers:
      - {host: r1, asn: 65000}
    redistribute:
      - {protocol: ospf, hosts: [r1]}
"""})
    found = _problems(ws)
    assert _has(found, 5, "no VRF imports it")
    assert _has(found, 18, "feed back into their own source")
