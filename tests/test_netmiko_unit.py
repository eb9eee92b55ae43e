"""The netmiko CLI transport without a device: hier_config remediation and rollback
(round-trip properties over random FRR configs), the managed scope, error parsing,
route checks, error mapping, and NetmikoSession against a modelled FRR router."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from hier_config import HConfig, HConfigChild, get_hconfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout

from netorch.configtree import hconfig as nm
from netorch.errors import DeviceRejected, DeviceUnreachable, NetorchError, TransportError
from netorch.model.desired import DesiredRoute, DesiredState
from netorch.platforms import Transport
from netorch.transport.base import DeviceJob
from netorch.transport.netmiko.connection import connect
from netorch.transport.netmiko.output import cli_errors, describe_error, route_checks_from_rib
from netorch.transport.netmiko.session import NetmikoSession

ROOT = Path(__file__).resolve().parent.parent
HEADER = "Building configuration...\n\nCurrent configuration:\n"

# ----------------------------------------------------------------- a model of FRR's CLI


class Refused(Exception):
    """The modelled router refused a line (as FRR prints "% ...")."""


SINGLE_VALUED = ("hostname ", "description ")
#: protocol settings FRR holds one of: a new value replaces the old one
PROTOCOL_SINGLE = ("ospf router-id ", "bgp router-id ", "ip ospf area ", "ip ospf cost ", "ip ospf network ",
                   "set local-preference ", "match ip address prefix-list ")
FORWARDING = ("ip forwarding", "ipv6 forwarding")


def _route_key(text: str) -> str:
    """FRR keeps one static route per prefix and next hop: the distance is an attribute
    (`ip route P NH 7` replaces `ip route P NH`, `no ip route P NH` removes either)."""
    words = text.removeprefix("no ").split()
    if words[-1].isdigit() and len(words) > 4:
        words = words[:-1]
    return " ".join(words)


def _apply_one(parent: HConfig | HConfigChild, text: str) -> None:
    routes = {_route_key(c.text): c for c in parent.children if c.text.startswith("ip route ")}
    if text.startswith("no "):
        target = text[3:]
        if target in FORWARDING:  # FRR shows only the negative form
            if text not in parent.children:
                parent.add_child(text)
        elif target.startswith("description "):  # FRR 8.4 takes only a bare `no description`
            raise Refused(f"% Unknown command: {text}")
        elif target == "description":
            for child in [c for c in parent.children if c.text.startswith("description ")]:
                child.delete()
        elif target.startswith("ip route ") and _route_key(target) in routes:
            routes[_route_key(target)].delete()
        elif (child := parent.children.get(target)) is not None:
            child.delete()
        else:
            raise Refused(f"% Refusing to remove a non-existent line: {text}")
        return
    if text in FORWARDING:
        if (child := parent.children.get(f"no {text}")) is not None:
            child.delete()
        return
    for single in PROTOCOL_SINGLE:
        if text.startswith(single):
            for child in [c for c in parent.children if c.text.startswith(single)]:
                child.delete()
    if text.startswith(SINGLE_VALUED):
        key = text.split(maxsplit=1)[0] + " "
        for child in [c for c in parent.children if c.text.startswith(key)]:
            child.delete()
    if text.startswith("ip route ") and (old := routes.get(_route_key(text))) is not None:
        old.delete()
    if text not in parent.children:
        parent.add_child(text)


def _bgp_neighbor(bgp: HConfigChild, family: HConfigChild | None, text: str) -> bool:
    """FRR's neighbours: `no neighbor X` and `no neighbor X remote-as N` delete the neighbour with
    every line about it; a line about a neighbour that has no remote-as is refused; a new
    remote-as replaces the old one. True when the line was handled here."""
    words = text.split()
    negated = words[0] == "no"
    if negated:
        words = words[1:]
    if len(words) < 2 or words[0] != "neighbor":
        return False
    address = words[1]
    lines = [c for c in bgp.all_children() if c.text.startswith(f"neighbor {address} ")]
    exists = any(c.text.startswith(f"neighbor {address} remote-as ") for c in lines)
    if not exists and not (not negated and len(words) > 2 and words[2] == "remote-as"):
        raise Refused(f"% Specify remote-as or peer-group commands first: {text}")
    if negated and (len(words) == 2 or words[2] == "remote-as"):
        for child in lines:
            child.delete()
        return True
    if not negated and words[2] == "remote-as":
        for child in lines:
            if child.text.startswith(f"neighbor {address} remote-as "):
                child.delete()
    if not negated and words[2] in ("description", "update-source", "maximum-prefix"):
        for child in lines:
            if child.text.startswith(f"neighbor {address} {words[2]} "):
                child.delete()
    if not negated and words[2] in ("prefix-list", "route-map") and len(words) == 5:
        for child in lines:
            other = child.text.split()
            if other[2] == words[2] and other[-1] == words[4]:
                child.delete()
    return False


def apply_lines(config: str, lines: Iterable[str]) -> str:
    """Apply configuration-mode lines to a configuration text the way FRR does (modelled
    on a full hier_config tree: unmanaged lines stay): `interface X` / `vrf X` enter a
    section, `exit` / `exit-vrf` / `end` leave it, a single-valued line replaces its old
    value, `no LINE` removes LINE and refuses to remove what is not there."""
    tree = get_hconfig(nm.FrrDriver(), nm.strip_header(config))
    section: HConfigChild | None = None
    family: HConfigChild | None = None  # an address-family inside `router bgp`
    for raw in lines:
        text = " ".join(raw.split())
        if not text:
            continue
        if text in ("exit", "exit-vrf", "end"):
            section = family = None
            continue
        if text == "exit-address-family":
            family = None
            continue
        top = raw == raw.lstrip()
        if top and text.startswith(("interface ", "vrf ", "router ", "route-map ")):
            existing = tree.children.get(text)
            section = existing if existing is not None else tree.add_child(text)
            continue
        if top and text.startswith(("no interface ", "no vrf ")):
            raise Refused(f"% only inactive interfaces can be deleted: {text}")
        if top and text.startswith(("no router ", "no route-map ")):
            if (gone := tree.children.get(text[3:])) is None:
                raise Refused(f"% no such section: {text}")
            gone.delete()
            continue
        if top:
            section = family = None
        if section is not None and section.text.startswith("router bgp ") and text.startswith("address-family "):
            existing = section.children.get(text)
            family = existing if existing is not None else section.add_child(text)
            continue
        if section is not None and section.text.startswith("router bgp ") and _bgp_neighbor(section, family, text):
            continue
        _apply_one(family if family is not None else section if section is not None else tree, text)
    return "\n".join(tree.lines(sectional_exiting=True)) + "\n"


def meaning(text: str, ignore: tuple[str, ...] = ("eth0",)) -> set[tuple[str, ...]]:
    """Every managed line of a config with its parents, from hier_config's parse."""
    return {tuple(c.path()) for c in nm.parse(text, "frr", ignore_interfaces=ignore).all_children()}


# ----------------------------------------------------------------- random FRR configs

PREFIXES = [f"10.{a}.{b}.0/24" for a in (1, 2, 50) for b in (0, 7)] + ["192.0.2.0/25", "0.0.0.0/0"]
NEXT_HOPS = ["10.0.13.1", "10.0.34.2", "eth1", "10.0.13.1 eth1", "blackhole"]
ADDRESSES = ["10.0.13.2/30", "10.0.34.1/30", "10.9.0.1/24", "10.9.1.1/24"]
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)

# FRR holds one route per prefix and next hop (the distance is an attribute of it)
routes_st = st.dictionaries(st.tuples(st.sampled_from(PREFIXES), st.sampled_from(NEXT_HOPS)),
                            st.sampled_from([1, 5, 200]), max_size=6).map(
    lambda rs: {f"ip route {p} {nh}" + (f" {d}" if d != 1 else "") for (p, nh), d in rs.items()})
iface_st = st.fixed_dictionaries({
    "description": st.none() | st.lists(WORDS, min_size=1, max_size=4).map(" ".join),
    "addresses": st.sets(st.sampled_from(ADDRESSES), max_size=2),
    "shutdown": st.booleans(),
})
config_st = st.fixed_dictionaries({
    "hostname": st.sampled_from(["r3", "r3-new"]),
    "ipv6_off": st.booleans(),
    "ip_off": st.booleans(),
    "routes": routes_st,
    "vrfs": st.dictionaries(st.sampled_from(["blue", "red"]), routes_st, max_size=2),
    "interfaces": st.dictionaries(st.sampled_from(["eth1", "eth2", "eth3", "lo"]), iface_st, max_size=4),
})


def frr_text(cfg: dict[str, Any], *, running: bool) -> str:
    """A config as FRR's `show running-config` prints it (running: with unmanaged lines,
    a management interface and the header) or as netorch's template renders it."""
    out = [HEADER + "!", "frr version 8.4.4"] if running else []
    out += ["frr defaults traditional", f"hostname {cfg['hostname']}"]
    out += ["no ip forwarding"] if cfg["ip_off"] else []
    out += ["no ipv6 forwarding"] if cfg["ipv6_off"] else []
    out += ["service integrated-vtysh-config"]
    if running:
        out += ["log syslog informational", "banner motd line welcome"]
    out += ["!", *sorted(cfg["routes"])]
    for vrf, routes in sorted(cfg["vrfs"].items()):
        if routes:
            out += ["!", f"vrf {vrf}", *(f" {r}" for r in sorted(routes)), "exit-vrf"]
    out.append("!")
    interfaces = dict(cfg["interfaces"])
    if running:
        interfaces["eth0"] = {"description": "management", "addresses": {"198.18.0.13/16"}, "shutdown": False}
        interfaces.setdefault("eth1", {"description": None, "addresses": set(), "shutdown": False})
    for name, i in sorted(interfaces.items()):
        out.append(f"interface {name}")
        out += [f" description {i['description']}"] if i["description"] else []
        out += [f" ip address {a}" for a in sorted(i["addresses"])]
        out += [" shutdown"] if i["shutdown"] else []
        out += [" ipv6 nd suppress-ra"] if running and name == "eth1" else []
        out += ["exit", "!"]
    if running:
        out += ["router bgp 65003 vrf tenant9", " bgp router-id 10.255.0.3", " address-family ipv4 unicast",
                "  network 10.3.0.0/24", " exit-address-family", "exit", "!", "line vty", " exec-timeout 0 0", "exit",
                "!"]
    out.append("end")
    return "\n".join(out) + "\n"


# protocol sections of the default VRF and `ip ospf` lines are netorch's (the protocol tests
# below); BGP of another VRF and other interface lines are not
UNMANAGED = ("frr version 8.4.4", "log syslog informational", "line vty", "router bgp 65003 vrf tenant9",
             "interface eth0", "ipv6 nd suppress-ra")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_st, config_st)
def test_remediation_then_rollback_round_trips(a: dict[str, Any], b: dict[str, Any]) -> None:
    running, desired = frr_text(a, running=True), frr_text(b, running=False)
    ignore = ("eth0",)
    fix = nm.remediation(running, desired, ignore_interfaces=ignore)
    back = nm.rollback_lines(running, desired, ignore_interfaces=ignore)

    after = apply_lines(running, fix)  # raises Refused if a line would be refused
    # interfaces and VRFs the desired config does not render are not netorch's: they stay as they are
    rendered = {line for line in desired.splitlines() if line.startswith(("interface ", "vrf "))}
    foreign = {p for p in meaning(running) if p[0].startswith(("interface ", "vrf ")) and p[0] not in rendered}
    assert meaning(after) == meaning(desired) | foreign
    assert nm.remediation(after, desired, ignore_interfaces=ignore) == []
    assert nm.same_meaning(after, desired, ignore_interfaces=ignore)
    for line in UNMANAGED:  # what netorch does not manage is untouched
        assert line in after

    restored = apply_lines(after, back)
    assert meaning(restored) == meaning(running)
    assert nm.same_meaning(restored, running, ignore_interfaces=ignore)

    # nothing the device refuses, nothing unmanaged, sections always left explicitly
    for line in fix + back:
        assert not line.startswith(("no interface", "no vrf", "frr ", "log ", "line ", "router ", "banner"))
        if not line.strip().startswith("description "):  # (a drawn description may say anything)
            assert "eth0" not in line and "suppress-ra" not in line and "tenant9" not in line
    for lines in (fix, back):
        opened = [i for i, ln in enumerate(lines) if ln.startswith(("interface ", "vrf "))]
        for i in opened:
            rest = lines[i + 1:]
            end = next(j for j, ln in enumerate(rest) if not ln.startswith(" "))
            assert rest[end] == ("exit-vrf" if lines[i].startswith("vrf ") else "exit")

    kinds = nm.structured_diff(running, desired, ignore_interfaces=ignore)
    assert bool(kinds) == bool(fix) == bool(nm.readable_diff(running, desired, ignore_interfaces=ignore))


@settings(max_examples=100, deadline=None)
@given(config_st)
def test_a_config_needs_nothing_against_itself(a: dict[str, Any]) -> None:
    running, rendered = frr_text(a, running=True), frr_text(a, running=False)
    assert nm.remediation(running, rendered, ignore_interfaces=("eth0",)) == []
    assert nm.structured_diff(running, rendered, ignore_interfaces=("eth0",)) == []
    assert nm.readable_diff(running, rendered, ignore_interfaces=("eth0",)) == ""


# ----------------------------------------------------------------- examples

R3_RUNNING = HEADER + """!
frr version 8.4.4
frr defaults traditional
hostname r3
no ipv6 forwarding
service integrated-vtysh-config
!
interface eth1
 description to r1 eth2
 ip address 10.0.13.2/30
exit
!
interface eth2
 description to r4 eth2
 ip address 10.0.34.1/30
exit
!
interface lo
 ip address 10.255.0.3/32
exit
!
end
"""


@pytest.fixture(scope="module")
def r3_job() -> DeviceJob:
    from netorch.service import Workspace

    static = ROOT / "tests/cases/static"  # the example as it was with static routes only
    ws = Workspace(static / "inventory", static / "intents", ROOT / "netorch" / "templates")
    desired = ws.compile()["r3"]
    return DeviceJob("r3", "frr", Transport.NETMIKO, ws.render("r3")["r3"], desired)


def test_shipped_r3_gets_its_protocol_sections() -> None:
    """The shipped example routes with OSPF and BGP: from the lab's bare r3, the remediation
    brings them all, and nothing else is needed after it."""
    from netorch.service import Workspace

    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    desired = ws.render("r3")["r3"]["frr.conf"]
    fix = nm.remediation(R3_RUNNING, desired, ignore_interfaces=["eth0"])
    assert "router ospf" in fix and "router bgp 65000" in fix and " ip ospf area 0" in fix
    assert " neighbor 10.0.35.2 remote-as 64999" in fix
    assert any(line.startswith("ip prefix-list netorch_in_up1 ") for line in fix)
    after = apply_lines(R3_RUNNING, fix)
    assert nm.remediation(after, desired, ignore_interfaces=["eth0"]) == []


def test_example_r3_needs_its_two_routes(r3_job: DeviceJob) -> None:
    desired = r3_job.artifacts["frr.conf"]
    assert nm.remediation(R3_RUNNING, desired) == ["ip route 10.1.0.0/24 10.0.13.1", "ip route 10.2.0.0/24 10.0.34.2"]
    assert nm.rollback_lines(R3_RUNNING, desired) == ["no ip route 10.1.0.0/24 10.0.13.1",
                                                       "no ip route 10.2.0.0/24 10.0.34.2"]
    assert nm.readable_diff(R3_RUNNING, desired) == ("+ ip route 10.1.0.0/24 10.0.13.1\n"
                                                     "+ ip route 10.2.0.0/24 10.0.34.2")
    assert nm.structured_diff(R3_RUNNING, desired) == [("missing", "ip route 10.1.0.0/24 10.0.13.1"),
                                                       ("missing", "ip route 10.2.0.0/24 10.0.34.2")]


def test_unmanaged_lines_and_comments_do_not_count() -> None:
    noisy = R3_RUNNING.replace("!\nend", "!\nlog file /var/log/frr.log\n! a comment\nline vty\n exec-timeout 0 0\n"
                                         "exit\n!\nend").replace("frr version 8.4.4", "frr version 9.1")
    assert nm.structured_diff(noisy, R3_RUNNING) == []
    assert nm.remediation(noisy, R3_RUNNING) == []
    # and FRR's reordering does not matter
    reordered = R3_RUNNING.replace("interface eth1\n description to r1 eth2\n ip address 10.0.13.2/30",
                                   "interface eth1\n ip address 10.0.13.2/30\n description to r1 eth2")
    assert nm.same_meaning(reordered, R3_RUNNING)


def test_interfaces_are_emptied_not_deleted_and_mgmt_is_left_alone() -> None:
    running = R3_RUNNING.replace("interface lo\n", "interface eth0\n description mgmt\nexit\ninterface lo\n")
    # eth2 stays in the inventory with nothing to configure: its block is rendered empty
    desired = R3_RUNNING.replace("interface eth2\n description to r4 eth2\n ip address 10.0.34.1/30\nexit\n",
                                 "interface eth2\nexit\n")
    lines = nm.remediation(running, desired, ignore_interfaces=["eth0"])
    assert lines == ["interface eth2", " no description", " no ip address 10.0.34.1/30", "exit"]
    assert nm.readable_diff(running, desired, ignore_interfaces=["eth0"]) == (
        "  interface eth2\n-  description to r4 eth2\n-  ip address 10.0.34.1/30")


def test_single_valued_lines_are_replaced_not_negated() -> None:
    lines = nm.remediation("hostname r3\ninterface eth1\n description old\nexit\n",
                           "hostname r4\ninterface eth1\n description new words\nexit\n")
    assert lines == ["hostname r4", "interface eth1", " description new words", "exit"]
    # but an interface may hold several addresses: the old one is removed explicitly
    lines = nm.remediation("interface eth1\n ip address 10.0.0.1/24\n", "interface eth1\n ip address 10.0.1.1/24\n")
    assert lines == ["interface eth1", " no ip address 10.0.0.1/24", "exit",
                     "interface eth1", " ip address 10.0.1.1/24", "exit"]


def test_removals_come_first_so_an_address_can_move() -> None:
    lines = nm.remediation("interface eth1\n ip address 10.0.0.1/24\nexit\ninterface eth2\n description b\nexit\n",
                           "interface eth1\nexit\ninterface eth2\n description b\n ip address 10.0.0.1/24\nexit\n")
    assert lines == ["interface eth1", " no ip address 10.0.0.1/24", "exit",
                     "interface eth2", " ip address 10.0.0.1/24", "exit"]


def test_forwarding_and_negated_lines_count_in_drift() -> None:
    assert nm.structured_diff("hostname r3\n", "hostname r3\nno ipv6 forwarding\n") == [
        ("missing", "no ipv6 forwarding")]
    assert nm.remediation("no ip forwarding\n", "") == ["ip forwarding"]
    assert nm.rollback_lines("no ip forwarding\n", "") == ["no ip forwarding"]
    assert nm.remediation("ipv6 forwarding\n", "no ipv6 forwarding\n") == ["no ipv6 forwarding"]


def test_a_new_distance_replaces_the_route() -> None:
    lines = nm.remediation("ip route 10.5.0.0/24 10.0.13.1\n", "ip route 10.5.0.0/24 10.0.13.1 7\n")
    assert lines == ["no ip route 10.5.0.0/24 10.0.13.1", "ip route 10.5.0.0/24 10.0.13.1 7"]
    assert apply_lines("ip route 10.5.0.0/24 10.0.13.1\n", lines) == "ip route 10.5.0.0/24 10.0.13.1 7\n"


def test_vrf_routes_use_exit_vrf() -> None:
    lines = nm.remediation("", "vrf blue\n ip route 10.7.0.0/24 10.0.13.1\nexit-vrf\n")
    assert lines == ["vrf blue", " ip route 10.7.0.0/24 10.0.13.1", "exit-vrf"]
    assert nm.rollback_lines("", "vrf blue\n ip route 10.7.0.0/24 10.0.13.1\nexit-vrf\n") == [
        "vrf blue", " no ip route 10.7.0.0/24 10.0.13.1", "exit-vrf"]


def test_platform_scope_and_artifact() -> None:
    assert nm.config_artifact("frr") == "frr.conf"
    assert nm.config_artifact("cisco_ios") == "config.txt"
    with pytest.raises(NetorchError, match="no managed scope"):
        nm.remediation("", "", "cisco_ios")
    assert [m.pattern.split()[0] for m in nm.FRR_MANAGED] == [
        "hostname", "(no", "(no", "(no", "ip", "vrf", "interface", "router", "router", "ip", "route-map"]
    assert all(m.what for m in nm.FRR_MANAGED)


def test_strip_header() -> None:
    assert nm.strip_header(R3_RUNNING).startswith("!\nfrr version 8.4.4")
    assert nm.strip_header("hostname r3\n") == "hostname r3\n"


# ----------------------------------------------------------------- CLI output parsing

# verbatim from FRR 8.4 through netmiko's send_config_set (r3 in the lab)
CONFIG_OUTPUT = """ configure terminal
r3(config)#  ip route 10.99.0.0/24 not an address
% Unknown command: ip route 10.99.0.0/24 not an address
r3(config)# ip route 10.98.0.0/24 10.0.13.1
r3(config)#  no ip route 10.97.0.0/24 10.0.13.1
% Refusing to remove a non-existent route
r3(config)#  no interface eth1
% Configuration failed.

Error type: validation
Error description: only inactive interfaces can be deleted
r3(config)#  vrf blue
r3(config-vrf)#  ip route 10.96.0.0/24 10.0.13.1
Static Route to 10.96.0.0/24 not installed currently because dependent config not fully available
r3(config-vrf)# exit-vrf
r3(config)# ip rou
% Command incomplete: ip rou
r3(config)#  end
r3# """


def test_cli_errors_name_each_rejected_command() -> None:
    assert cli_errors(CONFIG_OUTPUT) == [
        ("ip route 10.99.0.0/24 not an address", "% Unknown command: ip route 10.99.0.0/24 not an address"),
        ("no ip route 10.97.0.0/24 10.0.13.1", "% Refusing to remove a non-existent route"),
        ("no interface eth1", "% Configuration failed. Error type: validation "
                              "Error description: only inactive interfaces can be deleted"),
        ("ip rou", "% Command incomplete: ip rou"),
    ]
    assert cli_errors(" configure terminal\nr3(config)# hostname r3\nr3(config)# end\nr3# ") == []
    assert cli_errors("r3# write\n% Warning: can't chown configuration file\nr3# ") == []


def _route(prefix: str, nh: str | None = None, iface: str | None = None, distance: int = 1,
           vrf: str | None = None) -> DesiredRoute:
    return DesiredRoute(prefix=IPv4Network(prefix), next_hop=IPv4Address(nh) if nh else None, interface=iface,
                        distance=distance, vrf=vrf, origin="route:test")


RIB = json.loads("""{
 "10.96.0.0/24": [{"prefix": "10.96.0.0/24", "protocol": "static", "selected": true, "installed": true,
   "distance": 1, "nexthops": [{"directlyConnected": true, "interfaceName": "eth1", "active": true}]}],
 "10.97.0.0/24": [{"prefix": "10.97.0.0/24", "protocol": "static", "selected": true, "installed": true,
   "distance": 7, "nexthops": [{"ip": "10.0.13.1", "interfaceName": "eth1", "active": true}]},
                  {"prefix": "10.97.0.0/24", "protocol": "static", "distance": 9,
   "nexthops": [{"ip": "10.0.34.2", "interfaceName": "eth2", "active": true}]}],
 "10.0.13.0/30": [{"prefix": "10.0.13.0/30", "protocol": "connected", "selected": true, "installed": true,
   "distance": 0, "nexthops": [{"interfaceName": "eth1", "active": true}]}]
}""")


def test_route_checks_from_rib() -> None:
    routes = [_route("10.96.0.0/24", iface="eth1"), _route("10.97.0.0/24", "10.0.13.1", distance=7),
              _route("10.97.0.0/24", "10.0.34.2", distance=9), _route("10.97.0.0/24", "10.0.13.1"),
              _route("10.0.13.0/30", iface="eth1"), _route("10.96.0.0/24", iface="eth1", vrf="blue")]
    checks = route_checks_from_rib(routes, {"": RIB, "blue": {}})
    assert [(c.present, c.active) for c in checks] == [
        (True, True), (True, True), (True, False), (False, False), (False, False), (False, False)]
    assert "not active" in checks[2].detail and "not in the RIB" in checks[3].detail
    assert "(vrf blue)" in checks[5].detail and checks[0].detail == ""


# ----------------------------------------------------------------- errors never carry secrets

SECRET = "s3cr3t-pw"


@pytest.mark.parametrize(("exc", "expected"), [
    (NetmikoAuthenticationException(f"Authentication to device failed. password={SECRET}"), "authentication failed"),
    (NetmikoTimeoutException(f"TCP connection to device failed {SECRET}"), "timed out"),
    (ReadTimeout(f"Pattern not detected {SECRET}"), "no answer"),
    (TimeoutError("timed out"), "timed out"),
    (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
    (OSError(113, "No route to host"), "No route to host"),
    (EOFError(), "EOFError"),
])
def test_describe_error_is_short_and_secret_free(exc: BaseException, expected: str) -> None:
    text = describe_error(exc, "for vtyadmin@198.18.0.13:22")
    assert expected in text and SECRET not in text and "\n" not in text


def test_connect_maps_refused_to_unreachable() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(DeviceUnreachable) as info:
        connect("rX", "127.0.0.1", "vtyadmin", SECRET, port=port, timeout=3)
    assert "connection refused" in str(info.value) or "cannot connect" in str(info.value)
    assert SECRET not in str(info.value) and info.value.host == "rX"


# ----------------------------------------------------------------- the session on a modelled router


class FakeFrr:
    """Just enough of a netmiko connection to a vtysh login: a config text changed by
    apply_lines, FRR-style output, and a log of what was sent."""

    base_prompt = "r3"

    def __init__(self, config: str, reject: Callable[[str], bool] = lambda _: False,
                 ignore: Callable[[str], bool] = lambda _: False) -> None:
        self.config = nm.strip_header(config)
        self.reject, self.ignore = reject, ignore
        self.sent: list[str] = []
        self.saved: str | None = None
        self.fail: BaseException | None = None
        self.in_config = False
        self.rib: dict[str, Any] = RIB

    def send_command(self, command: str, **_: Any) -> str:
        if self.fail is not None:
            raise self.fail
        self.sent.append(command)
        if command == "show running-config":
            return HEADER + self.config
        if command == "write memory":
            self.saved = self.config
            return ("Note: this version of vtysh never writes vtysh.conf\n\nBuilding Configuration...\n"
                    "% Warning: can't chown configuration file /etc/frr/frr.conf: Operation not permitted\n"
                    "Integrated configuration saved to /etc/frr/frr.conf")
        if command.startswith("show ip route"):
            return json.dumps(self.rib if "vrf" not in command else {})
        return f"% Unknown command: {command}"

    def send_config_set(self, lines: list[str], **_: Any) -> str:
        if self.fail is not None:
            self.in_config = True
            raise self.fail
        assert lines[0] == "configure terminal" and lines[-1] == "end"
        lines = lines[1:-1]
        self.sent.append(f"<config {len(lines)} lines>")
        out = [" configure terminal"]
        for line in lines:
            out.append(f"r3(config)# {line}")
            if self.reject(line):
                out.append(f"% Unknown command: {line.strip()}")
            elif not self.ignore(line):
                try:
                    self.config = apply_lines(self.config, [line])
                except Refused as exc:
                    out.append(str(exc))
        return "\n".join([*out, "r3(config)# end", "r3# "])

    def check_config_mode(self) -> bool:
        return self.in_config

    def exit_config_mode(self) -> str:
        self.in_config = False
        return "end"

    def set_base_prompt(self) -> str:
        return "r3"


def _session(job: DeviceJob, device: FakeFrr) -> NetmikoSession:
    return NetmikoSession("r3", device, job)


def test_session_plan_commit_and_second_load(r3_job: DeviceJob) -> None:
    dev = FakeFrr(R3_RUNNING)
    s = _session(r3_job, dev)
    assert (s.connection_name, s.native_confirm) == ("netorch_netmiko", False)
    s.load()
    assert s.diff() == "+ ip route 10.1.0.0/24 10.0.13.1\n+ ip route 10.2.0.0/24 10.0.34.2"
    s.commit()
    assert dev.sent == ["show running-config", "<config 2 lines>", "show running-config", "write memory"]
    assert nm.same_meaning(dev.config, r3_job.artifacts["frr.conf"]) and dev.saved == dev.config
    again = _session(r3_job, dev)
    again.load()
    assert again.diff() == ""
    again.commit()  # nothing to do: nothing sent
    assert dev.sent[-1] == "show running-config"
    assert nm.strip_header(HEADER + dev.config) == again.live_config()["frr.conf"]


def test_session_confirmed_commit_writes_on_confirm_and_rolls_back(r3_job: DeviceJob) -> None:
    dev = FakeFrr(R3_RUNNING)
    s = _session(r3_job, dev)
    s.load()
    s.commit(revert_in=60)
    assert "write memory" not in dev.sent and dev.saved is None
    s.rollback()
    assert nm.same_meaning(dev.config, R3_RUNNING) and dev.sent[-1] == "write memory"
    s.load()
    s.commit(revert_in=60)
    s.confirm()
    assert dev.saved is not None and nm.same_meaning(dev.saved, r3_job.artifacts["frr.conf"])


def test_session_rejected_line_restores_and_raises(r3_job: DeviceJob) -> None:
    bad = r3_job.artifacts["frr.conf"].replace("!\ninterface eth1", "ip route 10.99.0.0/24 not an address\n"
                                                                    "!\ninterface eth1")
    job = DeviceJob("r3", "frr", Transport.NETMIKO, {**r3_job.artifacts, "frr.conf": bad}, r3_job.desired)
    dev = FakeFrr(R3_RUNNING, reject=lambda line: "not an address" in line)
    s = _session(job, dev)
    s.load()
    with pytest.raises(DeviceRejected) as info:
        s.commit()
    assert "% Unknown command: ip route 10.99.0.0/24 not an address" in str(info.value)
    assert "restored" in str(info.value)
    assert nm.same_meaning(dev.config, R3_RUNNING) and dev.saved is None


def test_session_line_that_does_not_take_restores_and_raises(r3_job: DeviceJob) -> None:
    dev = FakeFrr(R3_RUNNING, ignore=lambda line: "10.2.0.0/24" in line)
    s = _session(r3_job, dev)
    s.load()
    with pytest.raises(DeviceRejected, match=r"did not take, still to do: ip route 10.2.0.0/24 10.0.34.2"):
        s.commit()
    assert nm.same_meaning(dev.config, R3_RUNNING)


def test_session_order_of_calls_and_unsupported_platform(r3_job: DeviceJob) -> None:
    s = _session(r3_job, FakeFrr(R3_RUNNING))
    for call in (s.diff, s.commit, s.rollback):
        with pytest.raises(TransportError, match="before load"):
            call()
    s.load()
    s.discard()
    with pytest.raises(TransportError, match="before load"):
        s.commit()
    ios = DeviceJob("x", "cisco_ios", Transport.NETMIKO, {"config.txt": "hostname x\n"},
                    r3_job.desired.model_copy(update={"platform": "cisco_ios"}))
    with pytest.raises(TransportError, match="does not manage platform 'cisco_ios'"):
        _session(ios, FakeFrr("")).load()
    no_artifact = DeviceJob("r3", "frr", Transport.NETMIKO, {}, r3_job.desired)
    with pytest.raises(TransportError, match=r"no frr\.conf artifact"):
        _session(no_artifact, FakeFrr(R3_RUNNING)).load()


@pytest.mark.parametrize("exc", [ReadTimeout("Pattern not detected"), OSError("Socket is closed"), EOFError(),
                                 NetmikoTimeoutException("gone")])
def test_session_io_failures_are_unreachable(r3_job: DeviceJob, exc: BaseException) -> None:
    dev = FakeFrr(R3_RUNNING)
    s = _session(r3_job, dev)
    s.load()
    dev.fail = exc
    with pytest.raises(DeviceUnreachable) as info:
        s.commit()
    assert info.value.host == "r3" and "configure" in info.value.message
    dev.fail = None
    assert not dev.in_config  # left configuration mode explicitly
    dev.fail = exc
    with pytest.raises(DeviceUnreachable):
        s.live_config()


def test_session_check_routes(r3_job: DeviceJob) -> None:
    desired: DesiredState = r3_job.desired
    checks = _session(r3_job, FakeFrr(R3_RUNNING)).check_routes()
    assert [str(c.route.prefix) for c in checks] == [str(r.prefix) for r in desired.routes]
    assert not any(c.present for c in checks)  # the canned RIB has neither route


def test_session_errors_never_carry_the_password(r3_job: DeviceJob) -> None:
    dev = FakeFrr(R3_RUNNING)
    dev.password = SECRET  # type: ignore[attr-defined]  # netmiko connections keep it
    s = _session(r3_job, dev)
    for exc in (OSError(f"channel closed while sending {SECRET}"), ValueError(f"Failed to enter config mode {SECRET}")):
        dev.fail = exc
        with pytest.raises(TransportError) as info:
            s.load()
        assert SECRET not in str(info.value) and "***" in str(info.value)


# ----------------------------------------------------------------- protocol sections (hier_config scope)

R2_DESIRED = (ROOT / "tests/golden/frr/routing_r2/frr.conf").read_text()
FOREIGN = ("ip prefix-list operators seq 5 permit 192.0.2.0/24\n"
           "route-map operators permit 10\n match ip address prefix-list operators\nexit\n")


def _without_protocols(text: str) -> str:
    """The same router before netorch's protocol sections: interfaces and addresses only."""
    out, skip = [], False
    for line in text.splitlines():
        if line.startswith(("router ", "route-map ")):
            skip = True
        if not skip and not line.startswith(("ip prefix-list ", " ip ospf ")):
            out.append(line)
        if skip and line == "exit":
            skip = False
    return "\n".join(out) + "\n"


PROTOCOL_DRIFTS = {
    "no protocols yet": _without_protocols(R2_DESIRED),
    "a neighbour removed, a cost and a local preference changed": R2_DESIRED
    .replace(" neighbor 10.255.0.4 remote-as 65000\n neighbor 10.255.0.4 description r4\n"
             " neighbor 10.255.0.4 update-source lo\n neighbor 10.255.0.4 timers connect 10\n", "")
    .replace("  neighbor 10.255.0.4 next-hop-self\n", "")
    .replace(" ip ospf network point-to-point\n", " ip ospf cost 55\n", 1)
    .replace("set local-preference 150", "set local-preference 90"),
    "an extra neighbour, network and prefix-list entry, another remote-as": R2_DESIRED
    .replace(" neighbor 10.0.25.2 remote-as 64999\n",
             " neighbor 10.0.25.2 remote-as 64998\n neighbor 10.9.9.9 remote-as 65009\n"
             " neighbor 10.9.9.9 description x\n")
    .replace("  network 10.3.0.0/24\n", "  network 10.3.0.0/24\n  network 10.66.0.0/16\n"
                                     "  neighbor 10.9.9.9 route-map netorch_in_up1 in\n")
    .replace("ip prefix-list netorch_in_up1 seq 10 permit 203.0.113.0/24\n",
             "ip prefix-list netorch_in_up1 seq 10 permit 203.0.113.0/24\n"
             "ip prefix-list netorch_in_up1 seq 15 permit 10.0.0.0/8\n"),
    "another AS and an OSPF router-id": R2_DESIRED.replace("router bgp 65000", "router bgp 65111")
    .replace("ospf router-id 10.255.0.2", "ospf router-id 10.255.0.99"),
}


@pytest.mark.parametrize("case", sorted(PROTOCOL_DRIFTS))
def test_protocol_sections_round_trip(case: str) -> None:
    """running + remediation == desired for OSPF, BGP (with its address family), prefix-lists
    and route-maps; rollback brings the running config back; foreign policy stays."""
    running = PROTOCOL_DRIFTS[case] + FOREIGN
    fix = nm.remediation(running, R2_DESIRED, ignore_interfaces=["eth0"])
    assert fix, "the drift must need a change"
    after = apply_lines(running, fix)  # raises Refused if FRR would refuse a line
    assert meaning(after) == meaning(R2_DESIRED)
    assert "ip prefix-list operators seq 5 permit 192.0.2.0/24" in after and "route-map operators permit 10" in after
    assert "route-map netorch_in_up1 permit 1000\n" in after  # an empty entry means something
    assert nm.remediation(after, R2_DESIRED, ignore_interfaces=["eth0"]) == []
    back = nm.rollback_lines(running, R2_DESIRED, ignore_interfaces=["eth0"])
    assert meaning(apply_lines(after, back)) == meaning(running)


def test_protocol_scope_lines() -> None:
    running = R2_DESIRED.replace(" neighbor 10.255.0.4 remote-as 65000\n", " neighbor 10.255.0.4 remote-as 65004\n")
    # a changed remote-as is set, never negated (that would delete the neighbour)
    assert nm.remediation(running, R2_DESIRED) == ["router bgp 65000", " neighbor 10.255.0.4 remote-as 65000", "exit"]
    gone = nm.remediation(R2_DESIRED, _without_protocols(R2_DESIRED).replace("ip forwarding\n", ""))
    assert "no router bgp 65000" in gone and "no router ospf" in gone
    assert "no route-map netorch_in_up1 permit 10" in gone
    assert "interface eth1" in gone and " no ip ospf area 0" in gone
    # a neighbour that goes: one `no neighbor X`, nothing else about it
    extra = R2_DESIRED.replace(" neighbor 10.0.25.2 remote-as 64999\n",
                               " neighbor 10.0.25.2 remote-as 64999\n neighbor 10.9.9.9 remote-as 1\n"
                               " neighbor 10.9.9.9 description x\n")
    assert nm.remediation(extra, R2_DESIRED) == ["router bgp 65000", " no neighbor 10.9.9.9", "exit"]
    # an address family keeps its own exit
    assert nm.remediation(R2_DESIRED.replace("  network 10.3.0.0/24\n", ""), R2_DESIRED) == [
        "router bgp 65000", " address-family ipv4 unicast", "  network 10.3.0.0/24", " exit-address-family", "exit"]


def test_interfaces_and_vrfs_netorch_does_not_render_are_left_alone() -> None:
    """Ownership (netorch.model.ownership): an interface outside the inventory and a VRF an operator made
    are not netorch's: no drift, no remediation, unless the device's ownership widens them."""
    running = ("interface eth1\n description to r1\nexit\ninterface nox0\n description theirs\nexit\n"
               "vrf blue\n ip route 10.77.0.0/16 10.0.12.2\nexit-vrf\n")
    desired = "interface eth1\n description to r1\nexit\n"
    assert nm.structured_diff(running, desired) == []
    assert nm.remediation(running, desired) == []
    widened = "! netorch-ownership: interfaces=all vrfs=all\n" + desired
    assert set(nm.structured_diff(running, widened)) == {
        ("unexpected", "interface nox0 > description theirs"),
        ("unexpected", "vrf blue > ip route 10.77.0.0/16 10.0.12.2")}
    assert " no description" in nm.remediation(running, widened)
    # a rollback goes back to the earlier config whatever netorch renders: what the run added goes
    assert nm.rollback_lines("", "vrf blue\n ip route 10.7.0.0/24 10.0.13.1\nexit-vrf\n") == [
        "vrf blue", " no ip route 10.7.0.0/24 10.0.13.1", "exit-vrf"]
