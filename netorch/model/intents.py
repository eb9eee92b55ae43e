"""The intent model: what operators declare, in intents/*.yaml.

A file may hold any of the top-level lists `routes`, `domains`, `rules`,
`services`, `ospf`, `bgp` and `vrfs` (netorch.model.routing); all files of the
intents folder are merged and every object has a name that is unique within its kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import Field, model_validator

from netorch.model.routing import BgpIntent, OspfIntent, VrfIntent
from netorch.model.types import (
    Address,
    Distance,
    Frozen,
    IfName,
    Name,
    Port,
    PortRange,
    Prefix,
    SafeText,
    Sequence,
)
from netorch.yamlsrc import LocatedDict, line_of


class Protocol(StrEnum):
    ANY = "any"
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"


class Action(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class RouteIntent(Frozen):
    """A static route, bound to hosts and/or groups of the inventory."""

    name: Name
    """Unique name of the route intent."""
    description: SafeText | None = None
    """Free text, rendered as a comment where the platform has them."""
    prefix: Prefix
    """The destination prefix (IPv4)."""
    next_hop: Address | None = None
    """The next-hop address: on a subnet connected to each bound host."""
    interface: IfName | None = None
    """The egress interface (an interface route, or with next_hop: both)."""
    distance: Distance = 1
    """Administrative distance: a higher one is a floating backup of a lower one for the same prefix."""
    vrf: Name | None = None
    """The VRF the route belongs to (a VRF intent declares it); the default VRF when unset."""
    hosts: tuple[Name, ...] = ()
    """The hosts that install the route."""
    groups: tuple[Name, ...] = ()
    """The groups whose every member installs the route."""

    @model_validator(mode="after")
    def _target_and_binding(self) -> RouteIntent:
        if self.next_hop is None and self.interface is None:
            raise ValueError("a route needs a next_hop, an interface, or both")
        if not self.hosts and not self.groups:
            raise ValueError("a route must be bound to at least one host or group")
        return self


class DomainMember(Frozen):
    """An interface of a host, or a subnet connected to a host, that belongs to a domain."""

    host: Name
    """The host the member is on."""
    interface: IfName | None = None
    """An interface of that host: its connected subnet is in the domain."""
    subnet: Prefix | None = None
    """A subnet within one of that host's connected subnets, filtered at that interface (exactly
    one of interface or subnet). A subnet the host reaches only by a static route is not one yet."""

    @model_validator(mode="after")
    def _one_of(self) -> DomainMember:
        if (self.interface is None) == (self.subnet is None):
            raise ValueError("a domain member names exactly one of interface or subnet")
        return self


class DomainIntent(Frozen):
    """A security domain: traffic inside it is allowed, traffic to other domains is not
    unless a rule or a service allows it."""

    name: Name
    """Unique name of the domain."""
    description: SafeText | None = None
    """Free text."""
    members: tuple[DomainMember, ...] = Field(min_length=1)
    """The interfaces and subnets that make up the domain."""


def _check_ports(protocol: Protocol, ports: tuple[PortRange, ...]) -> None:
    if ports and protocol not in (Protocol.TCP, Protocol.UDP):
        raise ValueError(f"ports are only valid with tcp or udp, not {protocol.value}")


class RuleIntent(Frozen):
    """An ordered rule between two domains."""

    name: Name
    """Unique name of the rule."""
    description: SafeText | None = None
    """Free text."""
    sequence: Sequence
    """Order among the rules of the same domain pair: lower first, the first match decides."""
    source: Name = Field(alias="from")
    """The domain the traffic comes from (key `from`)."""
    destination: Name = Field(alias="to")
    """The domain the traffic goes to (key `to`)."""
    protocol: Protocol = Protocol.ANY
    """tcp, udp, icmp or any."""
    ports: tuple[Port, ...] = ()
    """Destination ports or ranges (\"8000-8080\"), only with tcp and udp; every port when empty."""
    action: Action
    """allow or deny."""
    resilient: bool = False
    """netorch verify also proves the rule under every single link and router failure."""

    @model_validator(mode="after")
    def _ports(self) -> RuleIntent:
        _check_ports(self.protocol, self.ports)
        return self


class ServiceIntent(Frozen):
    """A service: providers reachable on protocol/ports by the consumer domains, and no one else."""

    name: Name
    """Unique name of the service."""
    description: SafeText | None = None
    """Free text."""
    providers: tuple[Address, ...] = Field(min_length=1)
    """The addresses that provide the service."""
    protocol: Protocol = Protocol.TCP
    """tcp, udp, icmp or any."""
    ports: tuple[Port, ...] = ()
    """The service's ports (tcp and udp need at least one)."""
    consumers: tuple[Name, ...] = Field(min_length=1)
    """The domains that may reach the providers; no other domain may."""
    probe_from: Name | None = None
    """A router (pushed through napalm) that drift probes the providers from, sourced from its address
    in a consumer domain."""
    resilient: bool = False
    """netorch verify also proves the service under every single link and router failure."""

    @model_validator(mode="after")
    def _ports(self) -> ServiceIntent:
        _check_ports(self.protocol, self.ports)
        if self.protocol in (Protocol.TCP, Protocol.UDP) and not self.ports:
            raise ValueError(f"a {self.protocol.value} service needs at least one port")
        return self


class IntentFile(Frozen):
    """The schema of one intents file."""

    routes: tuple[dict[str, Any], ...] = ()
    domains: tuple[dict[str, Any], ...] = ()
    rules: tuple[dict[str, Any], ...] = ()
    services: tuple[dict[str, Any], ...] = ()
    ospf: tuple[dict[str, Any], ...] = ()
    bgp: tuple[dict[str, Any], ...] = ()
    vrfs: tuple[dict[str, Any], ...] = ()


T = TypeVar("T", bound=Frozen)


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """An intent object together with where it was declared."""

    value: T
    file: str
    node: Any
    loc: tuple[Any, ...]

    @property
    def name(self) -> str:
        return str(getattr(self.value, "name", ""))

    def line(self, *fields: Any) -> int:
        if isinstance(self.node, LocatedDict):
            return line_of(self.node, fields) if fields else self.node.line
        return 0

    def path(self, *fields: Any) -> str:
        from netorch.yamlsrc import format_loc

        return format_loc((*self.loc, *fields))


@dataclass(frozen=True)
class IntentSet:
    """All intents, merged from every file and sorted by name (file order never matters)."""

    routes: tuple[Sourced[RouteIntent], ...]
    domains: tuple[Sourced[DomainIntent], ...]
    rules: tuple[Sourced[RuleIntent], ...]
    services: tuple[Sourced[ServiceIntent], ...]
    files: tuple[str, ...]
    ospf: tuple[Sourced[OspfIntent], ...] = ()
    bgp: tuple[Sourced[BgpIntent], ...] = ()
    vrfs: tuple[Sourced[VrfIntent], ...] = ()
    broken: frozenset[tuple[str, str]] = frozenset()
    """(kind, name) of intents declared but invalid (their problem is reported where it is), and
    ("", file) of files that could not be read whole. Later checks know them by name and stay
    silent about what fails only because of them."""

    def declared(self, kind: str, name: str) -> bool:
        """An intent of that kind ("domains", "vrfs", ...) and name was declared, valid or not."""
        return (kind, name) in self.broken or any(i.name == name for i in getattr(self, kind))

    def counts(self) -> dict[str, int]:
        out = {
            "routes": len(self.routes),
            "domains": len(self.domains),
            "rules": len(self.rules),
            "services": len(self.services),
        }
        # protocol kinds are counted where they are used, so that existing reports keep their shape
        out.update({k: n for k, n in (("ospf", len(self.ospf)), ("bgp", len(self.bgp)),
                                      ("vrfs", len(self.vrfs))) if n})
        return out


KINDS: dict[str, type[Frozen]] = {
    "routes": RouteIntent,
    "domains": DomainIntent,
    "rules": RuleIntent,
    "services": ServiceIntent,
    "ospf": OspfIntent,
    "bgp": BgpIntent,
    "vrfs": VrfIntent,
}
SINGULAR = {"routes": "route", "domains": "domain", "rules": "rule", "services": "service",
            "ospf": "ospf", "bgp": "bgp", "vrfs": "vrf"}
