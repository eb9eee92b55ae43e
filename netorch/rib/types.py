"""The routes of the control-plane model: what one router's RIB holds for one prefix, with the
next hops it forwards to. Pure values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

Protocol = Literal["connected", "static", "ospf", "bgp", "blackhole"]
OspfKind = Literal["intra", "inter", "e1", "e2"]

#: FRR's administrative distances (netorch renders no other); a platform's own table can replace
#: them where the model is asked about a device that is not FRR.
DISTANCE: dict[str, int] = {"connected": 0, "static": 1, "ebgp": 20, "ospf": 110, "ibgp": 200}


@dataclass(frozen=True, order=True)
class NextHop:
    """Where a route sends packets: a gateway on a connected subnet and the interface to it, or
    only an interface (a connected subnet), or neither (a discard route)."""

    address: IPv4Address | None
    interface: str | None

    def __str__(self) -> str:
        if self.address is None:
            return self.interface or "discard"
        return f"{self.address} ({self.interface})" if self.interface else str(self.address)


@dataclass(frozen=True)
class Route:
    """One route as a router's RIB holds it. `via` are the next hops as the protocol names them
    (an iBGP route: the exit's loopback); `next_hops` the resolved ones packets take (ECMP: more
    than one). `selected` is the route the router forwards with for that prefix."""

    prefix: IPv4Network
    protocol: Protocol
    distance: int
    metric: int
    next_hops: tuple[NextHop, ...]
    via: tuple[IPv4Address, ...] = ()
    vrf: str = ""
    selected: bool = False
    origin: str = ""
    """What made it: "connected:eth1", "route:NAME", "ospf:PROCESS", "bgp:ASN" ..."""
    detail: str = ""
    """Protocol detail: OSPF route type (intra, inter, e1, e2); BGP ebgp/ibgp and AS path."""

    @property
    def key(self) -> tuple[str, int, int, int]:
        return (self.vrf, int(self.prefix.network_address), self.prefix.prefixlen, self.distance)


@dataclass
class Rib:
    """One router's routes in one VRF: every candidate per prefix, the selected one first."""

    host: str
    vrf: str = ""
    routes: dict[IPv4Network, list[Route]] = field(default_factory=dict)
    _index: dict[int, dict[int, Route]] | None = field(default=None, repr=False)
    _lengths: list[int] = field(default_factory=list, repr=False)

    def best(self, prefix: IPv4Network) -> Route | None:
        found = self.routes.get(prefix)
        return found[0] if found and found[0].selected else None

    def selected(self) -> list[Route]:
        return [rs[0] for _, rs in sorted(self.routes.items(), key=lambda t: (int(t[0].network_address),
                                                                               t[0].prefixlen))
                if rs and rs[0].selected]

    def lookup(self, address: IPv4Address) -> Route | None:
        """The selected route of the longest prefix holding `address`."""
        if self._index is None:
            index: dict[int, dict[int, Route]] = {}
            for prefix, routes in self.routes.items():
                if routes and routes[0].selected:
                    index.setdefault(prefix.prefixlen, {})[int(prefix.network_address)] = routes[0]
            self._index = index
            self._lengths = sorted(index, reverse=True)
        value = int(address)
        for plen in self._lengths:
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
            found = self._index[plen].get(value & mask)
            if found is not None:
                return found
        return None
