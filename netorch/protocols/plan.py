"""Resolve routing intents (OSPF, BGP, VRFs) against the inventory's topology: which interface is in
which area, which routers peer with which, what each router originates and accepts. Validation
reads the problems found on the way; the compiler reads the resolved plan (of valid intents).
Pure, no I/O.

One room of about 700 lines: OSPF areas and costs, BGP sessions and what each peer learns are one
computation whose parts read the same intermediate tables; it is the room the one control-plane
model (routes per router and VRF, read by every layer) will replace."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from netorch.errors import Problem
from netorch.model.intents import IntentSet, Sourced
from netorch.model.inventory import InventoryView
from netorch.model.routing import BgpIntent, NetworkType, OspfIntent, Redistribute, Scope, VrfIntent
from netorch.platforms import spec
from netorch.topology import Link, Topology, interface_hint
from netorch.util import unknown_name


@dataclass
class OspfPort:
    """An interface of a router in an OSPF process."""

    host: str
    interface: str
    area: int
    passive: bool
    cost: int | None
    point_to_point: bool
    network: IPv4Network
    explicit: tuple[Sourced[Any], tuple[object, ...]] | None = None


@dataclass
class OspfProcess:
    item: Sourced[OspfIntent]
    routers: dict[str, set[int]] = field(default_factory=dict)  # host -> areas it is a member of
    ports: dict[tuple[str, str], OspfPort] = field(default_factory=dict)
    router_ids: dict[str, IPv4Address] = field(default_factory=dict)
    redistribute: dict[str, list[Redistribute]] = field(default_factory=dict)
    default_originate: dict[str, str] = field(default_factory=dict)  # host -> "if-present" | "always"

    @property
    def name(self) -> str:
        return self.item.name

    def adjacencies(self, topo: Topology) -> list[tuple[OspfPort, OspfPort, Link]]:
        """Active port pairs joined by a link (each pair once per direction)."""
        out = []
        for (host, ifname), port in sorted(self.ports.items()):
            if port.passive:
                continue
            for link in topo.links.get(host, []):
                if link.interface != ifname:
                    continue
                back = topo.reverse(link)
                peer = self.ports.get((link.peer, back.interface))
                if peer is not None and not peer.passive:
                    out.append((port, peer, link))
        return out


@dataclass
class BgpSessionPlan:
    a: str
    b: str
    kind: str  # "ebgp" | "ibgp"
    a_address: IPv4Address  # the address a peers from (b's neighbour address for a)
    b_address: IPv4Address
    reflector: str | None = None  # for iBGP with route reflectors: the reflector of the pair
    description: str | None = None


@dataclass
class BgpNetwork:
    item: Sourced[BgpIntent]
    asn: dict[str, int] = field(default_factory=dict)
    router_ids: dict[str, IPv4Address] = field(default_factory=dict)
    loopbacks: dict[str, IPv4Address] = field(default_factory=dict)
    loopback_names: dict[str, str] = field(default_factory=dict)
    sessions: list[BgpSessionPlan] = field(default_factory=list)
    originate: dict[str, list[IPv4Network]] = field(default_factory=dict)
    aggregates: dict[str, list[tuple[IPv4Network, bool]]] = field(default_factory=dict)
    # (host, peer) -> (prefixes, or_longer, max_prefix)
    accept: dict[tuple[str, str], tuple[tuple[IPv4Network, ...], bool, int | None]] = field(default_factory=dict)
    redistribute: dict[str, list[Redistribute]] = field(default_factory=dict)

    def peers(self, host: str) -> list[tuple[str, IPv4Address, BgpSessionPlan]]:
        """(peer, peer address, session) of every session of host."""
        out = []
        for s in self.sessions:
            if s.a == host:
                out.append((s.b, s.b_address, s))
            elif s.b == host:
                out.append((s.a, s.a_address, s))
        return out


@dataclass
class RoutingPlan:
    ospf: list[OspfProcess] = field(default_factory=list)
    bgp: list[BgpNetwork] = field(default_factory=list)
    vrfs: dict[str, list[tuple[Sourced[VrfIntent], list[str]]]] = field(default_factory=dict)  # host -> vrfs
    vrf_of_if: dict[tuple[str, str], str] = field(default_factory=dict)

    def ospf_of(self, host: str) -> OspfProcess | None:
        return next((p for p in self.ospf if host in p.routers), None)

    def bgp_of(self, host: str) -> BgpNetwork | None:
        return next((b for b in self.bgp if host in b.asn), None)


class Planner:
    """Builds the RoutingPlan; every problem found is appended to `problems` with file:line."""

    def __init__(self, inventory: InventoryView, intents: IntentSet, topo: Topology) -> None:
        self.inventory = inventory
        self.intents = intents
        self.topo = topo
        self.problems: list[Problem] = []
        # a host or a routing intent left out as invalid: what routers have in common (links,
        # sessions, areas, exits) may fail only because it was left out
        self.partial = bool(inventory.broken or any(kind in ("", "ospf", "bgp", "vrfs")
                                                    for kind, _ in intents.broken))
        # the intents a member of which was left out (an unknown name, a platform that refuses the
        # protocol): file -> their paths (ospf[0])
        self.partial_items: dict[str, set[str]] = {}
        self.follow_ons: list[Problem] = []

    def add(self, item: Sourced[Any], fields: tuple[object, ...], message: str, code: str, *,
            cause: bool = False, follow_on: bool = False) -> None:
        """A problem. `cause`: it leaves part of the intent out; `follow_on`: it is about what
        routers have in common (a member of an area, a session, an exit), and may fail only
        because of a cause: it is reported only when there is none (see found)."""
        problem = Problem(item.file, item.line(*fields), item.path(*fields), message, code)
        if cause:
            self.partial_items.setdefault(item.file, set()).add(item.path())
        (self.follow_ons if follow_on else self.problems).append(problem)

    def found(self) -> list[Problem]:
        """Every problem, but the follow-ons of a cause: those of an intent a member of which was
        left out, and all of them while a host or a routing intent is invalid."""
        if self.partial:
            return list(self.problems)
        return self.problems + [p for p in self.follow_ons
                                if not any(p.path.startswith(root) for root in self.partial_items.get(p.file, ()))]

    def unknown(self, item: Sourced[Any], fields: tuple[object, ...], kind: str, name: str) -> None:
        """An unknown host or group, with "did you mean"; silent for one declared but invalid (its
        own problem is the one reported)."""
        if kind == "host" and not self.inventory.declared(name):
            message = unknown_name("host", name, self.inventory.hosts)
        elif kind == "group" and name not in self.inventory.broken_groups:
            message = unknown_name("group", name, self.inventory.groups)
        else:
            self.partial_items.setdefault(item.file, set()).add(item.path())  # an invalid host or group
            return
        self.add(item, fields, message, "reference", cause=True)

    # -- shared -------------------------------------------------------------------------------
    def members(self, item: Sourced[Any], hosts: Iterable[str], groups: Iterable[str],
                base: tuple[object, ...]) -> list[str]:
        found: set[str] = set()
        for i, host in enumerate(hosts):
            if host in self.inventory.hosts:
                found.add(host)
            else:
                self.unknown(item, (*base, "hosts", i), "host", host)
        for i, group in enumerate(groups):
            if group not in self.inventory.groups:
                self.unknown(item, (*base, "groups", i), "group", group)
            else:
                found.update(self.inventory.members(group))
        return sorted(found)

    def scope(self, item: Sourced[Any], entry: Scope, base: tuple[object, ...]) -> list[str]:
        if entry.host is not None:
            if entry.host not in self.inventory.hosts:
                self.unknown(item, (*base, "host"), "host", entry.host)
                return []
            return [entry.host]
        assert entry.group is not None
        if entry.group not in self.inventory.groups:
            self.unknown(item, (*base, "group"), "group", entry.group)
            return []
        return self.inventory.members(entry.group)

    def supports(self, item: Sourced[Any], fields: tuple[object, ...], host: str, kind: str) -> bool:
        platform = self.inventory.hosts[host].platform
        if kind in spec(platform).protocols:
            return True
        self.add(item, fields, f"{host} is a {platform.value} host: netorch configures no {kind} "
                 f"there (its platform supports: {', '.join(sorted(spec(platform).protocols)) or 'none'})",
                 "platform", cause=True)
        return False

    def address(self, host: str, ifname: str) -> IPv4Address | None:
        """The address of `ifname` on host; when host has no such interface, of its first
        loopback-named interface with a /32 (lo, lo0.0, Loopback0: names differ per platform)."""
        interfaces = self.inventory.hosts[host].data.interfaces
        data = interfaces.get(ifname)
        if data is None:
            data = next((d for n, d in sorted(interfaces.items()) if n.lower().startswith("lo")
                         and d.address is not None and d.address.network.prefixlen == 32), None)
        return data.address.ip if data is not None and data.address is not None else None

    def loopback_name(self, host: str, ifname: str) -> str:
        interfaces = self.inventory.hosts[host].data.interfaces
        if ifname in interfaces:
            return ifname
        return next((n for n, d in sorted(interfaces.items()) if n.lower().startswith("lo")
                     and d.address is not None and d.address.network.prefixlen == 32), ifname)

    def run(self) -> RoutingPlan:
        plan = RoutingPlan()
        for item in self.intents.vrfs:
            self.vrf(plan, item)
        self.check_targets()
        for ospf_item in self.intents.ospf:
            proc = self.ospf(ospf_item)
            taken = [h for h in proc.routers if plan.ospf_of(h) is not None]
            for host in taken:
                self.add(ospf_item, ("areas",), f"{host} is already in OSPF process "
                         f"{plan.ospf_of(host).name!r}: netorch runs one OSPF process per router",  # type: ignore[union-attr]
                         "conflict")
                proc.routers.pop(host)
            plan.ospf.append(proc)
        for bgp_item in self.intents.bgp:
            net = self.bgp(bgp_item, plan)
            taken = [h for h in net.asn if plan.bgp_of(h) is not None]
            for host in taken:
                self.add(bgp_item, ("routers",), f"{host} is already a router of BGP "
                         f"{plan.bgp_of(host).item.name!r}", "conflict")  # type: ignore[union-attr]
            plan.bgp.append(net)
        self.feedback(plan)
        return plan

    # -- VRFs ---------------------------------------------------------------------------------
    def vrf(self, plan: RoutingPlan, item: Sourced[VrfIntent]) -> None:
        vrf = item.value
        per_host: dict[str, list[str]] = {}
        for i, member in enumerate(vrf.members):
            host = self.inventory.hosts.get(member.host)
            if host is None:
                self.unknown(item, ("members", i, "host"), "host", member.host)
                continue
            if not self.supports(item, ("members", i, "host"), member.host, "vrfs"):
                continue
            if member.interface == host.data.mgmt_interface or member.interface not in host.data.interfaces:
                managed = [n for n in host.data.interfaces if n != host.data.mgmt_interface]
                self.add(item, ("members", i, "interface"), f"host {member.host} has no interface "
                         f"{member.interface!r} netorch manages{interface_hint(member.interface, managed)}",
                         "reference")
                continue
            key = (member.host, member.interface)
            other = plan.vrf_of_if.get(key)
            if other is not None and other != vrf.name:
                self.add(item, ("members", i, "interface"), f"{member.host} {member.interface} is "
                         f"already a member of VRF {other!r}", "conflict")
                continue
            plan.vrf_of_if[key] = vrf.name
            per_host.setdefault(member.host, []).append(member.interface)
        for name, ifaces in sorted(per_host.items()):
            for other_item, _ in plan.vrfs.get(name, []):
                if other_item.value.table == vrf.table:
                    self.add(item, ("table",), f"table {vrf.table} is VRF {other_item.name!r}'s on {name} "
                             f"({other_item.file}:{other_item.line('table')})", "conflict")
            plan.vrfs.setdefault(name, []).append((item, sorted(ifaces)))

    def check_targets(self) -> None:
        imported = {rt for item in self.intents.vrfs for rt in item.value.import_targets}
        for item in self.intents.vrfs:
            for i, rt in enumerate(item.value.export_targets):
                if rt not in imported:
                    self.add(item, ("export", i), f"route target {rt} is exported by VRF {item.name!r} "
                             "but no VRF imports it: its routes go nowhere", "reference")

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
            ok = True
            for j, host in enumerate((a, b)):
                if host not in self.inventory.hosts:
                    self.unknown(item, ("links", i, "hosts", j), "host", host)
                    ok = False
                elif host not in proc.routers:
                    self.add(item, ("links", i, "hosts", j), f"{host} is in no area of this process", "reference",
                             follow_on=True)
                    ok = False
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

    # -- BGP ----------------------------------------------------------------------------------
    def bgp(self, item: Sourced[BgpIntent], plan: RoutingPlan) -> BgpNetwork:
        intent = item.value
        net = BgpNetwork(item)
        by_host: dict[str, tuple[int, bool]] = {}  # host -> (asn, from a host entry)
        for i, router in enumerate(intent.routers):
            for host in self.scope(item, router, ("routers", i)):
                if not self.supports(item, ("routers", i), host, "bgp"):
                    continue
                explicit = router.host is not None
                prev = by_host.get(host)
                if prev is not None and prev[1] == explicit and prev[0] != router.asn:
                    self.add(item, ("routers", i, "asn"), f"{host} is given two ASNs ({prev[0]} and "
                             f"{router.asn})", "conflict")
                    continue
                if prev is None or explicit:
                    by_host[host] = (router.asn, explicit)
        net.asn = {h: a for h, (a, _) in sorted(by_host.items())}
        for host in net.asn:
            lo = self.address(host, intent.loopback)
            if lo is not None:
                net.loopbacks[host] = lo
                net.loopback_names[host] = self.loopback_name(host, intent.loopback)
            proc = plan.ospf_of(host)
            rid = proc.router_ids.get(host) if proc is not None else None
            rid = rid or lo
            if rid is None:
                self.add(item, ("loopback",), f"{host} has no address on {intent.loopback} for its "
                         "BGP router id and iBGP sessions", "reference")
                continue
            net.router_ids[host] = rid
        seen: set[frozenset[str]] = set()
        if intent.ebgp_links:
            for host in net.asn:
                for link in self.topo.links.get(host, []):
                    if link.peer in net.asn and net.asn[link.peer] != net.asn[host] and host < link.peer:
                        self.ebgp(net, host, link, None)
                        seen.add(frozenset((host, link.peer)))
        for i, session in enumerate(intent.sessions):
            a, b = session.hosts
            ok = True
            for j, host in enumerate((a, b)):
                if host not in self.inventory.hosts:
                    self.unknown(item, ("sessions", i, "hosts", j), "host", host)
                    ok = False
                elif host not in net.asn:
                    self.add(item, ("sessions", i, "hosts", j), f"{host} is not a router of this BGP "
                             "intent (missing peer: give it an ASN in routers)", "reference", follow_on=True)
                    ok = False
            if not ok:
                continue
            if net.asn[a] == net.asn[b]:
                self.add(item, ("sessions", i, "hosts"), f"{a} and {b} are both in AS {net.asn[a]}: an "
                         "explicit session is eBGP (iBGP sessions follow `ibgp`)", "link")
                continue
            shared = next((lk for lk in self.topo.links.get(a, []) if lk.peer == b), None)
            if shared is None:
                self.add(item, ("sessions", i, "hosts"), f"eBGP neighbour {b} is on no subnet connected "
                         f"to {a}", "next-hop")
                continue
            if frozenset((a, b)) not in seen:
                seen.add(frozenset((a, b)))
                self.ebgp(net, a, shared, session.description)
        self.ibgp(item, net, plan)
        for i, orig in enumerate(intent.originate):
            for host in self.scope(item, orig, ("originate", i)):
                if host not in net.asn:
                    self.add(item, ("originate", i), f"{host} is not a router of this BGP intent", "reference",
                             follow_on=True)
                    continue
                # whether the prefix is in the router's RIB (connected, static, OSPF...) is the
                # control-plane model's to say: validate asks it once the design compiles
                for prefix in orig.prefixes:
                    net.originate.setdefault(host, []).append(prefix)
        for i, agg in enumerate(intent.aggregate):
            for host in self.scope(item, agg, ("aggregate", i)):
                if host not in net.asn:
                    self.add(item, ("aggregate", i), f"{host} is not a router of this BGP intent", "reference",
                             follow_on=True)
                    continue
                for prefix in agg.prefixes:
                    net.aggregates.setdefault(host, []).append((prefix, agg.summary_only))
        for i, acc in enumerate(intent.accept):
            if acc.peer not in self.inventory.hosts:
                self.unknown(item, ("accept", i, "from"), "host", acc.peer)
                continue
            for host in self.scope(item, acc, ("accept", i)):
                if host not in net.asn:
                    self.add(item, ("accept", i), f"{host} is not a router of this BGP intent", "reference",
                             follow_on=True)
                    continue
                if not any(p == acc.peer for p, _, _ in net.peers(host)):
                    self.add(item, ("accept", i, "from"), f"{host} has no BGP session with {acc.peer!r}",
                             "reference", follow_on=True)
                    continue
                net.accept[(host, acc.peer)] = (acc.prefixes, acc.or_longer, acc.max_prefix)
        for i, pref in enumerate(intent.prefer):
            asns = set()
            for j, exit_host in enumerate(pref.exits):
                if exit_host not in self.inventory.hosts:
                    self.unknown(item, ("prefer", i, "exits", j), "host", exit_host)
                    continue
                if exit_host not in net.asn:
                    self.add(item, ("prefer", i, "exits", j), f"{exit_host} is not a router of this BGP "
                             "intent", "reference", follow_on=True)
                    continue
                asns.add(net.asn[exit_host])
                if not any(s.kind == "ebgp" for _, _, s in net.peers(exit_host)):
                    self.add(item, ("prefer", i, "exits", j), f"{exit_host} has no eBGP session: it is no "
                             "exit", "reference", follow_on=True)
            if len(asns) > 1:
                self.add(item, ("prefer", i, "exits"), "the exits of a preference are in one AS", "conflict")
        for i, redis in enumerate(intent.redistribute):
            if redis.protocol == "bgp":
                self.add(item, ("redistribute", i, "protocol"), "BGP cannot redistribute into itself", "feedback")
                continue
            for host in (self.members(item, redis.hosts, redis.groups, ("redistribute", i))
                         if redis.hosts or redis.groups else list(net.asn)):
                if host in net.asn:
                    net.redistribute.setdefault(host, []).append(redis)
        return net

    def _route_hosts(self, item: Sourced[Any]) -> set[str]:
        route = item.value
        hosts = set(route.hosts)
        for group in route.groups:
            hosts.update(self.inventory.members(group))
        return hosts

    def ebgp(self, net: BgpNetwork, host: str, link: Link, description: str | None) -> None:
        local = self.topo.addresses[host][link.interface].ip
        net.sessions.append(BgpSessionPlan(host, link.peer, "ebgp", local, link.peer_address,
                                           description=description))

    def ibgp(self, item: Sourced[BgpIntent], net: BgpNetwork, plan: RoutingPlan) -> None:
        intent = item.value
        if intent.ibgp == "none":
            return
        reflectors = set(intent.route_reflectors)
        for i, name in enumerate(intent.route_reflectors):
            if name not in self.inventory.hosts:
                self.unknown(item, ("route_reflectors", i), "host", name)
            elif name not in net.asn:
                self.add(item, ("route_reflectors", i), f"{name} is not a router of this BGP intent", "reference",
                         follow_on=True)
        if intent.ibgp == "route-reflectors" and not reflectors:
            self.add(item, ("route_reflectors",), "ibgp: route-reflectors needs route_reflectors", "reference")
        by_as: dict[int, list[str]] = {}
        for host, asn in net.asn.items():
            by_as.setdefault(asn, []).append(host)
        for asn, hosts in sorted(by_as.items()):
            for x, a in enumerate(hosts):
                for b in hosts[x + 1:]:
                    rr: str | None = None
                    if intent.ibgp == "route-reflectors":
                        if a not in reflectors and b not in reflectors:
                            continue
                        rr = a if a in reflectors else b
                    la, lb = net.loopbacks.get(a), net.loopbacks.get(b)
                    if la is None or lb is None:
                        continue  # reported with the router ids
                    for host, addr in ((a, la), (b, lb)):
                        if not self.igp_carries(plan, host, addr, a if host == b else b):
                            self.add(item, ("ibgp",), f"iBGP {a} - {b} (AS {asn}): the loopback {addr} of "
                                     f"{host} is carried by no IGP that reaches the other router", "igp",
                                     follow_on=True)
                    net.sessions.append(BgpSessionPlan(a, b, "ibgp", la, lb, reflector=rr))

    def igp_carries(self, plan: RoutingPlan, host: str, address: IPv4Address, other: str) -> bool:
        proc = plan.ospf_of(host)
        if proc is None or other not in proc.routers:
            return False
        for (h, _), port in proc.ports.items():
            if h == host and address in port.network:
                return True
        return any(r.protocol == "connected" and (not r.prefixes or any(address in p for p in r.prefixes))
                   for r in proc.redistribute.get(host, []))

    # -- across protocols ---------------------------------------------------------------------
    def feedback(self, plan: RoutingPlan) -> None:
        for proc in plan.ospf:
            for host, redis in sorted(proc.redistribute.items()):
                if not any(r.protocol == "bgp" for r in redis):
                    continue
                net = plan.bgp_of(host)
                if net is None:
                    continue
                for i, back in enumerate(net.item.value.redistribute):
                    if back.protocol == "ospf" and back in net.redistribute.get(host, []):
                        self.add(net.item, ("redistribute", i), f"{host} redistributes OSPF into BGP and "
                                 f"BGP into OSPF (OSPF {proc.name!r}): routes feed back into their own "
                                 "source", "feedback")

    def router_ids(self, plan: RoutingPlan) -> None:
        """Router ids are unique in an OSPF process and in a BGP network. Two ids taken from
        interface addresses are equal only when one address is on two interfaces: the address plan
        reports that cause, with both places; an id given explicitly is reported here, with both."""
        reported: set[frozenset[str]] = set()
        for proc in plan.ospf:
            owner: dict[IPv4Address, str] = {}
            for host, rid in sorted(proc.router_ids.items()):
                first = owner.setdefault(rid, host)
                if first == host:
                    continue
                places = [self.rid_place(plan, h, None) for h in (first, host)]
                if not any(explicit for _, explicit in places):
                    continue
                reported.add(frozenset((first, host)))
                self.add(proc.item, ("router_ids", host) if host in proc.item.value.router_ids else
                         ("router_id_interface",), f"duplicate router id {rid}: {first} ({places[0][0]}) and "
                         f"{host} ({places[1][0]})", "duplicate")
        for net in plan.bgp:
            bgp_owner: dict[IPv4Address, str] = {}
            for host, rid in sorted(net.router_ids.items()):
                first = bgp_owner.setdefault(rid, host)
                if first == host or frozenset((first, host)) in reported:
                    continue
                places = [self.rid_place(plan, h, net) for h in (first, host)]
                if not any(explicit for _, explicit in places):
                    continue
                self.add(net.item, ("routers",), f"duplicate BGP router id {rid}: {first} "
                         f"({places[0][0]}) and {host} ({places[1][0]})", "duplicate")

    def rid_place(self, plan: RoutingPlan, host: str, net: BgpNetwork | None) -> tuple[str, bool]:
        """Where the router id of host comes from (file:line), and whether it is given explicitly
        (OSPF's router_ids) rather than taken from an interface's address."""
        proc = plan.ospf_of(host)
        if proc is not None and host in proc.item.value.router_ids:
            item = proc.item
            return f"{item.file}:{item.line('router_ids', host)}", True
        if (proc is not None and host in proc.router_ids) or net is None:
            ifname = proc.item.value.router_id_interface if proc is not None else "lo"
        else:
            ifname = net.item.value.loopback
        file, line, _ = self.inventory.locate(host, "interfaces", self.loopback_name(host, ifname), "address")
        return (f"{file}:{line}" if line else file), False


def plan_routing(inventory: InventoryView, intents: IntentSet, topo: Topology,
                 problems: list[Problem] | None = None) -> RoutingPlan:
    """The routing plan; problems (when a list is given) receive what is wrong."""
    memo = topo.routing_plan
    if memo is not None and memo[0] is intents and problems is None:
        return memo[1]  # type: ignore[return-value]
    planner = Planner(inventory, intents, topo)
    plan = planner.run()
    planner.router_ids(plan)
    if problems is not None:
        problems.extend(planner.found())
    topo.routing_plan = (intents, plan)
    return plan
