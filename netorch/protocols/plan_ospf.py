"""OSPF in the routing plan: areas, member interfaces, costs and network types, adjacencies over
the inventory's links, the backbone. Pure, no I/O."""

from __future__ import annotations

from ipaddress import IPv4Network

from netorch.model.intents import Sourced
from netorch.model.routing import NetworkType, OspfIntent
from netorch.protocols.planbase import OspfPort, OspfProcess, PlannerBase
from netorch.topology import interface_hint


class OspfPlanner(PlannerBase):
    # -- OSPF ---------------------------------------------------------------------------------
    def ospf(self, item: Sourced[OspfIntent]) -> OspfProcess:
        intent = item.value
        proc = OspfProcess(item)
        area_ids = [a.area for a in intent.areas]
        for i, area in enumerate(intent.areas):
            if area.area in area_ids[:i]:
                self.add(item, ("areas", i, "area"), f"area {area.area} is declared twice", "duplicate")
            for host in self.members(item, area.hosts, area.groups, ("areas", i)):
                if self.supports(item, ("areas", i), host, "ospf"):
                    proc.routers.setdefault(host, set()).add(area.area)
            if not area.hosts and not area.groups:
                self.add(item, ("areas", i), "an area needs member hosts or groups", "reference", cause=True)
        # every link between two members of an area (the lowest area both ends share)
        for area in sorted(intent.areas, key=lambda a: -a.area):
            if not area.links:
                continue
            for host in sorted(proc.routers):
                if area.area not in proc.routers[host]:
                    continue
                for link in self.topo.links.get(host, []):
                    if area.area in proc.routers.get(link.peer, ()):
                        self.port(proc, host, link.interface, area.area, link.network)
        for i, link_entry in enumerate(intent.links):
            a, b = link_entry.hosts
            ok = self.pair(item, ("links", i), (a, b), proc.routers, "is in no area of this process")
            if link_entry.area is not None and link_entry.area not in area_ids:
                self.add(item, ("links", i, "area"), f"unknown area {link_entry.area} (areas: "
                         f"{', '.join(str(x) for x in sorted(area_ids))})", "reference", cause=True)
                ok = False
            if not ok:
                continue
            joining = [lk for lk in self.topo.links.get(a, []) if lk.peer == b]
            if not joining:
                self.add(item, ("links", i, "hosts"), f"no link joins {a} and {b}", "reference")
                continue
            for lk in joining:
                for host, ifname in ((a, lk.interface), (b, self.topo.reverse(lk).interface)):
                    port = proc.ports.get((host, ifname))
                    if port is None:
                        port = self.port(proc, host, ifname, link_entry.area if link_entry.area is not None
                                         else min(proc.routers[a] & proc.routers[b] or {min(area_ids)}), lk.network)
                    if link_entry.area is not None:
                        port.area = link_entry.area
                    if link_entry.cost is not None:
                        port.cost = link_entry.cost
                    if link_entry.network is not None:
                        port.point_to_point = link_entry.network == NetworkType.POINT_TO_POINT
        for i, area in enumerate(intent.areas):
            for j, entry in enumerate(area.interfaces):
                base = ("areas", i, "interfaces", j)
                for host in self.scope(item, entry, base):
                    if host not in proc.routers:
                        self.add(item, base, f"{host} is not a member of area {area.area}", "reference", follow_on=True)
                        continue
                    data = self.inventory.hosts[host].data
                    iface = data.interfaces.get(entry.interface)
                    if iface is None or entry.interface == data.mgmt_interface or iface.address is None:
                        usable = [n for n, d in data.interfaces.items()
                                  if n != data.mgmt_interface and d.address is not None]
                        self.add(item, (*base, "interface"), f"host {host} has no interface {entry.interface!r} "
                                 f"with an address netorch manages{interface_hint(entry.interface, usable)}",
                                 "reference")
                        continue
                    port = proc.ports.get((host, entry.interface))
                    if port is None:
                        port = self.port(proc, host, entry.interface, area.area, iface.address.network)
                    port.area = area.area
                    port.passive = entry.passive
                    port.explicit = (item, base)
                    if entry.cost is not None:
                        port.cost = entry.cost
                    if entry.network is not None:
                        port.point_to_point = entry.network == NetworkType.POINT_TO_POINT
                    elif entry.passive:
                        port.point_to_point = False
        self.link_ends(proc)
        self.backbone(proc)
        for host in sorted(proc.routers):
            explicit = intent.router_ids.get(host)
            rid = explicit or self.address(host, intent.router_id_interface)
            if rid is None:
                self.add(item, ("router_id_interface",), f"{host} has no address on "
                         f"{intent.router_id_interface} to take its router id from: give one in router_ids",
                         "reference")
                continue
            proc.router_ids[host] = rid
        for name in intent.router_ids:
            if name not in proc.routers:
                self.add(item, ("router_ids", name), f"{name} is no router of this OSPF process", "reference",
                         follow_on=True)
        for i, redis in enumerate(intent.redistribute):
            if redis.protocol == "ospf":
                self.add(item, ("redistribute", i, "protocol"), "OSPF cannot redistribute into itself", "feedback")
                continue
            for host in self.members(item, redis.hosts, redis.groups, ("redistribute", i)) if (
                    redis.hosts or redis.groups) else sorted(proc.routers):
                if host not in proc.routers:
                    self.add(item, ("redistribute", i), f"{host} is no router of this OSPF process", "reference",
                             follow_on=True)
                    continue
                proc.redistribute.setdefault(host, []).append(redis)
        for i, default in enumerate(intent.default_originate):
            for host in self.members(item, default.hosts, default.groups, ("default_originate", i)) if (
                    default.hosts or default.groups) else sorted(proc.routers):
                if host not in proc.routers:
                    self.add(item, ("default_originate", i), f"{host} is no router of this OSPF process",
                             "reference", follow_on=True)
                    continue
                if proc.default_originate.get(host) != "always":
                    proc.default_originate[host] = "always" if default.always else "if-present"
        return proc

    def port(self, proc: OspfProcess, host: str, ifname: str, area: int, network: IPv4Network) -> OspfPort:
        key = (host, ifname)
        found = proc.ports.get(key)
        if found is None:
            found = proc.ports[key] = OspfPort(host, ifname, area, False, None,
                                               network.prefixlen in (30, 31), network)
        else:
            found.area = min(found.area, area)
        return found

    def link_ends(self, proc: OspfProcess) -> None:
        """Both ends of a link in OSPF agree on area and network type; an active end whose peer
        is not in OSPF forms no adjacency."""
        item = proc.item
        reported: set[frozenset[tuple[str, str]]] = set()
        for (host, ifname), port in sorted(proc.ports.items()):
            if port.passive:
                continue
            for link in self.topo.links.get(host, []):
                if link.interface != ifname:
                    continue
                back = self.topo.reverse(link)
                pair = frozenset({(host, ifname), (link.peer, back.interface)})
                if pair in reported:
                    continue
                peer = proc.ports.get((link.peer, back.interface))
                where = port.explicit or (peer.explicit if peer is not None else None) or (item, ("areas",))
                if peer is None:
                    if port.explicit is not None:
                        reported.add(pair)
                        self.add(where[0], where[1], f"{host} {ifname} is active in area {port.area} but its "
                                 f"peer {link.peer} {back.interface} takes no part in OSPF: no adjacency "
                                 "can form (make it passive, or add the peer)", "link", follow_on=True)
                    continue
                if peer.passive:
                    continue
                reported.add(pair)
                if peer.area != port.area:
                    self.add(where[0], where[1], f"the two ends of the link {host} {ifname} - {link.peer} "
                             f"{back.interface} disagree on the area ({port.area} and {peer.area})", "link",
                             follow_on=True)
                elif peer.point_to_point != port.point_to_point:
                    kinds = {True: "point-to-point", False: "broadcast"}
                    self.add(where[0], where[1], f"the two ends of the link {host} {ifname} - {link.peer} "
                             f"{back.interface} disagree on the network type ({kinds[port.point_to_point]} "
                             f"and {kinds[peer.point_to_point]})", "link", follow_on=True)

    def backbone(self, proc: OspfProcess) -> None:
        item = proc.item
        areas = {a.area for a in item.value.areas}
        if len(areas) < 2:
            return
        in_area: dict[int, set[str]] = {}
        for port in proc.ports.values():
            in_area.setdefault(port.area, set()).add(port.host)
        backbone = in_area.get(0, set())
        for i, area in enumerate(item.value.areas):
            if area.area == 0:
                continue
            if not in_area.get(area.area, set()) & backbone:
                self.add(item, ("areas", i, "area"), f"area {area.area} is not attached to area 0: no "
                         "router has interfaces in both (an area border router is needed)", "area",
                         follow_on=True)
