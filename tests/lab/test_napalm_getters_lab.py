"""NAPALM's getters of the FRR driver on the lab's routers, after the example intents are applied
and the protocols converged: each getter answers in NAPALM's shape (napalm's own models) with
what the lab really is (r2's eBGP session to up1 up, its link neighbours in the ARP table, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from faults import HOSTS, ROOT, engine_for, wait_converged
from napalm.base import models
from napalm.base.test import helpers

from netorch.lab import LabStatus
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
    # lldpd does not run on the lab's routers: no neighbour, no error
    assert r2.get_lldp_neighbors() == {} and r2.get_lldp_neighbors_detail() == {}


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
