"""The routing intent model: OSPF processes, BGP networks and VRFs (intents/*.yaml kinds `ospf`,
`bgp` and `vrfs`). Same conventions as the other intents: frozen, unknown fields are errors,
every object has a name unique within its kind, and every value is checked before it can reach
a template. Session passwords are never part of an intent (they belong in the credentials
store): a `password` field is refused with that reason."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from netorch.model.types import Address, Bool, Frozen, IfName, Name, Prefix, SafeText, strict_int

_RT_RE = re.compile(r"([0-9]{1,10}):([0-9]{1,10})")


def _check_community(value: Any) -> Any:
    """A route distinguisher or route target, written ASN:NN (each part a whole number)."""
    if not isinstance(value, str):
        raise ValueError(f"expected ASN:NN text like 65000:10, got {type(value).__name__} {value!r}")
    match = _RT_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid route distinguisher or target {value!r}: write ASN:NN, e.g. 65000:10")
    asn, number = int(match[1]), int(match[2])
    if not 1 <= asn <= 4294967295:
        raise ValueError(f"{value!r}: the ASN part must be 1-4294967295")
    if number > (65535 if asn > 65535 else 4294967295):
        raise ValueError(f"{value!r}: the number part is too large for that ASN")
    return value


RouteTarget = Annotated[str, BeforeValidator(_check_community)]
Asn = Annotated[int, BeforeValidator(strict_int), Field(ge=1, le=4294967295)]
AreaId = Annotated[int, BeforeValidator(strict_int), Field(ge=0, le=4294967295)]
Cost = Annotated[int, BeforeValidator(strict_int), Field(ge=1, le=65535)]
Count = Annotated[int, BeforeValidator(strict_int), Field(ge=1, le=4294967295)]


def _no_password(data: Any) -> Any:
    if isinstance(data, dict) and any(k in data for k in ("password", "secret", "key")):
        raise ValueError("session passwords never go in intents: netorch takes them from the "
                         "credentials store")
    return data


class Scope(Frozen):
    """Where an entry applies: a host, or every member of a group (exactly one)."""

    host: Name | None = None
    group: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> Scope:
        if (self.host is None) == (self.group is None):
            raise ValueError("name exactly one of host or group")
        return self


class NetworkType(StrEnum):
    POINT_TO_POINT = "point-to-point"
    BROADCAST = "broadcast"


class OspfInterface(Scope):
    """An interface of a host (or of every member of a group) that takes part in an area."""

    interface: IfName
    passive: Bool = False
    cost: Cost | None = None
    network: NetworkType | None = None


class OspfArea(Frozen):
    """An area: its member routers, and which of their interfaces take part."""

    area: AreaId
    hosts: tuple[Name, ...] = ()
    groups: tuple[Name, ...] = ()
    links: Bool = True
    """Every link between two members of this area takes part (active, point-to-point on /30
    and /31 links)."""
    interfaces: tuple[OspfInterface, ...] = ()


class OspfLink(Frozen):
    """Settings of the link(s) between two routers: cost, network type, area."""

    hosts: tuple[Name, Name]
    cost: Cost | None = None
    network: NetworkType | None = None
    area: AreaId | None = None


class Redistribute(Frozen):
    protocol: Literal["connected", "static", "ospf", "bgp"]
    hosts: tuple[Name, ...] = ()
    groups: tuple[Name, ...] = ()
    prefixes: tuple[Prefix, ...] = ()
    """Only these prefixes (and their longer prefixes); every prefix when empty."""


class OspfIntent(Frozen):
    """One OSPF routing domain."""

    name: Name
    description: SafeText | None = None
    areas: tuple[OspfArea, ...] = Field(min_length=1)
    links: tuple[OspfLink, ...] = ()
    router_id_interface: IfName = "lo"
    """The router id is the address of this interface (a loopback) unless `router_ids` names it."""
    router_ids: dict[Name, Address] = Field(default_factory=dict)
    redistribute: tuple[Redistribute, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _no_password(data)


class BgpRouter(Scope):
    asn: Asn


class BgpSession(Frozen):
    """An explicit eBGP session between two routers on a shared link."""

    hosts: tuple[Name, Name]
    description: SafeText | None = None

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _no_password(data)


class BgpOriginate(Scope):
    prefixes: tuple[Prefix, ...] = Field(min_length=1)


class BgpAccept(Scope):
    """What a router accepts from one peer (`from`, a host): these prefixes (with `or_longer`,
    their longer prefixes too), at most `max_prefix` of them."""

    peer: Name = Field(alias="from")
    prefixes: tuple[Prefix, ...] = ()
    or_longer: Bool = False
    max_prefix: Count | None = None


class BgpPreference(Frozen):
    """Prefer the first exit router for these prefixes, then the next ones in order. The compiler
    sets local preference on the exits for prefixes learned from outside the AS, and prepends
    the AS path on the backup exits for prefixes the AS originates."""

    prefixes: tuple[Prefix, ...] = Field(min_length=1)
    exits: tuple[Name, ...] = Field(min_length=2)


class BgpIntent(Frozen):
    """BGP for a set of routers: ASNs, sessions (eBGP from links or named, iBGP loopback to
    loopback), what each router originates and accepts, and path preferences."""

    name: Name
    description: SafeText | None = None
    routers: tuple[BgpRouter, ...] = Field(min_length=1)
    ebgp_links: Bool = True
    """eBGP sessions over every link between two routers of different ASNs."""
    sessions: tuple[BgpSession, ...] = ()
    ibgp: Literal["full-mesh", "route-reflectors", "none"] = "full-mesh"
    route_reflectors: tuple[Name, ...] = ()
    loopback: IfName = "lo"
    """iBGP sessions run between the addresses of this interface."""
    originate: tuple[BgpOriginate, ...] = ()
    accept: tuple[BgpAccept, ...] = ()
    prefer: tuple[BgpPreference, ...] = ()
    redistribute: tuple[Redistribute, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _no_password(data)


class VrfMember(Frozen):
    host: Name
    interface: IfName


class VrfIntent(Frozen):
    """A VRF: its member interfaces, kernel table, route distinguisher and route targets."""

    name: Name
    description: SafeText | None = None
    table: Count
    rd: RouteTarget
    import_targets: tuple[RouteTarget, ...] = Field(default=(), alias="import")
    export_targets: tuple[RouteTarget, ...] = Field(default=(), alias="export")
    members: tuple[VrfMember, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _default(self) -> VrfIntent:
        if self.name == "default":
            raise ValueError("'default' is the default VRF's name: choose another")
        return self
