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
    description: SafeText | None = None
    prefix: Prefix
    next_hop: Address | None = None
    interface: IfName | None = None
    distance: Distance = 1
    vrf: Name | None = None
    hosts: tuple[Name, ...] = ()
    groups: tuple[Name, ...] = ()

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
    interface: IfName | None = None
    subnet: Prefix | None = None

    @model_validator(mode="after")
    def _one_of(self) -> DomainMember:
        if (self.interface is None) == (self.subnet is None):
            raise ValueError("a domain member names exactly one of interface or subnet")
        return self


class DomainIntent(Frozen):
    """A security domain: traffic inside it is allowed, traffic to other domains is not
    unless a rule or a service allows it."""

    name: Name
    description: SafeText | None = None
    members: tuple[DomainMember, ...] = Field(min_length=1)


def _check_ports(protocol: Protocol, ports: tuple[PortRange, ...]) -> None:
    if ports and protocol not in (Protocol.TCP, Protocol.UDP):
        raise ValueError(f"ports are only valid with tcp or udp, not {protocol.value}")


class RuleIntent(Frozen):
    """An ordered rule between two domains."""

    name: Name
    description: SafeText | None = None
    sequence: Sequence
    source: Name = Field(alias="from")
    destination: Name = Field(alias="to")
    protocol: Protocol = Protocol.ANY
    ports: tuple[Port, ...] = ()
    action: Action
    resilient: bool = False  # netorch verify re-checks it under every single link and router failure

    @model_validator(mode="after")
    def _ports(self) -> RuleIntent:
        _check_ports(self.protocol, self.ports)
        return self


class ServiceIntent(Frozen):
    """A service: providers reachable on protocol/ports by the consumer domains, and no one else."""

    name: Name
    description: SafeText | None = None
    providers: tuple[Address, ...] = Field(min_length=1)
    protocol: Protocol = Protocol.TCP
    ports: tuple[Port, ...] = ()
    consumers: tuple[Name, ...] = Field(min_length=1)
    probe_from: Name | None = None
    resilient: bool = False  # netorch verify re-checks it under every single link and router failure

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
