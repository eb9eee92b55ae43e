"""Pure parsing of what an FRR + nftables router prints: interfaces (`ip -j link`, FRR's
`show interface json`), the kernel's addresses and admin state (`ip -j addr`), which FRR
daemons run, and the RIB (`show ip route json`) as NAPALM's get_route_to. No I/O."""

from __future__ import annotations

import json
from typing import Any

from netorch.configtree.frr import KernelInterface


def link_interfaces(links: str, frr: str) -> dict[str, dict[str, Any]]:
    """NAPALM get_interfaces from `ip -j link` (state) and FRR's `show interface json` (descriptions)."""
    try:
        frr_data = json.loads(frr) if frr.strip() else {}
    except json.JSONDecodeError:
        frr_data = {}
    out: dict[str, dict[str, Any]] = {}
    for link in json.loads(links or "[]"):
        name = link["ifname"]
        flags = link.get("flags", [])
        out[name] = {
            "is_up": "LOWER_UP" in flags and "UP" in flags,
            "is_enabled": "UP" in flags,
            "description": str(frr_data.get(name, {}).get("description", "")),
            "last_flapped": -1.0, "speed": -1.0, "mtu": int(link.get("mtu", 0)),
            "mac_address": str(link.get("address", "")),
        }
    return out


#: the FRR daemons whose state a snapshot reads
DAEMONS = ("zebra", "staticd", "bgpd", "ospfd")


def kernel_interfaces(addrs: str) -> dict[str, KernelInterface] | None:
    """Per interface, from `ip -j addr show`: IPv4 addresses of global scope, and admin state."""
    try:
        data = json.loads(addrs) if addrs.strip() else None
    except json.JSONDecodeError:
        return None
    if not isinstance(data, list):
        return None
    out: dict[str, KernelInterface] = {}
    for link in data:
        found = tuple(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                      if a.get("family") == "inet" and a.get("scope", "global") != "host" and "local" in a)
        out[str(link["ifname"])] = KernelInterface(found, "UP" in link.get("flags", []))
    return out


def daemon_states(text: str) -> dict[str, bool] | None:
    states = dict(line.split(" ", 1) for line in text.splitlines() if line.count(" ") == 1)
    if not states:
        return None
    return {name: state == "running" for name, state in states.items()}


def parse_route_table(text: str, protocol: str) -> dict[str, Any]:
    """NAPALM get_route_to from FRR's `show ip route json`."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ValueError(f"`show ip route json` answered no JSON: {text.strip().splitlines()[0][:120]!r}") from None
    out: dict[str, list[dict[str, Any]]] = {}
    for prefix, routes in data.items():
        for route in routes:
            if protocol and route.get("protocol") != protocol:
                continue
            for hop in route.get("nexthops", [{}]):
                out.setdefault(prefix, []).append({
                    "protocol": route.get("protocol", ""),
                    "current_active": bool(route.get("selected", False)),
                    "last_active": bool(route.get("selected", False)),
                    "age": 0,
                    "next_hop": hop.get("ip", ""),
                    "outgoing_interface": hop.get("interfaceName", ""),
                    "selected_next_hop": bool(hop.get("fib", False)),
                    "preference": int(route.get("distance", 0)),
                    "inactive_reason": "" if route.get("selected") else "not selected",
                    "routing_table": route.get("vrfName", "default"),
                    "protocol_attributes": {"installed": bool(route.get("installed", False)),
                                            "active": bool(hop.get("active", False))},
                })
    return out


def route_table(text: str, protocol: str = "") -> dict[str, Any]:
    """NAPALM get_route_to from FRR's `show ip route json` (the netmiko transport reads it too)."""
    return parse_route_table(text, protocol)
