"""Static routes in a NETCONF configuration (ietf-routing, ietf-ipv4-unicast-routing) and the
route checks made from them. Pure, on netorch.configtree.xml trees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network

from netorch.configtree.xml import RT_NS, V4UR_NS, XNode
from netorch.model.desired import DesiredRoute
from netorch.transport.base import RouteCheck
from netorch.transport.netconf.payload import control_plane_protocols, protocol_id


@dataclass(frozen=True)


class LiveRoute:
    """One static route (one next hop) of a device's configuration."""

    protocol: str
    prefix: str
    next_hop: str | None
    interface: str | None


def static_routes(data: XNode) -> list[LiveRoute]:
    """Every IPv4 static route in a configuration tree, from every static control-plane-protocol."""
    out = []
    for entry in control_plane_protocols(data):
        ns, kind, name = protocol_id(entry)
        if (ns, kind) != (RT_NS, "static"):
            continue
        static = entry.child("static-routes", RT_NS)
        ipv4 = static.child("ipv4", V4UR_NS) if static is not None else None
        for route in ipv4.find("route") if ipv4 is not None else []:
            prefix = route.value("destination-prefix") or ""
            hops: list[XNode] = []
            container = route.child("next-hop")
            if container is not None:
                hops.append(container)
                hop_list = container.child("next-hop-list")
                if hop_list is not None:
                    hops += hop_list.find("next-hop")
            found = [(h.value("next-hop-address"), h.value("outgoing-interface")) for h in hops]
            found = [f for f in found if f != (None, None)] or [(None, None)]
            out += [LiveRoute(name, prefix, nh, oif) for nh, oif in found]
    return out


def _network(text: str) -> IPv4Network | None:
    try:
        return IPv4Network(text, strict=False)
    except ValueError:
        return None


def route_checks(routes: Iterable[DesiredRoute], live: list[LiveRoute]) -> list[RouteCheck]:
    """present: a static route with the prefix and the intended next hop / interface is in the
    running configuration. active = present: a configuration datastore has no RIB to ask (the
    lab's netconfd does not route), so a configured static route is taken as active."""
    out = []
    for route in routes:
        same = [r for r in live if _network(r.prefix) == route.prefix]
        match = [r for r in same if (route.next_hop is None or r.next_hop == str(route.next_hop))
                 and (route.interface is None or r.interface == route.interface)]
        via = " ".join(str(v) for v in (route.next_hop, route.interface) if v)
        detail = ""
        if not match:
            detail = f"static route {route.prefix} via {via} is not in the running configuration"
            if same:
                others = ", ".join(sorted({" ".join(v for v in (r.next_hop, r.interface) if v) or "-" for r in same}))
                detail += f" (running has {route.prefix} via {others})"
        out.append(RouteCheck(route=route, present=bool(match), active=bool(match), detail=detail))
    return out
