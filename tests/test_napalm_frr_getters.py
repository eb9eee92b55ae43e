"""The FRR driver's NAPALM getters, parsed from outputs recorded on the lab's routers (FRR 8.4,
iproute2; tests/data/frr_getters/README.md says which file comes from where) and checked, as
napalm/base/test/getters.py does, against NAPALM's own models: every key, every value's type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from napalm.base import models
from napalm.base.test import helpers

from netorch.transport.napalm_frr import bgp_parse, getters_parse
from netorch.transport.napalm_frr.getters_parse import SECRETS

DATA = Path(__file__).parent / "data" / "frr_getters"


def read(name: str) -> str:
    return (DATA / name).read_text()


def shaped(model: Any, data: dict[str, Any], subset: bool = False) -> None:
    assert helpers.test_model(model, data, allow_subset=subset), (model.__name__, data)


def napalm_json(data: Any) -> Any:
    """What NAPALM's own test harness compares: the result through JSON (int keys as strings)."""
    return json.loads(json.dumps(data))


# --- BGP --------------------------------------------------------------------------------------

def bgp_neighbors(router: str = "r2") -> dict[str, Any]:
    return bgp_parse.bgp_neighbors(read(f"{router}_bgp_summary.json"), read(f"{router}_bgp_neighbors.json"))


def test_bgp_neighbors_shape() -> None:
    result = bgp_neighbors()
    assert "global" in result
    for vrf in result.values():
        assert isinstance(vrf["router_id"], str)
        for peer in vrf["peers"].values():
            shaped(models.PeerDict, peer)
            for family in peer["address_family"].values():
                shaped(models.AFDict, family)
    napalm_json(result)


def test_bgp_neighbors_content() -> None:
    glob = bgp_neighbors()["global"]
    assert glob["router_id"] == "10.255.0.2"
    up1 = glob["peers"]["10.0.25.2"]
    assert up1["is_up"] and up1["is_enabled"]
    assert (up1["local_as"], up1["remote_as"], up1["remote_id"], up1["description"]) == \
        (65000, 64999, "10.255.0.9", "up1")
    assert up1["uptime"] > 0
    assert up1["address_family"]["ipv4"]["received_prefixes"] == 2  # 0.0.0.0/0 and 203.0.113.0/24
    assert up1["address_family"]["ipv4"]["sent_prefixes"] > 0
    assert {p: v["remote_as"] for p, v in glob["peers"].items()} == {
        "10.0.25.2": 64999, "10.255.0.1": 65000, "10.255.0.3": 65000, "10.255.0.4": 65000}


def test_a_session_that_is_down_and_one_shut_down() -> None:
    peers = bgp_parse.bgp_neighbors(read("r2_bgp_summary_down.json"),
                                    read("r2_bgp_neighbors_down.json"))["global"]["peers"]
    up1 = peers["10.0.25.2"]
    assert not up1["is_up"] and not up1["is_enabled"]  # `neighbor 10.0.25.2 shutdown`
    assert up1["address_family"]["ipv4"]["received_prefixes"] == -1
    assert all(p["is_enabled"] for a, p in peers.items() if a != "10.0.25.2")
    detail = bgp_parse.bgp_neighbors_detail(read("r2_bgp_neighbors_down.json"))["global"][64999][0]
    assert (detail["up"], detail["connection_state"], detail["last_event"], detail["flap_count"]) == \
        (False, "Idle", "Admin. shutdown", 1)
    assert detail["previous_connection_state"] == "Established"


def test_no_bgp_is_no_neighbour() -> None:
    assert bgp_parse.bgp_neighbors("", "") == {}
    assert bgp_parse.bgp_neighbors("% BGP instance not found\n", "") == {}
    assert bgp_parse.bgp_neighbors_detail("", "") == {}


def test_bgp_neighbors_detail_shape_and_content() -> None:
    result = bgp_parse.bgp_neighbors_detail(read("r2_bgp_neighbors.json"), read("r2_bgp_summary.json"))
    assert set(result) == {"global"}
    for by_as in result.values():
        for remote_as, peers in by_as.items():
            assert isinstance(remote_as, int)
            for peer in peers:
                shaped(models.PeerDetailsDict, peer)
    up1 = result["global"][64999][0]
    assert up1["up"] and up1["connection_state"] == "Established"
    assert (up1["remote_address"], up1["local_address"], up1["local_port"]) == ("10.0.25.2", "10.0.25.1", 179)
    assert not up1["multihop"] and not up1["local_address_configured"] and up1["previous_connection_state"] == ""
    assert (up1["holdtime"], up1["keepalive"], up1["advertised_prefix_count"]) == (180, 60, 3)
    assert up1["router_id"] == "10.255.0.2"
    assert up1["import_policy"] == "netorch_in_up1"
    assert up1["accepted_prefix_count"] == 2 and up1["input_messages"] > 0 and up1["holdtime"] > 0
    assert len(result["global"][65000]) == 3
    assert all(p["local_address_configured"] for p in result["global"][65000])  # update-source lo
    only = bgp_parse.bgp_neighbors_detail(read("r2_bgp_neighbors.json"), neighbor_address="10.255.0.1")
    assert [p["remote_address"] for p in only["global"][65000]] == ["10.255.0.1"]


def test_bgp_config_shape_and_content() -> None:
    result = bgp_parse.bgp_config(read("r2_running_config.txt"))
    for group in result.values():
        shaped(models.BGPConfigGroupDict, group)
        for neighbor in group["neighbors"].values():
            shaped(models.BGPConfigNeighborDict, neighbor)
    assert list(result) == ["_"]
    neighbors = result["_"]["neighbors"]
    assert set(neighbors) == {"10.0.25.2", "10.255.0.1", "10.255.0.3", "10.255.0.4"}
    up1 = neighbors["10.0.25.2"]
    assert (up1["remote_as"], up1["local_as"], up1["description"], up1["import_policy"]) == \
        (64999, 65000, "up1", "netorch_in_up1")
    assert up1["prefix_limit"] == {"inet": {"unicast": {"limit": 10}}}
    r1 = neighbors["10.255.0.1"]
    assert r1["nhs"] and r1["local_address"] == "lo" and r1["remote_as"] == 65000
    assert bgp_parse.bgp_config(read("r2_running_config.txt"), neighbor="10.255.0.1")["_"]["neighbors"].keys() \
        == {"10.255.0.1"}
    assert bgp_parse.bgp_config("hostname r9\n!\nend\n") == {}


def test_bgp_config_peer_groups_and_passwords() -> None:
    running = ("router bgp 65000\n neighbor CORE peer-group\n neighbor CORE remote-as 65000\n"
               " neighbor CORE update-source lo\n neighbor CORE password s3cret\n"
               " neighbor 10.255.0.1 peer-group CORE\n neighbor 10.255.0.1 description r1\n"
               " neighbor 192.0.2.1 remote-as external\n neighbor 192.0.2.1 ebgp-multihop 3\n"
               " !\n address-family ipv4 unicast\n  maximum-paths 4\n"
               "  neighbor CORE route-reflector-client\n  neighbor 192.0.2.1 maximum-prefix 100 90\n"
               " exit-address-family\nexit\n")
    result = bgp_parse.bgp_config(running)
    assert set(result) == {"_", "CORE"}
    core = result["CORE"]
    shaped(models.BGPConfigGroupDict, core)
    assert (core["type"], core["remote_as"], core["local_address"], core["multipath"]) == \
        ("internal", 65000, "lo", True)
    r1 = core["neighbors"]["10.255.0.1"]
    assert (r1["description"], r1["remote_as"], r1["authentication_key"], r1["route_reflector_client"]) == \
        ("r1", 65000, "s3cret", True)
    ext = result["_"]["neighbors"]["192.0.2.1"]
    assert ext["prefix_limit"] == {"inet": {"unicast": {"limit": 100, "teardown": {"threshold": 90}}}}
    assert bgp_parse.bgp_config(running, group="CORE").keys() == {"CORE"}


# --- neighbour tables, counters, instances ------------------------------------------------------

def test_arp_table() -> None:
    table = getters_parse.neighbors(read("r2_neigh4.json"))
    for entry in table:
        shaped(models.ARPTableDict, entry)
    by_ip = {e["ip"]: e for e in table}
    # r2's neighbours on its links: r1, r4, up1 (and h3 on the guests' subnet once it spoke)
    assert {"10.0.12.1", "10.0.24.2", "10.0.25.2"} <= set(by_ip)
    assert by_ip["10.0.25.2"]["interface"] == "eth4"
    assert by_ip["10.0.25.2"]["mac"] == by_ip["10.0.25.2"]["mac"].upper() and by_ip["10.0.25.2"]["mac"].count(":") == 5
    assert all(e["age"] >= 0 for e in table)


def test_an_unresolved_entry_is_no_neighbour() -> None:
    text = json.dumps([{"dst": "10.0.12.1", "dev": "eth1", "used": 3, "probes": 3, "state": ["FAILED"]},
                       {"dst": "10.0.24.2", "dev": "eth2", "lladdr": "aa:bb:cc:00:00:01", "used": 1,
                        "confirmed": 1, "updated": 1, "state": ["REACHABLE"]}])
    assert [e["ip"] for e in getters_parse.neighbors(text)] == ["10.0.24.2"]
    assert getters_parse.neighbors("") == [] and getters_parse.neighbors("Error: garbage") == []


def test_ipv6_neighbors_table() -> None:
    table = getters_parse.neighbors(read("r2_neigh6.json"), ipv6=True)
    assert table, "r2's links have IPv6 link-local neighbours"
    for entry in table:
        shaped(models.IPV6NeighborDict, entry)
        assert entry["ip"].startswith("fe80:") and entry["state"]


def test_interfaces_counters() -> None:
    counters = getters_parse.interface_counters(read("r2_link_stats.json"))
    for data in counters.values():
        shaped(models.InterfaceCounterDict, data)
    assert {"lo", "eth0", "eth1", "eth2", "eth3", "eth4"} <= set(counters)
    assert counters["eth4"]["rx_octets"] > 0 and counters["eth4"]["tx_unicast_packets"] > 0


def instances_shaped(result: dict[str, Any]) -> None:
    for instance in result.values():
        shaped(models.NetworkInstanceDict, instance)
        shaped(models.NetworkInstanceStateDict, instance["state"])
        shaped(models.NetworkInstanceInterfacesDict, instance["interfaces"])


def test_network_instances_without_vrfs() -> None:
    result = getters_parse.network_instances(read("r2_link_details.json"), read("r2_running_config.txt"))
    instances_shaped(result)
    assert list(result) == ["default"]
    assert result["default"]["type"] == "DEFAULT_INSTANCE"
    assert {"lo", "eth1", "eth4"} <= set(result["default"]["interfaces"]["interface"])


def test_network_instances_with_a_vrf() -> None:
    # not recorded: the lab's kernel has no VRF support; the shape `ip -j -d link` gives a VRF
    links = json.dumps([
        {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP"]},
        {"ifindex": 5, "ifname": "blue", "flags": ["MASTER", "UP"],
         "linkinfo": {"info_kind": "vrf", "info_data": {"table": 10}}},
        {"ifindex": 6, "ifname": "eth5", "master": "blue", "flags": ["UP"],
         "linkinfo": {"info_slave_kind": "vrf", "info_slave_data": {"table": 10}}}])
    running = ("vrf blue\nexit-vrf\n!\nrouter bgp 65000 vrf blue\n !\n address-family ipv4 unicast\n"
               "  rd vpn export 65000:10\n exit-address-family\nexit\n")
    result = getters_parse.network_instances(links, running)
    instances_shaped(result)
    assert result["blue"] == {"name": "blue", "type": "L3VRF", "state": {"route_distinguisher": "65000:10"},
                              "interfaces": {"interface": {"eth5": {}}}}
    assert result["default"]["interfaces"]["interface"] == {"lo": {}}
    assert getters_parse.network_instances(links, running, "blue").keys() == {"blue"}


# --- environment, users, NTP, SNMP ---------------------------------------------------------------

def test_environment() -> None:
    env = getters_parse.environment(read("r2_environment.txt"))
    for fan in env["fans"].values():
        shaped(models.FanDict, fan)
    for power in env["power"].values():
        shaped(models.PowerDict, power)
    for sensor in env["temperature"].values():
        shaped(models.TemperatureDict, sensor)
    for cpu in env["cpu"].values():
        shaped(models.CPUDict, cpu)
        assert 0.0 <= cpu["%usage"] <= 100.0
    shaped(models.MemoryDict, env["memory"])
    assert env["cpu"] and all(isinstance(k, int) for k in env["cpu"])
    assert env["memory"]["available_ram"] > env["memory"]["used_ram"] > 0


def test_environment_sensors() -> None:
    text = ("@@temp\nx86_pkg_temp_thermal_zone0 45000 - 100000\nacpitz_thermal_zone1 91000 90000 105000\n"
            "@@fans\nhwmon2_fan1 2100\nhwmon2_fan2 0\n")
    env = getters_parse.environment(text)
    assert env["temperature"]["acpitz_thermal_zone1"] == {"temperature": 91.0, "is_alert": True,
                                                           "is_critical": False}
    assert not env["temperature"]["x86_pkg_temp_thermal_zone0"]["is_alert"]
    assert env["fans"] == {"hwmon2_fan1": {"status": True}, "hwmon2_fan2": {"status": False}}


def test_users() -> None:
    result = getters_parse.users(read("r2_users.txt"))
    for user in result.values():
        shaped(models.UsersDict, user)
        assert 0 <= user["level"] <= 15
        assert user["password"] == ""
    assert result["root"]["level"] == 15
    assert result["vtyadmin"]["level"] == 15  # its shell is vtysh
    assert result["ncadmin"]["level"] == 1
    assert "nobody" not in result and "sync" not in result and "frr" not in result
    # the lab's sshd reads its keys elsewhere (AuthorizedKeysFile): none in ~/.ssh; a user's own file
    keys = "@@passwd\nops:x:1001:1001::/home/ops:/bin/bash\n@@group\nsudo:x:27:ops\n@@keys ops\n" \
           "# laptop\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ops@laptop\n"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ops@laptop"
    assert getters_parse.users(keys) == {"ops": {"level": 15, "password": "", "sshkeys": [key]}}


def test_ntp_servers() -> None:
    # not recorded: the lab's routers run no time daemon; chrony's, ntpd's and timesyncd's syntax
    result = getters_parse.ntp_servers(read("ntp.conf.txt"))
    for server in result.values():
        shaped(models.NTPServerDict, server, subset=True)
    assert set(result) == {"2.debian.pool.ntp.org", "192.0.2.123", "ntp1.example.net", "198.51.100.7",
                           "203.0.113.5", "time.example.org"}
    assert result["192.0.2.123"] == {"address": "192.0.2.123", "association_type": "SERVER", "iburst": True,
                                     "prefer": True, "key_id": 4}
    assert result["2.debian.pool.ntp.org"]["association_type"] == "POOL"
    assert result["198.51.100.7"]["version"] == 3
    assert getters_parse.ntp_servers("") == {}


def test_snmp_information() -> None:
    # not recorded: the lab's routers run no snmpd; net-snmp's snmpd.conf syntax
    result = getters_parse.snmp_information(read("snmpd.conf.txt"))
    shaped(models.SNMPDict, result)
    for community in result["community"].values():
        shaped(models.SNMPCommunityDict, community)
    assert result["community"] == {"public": {"acl": "N/A", "mode": "ro"},
                                   "monitoring": {"acl": "10.0.0.0/8", "mode": "ro"},
                                   "s3cret": {"acl": "127.0.0.1", "mode": "rw"},
                                   "legacy": {"acl": "192.0.2.0/24", "mode": "ro"}}
    assert (result["location"], result["contact"], result["chassis_id"]) == \
        ("Rack 4, Lab", "noc@example.net", "r2-chassis")
    assert getters_parse.snmp_information("") == {"chassis_id": "", "community": {}, "contact": "", "location": ""}


# --- LLDP, traceroute, sanitized config ----------------------------------------------------------

def test_lldp_neighbors() -> None:
    # not recorded: lldpd is not in the lab; the json0 shape is lldpd's own (its integration tests)
    detail = getters_parse.lldp_neighbors_detail(read("lldp_json0.json"))
    for found in detail.values():
        for neighbor in found:
            shaped(models.LLDPNeighborDetailDict, neighbor)
    eth1 = detail["eth1"][0]
    assert (eth1["remote_system_name"], eth1["remote_port"], eth1["remote_port_description"]) == \
        ("r1.example.net", "00:00:00:00:00:12", "eth1")
    assert eth1["remote_system_capab"] == ["bridge", "router", "station", "wlan-access-point"]
    assert eth1["remote_system_enable_capab"] == ["router"]
    brief = getters_parse.lldp_neighbors(read("lldp_json0.json"))
    for found in brief.values():
        for neighbor in found:
            shaped(models.LLDPNeighborDict, neighbor)
    assert brief == {"eth1": [{"hostname": "r1.example.net", "port": "00:00:00:00:00:12"}],
                     "eth4": [{"hostname": "00:00:00:00:00:09", "port": "eth1"}]}
    assert getters_parse.lldp_neighbors_detail(read("lldp_json0.json"), "eth4").keys() == {"eth4"}


@pytest.mark.parametrize("text", ["", "lldpcli: command not found\n", "{}"])
def test_no_lldpd_is_no_neighbour(text: str) -> None:
    assert getters_parse.lldp_neighbors(text) == {} and getters_parse.lldp_neighbors_detail(text) == {}


def test_traceroute() -> None:
    result = getters_parse.traceroute_result(read("r1_traceroute.txt"))
    hops = result["success"]
    for hop in hops.values():
        for probe in hop["probes"].values():
            shaped(models.TracerouteDict, probe)
    # r1 to h4 (203.0.113.10): r2, up1, then h4 itself
    assert [hops[h]["probes"][1]["ip_address"] for h in sorted(hops)] == ["10.0.12.2", "10.0.25.2", "203.0.113.10"]
    assert getters_parse.traceroute_result("error: [Errno -2] Name or service not known\n") == \
        {"error": "[Errno -2] Name or service not known"}
    assert "error" in getters_parse.traceroute_result("")


def test_sanitized_config() -> None:
    from napalm.base.helpers import sanitize_config

    running = ("password zebra\nenable password zebra2\ninterface eth1\n ip ospf authentication-key k3y\n"
               " ip ospf message-digest-key 1 md5 d1gest\nexit\n!\nrouter bgp 65000\n"
               " neighbor 10.0.25.2 remote-as 64999\n neighbor 10.0.25.2 password s3cret words\n"
               "exit\n!\nkey chain rip\n key 1\n  key-string chainsecret\n exit\nexit\n"
               "router isis core\n area-password md5 isissecret\nexit\n")
    clean = sanitize_config(running, SECRETS)
    for secret in ("zebra", "k3y", "d1gest", "s3cret", "chainsecret", "isissecret"):
        assert secret not in clean, secret
    assert " neighbor 10.0.25.2 password <removed>\n" in clean
    assert " neighbor 10.0.25.2 remote-as 64999\n" in clean
    recorded = read("r2_running_config.txt")
    assert sanitize_config(recorded, SECRETS) == recorded  # nothing secret there: nothing changes


# --- the driver's wiring: one round trip per getter, secrets removed from every config ----------

class Recorder:
    """Stands in for the driver's channel: answers from the recorded files, counts round trips."""

    def __init__(self) -> None:
        self.trips: list[list[str]] = []

    def vty(self, commands: list[str]) -> list[str]:
        self.trips.append(commands)
        files = {"show bgp vrf all summary json": "r2_bgp_summary.json",
                 "show bgp vrf all neighbors json": "r2_bgp_neighbors.json",
                 "show running-config": "r2_running_config.txt"}
        return [read(files[c]) for c in commands]

    def batch(self, steps: list[tuple[str, str]], **_: Any) -> dict[str, tuple[int, str]]:
        self.trips.append([c for _, c in steps])
        files = {"ip -j -s -4 neigh show": "r2_neigh4.json", "ip -j -d link show": "r2_link_details.json",
                 "ip -j -s link show": "r2_link_stats.json"}
        return {name: (0, read(files[c])) for name, c in steps}


def recorded_driver() -> tuple[Any, Recorder]:
    from napalm import get_network_driver

    drv = get_network_driver("netorch_frr")("r2", "u", "p")
    rec = Recorder()
    drv._vty, drv._batch = rec.vty, rec.batch
    return drv, rec


def test_each_getter_is_one_round_trip() -> None:
    drv, rec = recorded_driver()
    assert drv.get_bgp_neighbors()["global"]["peers"]["10.0.25.2"]["is_up"]
    assert drv.get_bgp_neighbors_detail()["global"][64999][0]["up"]
    assert drv.get_bgp_config()["_"]["neighbors"]["10.0.25.2"]["remote_as"] == 64999
    assert drv.get_arp_table() and drv.get_interfaces_counters()
    assert len(rec.trips) == 5
    assert drv.get_network_instances()["default"]["type"] == "DEFAULT_INSTANCE"
    assert len(rec.trips) == 7  # the running config (vtysh) and the links (sh)


def test_get_config_sanitized_through_the_driver() -> None:
    drv, _ = recorded_driver()
    described = " neighbor 10.0.25.2 description up1\n"
    running = read("r2_running_config.txt").replace(described, described + " neighbor 10.0.25.2 password s3cret\n")
    drv._running_both = lambda: (running, None)
    drv._candidate = "password zebra\n"
    config = drv.get_config(retrieve="running", sanitized=True)
    shaped(models.ConfigDict, config)
    assert "s3cret" not in config["running"] and " neighbor 10.0.25.2 password <removed>\n" in config["running"]
    assert "s3cret" in drv.get_config(retrieve="running")["running"]  # only when asked
    assert drv.get_config(retrieve="candidate", sanitized=True)["candidate"] == "password <removed>\n"
