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
        for links in topo.links.values():
            links.sort(key=lambda lk: (lk.peer, int(lk.peer_address)))
        return topo

    def host(self, name: str) -> HostView:
        return self.inventory.hosts[name]

    def connected_interface(self, host: str, address: IPv4Address) -> str | None:
        """The interface of `host` whose subnet holds `address` (not the host's own address)."""
        for ifname, iface in self.addresses.get(host, {}).items():
            if address in iface.network and address != iface.ip and iface.network.prefixlen < 32:
                return ifname
        return None

    def interface_for_subnet(self, host: str, subnet: IPv4Network) -> str | None:
        for ifname, iface in self.addresses.get(host, {}).items():
            if subnet.subnet_of(iface.network):
                return ifname
        return None

    def locate(self, address: IPv4Address) -> list[tuple[str, str]]:
        """(host, interface) pairs whose connected subnet holds `address`, sorted."""
        found = []
        for network, ends in self.attached.items():
            if address in network:
                found.extend(ends)
        return sorted(found)

    def tree(self, root: str) -> dict[str, Link]:
        """Shortest-path tree towards `root`: for each host, the link to its next hop.

        Breadth-first over links sorted by peer name, so the result is deterministic."""
        parent: dict[str, Link] = {}
        seen = {root}
        queue = deque([root])
        while queue:
            node = queue.popleft()
            for link in self.links.get(node, []):
                if link.peer in seen:
                    continue
                seen.add(link.peer)
                # the peer reaches `node` (towards root) through the reverse link
                back = next(
                    lk for lk in self.links[link.peer] if lk.peer == node and lk.network == link.network
                )
                parent[link.peer] = back
                queue.append(link.peer)
        return parent

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
    (attached to dst_host) and back, along shortest paths; None when no path exists."""
    if src_host == dst_host:
        return []
    forward_tree = topo.tree(dst_host)
    forward = topo.path(forward_tree, src_host, dst_host)
    backward_tree = topo.tree(src_host)
    backward = topo.path(backward_tree, dst_host, src_host)
    if forward is None or backward is None:
        return None
    out = [GeneratedRoute(lk.local, dst_prefix, lk.peer_address, lk.interface) for lk in forward]
    out += [GeneratedRoute(lk.local, src_subnet, lk.peer_address, lk.interface) for lk in backward]
    return out
