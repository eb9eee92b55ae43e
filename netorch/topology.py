"""Facts derived from the inventory that validation and compilation share:
connected subnets, adjacency between hosts, group membership. Pure, no I/O."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from netorch.model.inventory import HostView, InventoryView


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
        parent: dict[str, Link] = {}
        seen = {root}
        queue = deque([root])
        while queue:
            node = queue.popleft()
            for link, back in zip(self.links.get(node, []), self._reverse.get(node, []), strict=True):
                if link.peer in seen:
                    continue
                seen.add(link.peer)
                # the peer reaches `node` (towards root) through the reverse link
                parent[link.peer] = back
                queue.append(link.peer)
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
