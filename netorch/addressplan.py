"""The address plan of the whole inventory: every interface address belongs to one interface, is
a device's (not its subnet's network or broadcast address), and every subnet is one link (one
host has one interface on it; no link's subnet lies inside another's). Each problem names both
places, file:line. Pure, no I/O.

A subnet shared by several hosts is one link (a point-to-point link or a broadcast segment):
the inventory says nothing else about cabling, so two links that share a subnet show as one
address held twice, a third address on a /30, or one host with two interfaces on it."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

from netorch.errors import Problem
from netorch.model.inventory import InventoryView
from netorch.topology import Topology


def special_address(iface: IPv4Interface) -> str | None:
    """"network" or "broadcast" when the interface's address is that of its own subnet (on
    subnets that have them: /30 and shorter)."""
    net = iface.network
    if net.prefixlen > 30:
        return None
    if iface.ip == net.network_address:
        return "network"
    if iface.ip == net.broadcast_address:
        return "broadcast"
    return None


class AddressPlan:
    """The checks over every interface address of the inventory."""

    def __init__(self, inventory: InventoryView, topo: Topology) -> None:
        self.inventory = inventory
        self.topo = topo
        self.problems: list[Problem] = []
        self.duplicated: set[IPv4Address] = set()
        """Addresses held by more than one interface (reported here: what derives from them, a
        router id, is their follow-on)."""

    def where(self, host: str, ifname: str) -> tuple[str, int, str]:
        return self.inventory.locate(host, "interfaces", ifname, "address")

    def at(self, host: str, ifname: str) -> str:
        file, line, _ = self.where(host, ifname)
        return f"{file}:{line}" if line else file

    def add(self, host: str, ifname: str, message: str, code: str) -> None:
        file, line, path = self.where(host, ifname)
        self.problems.append(Problem(file, line, path, message, code))

    def run(self) -> list[Problem]:
        # in integers: a large inventory has tens of thousands of interfaces
        owner: dict[int, tuple[str, str]] = {}
        ends: list[tuple[int, int, int, str, str]] = []  # (network, broadcast, prefix length, host, interface)
        for host, addresses in self.topo.addresses.items():  # built in name order, hosts and interfaces
            for ifname, iface in addresses.items():
                ip = int(iface)
                first = owner.get(ip)
                if first is not None:
                    self.duplicated.add(iface.ip)
                    self.add(host, ifname, f"{iface.ip} is the address of {host} {ifname} and of "
                             f"{first[0]} {first[1]} ({self.at(*first)}): an address belongs to one "
                             "interface", "duplicate")
                    continue
                owner[ip] = (host, ifname)
                plen = iface.network.prefixlen
                mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
                net, bcast = ip & mask, (ip & mask) | (~mask & 0xFFFFFFFF)
                if plen <= 30 and ip in (net, bcast):
                    self.add(host, ifname, f"{iface} is the {special_address(iface)} address of its subnet "
                             f"{iface.network}, not a device's: give the interface an address inside it", "address")
                    continue
                ends.append((net, bcast, plen, host, ifname))
        self.subnets(ends)
        return self.problems

    def subnets(self, ends: list[tuple[int, int, int, str, str]]) -> None:
        """One host has one interface on a subnet; no subnet lies inside another one."""
        on_link: dict[tuple[str, int, int], str] = {}
        for net, _, plen, host, ifname in ends:
            if plen == 32:
                continue
            other = on_link.setdefault((host, net, plen), ifname)
            if other != ifname:
                self.add(host, ifname, f"{host} {ifname} and {host} {other} ({self.at(host, other)}) are both "
                         f"on {self.network(host, ifname)}: one subnet is one link, and a router has one "
                         "interface on a link", "overlap")
        # sorted by first address, then widest first: the subnets still open (whose range has not
        # ended) all start at or before this one; one of them holds it when its prefix is shorter
        open_nets: list[tuple[int, int, int, str, str]] = []
        for end in sorted(ends):
            net, _, plen, host, ifname = end
            open_nets = [o for o in open_nets if o[1] >= net]
            outer = next((o for o in open_nets if o[2] < plen), None)
            if outer is not None:
                _, _, _, o_host, o_ifname = outer
                held = (f"the address {self.topo.addresses[host][ifname].ip}" if plen == 32
                        else f"the subnet {self.network(host, ifname)}")
                self.add(host, ifname, f"{held} of {host} {ifname} lies inside {self.network(o_host, o_ifname)}, "
                         f"the subnet of {o_host} {o_ifname} ({self.at(o_host, o_ifname)}): two links cannot "
                         "share addresses", "overlap")
            if plen < 32:
                open_nets.append(end)

    def network(self, host: str, ifname: str) -> str:
        return str(self.topo.addresses[host][ifname].network)


def address_problems(inventory: InventoryView, topo: Topology) -> tuple[list[Problem], set[IPv4Address]]:
    """The address plan's problems, and the addresses more than one interface holds."""
    plan = AddressPlan(inventory, topo)
    return plan.run(), plan.duplicated
