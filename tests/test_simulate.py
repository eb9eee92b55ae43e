"""The behaviour simulator over the example intents: the specification of the example network."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from netorch.service import Workspace
from netorch.simulate import expect, filter_verdict
from netorch.topology import Topology

H1, H2, H3 = IPv4Address("10.1.0.10"), IPv4Address("10.2.0.10"), IPv4Address("10.3.0.10")


@pytest.fixture(scope="module")
def world() -> tuple[dict, Topology]:  # type: ignore[type-arg]
    ws = Workspace()
    return ws.compile(), Topology.build(ws.inventory())


@pytest.mark.parametrize("src,dst,proto,port,allowed,why", [
    (H1, H2, "icmp", None, True, "delivered by r4 eth3"),
    (H1, H2, "tcp", 8080, True, "delivered by r4 eth3"),
    (H1, H2, "tcp", 22, True, "delivered"),
    (H1, H2, "tcp", 8081, False, "default:servers"),
    (H3, H2, "tcp", 8081, True, "delivered"),
    (H3, H2, "tcp", 8080, False, "default:servers"),
    (H3, H1, "icmp", None, False, "rule:guests-never-reach-users"),
    (H2, H1, "icmp", None, False, "default:users"),
])
def test_example_behaviour(world: tuple[dict, Topology], src: IPv4Address, dst: IPv4Address,  # type: ignore[type-arg]
                           proto: str, port: int | None, allowed: bool, why: str) -> None:
    desired, topo = world
    verdict = expect(desired, topo, src, dst, proto, port)
    assert verdict.allowed is allowed
    assert why in verdict.reason


def test_routes_are_the_protocols_not_static(world: tuple[dict, Topology]) -> None:  # type: ignore[type-arg]
    desired, _ = world
    # the example routes with OSPF and BGP: no static routes on the campus routers
    assert all(not desired[r].routes for r in ("r1", "r2", "r3", "r4", "up1"))


def test_the_external_host_is_reached_through_the_preferred_exit(
        world: tuple[dict, Topology]) -> None:  # type: ignore[type-arg]
    desired, topo = world
    h4 = IPv4Address("203.0.113.10")
    # r1's default: BGP from r2 (its loopback, resolved through OSPF), then r2's eBGP session to up1
    there = expect(desired, topo, H1, h4, "icmp")
    assert there.allowed and there.path == ("r1", "r2", "up1")
    assert expect(desired, topo, h4, H2, "icmp").path == ("up1", "r2", "r4")


def test_users_take_the_primary_path_through_r2(world: tuple[dict, Topology]) -> None:  # type: ignore[type-arg]
    desired, topo = world
    assert expect(desired, topo, H1, H2, "icmp").path == ("r1", "r2", "r4")


def test_without_routes_nothing_is_reachable(tmp_path: object) -> None:
    ws = Workspace()
    desired = ws.compile()
    topo = Topology.build(ws.inventory())
    bare = {h: s.model_copy(update={"routes": (), "expected_routes": (), "ospf": None, "bgp": None})
            for h, s in desired.items()}
    verdict = expect(bare, topo, H1, H2, "icmp")
    assert not verdict.allowed and "has no route" in verdict.reason


def test_first_match_wins(world: tuple[dict, Topology]) -> None:  # type: ignore[type-arg]
    desired, _ = world
    flt = next(f for f in desired["r4"].filters if f.direction == "out")
    ok, origin = filter_verdict(flt, H1, H2, "tcp", 22)
    assert ok and origin == "rule:users-ssh-to-servers"
    ok, origin = filter_verdict(flt, IPv4Address("192.0.2.1"), H2, "tcp", 22)
    assert ok and origin == "no rule matched"


def test_probe_ports_cover_every_port_of_a_range() -> None:
    from netorch.lab.probe import probe_ports
    from netorch.model.types import PortRange

    assert probe_ports([PortRange(start=22, end=22), PortRange(start=8000, end=8003)]) == {22, 8000, 8001, 8002, 8003}
    assert probe_ports([PortRange(start=1000, end=2000)]) == {1000, 1001, 1500, 1999, 2000}


def test_the_live_forward_chain_decides_the_consumers_first_packet() -> None:
    from ipaddress import IPv4Address
    from pathlib import Path

    from netorch.simulate import chain_verdict

    table = (Path(__file__).parent / "golden" / "frr" / "example_r1" / "nftables.nft").read_text()
    src, web = IPv4Address("10.1.0.1"), IPv4Address("10.2.0.10")
    assert chain_verdict(table, src, web, "tcp", 8080, "eth3", "eth1") == (
        True, 'chain netorch_users_eth3_in: ip saddr 10.1.0.0/24 ip daddr 10.2.0.10 tcp dport 8080 accept '
              'comment "service:web"')
    accepted, why = chain_verdict(table, src, web, "tcp", 9999, "eth3", "eth1")
    assert not accepted and 'comment "default:servers"' in why
    no_web = "\n".join(line for line in table.splitlines() if "service:web" not in line)
    assert chain_verdict(no_web, src, web, "tcp", 8080, "eth3", "eth1")[0] is False
    assert chain_verdict(table, src, web, "icmp", None, "eth3", "eth1")[0] is True
    # a packet from elsewhere (no jump matches) meets the policy
    assert chain_verdict(table, IPv4Address("10.0.12.2"), web, "tcp", 8080, "eth1", "eth2") == (
        True, "chain forward: policy accept")
