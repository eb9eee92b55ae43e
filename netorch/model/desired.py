"""The vendor-neutral desired state of one device: what the compiler produces and
what every template, plan and drift check works from."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from netorch.model.intents import Protocol
from netorch.model.ownership import DEFAULT as DEFAULT_OWNERSHIP
from netorch.model.ownership import Ownership
from netorch.model.types import Frozen, PortRange
from netorch.platforms import Platform


class FilterAction(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"


class DesiredInterface(Frozen):
    name: str
    address: IPv4Interface | None = None
    description: str | None = None
    enabled: bool = True
    domain: str | None = None
    vrf: str | None = None


class DesiredRoute(Frozen):
    prefix: IPv4Network
    next_hop: IPv4Address | None = None
    interface: str | None = None
    distance: int = 1
    vrf: str | None = None
    origin: str

    def key(self) -> tuple[str, int, int, int, int, str]:
        """Sort order in rendered configs: VRF, prefix (numerically), distance, next hop, interface."""
        return (
            self.vrf or "",
            int(self.prefix.network_address),
            self.prefix.prefixlen,
            self.distance,
            int(self.next_hop) if self.next_hop is not None else -1,
            self.interface or "",
        )


class FilterRule(Frozen):
    """One ordered filter rule. Empty sources/destinations mean any; ports are
    destination ports, or source ports for a reply rule of a stateless filter."""

    action: FilterAction
    protocol: Protocol = Protocol.ANY
    sources: tuple[IPv4Network, ...] = ()
    destinations: tuple[IPv4Network, ...] = ()
    ports: tuple[PortRange, ...] = ()
    reply: bool = False
    origin: str
    """What made it: "rule:NAME", "service:NAME", or DEFAULT_ORIGIN + the domain for a domain's
    default action."""


#: the origin prefix of the filter entries a domain's default action compiles into
DEFAULT_ORIGIN = "default:"


class InterfaceFilter(Frozen):
    """The filter of traffic entering ("in": from the domain) or leaving ("out": towards
    the domain) a domain member interface. Traffic a rule does not match is accepted:
    the rules end with the drop towards/from every other domain."""

    name: str
    interface: str
    domain: str
    direction: Literal["in", "out"]
    rules: tuple[FilterRule, ...]


class Ipv6Drop(Frozen):
    """netorch manages IPv4 only: IPv6 forwarded into or out of these domain member interfaces
    is dropped (link-local traffic, such as neighbour discovery, is not forwarded and stays
    allowed where a platform's filter also sees traffic to the device itself). `name` names the
    filter on platforms with named filters."""

    name: str
    interfaces: tuple[str, ...]


class ServiceBinding(Frozen):
    service: str
    role: Literal["consumer-edge", "provider-edge", "transit"]
    providers: tuple[IPv4Address, ...]
    protocol: Protocol
    ports: tuple[PortRange, ...]
    consumers: tuple[str, ...]


class OspfInterface(Frozen):
    """An interface in OSPF: its area, cost, network type; passive ones advertise their subnet
    and form no adjacency."""

    name: str
    area: int
    cost: int | None = None
    point_to_point: bool = False
    passive: bool = False


class Redistribution(Frozen):
    protocol: Literal["connected", "static", "ospf", "bgp"]
    route_map: str | None = None


class OspfNeighbor(Frozen):
    """An intended adjacency: the neighbour's router id, seen on `interface`."""

    router_id: IPv4Address
    interface: str
    peer: str
    area: int


class DesiredOspf(Frozen):
    process: str
    router_id: IPv4Address
    interfaces: tuple[OspfInterface, ...]
    redistribute: tuple[Redistribution, ...] = ()
    default_originate: Literal["", "if-present", "always"] = ""
    """default-information originate: none, while the router has a default route, or always."""
    neighbors: tuple[OspfNeighbor, ...] = ()


class PrefixListEntry(Frozen):
    sequence: int
    action: Literal["permit", "deny"]
    prefix: IPv4Network
    le: int | None = None


class PrefixList(Frozen):
    name: str
    entries: tuple[PrefixListEntry, ...]


class RouteMapEntry(Frozen):
    sequence: int
    action: Literal["permit", "deny"]
    match_prefix_list: str | None = None
    local_preference: int | None = None
    prepend: tuple[int, ...] = ()


class RouteMap(Frozen):
    name: str
    entries: tuple[RouteMapEntry, ...]


class BgpNeighbor(Frozen):
    """One BGP session as the local router configures it."""

    address: IPv4Address
    remote_as: int
    peer: str
    kind: Literal["ebgp", "ibgp"]
    update_source: str | None = None
    next_hop_self: bool = False
    reflector_client: bool = False
    default_originate: bool = False
    max_prefix: int | None = None
    prefix_list_in: str | None = None
    prefix_list_out: str | None = None
    route_map_in: str | None = None
    route_map_out: str | None = None
    accepted: tuple[IPv4Network, ...] = ()
    """The prefixes this session is meant to bring in (for the state checks)."""


class BgpAggregate(Frozen):
    prefix: IPv4Network
    summary_only: bool = False


class DesiredBgp(Frozen):
    asn: int
    router_id: IPv4Address
    neighbors: tuple[BgpNeighbor, ...]
    networks: tuple[IPv4Network, ...] = ()
    aggregates: tuple[BgpAggregate, ...] = ()
    redistribute: tuple[Redistribution, ...] = ()


class DesiredVrf(Frozen):
    """A VRF of the device (Linux: a VRF device bound to `table`) with its member interfaces;
    with BGP, its routes are exchanged by route targets."""

    name: str
    table: int
    rd: str
    import_targets: tuple[str, ...]
    export_targets: tuple[str, ...]
    interfaces: tuple[str, ...]


class ExpectedRoute(Frozen):
    """A route a protocol is meant to install on this device (apply's verify and drift check it)."""

    prefix: IPv4Network
    protocol: Literal["ospf", "bgp"]
    vrf: str | None = None
    next_hops: tuple[IPv4Address, ...] = ()
    """The intended next hops, best first (empty: any)."""
    origin: str


class DesiredState(Frozen):
    host: str
    platform: Platform
    mgmt_interface: str | None = None
    ownership: Ownership = DEFAULT_OWNERSHIP
    stateful_filter: bool
    interfaces: tuple[DesiredInterface, ...]
    routes: tuple[DesiredRoute, ...]
    filters: tuple[InterfaceFilter, ...]
    services: tuple[ServiceBinding, ...]
    ipv6_drop: Ipv6Drop | None = None
    ospf: DesiredOspf | None = None
    bgp: DesiredBgp | None = None
    prefix_lists: tuple[PrefixList, ...] = ()
    route_maps: tuple[RouteMap, ...] = ()
    vrfs: tuple[DesiredVrf, ...] = ()
    expected_routes: tuple[ExpectedRoute, ...] = ()
