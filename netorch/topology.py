"""Facts derived from the inventory that validation and compilation share:
connected subnets, adjacency between hosts, group membership, domain members, and the
forwarding that a set of routes makes hop by hop. Pure, no I/O."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from netorch.errors import Problem
from netorch.model.desired import DesiredRoute
from netorch.model.intents import DomainIntent, RouteIntent, Sourced
from netorch.model.inventory import HostView, InventoryView
from netorch.util import unknown_name


@dataclass(frozen=True)
class Link:
    """Host `local` reaches host `peer` over `interface`, the peer's address being `peer_address`."""

    local: str
    interface: str
    peer: str
    peer_address: IPv4Address
    network: IPv4Network


@dataclass
class Topology:
    inventory: InventoryView
    # host -> interface -> address (only interfaces with an address, mgmt excluded)
    addresses: dict[str, dict[str, IPv4Interface]] = field(default_factory=dict)
    links: dict[str, list[Link]] = field(default_factory=dict)
    # network -> list of (host, interface) attached to it
    attached: dict[IPv4Network, list[tuple[str, str]]] = field(default_factory=dict)
    # indexes, built once: prefix length -> network address (int) -> network; reverse links;
    # shortest-path trees per root
    _by_len: dict[int, dict[int, IPv4Network]] = field(default_factory=dict)
    _reverse: dict[str, list[Link]] = field(default_factory=dict)  # aligned with links[host]
    _trees: dict[str, dict[str, Link]] = field(default_factory=dict)
    _connected: dict[tuple[str, int], str | None] = field(default_factory=dict)
    _by_key: dict[tuple[str, str, int, int], Link] = field(default_factory=dict)
    _component: dict[str, int] = field(default_factory=dict)
    _adjacency: dict[str, list[tuple[str, Link]]] = field(default_factory=dict)
    # the routes compiled for one intent set (validation follows them, compilation renders them)
    compiled_routes: tuple[object, dict[str, list[DesiredRoute]]] | None = None
    # the routing plan (netorch.protocols.plan) of one intent set
    routing_plan: tuple[object, object] | None = None
    # the compiled desired states of one intent set and their control-plane model (netorch.rib)
    compiled_states: tuple[object, object, object] | None = None
    # the protocol sections (netorch.protocols.compile) of one intent set
    compiled_routing: tuple[object, object] | None = None

    @classmethod
    def build(cls, inventory: InventoryView) -> Topology:
        topo = cls(inventory)
        for host in (inventory.hosts[n] for n in sorted(inventory.hosts)):
            addrs: dict[str, IPv4Interface] = {}
            for ifname in sorted(host.data.interfaces):
                data = host.data.interfaces[ifname]
                if ifname == host.data.mgmt_interface or data.address is None:
                    continue
                addrs[ifname] = data.address
                if data.address.network.prefixlen < 32:
                    topo.attached.setdefault(data.address.network, []).append((host.name, ifname))
            topo.addresses[host.name] = addrs
            topo.links[host.name] = []
        for network, ends in sorted(topo.attached.items()):
            for local, ifname in ends:
                for peer, peer_if in ends:
                    if peer == local:
                        continue
                    peer_addr = topo.addresses[peer][peer_if].ip
                    topo.links[local].append(Link(local, ifname, peer, peer_addr, network))
        by_key = topo._by_key
        for links in topo.links.values():
            links.sort(key=lambda lk: (lk.peer, int(lk.peer_address)))
            for lk in links:
                key = (lk.local, lk.peer, int(lk.network.network_address), lk.network.prefixlen)
                by_key.setdefault(key, lk)
        for name, links in topo.links.items():
            topo._reverse[name] = [by_key[(lk.peer, name, int(lk.network.network_address), lk.network.prefixlen)]
                                   for lk in links]
        for network in topo.attached:
            topo._by_len.setdefault(network.prefixlen, {})[int(network.network_address)] = network
        return topo

    def host(self, name: str) -> HostView:
        return self.inventory.hosts[name]

    def connected_interface(self, host: str, address: IPv4Address) -> str | None:
        """The interface of `host` whose subnet holds `address` (not the host's own address)."""
        key = (host, int(address))
        if key in self._connected:
            return self._connected[key]
        found = None
        for ifname, iface in self.addresses.get(host, {}).items():
            if address in iface.network and address != iface.ip and iface.network.prefixlen < 32:
                found = ifname
                break
        self._connected[key] = found
        return found

    def interface_for_subnet(self, host: str, subnet: IPv4Network) -> str | None:
        for ifname, iface in self.addresses.get(host, {}).items():
            if subnet.subnet_of(iface.network):
                return ifname
        return None

    def locate(self, address: IPv4Address) -> list[tuple[str, str]]:
        """(host, interface) pairs whose connected subnet holds `address`, sorted."""
        found: list[tuple[str, str]] = []
        value = int(address)
        for plen, networks in self._by_len.items():
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
            network = networks.get(value & mask)
            if network is not None:
                found.extend(self.attached[network])
        return sorted(found)

    def tree(self, root: str) -> dict[str, Link]:
        """Shortest-path tree towards `root`: for each host, the link to its next hop.

        Breadth-first over links sorted by peer name, so the result is deterministic."""
        cached = self._trees.get(root)
        if cached is not None:
            return cached
        adjacency = self._adjacency
        if not adjacency:  # per host: (peer, the link back from the peer), in links' order
            for name, links in self.links.items():
                adjacency[name] = [(lk.peer, back) for lk, back in zip(links, self._reverse[name], strict=True)]
        parent: dict[str, Link] = {}
        seen = {root}
        queue = [root]
        for node in queue:  # grows while it is read: breadth first
            for peer, back in adjacency.get(node, ()):
                if peer not in seen:
                    seen.add(peer)
                    # the peer reaches `node` (towards root) through the reverse link
                    parent[peer] = back
                    queue.append(peer)
        self._trees[root] = parent
        return parent

    def reverse(self, link: Link) -> Link:
        """The same link seen from the other end."""
        return self._by_key[(link.peer, link.local, int(link.network.network_address), link.network.prefixlen)]

    def reachable(self, a: str, b: str) -> bool:
        """Whether a path of links joins hosts a and b (connected components, computed once)."""
        if not self._component:
            label = 0
            for start in sorted(self.links):
                if start in self._component:
                    continue
                label += 1
                self._component[start] = label
                queue = deque([start])
                while queue:
                    node = queue.popleft()
                    for link in self.links.get(node, []):
                        if link.peer not in self._component:
                            self._component[link.peer] = label
                            queue.append(link.peer)
        return a == b or (a in self._component and self._component.get(a) == self._component.get(b))

    def path(self, tree: dict[str, Link], start: str, root: str) -> list[Link] | None:
        """Links from `start` to `root` along a tree made by `tree(root)`; None if unreachable."""
        hops: list[Link] = []
        node = start
        while node != root:
            link = tree.get(node)
            if link is None:
                return None
            hops.append(link)
            node = link.peer
        return hops


@dataclass(frozen=True)
class GeneratedRoute:
    host: str
    prefix: IPv4Network
    next_hop: IPv4Address
    interface: str


def routes_between(
    topo: Topology, src_host: str, src_subnet: IPv4Network, dst_host: str, dst_prefix: IPv4Network
) -> list[GeneratedRoute] | None:
    """Routes that carry traffic from `src_subnet` (attached to src_host) to `dst_prefix`
    (attached to dst_host) along a shortest path, and back along the same path (symmetric, as
    stateful filters want it); None when no path exists."""
    if src_host == dst_host:
        return []
    forward = topo.path(topo.tree(dst_host), src_host, dst_host)
    if forward is None:
        return None
    out = [GeneratedRoute(lk.local, dst_prefix, lk.peer_address, lk.interface) for lk in forward]
    for lk in reversed(forward):
        back = topo.reverse(lk)
        out.append(GeneratedRoute(back.local, src_subnet, back.peer_address, back.interface))
    return out


@dataclass(frozen=True)
class DomainSubnet:
    domain: str
    host: str
    interface: str
    subnet: IPv4Network


def interface_hint(name: str, interfaces: Iterable[str]) -> str:
    """"; did you mean 'eth1'? (interfaces: eth1, eth2, lo)" for an interface a host does not have."""
    return unknown_name("interface", name, interfaces).removeprefix(f"unknown interface {name!r}")


def route_hosts(route: RouteIntent, inventory: InventoryView) -> list[str]:
    """The hosts a route binds to (known hosts, members of its groups), sorted; memoised per
    inventory, since many routes share the same hosts and groups."""
    memo: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = inventory.__dict__.setdefault("_binds", {})
    key = (route.hosts, route.groups)
    found = memo.get(key)
    if found is None:
        hosts = {h for h in route.hosts if h in inventory.hosts}
        for group in route.groups:
            hosts.update(inventory.members(group))
        found = memo[key] = sorted(hosts)
    return found


def domain_subnets(
    domain: Sourced[DomainIntent], topo: Topology, problems: list[Problem] | None = None
) -> list[DomainSubnet]:
    """Resolve a domain's members to (host, interface, subnet); report bad members."""

    def bad(index: int, field: str, message: str) -> None:
        if problems is not None:
            problems.append(Problem(domain.file, domain.line("members", index, field),
                                    domain.path("members", index, field), message, "reference"))

    out: list[DomainSubnet] = []
    inventory = topo.inventory
    for i, member in enumerate(domain.value.members):
        host = inventory.hosts.get(member.host)
        if host is None:
            if not inventory.declared(member.host):  # a broken host: its own problem says why
                bad(i, "host", unknown_name("host", member.host, inventory.hosts))
            continue
        if member.interface is not None:
            if member.interface == host.data.mgmt_interface:
                bad(i, "interface", f"{member.interface} is the management interface of "
                    f"{member.host}; netorch does not manage it")
                continue
            data = host.data.interfaces.get(member.interface)
            if data is None:
                bad(i, "interface", f"host {member.host} has no interface {member.interface!r}"
                    f"{interface_hint(member.interface, host.data.interfaces)}")
                continue
            if data.address is None:
                bad(i, "interface", f"interface {member.host} {member.interface} has no address")
                continue
            out.append(DomainSubnet(domain.name, member.host, member.interface, data.address.network))
        elif member.subnet is not None:
            ifname = topo.interface_for_subnet(member.host, member.subnet)
            if ifname is None:
                bad(i, "subnet", f"subnet {member.subnet} is connected to no interface of {member.host}")
                continue
            out.append(DomainSubnet(domain.name, member.host, ifname, member.subnet))
    return out


# -- forwarding, hop by hop ---------------------------------------------------------------------
@dataclass(frozen=True)
class Hop:
    """A router on a packet's way and the route it used ("route:NAME", "service:NAME")."""

    host: str
    origin: str


@dataclass(frozen=True)
class Trace:
    """Where a packet goes: delivered (onto a connected subnet or an interface route's link),
    dropped (`host` has no route), out (a next hop outside the inventory) or a loop (the hops
    from the first visit of `host` on form the cycle)."""

    outcome: Literal["delivered", "no-route", "out", "loop"]
    hops: tuple[Hop, ...]
    host: str

    def cycle(self) -> tuple[Hop, ...]:
        first = next(i for i, hop in enumerate(self.hops) if hop.host == self.host)
        return self.hops[first:]


class Forwarding:
    """Longest-prefix-match forwarding over connected subnets and per-host routes (per VRF;
    interfaces are in the default VRF in netorch's model, their subnets are connected in every
    table). Traces are memoised per (host, VRF, destination)."""

    def __init__(self, topo: Topology, routes: Mapping[str, Iterable[DesiredRoute]]) -> None:
        self.topo = topo
        # host -> vrf -> prefix length -> network (int) -> best route (lowest distance)
        self.tables: dict[str, dict[str, dict[int, dict[int, DesiredRoute]]]] = {}
        for host, rs in routes.items():
            tables = self.tables.setdefault(host, {})
            for r in rs:
                by_len = tables.setdefault(r.vrf or "", {}).setdefault(r.prefix.prefixlen, {})
                key = int(r.prefix.network_address)
                best = by_len.get(key)
                if best is None or r.distance < best.distance:
                    by_len[key] = r
        self._lengths = {(h, v): sorted(t, reverse=True) for h, vt in self.tables.items() for v, t in vt.items()}
        self.owner = {iface.ip: host for host, addrs in topo.addresses.items() for iface in addrs.values()}
        self._subnets = {host: [(int(i.network.network_address), int(i.network.netmask)) for i in addrs.values()]
                         for host, addrs in topo.addresses.items()}
        self._memo: dict[tuple[str, str, int], Trace] = {}

    def lookup(self, host: str, vrf: str, dst: IPv4Address) -> DesiredRoute | None:
        table = self.tables.get(host, {}).get(vrf)
        if not table:
            return None
        value = int(dst)
        for plen in self._lengths[(host, vrf)]:
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
            found = table[plen].get(value & mask)
            if found is not None:
                return found
        return None

    def connected(self, host: str, dst: IPv4Address) -> bool:
        value = int(dst)
        return any(value & mask == net for net, mask in self._subnets.get(host, ()))

    def next_host(self, host: str, route: DesiredRoute) -> str | None:
        """The inventory host a route hands packets to; None when it hands them to the link
        (an interface route) or to an address outside the inventory."""
        if route.next_hop is None or self.topo.connected_interface(host, route.next_hop) is None:
            return None
        return self.owner.get(route.next_hop)

    def trace(self, host: str, dst: IPv4Address, vrf: str = "", first: DesiredRoute | None = None) -> Trace:
        """Follow a packet for `dst` that is at `host`, which uses route `first` when given
        (e.g. a backup) and its best route otherwise; every later router uses its best route."""
        hops: list[Hop] = []
        seen: set[str] = set()
        node, route = host, first
        while True:
            if node in seen:
                return Trace("loop", tuple(hops), node)
            if route is None:
                memo = self._memo.get((node, vrf, int(dst)))
                if memo is not None:
                    back = next((i for i, h in enumerate(memo.hops) if h.host in seen), None)
                    if back is not None:
                        return Trace("loop", (*hops, *memo.hops[:back]), memo.hops[back].host)
                    result = Trace(memo.outcome, (*hops, *memo.hops), memo.host)
                    break
                if self.connected(node, dst):
                    result = Trace("delivered", tuple(hops), node)
                    break
                route = self.lookup(node, vrf, dst)
                if route is None:
                    result = Trace("no-route", tuple(hops), node)
                    break
            seen.add(node)
            hops.append(Hop(node, route.origin))
            nxt = self.next_host(node, route)
            if nxt is None:
                result = Trace("delivered" if route.next_hop is None else "out", tuple(hops), node)
                break
            node, route = nxt, None
        # every router on the way used its best route (the first one too, unless told otherwise)
        memo_of = self._memo
        value = int(dst)
        for i in range(0 if first is None else 1, len(result.hops)):
            key = (result.hops[i].host, vrf, value)
            if key not in memo_of:
                memo_of[key] = Trace(result.outcome, result.hops[i:], result.host)
        if first is None and not result.hops:
            memo_of.setdefault((host, vrf, value), result)
        return result
