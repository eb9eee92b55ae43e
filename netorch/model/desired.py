"""The vendor-neutral desired state of one device: what the compiler produces and
what every template, plan and drift check works from."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from netorch.model.intents import Protocol
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


class DesiredState(Frozen):
    host: str
    platform: Platform
    mgmt_interface: str | None = None
    stateful_filter: bool
    interfaces: tuple[DesiredInterface, ...]
    routes: tuple[DesiredRoute, ...]
    filters: tuple[InterfaceFilter, ...]
    services: tuple[ServiceBinding, ...]
    ipv6_drop: Ipv6Drop | None = None
