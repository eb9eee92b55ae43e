"""A RIB as FRR reports it (`show ip route [vrf all] json`), in the model's terms, so that the
model and a router can be compared route by route: prefix -> (protocol, resolved next hops)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from netorch.rib.types import Rib

Selected = dict[str, tuple[str, tuple[tuple[str, str], ...]]]


def frr_selected(doc: dict[str, Any], ignore_interfaces: Iterable[str] = ()) -> Selected:
    """The selected route of every prefix (kernel routes and routes over an ignored interface,
    such as management, left out; one the kernel does not hold is marked so); next hops as
    (gateway or '', interface), FRR's duplicates of one (two equal-cost paths through the same
    neighbour) once."""
    ignored = set(ignore_interfaces)
    out: Selected = {}
    for prefix, entries in doc.items():
        for e in entries if isinstance(entries, list) else ():
            if not isinstance(e, dict) or not e.get("selected") or e.get("protocol") == "kernel":
                continue
            hops = tuple(sorted((str(h.get("ip", "")), str(h.get("interfaceName", "")))
                                for h in e.get("nexthops", []) if isinstance(h, dict) and not h.get("recursive")
                                and h.get("active", True) and not h.get("duplicate")))
            if any(ifname in ignored for _, ifname in hops):
                continue
            protocol = str(e.get("protocol"))
            if "installed" in e and not e.get("installed"):
                protocol += " (selected, not in the FIB)"  # zebra failed to install it: nothing forwards by it
            if any(h.get("blackhole") for h in e.get("nexthops", []) if isinstance(h, dict)):
                hops = ()  # a discard route
            out[prefix] = (protocol, hops)
    return out


def model_selected(rib: Rib, ignore_interfaces: Iterable[str] = ()) -> Selected:
    ignored = set(ignore_interfaces)
    out: Selected = {}
    for route in rib.selected():
        hops = tuple(sorted((str(h.address) if h.address is not None else "", h.interface or "")
                            for h in route.next_hops))
        if any(ifname in ignored for _, ifname in hops):
            continue
        out[str(route.prefix)] = (route.protocol, hops)
    return out
