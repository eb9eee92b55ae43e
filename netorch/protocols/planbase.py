"""The routing plan's values (OSPF processes and ports, BGP networks and sessions, VRFs) and what
every part of the planner shares: problems with file:line and their follow-ons, host and group
resolution, platform support, addresses. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from netorch.errors import Problem
from netorch.model.intents import IntentSet, Sourced
from netorch.model.inventory import InventoryView
from netorch.model.routing import BgpIntent, OspfIntent, Redistribute, Scope, VrfIntent
from netorch.platforms import spec
from netorch.topology import Link, Topology
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


class PlannerBase:
    """What the planner's parts share; every problem found is appended to `problems` with file:line."""

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

    def pair(self, item: Sourced[Any], base: tuple[object, ...], hosts: tuple[str, str], members: Iterable[str],
             outside: str) -> bool:
        """Whether both hosts of an entry naming two (a session, a link) are known and members;
        each that is not is reported at its place (`outside`: what a non-member is)."""
        inside = set(members)
        ok = True
        for j, host in enumerate(hosts):
            if host not in self.inventory.hosts:
                self.unknown(item, (*base, "hosts", j), "host", host)
                ok = False
            elif host not in inside:
                self.add(item, (*base, "hosts", j), f"{host} {outside}", "reference", follow_on=True)
                ok = False
        return ok

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
