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
    """One host."""
    group: Name | None = None
    """Every member of a group (exactly one of host or group)."""

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
    """The interface's name on the host."""
    passive: Bool = False
    """Advertise its subnet, form no adjacency on it."""
    cost: Cost | None = None
    """The OSPF cost of the interface."""
    network: NetworkType | None = None
    """point-to-point or broadcast."""


class OspfArea(Frozen):
    """An area: its member routers, and which of their interfaces take part."""

    area: AreaId
    """The area id (a number or dotted quad, 0 is the backbone)."""
    hosts: tuple[Name, ...] = ()
    """Member routers."""
    groups: tuple[Name, ...] = ()
    """Groups whose members are member routers."""
    links: Bool = True
    """Every link between two members of this area takes part (active, point-to-point on /30
    and /31 links)."""
    interfaces: tuple[OspfInterface, ...] = ()
    """Further interfaces of the members that take part (stub subnets, loopbacks), with their settings."""


class OspfLink(Frozen):
    """Settings of the link(s) between two routers: cost, network type, area."""

    hosts: tuple[Name, Name]
    """The two routers at the ends of the link(s)."""
    cost: Cost | None = None
    """The cost on both ends."""
    network: NetworkType | None = None
    """point-to-point or broadcast."""
    area: AreaId | None = None
    """The area of the link, when its ends are in several."""


class Redistribute(Frozen):
    protocol: Literal["connected", "static", "ospf", "bgp"]
    """What is redistributed: connected, static, ospf or bgp routes."""
    hosts: tuple[Name, ...] = ()
    """The routers that redistribute (every router of the intent when hosts and groups are empty)."""
    groups: tuple[Name, ...] = ()
    """Groups whose members redistribute."""
    prefixes: tuple[Prefix, ...] = ()
    """Only these prefixes (and their longer prefixes); every prefix when empty."""


class OspfDefault(Frozen):
    """Routers that originate a default route into OSPF (default-information originate)."""

    hosts: tuple[Name, ...] = ()
    """The routers (every router of the intent when hosts and groups are empty)."""
    groups: tuple[Name, ...] = ()
    """Groups whose members originate it."""
    always: Bool = False
    """Originate it even when the router has no default route of its own."""


class OspfIntent(Frozen):
    """One OSPF routing domain."""

    name: Name
    """Unique name of the OSPF domain."""
    description: SafeText | None = None
    """Free text."""
    areas: tuple[OspfArea, ...] = Field(min_length=1)
    """The areas and their member routers."""
    links: tuple[OspfLink, ...] = ()
    """Per-link settings (cost, network type, area)."""
    router_id_interface: IfName = "lo"
    """The router id is the address of this interface (a loopback) unless `router_ids` names it."""
    router_ids: dict[Name, Address] = Field(default_factory=dict)
    """Explicit router ids per host."""
    redistribute: tuple[Redistribute, ...] = ()
    """Routes of other sources the routers redistribute into OSPF (as external routes)."""
    default_originate: tuple[OspfDefault, ...] = ()
    """Routers that originate a default route into OSPF (while they have one, or always)."""

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _no_password(data)


class BgpRouter(Scope):
    asn: Asn
    """The router's autonomous system number."""


class BgpSession(Frozen):
    """An explicit eBGP session between two routers on a shared link."""

    hosts: tuple[Name, Name]
    """The two routers."""
    description: SafeText | None = None
    """Free text."""

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _no_password(data)


class BgpOriginate(Scope):
    prefixes: tuple[Prefix, ...] = Field(min_length=1)
    """The prefixes the router originates (each must be in its RIB: connected or a static route)."""


class BgpAccept(Scope):
    """What a router accepts from one peer (`from`, a host): these prefixes (with `or_longer`,
    their longer prefixes too), at most `max_prefix` of them."""

    peer: Name = Field(alias="from")
    """The peer (a host) whose announcements this filters (key `from`)."""
    prefixes: tuple[Prefix, ...] = ()
    """The prefixes accepted from that peer."""
    or_longer: Bool = False
    """Also accept the longer prefixes within each prefix."""
    max_prefix: Count | None = None
    """Tear the session down when the peer sends more prefixes than this."""


class BgpPreference(Frozen):
    """Prefer the first exit router for these prefixes, then the next ones in order. The compiler
    sets local preference on the exits for prefixes learned from outside the AS, and prepends
    the AS path on the backup exits for prefixes the AS originates."""

    prefixes: tuple[Prefix, ...] = Field(min_length=1)
    """The prefixes the preference applies to."""
    exits: tuple[Name, ...] = Field(min_length=2)
    """The exit routers, the preferred one first."""


class BgpAggregate(Scope):
    """An aggregate the router announces while it has a route within it in BGP (`summary_only`:
    instead of those longer prefixes), with a discard route for its unused space."""

    prefixes: tuple[Prefix, ...] = Field(min_length=1)
    """The aggregate prefixes."""
    summary_only: Bool = False
    """Announce only the aggregate, not the longer prefixes within it."""


class BgpIntent(Frozen):
    """BGP for a set of routers: ASNs, sessions (eBGP from links or named, iBGP loopback to
    loopback), what each router originates and accepts, and path preferences."""

    name: Name
    """Unique name of the BGP intent."""
    description: SafeText | None = None
    """Free text."""
    routers: tuple[BgpRouter, ...] = Field(min_length=1)
    """The routers and their ASNs."""
    ebgp_links: Bool = True
    """eBGP sessions over every link between two routers of different ASNs."""
    sessions: tuple[BgpSession, ...] = ()
    """Explicit eBGP sessions (besides ebgp_links)."""
    ibgp: Literal["full-mesh", "route-reflectors", "none"] = "full-mesh"
    """iBGP between routers of the same AS: full-mesh, route-reflectors, or none."""
    route_reflectors: tuple[Name, ...] = ()
    """With ibgp route-reflectors: the reflectors; every other router of the AS is their client."""
    loopback: IfName = "lo"
    """iBGP sessions run between the addresses of this interface."""
    originate: tuple[BgpOriginate, ...] = ()
    """What each router originates."""
    aggregate: tuple[BgpAggregate, ...] = ()
    """Aggregates each router announces (from the longer prefixes it has in BGP)."""
    accept: tuple[BgpAccept, ...] = ()
    """What each router accepts from each peer: a prefix filter on what that peer sends."""
    prefer: tuple[BgpPreference, ...] = ()
    """Path preferences: which exit routers carry which prefixes."""
    redistribute: tuple[Redistribute, ...] = ()
    """Routes of other sources the routers redistribute into BGP."""

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _no_password(data)


class VrfMember(Frozen):
    host: Name
    """The host."""
    interface: IfName
    """Its interface that belongs to the VRF."""


class VrfIntent(Frozen):
    """A VRF: its member interfaces, kernel table, route distinguisher and route targets."""

    name: Name
    """The VRF's name (not 'default')."""
    description: SafeText | None = None
    """Free text."""
    table: Count
    """The kernel routing table of the VRF."""
    rd: RouteTarget
    """The route distinguisher (ASN:NN)."""
    import_targets: tuple[RouteTarget, ...] = Field(default=(), alias="import")
    """Route targets imported (key `import`)."""
    export_targets: tuple[RouteTarget, ...] = Field(default=(), alias="export")
    """Route targets exported (key `export`)."""
    members: tuple[VrfMember, ...] = Field(min_length=1)
    """The interfaces in the VRF."""

    @model_validator(mode="after")
    def _default(self) -> VrfIntent:
        if self.name == "default":
            raise ValueError("'default' is the default VRF's name: choose another")
        return self
