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
        owner: dict[IPv4Address, tuple[str, str]] = {}
        ends: list[tuple[IPv4Interface, str, str]] = []
        for host in sorted(self.topo.addresses):
            for ifname, iface in sorted(self.topo.addresses[host].items()):
                first = owner.get(iface.ip)
                if first is not None:
                    self.duplicated.add(iface.ip)
                    self.add(host, ifname, f"{iface.ip} is the address of {host} {ifname} and of "
                             f"{first[0]} {first[1]} ({self.at(*first)}): an address belongs to one "
                             "interface", "duplicate")
                    continue
                owner[iface.ip] = (host, ifname)
                kind = special_address(iface)
                if kind is not None:
                    self.add(host, ifname, f"{iface} is the {kind} address of its subnet {iface.network}, "
                             "not a device's: give the interface an address inside it", "address")
                    continue
                ends.append((iface, host, ifname))
        self.subnets(ends)
        return self.problems

    def subnets(self, ends: list[tuple[IPv4Interface, str, str]]) -> None:
        """One host has one interface on a subnet; no subnet lies inside another one."""
        on_link: dict[tuple[str, object], str] = {}
        for iface, host, ifname in ends:
            if iface.network.prefixlen == 32:
                continue
            other = on_link.setdefault((host, iface.network), ifname)
            if other != ifname:
                self.add(host, ifname, f"{host} {ifname} and {host} {other} ({self.at(host, other)}) are both "
                         f"on {iface.network}: one subnet is one link, and a router has one interface on a "
                         "link", "overlap")
        # sorted by first address, then widest first: each subnet is checked against the ones
        # still open (those whose range has not ended), the only ones that can hold it
        ordered = sorted(ends, key=lambda e: (int(e[0].network.network_address), e[0].network.prefixlen))
        open_nets: list[tuple[IPv4Interface, str, str]] = []
        for iface, host, ifname in ordered:
            net = iface.network
            open_nets = [o for o in open_nets if int(o[0].network.broadcast_address) >= int(net.network_address)]
            outer = next((o for o in open_nets if o[0].network != net and net.subnet_of(o[0].network)), None)
            if outer is not None:
                o_iface, o_host, o_ifname = outer
                held = (f"the address {iface.ip}" if net.prefixlen == 32 else f"the subnet {net}")
                self.add(host, ifname, f"{held} of {host} {ifname} lies inside {o_iface.network}, the subnet of "
                         f"{o_host} {o_ifname} ({self.at(o_host, o_ifname)}): two links cannot share "
                         "addresses", "overlap")
            if net.prefixlen < 32:
                open_nets.append((iface, host, ifname))


def address_problems(inventory: InventoryView, topo: Topology) -> tuple[list[Problem], set[IPv4Address]]:
    """The address plan's problems, and the addresses more than one interface holds."""
    plan = AddressPlan(inventory, topo)
    return plan.run(), plan.duplicated
