"""NAPALM's getters of the FRR driver on the lab's routers, after the example intents are applied
and the protocols converged: each getter answers in NAPALM's shape (napalm's own models) with
what the lab really is (r2's eBGP session to up1 up, its link neighbours in the ARP table, ...)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from faults import HOSTS, ROOT, engine_for, wait_converged
from napalm.base import models
from napalm.base.test import helpers
from waiting import wait_for

from netorch.lab import LabStatus, exec_in, load_topology
from netorch.lab._system import lldpd_installed
from netorch.run.options import ApplyOptions
from netorch.store import Store
from netorch.transport.napalm_frr.driver import FrrDriver

pytestmark = pytest.mark.lab


def shaped(model: Any, data: dict[str, Any], subset: bool = False) -> None:
    assert helpers.test_model(model, data, allow_subset=subset), (model.__name__, data)


@pytest.fixture(scope="module")
def applied(lab: LabStatus, tmp_path_factory: pytest.TempPathFactory) -> LabStatus:
    eng = engine_for(lab, ROOT / "intents", Store(tmp_path_factory.mktemp("getters") / "store.db"))
    report = eng.apply(ApplyOptions(limit=HOSTS))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    wait_converged(lab)
    return lab


def driver(lab: LabStatus, address: str) -> FrrDriver:
    data = yaml.safe_load(Path(lab.credentials_file or "").read_text())
    creds = data["default"]
    return FrrDriver(address, creds["username"], creds["password"],
                     optional_args={"key_file": creds["ssh_key_file"], "known_hosts": data["known_hosts"],
                                    "timeout": 30})


@pytest.fixture(scope="module")
def r2(applied: LabStatus) -> Iterator[FrrDriver]:
    drv = driver(applied, "198.18.0.12")
    drv.open()
    try:
        yield drv
    finally:
        drv.close()


def test_bgp_neighbors(r2: FrrDriver) -> None:
    result = r2.get_bgp_neighbors()
    assert result["global"]["router_id"] == "10.255.0.2"
    for peer in result["global"]["peers"].values():
        shaped(models.PeerDict, peer)
        for family in peer["address_family"].values():
            shaped(models.AFDict, family)
    up1 = result["global"]["peers"]["10.0.25.2"]
    assert up1["is_up"] and up1["is_enabled"] and up1["remote_as"] == 64999 and up1["remote_id"] == "10.255.0.9"
    assert up1["address_family"]["ipv4"]["accepted_prefixes"] == 2
    assert all(p["is_up"] for p in result["global"]["peers"].values())


def test_bgp_neighbors_detail(r2: FrrDriver) -> None:
    result = r2.get_bgp_neighbors_detail()
    for by_as in result.values():
        for peers in by_as.values():
            for peer in peers:
                shaped(models.PeerDetailsDict, peer)
    up1 = result["global"][64999][0]
    assert up1["up"] and up1["remote_address"] == "10.0.25.2" and up1["local_address"] == "10.0.25.1"
    assert up1["import_policy"] == "netorch_in_up1"
    assert [p["remote_address"] for p in r2.get_bgp_neighbors_detail("10.255.0.4")["global"][65000]] == \
        ["10.255.0.4"]


def test_bgp_config(r2: FrrDriver) -> None:
    result = r2.get_bgp_config()
    for group in result.values():
        shaped(models.BGPConfigGroupDict, group)
        for neighbor in group["neighbors"].values():
            shaped(models.BGPConfigNeighborDict, neighbor)
    up1 = result["_"]["neighbors"]["10.0.25.2"]
    assert up1["remote_as"] == 64999 and up1["prefix_limit"] == {"inet": {"unicast": {"limit": 10}}}


def test_arp_and_ipv6_neighbours(r2: FrrDriver) -> None:
    arp = r2.get_arp_table()
    for entry in arp:
        shaped(models.ARPTableDict, entry)
    by_ip = {e["ip"]: e["interface"] for e in arp}
    # the routers r2 exchanges OSPF and BGP with: r1, r4, up1
    assert {by_ip.get("10.0.12.1"), by_ip.get("10.0.24.2"), by_ip.get("10.0.25.2")} == {"eth1", "eth2", "eth4"}
    for entry in r2.get_ipv6_neighbors_table():
        shaped(models.IPV6NeighborDict, entry)


def test_interfaces_counters(r2: FrrDriver) -> None:
    counters = r2.get_interfaces_counters()
    for data in counters.values():
        shaped(models.InterfaceCounterDict, data)
    assert counters["eth4"]["rx_octets"] > 0 and counters["eth4"]["tx_octets"] > 0


def test_network_instances(r2: FrrDriver) -> None:
    result = r2.get_network_instances()
    assert list(result) == ["default"]  # the lab's kernel has no VRFs
    shaped(models.NetworkInstanceDict, result["default"])
    assert {"eth1", "eth2", "eth3", "eth4", "lo"} <= set(result["default"]["interfaces"]["interface"])


def test_environment_users_ntp_snmp_lldp(r2: FrrDriver) -> None:
    env = r2.get_environment()
    assert env["cpu"] and env["memory"]["available_ram"] > env["memory"]["used_ram"] > 0
    for cpu in env["cpu"].values():
        shaped(models.CPUDict, cpu)
    shaped(models.MemoryDict, env["memory"])
    users = r2.get_users()
    for user in users.values():
        shaped(models.UsersDict, user)
    assert users["root"]["level"] == 15 and users["vtyadmin"]["level"] == 15
    assert isinstance(r2.get_ntp_servers(), dict)
    snmp = r2.get_snmp_information()
    shaped(models.SNMPDict, snmp)


def topology_neighbours(lab: LabStatus, router: str) -> dict[str, list[dict[str, str]]]:
    """What LLDP should see from `router`: per link interface, the router and interface at its far end."""
    topology = load_topology(lab.run_dir / "topology.yaml")
    found: dict[str, list[dict[str, str]]] = {}
    for a, b in topology.links:
        for near, far in ((a, b), (b, a)):
            node, iface = near.split(":")
            if node == router:
                peer, port = far.split(":")
                found[iface] = [{"hostname": peer, "port": port}]
    return found


def test_lldp_neighbours_are_the_topology_links(applied: LabStatus) -> None:
    """lldpd runs in every router on its router links (a frame a second): r1's neighbours, as the
    NAPALM driver reads them, are the lab's links, and lldpd uses no other interface (never eth0,
    the management link to the host's bridge)."""
    if not lldpd_installed():
        if os.environ.get("CI") == "true":
            pytest.fail("lldpd is not installed (.ci/setup installs it)")
        pytest.skip("lldpd is not installed: the lab's routers run no LLDP")
    expected = topology_neighbours(applied, "r1")
    assert expected == {"eth1": [{"hostname": "r2", "port": "eth1"}], "eth2": [{"hostname": "r3", "port": "eth1"}]}
    drv = driver(applied, "198.18.0.11")
    drv.open()
    try:
        # lldpd sends its first frames when it starts, then one a second: the lab has been up long
        # enough, but a neighbour that missed the first frame shows within a few intervals
        wait_for(lambda: drv.get_lldp_neighbors() == expected, 20, "r1's LLDP neighbours to be its links")
        detail = drv.get_lldp_neighbors_detail()
        assert sorted(detail) == sorted(expected)
        for iface, neighbours in detail.items():
            for n in neighbours:
                shaped(models.LLDPNeighborDetailDict, n)
            assert [n["remote_system_name"] for n in neighbours] == [expected[iface][0]["hostname"]]
            assert "router" in neighbours[0]["remote_system_enable_capab"]
        assert drv.get_lldp_neighbors_detail("eth2").keys() == {"eth2"}
        used = json.loads(exec_in(applied.run_dir, "r1", ["lldpcli", "-f", "json0", "show", "interfaces"],
                                  check=True).stdout)
        assert sorted(i["name"] for block in used["lldp"] for i in block["interface"]) == sorted(expected)
    finally:
        drv.close()


def test_traceroute(applied: LabStatus) -> None:
    drv = driver(applied, "198.18.0.11")
    drv.open()
    try:
        # from r1's users address: up1 learns the campus subnets only, not r1's link to r2
        result = drv.traceroute("203.0.113.10", source="10.1.0.1", timeout=1)
    finally:
        drv.close()
    hops = result["success"]
    for hop in hops.values():
        for probe in hop["probes"].values():
            shaped(models.TracerouteDict, probe)
    # r1 -> r2 -> up1 -> h4 (the default and 203.0.113.0/24 leave through r2, the preferred exit)
    assert [hops[h]["probes"][1]["ip_address"] for h in sorted(hops)] == ["10.0.12.2", "10.0.25.2", "203.0.113.10"]


def test_sanitized_config_and_compliance(r2: FrrDriver) -> None:
    config = r2.get_config(sanitized=True)
    shaped(models.ConfigDict, config)
    assert "router bgp 65000" in config["running"]
    report = r2.compliance_report(validation_source=[
        {"get_bgp_neighbors": {"global": {"peers": {"10.0.25.2": {"is_up": True, "remote_as": 64999}}}}},
        {"get_interfaces_counters": {"eth4": {"tx_errors": 0}}},
        {"get_network_instances": {"default": {"type": "DEFAULT_INSTANCE"}}},
    ])
    assert report["complies"], report
